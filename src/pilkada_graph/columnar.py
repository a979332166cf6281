"""The columnar road: a clean chunk of a bundle's tallies.csv, checked and stored whole columns at a time.

The row road (:func:`pilkada_graph.ingest.parse_tally_row`, :func:`~pilkada_graph.ingest.validate_tally`,
:func:`~pilkada_graph.store.store_tallies`) builds a form per row and names every problem of every
row; at a few microseconds per step and row, that Python is most of a bulk import. Most chunks of a
first load need none of its generality: every count is plain digits, every time is written
``2024-11-27T13:54:30+07:00``, every reference is valid, every submission id is new and no
(station, contest) has a stored revision yet. Such a chunk takes this road: the same rules,
checked on whole columns, and the same rows written (revisions, current pointers, region sums),
with ordering, pointers and region sums computed on arrays (the sums added to the importer's
:class:`~pilkada_graph.store.PendingSums`, as the row road's are).

Any chunk that is not all of that takes the row road, which is also the only road of
``submitTally`` and of the Sirekap import; in a clean chunk, the forms that have a stored revision
(corrections of forms in an earlier chunk) or a repeated submission id are left to the row road,
all rows of a form on one road. So this road never decides what is valid: it only recognises rows
where nothing needs deciding.
``tests/ingest/test_columnar_road.py`` checks that both roads write the same rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection

from pilkada_graph import bundle
from pilkada_graph.bundle import COUNT_FIELDS, CellChunk
from pilkada_graph.ingest import SAFE_COUNT_DIGITS, Catalog, ContestRef, StationRef, is_below
from pilkada_graph.store import (
    TALLY_COLUMNS,
    PendingSums,
    RawSQL,
    StoredTally,
    existing_submissions,
    json_int_list,
    lock_stations,
    write_current_pointers,
)

#: The one layout of ``submitted_at`` this road reads itself (any other goes the row road).
_TIME_LAYOUT = "YYYY-MM-DDTHH:MM:SS+HH:MM"
_SUBMISSION_ID_MAX, _SOURCE_MAX = 200, 40


class TallyColumns(NamedTuple):
    """A chunk's rows as columns, converted: what the row road's forms would hold."""

    submission_ids: list[str]
    station_codes: list[str]
    contest_codes: list[str]
    #: ``submitted_at`` in UTC (``datetime64[us]``) and the sender's UTC offset in minutes.
    utc: np.ndarray
    offsets: list[int]
    sources: list[str | None]
    counts: dict[str, list[int | None]]
    #: Per ballot number in the header, the column of its votes (None where empty).
    votes: dict[int, list[int | None]]


class Stored(NamedTuple):
    """What the columnar road stored of a chunk, and the rows (indices) it left to the row road."""

    tallies: list[StoredTally]
    left: list[int]


def store_clean_chunk(connection: Connection, chunk: CellChunk, catalog: Catalog, actor: str | None,
                      sums: PendingSums) -> Stored | None:
    """Store the clean part of ``chunk`` (see the module's doc) and say which rows are left: the forms
    (station and contest) with a stored revision, or with a submission id repeated or already stored.
    None, and nothing stored, when the chunk is not clean or every form is left: the row road takes it all.
    The changes to the region aggregates are added to ``sums``, for the importer to write."""
    columns = parse_columns(chunk)
    if columns is None:
        return None
    references = _references(columns, catalog)
    if references is None:
        return None
    raw = RawSQL(connection)
    lock_stations(raw, {station.id for station in references.stations if station.id is not None})
    left = _rows_for_the_row_road(raw, columns, references)
    if len(left) == len(columns.submission_ids):
        return None
    if left:
        columns, references = _without(columns, references, set(left))
    return Stored(_store(raw, columns, references, actor, sums), left)


# --------------------------------------------------------------------------- parsing


def parse_columns(chunk: CellChunk) -> TallyColumns | None:
    """The chunk converted column by column, or None when any cell needs the row road's parser."""
    columns = dict(zip(chunk.header, zip(*chunk.cells, strict=False), strict=False))
    n = len(chunk.cells)
    if not n or any(name not in columns for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES]):
        return None
    empty = ("",) * n
    submission_ids, station_codes, contest_codes, times = (
        [value.strip() for value in columns[name]] for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES])
    if not all(map(all, (submission_ids, station_codes, contest_codes, times))):
        return None
    counts = {name: plain_counts(columns.get(name, empty)) for name in COUNT_FIELDS}
    votes = {number: plain_counts(columns[name]) for name in columns
             if (number := bundle.candidate_number_of(name)) is not None}
    utc_and_offsets = utc_times(times)
    if utc_and_offsets is None or any(c is None for c in counts.values()) or any(v is None for v in votes.values()):
        return None
    sources = [value.strip() or None for value in columns.get("source", empty)]
    return TallyColumns(submission_ids, station_codes, contest_codes, *utc_and_offsets, sources,
                        counts, votes)  # type: ignore[arg-type]


