"""The SQL that feeds detectors: stored rows -> the plain values of :mod:`pilkada_graph.detect_types`.

Everything is loaded in batches (a handful of queries per batch of revisions, one query per
region), so that per-tally detection adds little to an import. Region codes are hierarchical
(``62.71.01.1001``: province, regency, district, village), so a station's ancestors are
prefixes of its code and need no query.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.detect_types import (
    ContestView,
    RegionSummary,
    RegionTallies,
    StationContext,
    TallyBatch,
    TallyView,
    as_floats,
    float_columns,
    parse_json_lists,
    registered_column,
    vote_matrix,
)
from pilkada_graph.ingest import descendant_range
from pilkada_graph.models import Candidate, Contest, CurrentTally, Region, Station
from pilkada_graph.pubsub import region_codes_of
from pilkada_graph.rules import FormValues, failed_checks, registered_of
from pilkada_graph.store import RawSQL, StoredTally

LEVEL_DEPTH = {"province": 1, "regency": 2, "district": 3, "village": 4}


def ancestor_code(code: str, level: str) -> str:
    """The code of ``code``'s ancestor at ``level`` (itself when it is not deeper than that)."""
    return ".".join(code.split(".")[: LEVEL_DEPTH[level]])


def depth_of(code: str) -> int:
    return code.count(".") + 1


# --------------------------------------------------------------------------- contests


def load_contests(connection: Connection) -> dict[int, ContestView]:
    """Every contest with its candidates, by id (contests are few)."""
    region = aliased(Region)
    rows = connection.execute(
        select(Contest.id, Contest.code, Contest.name, region.code.label("region_code"))
        .outerjoin(region, region.id == Contest.region_id))
    candidates: dict[int, dict[int, str]] = {}
    for c in connection.execute(select(Candidate.contest_id, Candidate.number, Candidate.name)):
        candidates.setdefault(c.contest_id, {})[c.number] = c.name
    return {r.id: ContestView(r.code, r.name, r.region_code, dict(sorted(candidates.get(r.id, {}).items())))
            for r in rows}


# --------------------------------------------------------------------------- one revision at a time

#: Times and JSON come as text (the same on both backends): psycopg's decoding of two timestamps and
#: two JSON values per row was half of this query on PostgreSQL, and a batch's views are built from
#: few of its rows; the ``votes`` of the batch are then parsed in one ``json.loads``.
_TALLY_SELECT = (
    "SELECT t.id, t.submission_id, t.contest_id, CAST(t.submitted_at AS TEXT), t.submitted_offset, "
    "CAST(t.received_at AS TEXT), t.source, CAST(t.votes AS TEXT), CAST(t.extra AS TEXT), "
    f"{', '.join(f't.{f}' for f in COUNT_FIELDS)}, s.code, s.registered "
    "FROM tallies t JOIN stations s ON s.id = t.station_id WHERE t.id IN ({values})"
)