def plain_counts(cells: Sequence[str]) -> list[int | None] | None:
    """A column of counts (None where empty) when every cell is empty or plain digits, else None:
    the same test as the row road's short road, made once on the column's concatenation.

    The digits are read by the JSON parser, a whole column in one call (a third faster than
    ``int`` per cell); it refuses a leading zero and non-ASCII digits, which ``int`` reads below.
    A cell it read has no leading zero, so one longer than ``SAFE_COUNT_DIGITS`` is one at least
    ``_TOO_MANY``: the row road checks the range of those.
    """
    joined = "".join(cells)
    if not joined:
        return [None] * len(cells)
    if not joined.isdecimal():
        return None
    try:
        values: list[int | None] = json.loads(
            "[" + ",".join([cell or "null" for cell in cells] if "" in cells else cells) + "]")
    except ValueError:
        if max(map(len, cells)) > SAFE_COUNT_DIGITS:
            return None
        return [int(cell) if cell else None for cell in cells]
    return None if max(filter(None, values), default=0) >= _TOO_MANY else values  # type: ignore[type-var]


#: The smallest count of more than ``SAFE_COUNT_DIGITS`` digits.
_TOO_MANY = 10 ** SAFE_COUNT_DIGITS


def utc_times(texts: Sequence[str]) -> tuple[np.ndarray, list[int]] | None:
    """Times written exactly as ``_TIME_LAYOUT`` -> (UTC as ``datetime64[us]``, offsets in minutes).

    numpy reads the local part (and refuses a day or hour out of range, as ``fromisoformat``
    does); writing it back must give the same text, so nothing was read loosely. None for any
    other layout: the row road reads those.
    """
    if {len(t) for t in texts} != {len(_TIME_LAYOUT)} or {t[10] + t[19] + t[22] for t in texts} - {"T+:", "T-:"}:
        return None
    zones = {t[19:] for t in texts}
    try:
        minutes = {zone: _offset_minutes(zone) for zone in zones}
        local_texts = np.array([t[:19] for t in texts])
        local = local_texts.astype("datetime64[s]")
    except ValueError:
        return None
    if not (np.datetime_as_string(local, unit="s") == local_texts).all():
        return None
    offsets = [minutes[t[19:]] for t in texts]
    utc = local.astype("datetime64[us]") - np.array(offsets, dtype="timedelta64[m]")
    return utc, offsets


def _offset_minutes(zone: str) -> int:
    offset = datetime.fromisoformat("2000-01-01T00:00:00" + zone).utcoffset()
    assert offset is not None
    return offset // timedelta(minutes=1)


# --------------------------------------------------------------------------- references


class _References(NamedTuple):
    stations: list[StationRef]
    contests: list[ContestRef]


def _references(columns: TallyColumns, catalog: Catalog) -> _References | None:
    """Every row's station and contest when every rule of :func:`~pilkada_graph.ingest.validate_tally`
    holds for every row; None otherwise (the row road then names the problems)."""
    if max(map(len, columns.submission_ids)) > _SUBMISSION_ID_MAX:
        return None
    if any(source is not None and len(source) > _SOURCE_MAX for source in columns.sources):
        return None
    catalog.prefetch_stations(columns.station_codes)
    stations = list(map(catalog.stations.get, columns.station_codes))
    contests = list(map(catalog.contests.get, columns.contest_codes))
    if None in stations or None in contests:
        return None
    checked = _References(stations, contests)  # type: ignore[arg-type]
    if not all(map(is_below, columns.station_codes, (c.region_code for c in checked.contests))):
        return None
    if not _votes_within_candidates(columns, checked.contests):
        return None
    return checked


def _votes_within_candidates(columns: TallyColumns, contests: Sequence[ContestRef]) -> bool:
    """No row has votes for a ballot number its contest does not have (only the columns of numbers
    that some contest lacks are read)."""
    distinct = {contest.code: contest for contest in contests}.values()
    for number, votes in columns.votes.items():
        lacking = {contest.code for contest in distinct if number not in contest.candidates}
        if lacking and any(vote is not None and contest.code in lacking
                           for vote, contest in zip(votes, contests, strict=True)):
            return False
    return True


def _rows_for_the_row_road(raw: RawSQL, columns: TallyColumns, references: _References) -> list[int]:
    """Every row of a form (station and contest) that has a stored revision, or that has a row whose
    submission id is repeated or already stored: the row road handles what a revision replaces, and
    repeats. A form's rows all take one road, so its revisions keep their order."""
    ids = columns.submission_ids
    forms = [(s.id, c.id) for s, c in zip(references.stations, references.contests, strict=True)]
    seen = Counter(ids)
    stored_ids = existing_submissions(raw.connection, ids)
    left_forms = {form for form, submission in zip(forms, ids, strict=True)
                  if seen[submission] > 1 or submission in stored_ids}
    found = raw.fetchall_in("SELECT station_id, contest_id FROM current_tallies WHERE station_id IN ({values})",
                            sorted({station_id for station_id, _ in forms}))  # type: ignore[type-var]
    left_forms.update(tuple(pair) for pair in found)
    return [i for i, form in enumerate(forms) if form in left_forms]


def _without(columns: TallyColumns, references: _References, left: set[int]) -> tuple[TallyColumns, _References]:
    """The columns and references of the rows not in ``left``."""
    keep = [i for i in range(len(columns.submission_ids)) if i not in left]

    def taken(values: Sequence[Any]) -> list[Any]:
        return [values[i] for i in keep]

    return TallyColumns(
        taken(columns.submission_ids), taken(columns.station_codes), taken(columns.contest_codes),
        columns.utc[keep], taken(columns.offsets), taken(columns.sources),
        {name: taken(values) for name, values in columns.counts.items()},
        {number: taken(values) for number, values in columns.votes.items()},
    ), _References(taken(references.stations), taken(references.contests))


# --------------------------------------------------------------------------- storing


def _store(raw: RawSQL, columns: TallyColumns, references: _References, actor: str | None,
           sums: PendingSums) -> list[StoredTally]:
    """Insert the revisions in submission order, point each pair at its latest, add to the region sums."""
    n = len(columns.submission_ids)
    keys = list(zip(columns.utc.astype(np.int64).tolist(), columns.submission_ids, strict=True))
    order = sorted(range(n), key=keys.__getitem__)
    ids = raw.reserve_ids("tallies", n)
    times = _column_times(raw, columns.utc)
    station_ids = [s.id for s in references.stations]
    contest_ids = [c.id for c in references.contests]
    _insert_revisions(raw, columns, order=order, ids=ids, times=times, station_ids=station_ids,
                      contest_ids=contest_ids, votes=_vote_rows(columns, references.contests), actor=actor)
    stored: list[StoredTally] = []
    latest: dict[tuple[int, int], tuple[int, int]] = {}  # pair -> (tally id, row)
    for tally_id, i in zip(ids, order, strict=True):
        pair = (station_ids[i], contest_ids[i])
        previous = latest.get(pair)  # type: ignore[arg-type]
        stored.append(StoredTally(tally_id, columns.submission_ids[i], pair[0], pair[1],  # type: ignore[arg-type]
                                  columns.station_codes[i], columns.contest_codes[i], True,
                                  previous[0] if previous else None))
        latest[pair] = (tally_id, i)  # type: ignore[index]
    write_current_pointers(raw, [(s, c, tally_id, times[i]) for (s, c), (tally_id, i) in latest.items()])
    for village, delta in _village_sums(columns, references, [i for _, i in latest.values()]).items():
        sums.add(village, delta)
    return stored