def load_tally_rows(connection: Connection, ids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
    """The rows of :data:`_TALLY_SELECT` of the revisions ``ids``, by id.

    Through the DBAPI cursor: SQLAlchemy's per-value type processing cost more than building
    the views (this runs once per stored revision).
    """
    return {row[0]: row for row in RawSQL(connection).fetchall_in(_TALLY_SELECT, sorted(set(ids)))}


def load_tally_batch(connection: Connection, stored: Sequence[StoredTally], contests: Mapping[int, ContestView],
                     *, with_previous: bool) -> TallyBatch:
    """The revisions ``stored`` (those still stored, in their order) as a :class:`TallyBatch`, with the
    revisions they replaced when ``with_previous``: a few queries for the batch, the columns built
    without a view per row (views are built from the same rows when a detector asks)."""
    earlier = [s.previous_id for s in stored if s.previous_id] if with_previous else []
    rows = load_tally_rows(connection, [*(s.id for s in stored), *earlier])
    kept = [s for s in stored if s.id in rows]
    current = [rows[s.id] for s in kept]
    replaced = [rows.get(s.previous_id) if with_previous and s.previous_id else None for s in kept]
    return _batch_of_rows(current, replaced, contests, RawSQL(connection))


def _batch_of_rows(current: Sequence[tuple[Any, ...]], replaced: Sequence[tuple[Any, ...] | None],
                   contests: Mapping[int, ContestView], raw: RawSQL) -> TallyBatch:
    columns = list(zip(*current, strict=True)) or [()] * _ROW_WIDTH
    votes = _json_lists(columns[_VOTES_AT])
    replaced_votes = _json_lists([row[_VOTES_AT] if row else None for row in replaced])
    width = max((len(v) for v in [*votes, *replaced_votes] if v), default=0)
    row_contests = [contests[contest_id] for contest_id in columns[_CONTEST_AT]]

    def view(i: int) -> TallyView:
        return tally_view(current[i], row_contests[i].code, True, raw)

    def previous(i: int) -> TallyView | None:
        row = replaced[i]
        return tally_view(row, row_contests[i].code, False, raw) if row else None

    return TallyBatch(
        station_codes=columns[-2], contest_codes=[c.code for c in row_contests], tally_ids=columns[0],
        counts=float_columns(COUNT_FIELDS, columns[_COUNTS_AT]),
        votes=vote_matrix(votes, width), widths=[len(v or ()) for v in votes],
        station_registered=as_floats(columns[-1]), contests=row_contests, view=view,
        has_previous=[row is not None for row in replaced], previous_votes=vote_matrix(replaced_votes, width),
        previous=previous)


def _json_lists(values: Sequence[Any]) -> list[Any]:
    """A JSON column's values: SQLite's text parsed in one call, psycopg's already decoded."""
    if all(value is None or isinstance(value, str) for value in values):
        return parse_json_lists(values)
    return [_json_value(value) for value in values]


_CONTEST_AT, _VOTES_AT = 2, 7
_COUNTS_AT = slice(9, 9 + len(COUNT_FIELDS))
_ROW_WIDTH = 11 + len(COUNT_FIELDS)


def tally_view(row: Sequence[Any], contest_code: str, is_current: bool, raw: RawSQL) -> TallyView:
    """A row of :data:`_TALLY_SELECT` as a view."""
    tally_id, submission_id, _, submitted_at, offset, received_at, source, votes, extra = row[:9]
    counts = dict(zip(COUNT_FIELDS, row[_COUNTS_AT], strict=True))
    code, station_registered = row[-2], row[-1]
    votes = tuple(_json_value(votes) or ())
    form = FormValues(counts, votes)
    province, regency, district, village = region_codes_of(code)
    return _built_view({
        **counts,
        "tally_id": tally_id,
        "submission_id": submission_id,
        "station_code": code,
        "contest_code": contest_code,
        "village_code": village,
        "district_code": district,
        "regency_code": regency,
        "province_code": province,
        "submitted_at": senders_time(raw.parse_timestamp(submitted_at), offset or 0),
        "received_at": raw.parse_timestamp(received_at).replace(tzinfo=UTC),
        "source": source,
        "votes": votes,
        "registered": registered_for(form, station_registered),
        "failed_checks": tuple(failed_checks(form)),
        "is_current": is_current,
        "extra": _json_value(extra),
    })


def _built_view(values: dict[str, Any]) -> TallyView:
    """``TallyView(**values)`` given every field, without the frozen dataclass's ``__init__``.

    That ``__init__`` sets its 29 fields one ``object.__setattr__`` at a time, a quarter of the cost of
    a view (one is built per stored revision); giving the instance its ``__dict__`` at once makes the
    same object (the same fields, equal, hashable, frozen). Every field must be given: no defaults.
    """
    view = object.__new__(TallyView)
    object.__setattr__(view, "__dict__", values)
    return view


def senders_time(moment: datetime, offset_minutes: int) -> datetime:
    """:func:`pilkada_graph.ingest.from_utc_naive` (a stored UTC time as its sender wrote it), with the
    sender's zone built once per offset rather than once per revision: a third of its cost."""
    shift, zone = _zones.get(offset_minutes) or _zone(offset_minutes)
    return (moment + shift).replace(tzinfo=zone)


_zones: dict[int, tuple[timedelta, timezone]] = {}


def _zone(offset_minutes: int) -> tuple[timedelta, timezone]:
    shift = timedelta(minutes=offset_minutes)
    found = _zones[offset_minutes] = (shift, timezone(shift))
    return found


def _json_value(value: Any) -> Any:
    """A JSON column's value: SQLite hands over text, psycopg the decoded value."""
    return json.loads(value) if isinstance(value, str) else value


def registered_for(form: FormValues, station_registered: int | None) -> int | None:
    """The form's DPT + DPTb + DPK, else the station list's figure (as the aggregates count it)."""
    registered = registered_of(form)
    return registered if registered is not None else station_registered


def load_station_contexts(connection: Connection, views: Iterable[TallyView],
                          contest_ids: Mapping[str, int]) -> dict[tuple[str, str], StationContext]:
    """(station code, contest code) -> the station and its village's and district's sums."""
    views = list(views)
    codes = sorted({v.village_code for v in views} | {v.district_code for v in views})
    summaries = load_region_summaries(connection, codes, set(contest_ids.values()))
    stations = _station_rows(connection, sorted({v.station_code for v in views}))
    contexts = {}
    for v in views:
        number, registered = stations.get(v.station_code, (None, None))
        contest_id = contest_ids[v.contest_code]
        contexts[(v.station_code, v.contest_code)] = StationContext(
            v.station_code, number, registered,
            summaries.get((v.village_code, contest_id)), summaries.get((v.district_code, contest_id)))
    return contexts


def _station_rows(connection: Connection, codes: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
    rows = RawSQL(connection).fetchall_in(
        "SELECT code, number, registered FROM stations WHERE code IN ({values})", codes)
    return {code: (number, registered) for code, number, registered in rows}


def load_region_summaries(connection: Connection, codes: Sequence[str],
                          contest_ids: set[int]) -> dict[tuple[str, int], RegionSummary]:
    """(region code, contest id) -> its aggregate row (absent when nothing reported)."""
    rows = RawSQL(connection).fetchall_in(
        "SELECT r.code, r.level, r.stations_total, rr.contest_id, rr.stations_reported, rr.registered, "
        "rr.voters, rr.valid_votes, rr.invalid_votes "
        "FROM regions r JOIN region_results rr ON rr.region_id = r.id WHERE r.code IN ({values})", codes)
    # Filtered here, not in SQL: a region has results for two or three contests, while
    # ``contest_id IN (546 ids)`` made SQLite probe the key once per region and contest.
    return {(code, contest_id): RegionSummary(code, level, stations_total or 0, *sums)
            for code, level, stations_total, contest_id, *sums in rows if contest_id in contest_ids}


# --------------------------------------------------------------------------- a region at once


def check_depths(connection: Connection, contests: Sequence[ContestView], level: str,
                 min_stations: int) -> dict[str, int]:
    """Contest code -> the depth at which the runner checks its regions.

    ``level``'s depth, unless the contest's regions at that depth are mostly smaller than
    ``min_stations`` stations (a national election's governor race over regencies of a dozen
    stations): then the nearest level up whose median region is big enough, never above the
    contest's own region. Peers and calibration need numbers; pooling small regencies into
    their province gives them, where checking each alone would judge on a handful.
    """
    deepest = LEVEL_DEPTH[level]
    sizes: dict[int, list[tuple[str, int]]] = {}
    rows = connection.execute(select(Region.code, Region.stations_total)
                              .where(Region.level.in_([name for name, d in LEVEL_DEPTH.items() if d <= deepest])))
    for code, total in rows:
        sizes.setdefault(depth_of(code), []).append((code, total or 0))
    depths = {}
    for contest in contests:
        top = depth_of(contest.region_code) if contest.region_code else 0
        depth = deepest
        while depth > max(top, 1) and _median_size(sizes.get(depth, []), contest.region_code) < min_stations:
            depth -= 1
        depths[contest.code] = max(depth, top)
    return depths


def _median_size(regions: Sequence[tuple[str, int]], below: str | None) -> float:
    inside = [total for code, total in regions if below is None or code.startswith(below + ".")]
    return float(np.median(inside)) if inside else float("inf")


def region_summary(connection: Connection, code: str, contest_id: int) -> RegionSummary | None:
    return load_region_summaries(connection, [code], {contest_id}).get((code, contest_id))


_REGION_SELECT = (
    "SELECT t.id, t.votes, t.dpt, t.dptb, t.dpk, t.voters, t.valid_votes, t.invalid_votes, s.code, s.registered "
    # CROSS JOIN fixes SQLite's join order: from the region's stations (a range of the code index),
    # not from every current form of the contest (a province-wide governor race has 100,000).
    "FROM stations s CROSS JOIN current_tallies c CROSS JOIN tallies t "
    "WHERE s.code >= ? AND s.code < ? AND c.station_id = s.id AND c.contest_id = ? AND t.id = c.tally_id "
    "ORDER BY s.code"
)


def load_region_tallies(connection: Connection, summary: RegionSummary, contest: ContestView,
                        contest_id: int) -> RegionTallies:
    """The current revision of every reporting station below the region, as arrays (one query)."""
    low, high = descendant_range(summary.code)
    rows = RawSQL(connection).fetchall(_REGION_SELECT, (low, high, contest_id))
    votes = [v or [] for v in _json_lists([r[1] for r in rows])]
    numbers = tuple(contest.candidates) or tuple(range(1, max((len(v) for v in votes), default=0) + 1))
    codes = [r[8] for r in rows]
    return RegionTallies(
        region_code=summary.code,
        region_level=summary.level,
        contest_code=contest.code,
        candidates=numbers,
        stations_total=summary.stations_total,
        station_codes=np.array(codes, dtype=np.str_),
        tally_ids=np.array([r[0] for r in rows], dtype=np.int64),
        village_codes=np.array([ancestor_code(c, "village") for c in codes], dtype=np.str_),
        district_codes=np.array([ancestor_code(c, "district") for c in codes], dtype=np.str_),
        registered=registered_column(*(as_floats([r[k] for r in rows]) for k in (2, 3, 4, 9))),
        voters=as_floats([r[5] for r in rows]),
        valid_votes=as_floats([r[6] for r in rows]),
        invalid_votes=as_floats([r[7] for r in rows]),
        votes=vote_matrix(votes, len(numbers)),
        other_voters=_other_contests_voters(connection, {r[8]: r[2] for r in rows}, contest_id, low, high),
    )


def _other_contests_voters(connection: Connection, dpt_of: Mapping[str, int | None], contest_id: int, low: str,
                           high: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per station (in ``dpt_of``'s order): the median voters of its other contests' current forms
    that can witness this one (see :attr:`RegionTallies.other_voters`)."""
    rows = RawSQL(connection).fetchall(
        "SELECT s.code, c.contest_id, t.voters, t.valid_votes, t.invalid_votes, t.dpt, t.votes FROM current_tallies c "
        "JOIN tallies t ON t.id = c.tally_id JOIN stations s ON s.id = c.station_id "
        "WHERE c.contest_id <> ? AND s.code >= ? AND s.code < ?", (contest_id, low, high))
    copies = Counter((code.rsplit(".", 1)[0], other, voters, valid, invalid, str(votes))
                     for code, other, voters, valid, invalid, _, votes in rows)
    found: dict[str, list[int]] = {}
    for code, other, voters, valid, invalid, dpt, votes in rows:
        copied = copies[(code.rsplit(".", 1)[0], other, voters, valid, invalid, str(votes))] > 1
        if code in dpt_of and not copied and _comparable(voters, valid, invalid, dpt, dpt_of[code]):
            found.setdefault(code, []).append(voters)
    return np.array([np.median(found[c]) if c in found else np.nan for c in dpt_of], dtype=np.float64)


def _comparable(voters: int | None, valid: int | None, invalid: int | None, dpt: int | None,
                own_dpt: int | None) -> bool:
    """Another contest's form can witness this one's voters: its own arithmetic holds and it is
    written for the same voter list. (Nor can a form identical to another station's of its village,
    which the caller leaves out: one of the two was copied.)"""
    consistent = valid is None or invalid is None or valid + invalid == voters
    same_list = dpt is None or own_dpt is None or dpt == own_dpt
    return voters is not None and consistent and same_list


def current_tallies(connection: Connection, *, contest_id: int | None = None,
                    region_code: str | None = None) -> list[tuple[int, str, int, int]]:
    """(tally id, station code, contest id, station id) of every current revision, optionally in a
    contest/region."""
    query = (select(CurrentTally.tally_id, Station.code, CurrentTally.contest_id, CurrentTally.station_id)
             .join(Station, Station.id == CurrentTally.station_id).order_by(CurrentTally.tally_id))
    if contest_id is not None:
        query = query.where(CurrentTally.contest_id == contest_id)
    if region_code is not None:
        low, high = descendant_range(region_code)
        query = query.where(Station.code >= low, Station.code < high)
    return [(r.tally_id, r.code, r.contest_id, r.station_id) for r in connection.execute(query)]