def _column_times(raw: RawSQL, utc: np.ndarray) -> list[Any]:
    """UTC times as the ``submitted_at`` column takes them (:meth:`RawSQL.timestamp`, for a column)."""
    if raw.postgres:
        return utc.astype("datetime64[us]").tolist()  # type: ignore[no-any-return]
    return np.char.replace(np.datetime_as_string(utc, unit="us"), "T", " ").tolist()  # type: ignore[no-any-return]


def _insert_revisions(raw: RawSQL, columns: TallyColumns, *, order: Sequence[int], ids: Sequence[int],
                      times: Sequence[Any], station_ids: Sequence[Any], contest_ids: Sequence[Any],
                      votes: Sequence[Sequence[int | None]], actor: str | None) -> None:
    """One row per revision (``TALLY_COLUMNS``), built column by column: the rows taken in submission
    ``order`` get ``ids``; ``times``, ``station_ids``, ``contest_ids`` and ``votes`` are per row."""
    in_order = order == list(range(len(order)))  # a feed's file is usually written in time order

    def ordered(values: Sequence[Any]) -> Sequence[Any]:
        return values if in_order else [values[i] for i in order]

    received_at = raw.timestamp(datetime.now(UTC).replace(tzinfo=None))
    raw.insert_many("tallies", TALLY_COLUMNS, list(zip(
        ids, ordered(columns.submission_ids), ordered(station_ids), ordered(contest_ids), ordered(times),
        ordered(columns.offsets), repeat(received_at), ordered(columns.sources),
        *(ordered(columns.counts[name]) for name in COUNT_FIELDS), ordered([json_int_list(row) for row in votes]),
        repeat(None), repeat(actor), repeat(None),
    )))


def _vote_rows(columns: TallyColumns, contests: Sequence[ContestRef]) -> list[tuple[int | None, ...]]:
    """Each row's votes for ballot numbers 1..its contest's candidates (None where empty)."""
    widest = max((len(c.candidates) for c in contests), default=0)
    if not widest:
        return [() for _ in contests]
    nones: list[int | None] = [None] * len(contests)
    table = zip(*(columns.votes.get(number, nones) for number in range(1, widest + 1)), strict=True)
    return [row[:len(contest.candidates)] for row, contest in zip(table, contests, strict=True)]


def _village_sums(columns: TallyColumns, references: _References, current: Sequence[int]
                  ) -> dict[tuple[str, int], list[int]]:
    """What the current revisions add per (village, contest): ``RESULT_COLUMNS`` then the votes per
    ballot number, as :class:`~pilkada_graph.store.Contribution` counts them (empty counts add 0; the
    registered voters are DPT + DPTb + DPK, or the station's when the DPT is empty)."""
    rows = np.array(current, dtype=np.int64)

    def counted(values: Sequence[int | None], empty: int = 0) -> np.ndarray:
        return np.array([empty if v is None else v for v in values], dtype=np.int64)[rows]

    dpt = counted(columns.counts["dpt"], -1)
    station_registered = np.array([s.registered or 0 for s in references.stations], dtype=np.int64)[rows]
    registered = np.where(dpt >= 0, dpt + counted(columns.counts["dptb"]) + counted(columns.counts["dpk"]),
                          station_registered)
    widest = max(columns.votes, default=0)
    votes = [counted(columns.votes.get(number, [None] * len(columns.submission_ids)))
             for number in range(1, widest + 1)]
    matrix = np.column_stack([np.ones(len(rows), dtype=np.int64), registered, counted(columns.counts["voters"]),
                              counted(columns.counts["valid_votes"]), counted(columns.counts["invalid_votes"]),
                              *votes])
    keys = [(references.stations[i].village_code, references.contests[i].id) for i in current]
    index = {key: n for n, key in enumerate(dict.fromkeys(keys))}
    sums = np.zeros((len(index), matrix.shape[1]), dtype=np.int64)
    np.add.at(sums, [index[key] for key in keys], matrix)
    return dict(zip(index, sums.tolist(), strict=True))  # type: ignore[arg-type]
