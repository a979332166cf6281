"""Recaps: what a district, regency or province says its region's result is.

Above the station, the count travels as recapitulations (Model D.Hasil of the PPK, then
the KPU of the regency and of the province). Inflation between levels ("penggelembungan
suara") shows only when a recap is compared with what lies below it, so recaps are data of
their own: append-only like tallies (every recap received is a row, the latest
``submitted_at`` is current), with the same validation discipline as every other feed.

Recaps arrive as ``recaps.csv`` in a bundle or as Sirekap's region JSON
(:mod:`pilkada_graph.sirekap`); both end in :func:`validate_recap` and :func:`store_recaps`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from pilkada_graph import bundle
from pilkada_graph.bundle import Row
from pilkada_graph.ingest import (
    Catalog,
    ContestRef,
    InvalidValue,
    Problem,
    RegionRef,
    from_utc_naive,
    is_below,
    parse_count,
    parse_timestamp,
    to_utc_naive,
)
from pilkada_graph.models import Contest, Recap, Region

#: The administrative totals a recap may carry beside the votes (all optional).
RECAP_TOTAL_FIELDS = ("valid_votes", "invalid_votes", "total_votes", "voters")
RECAP_PROGRESS_FIELDS = ("stations_reported", "stations_total")
RECAP_COUNT_FIELDS = RECAP_TOTAL_FIELDS + RECAP_PROGRESS_FIELDS
RECAP_LEVELS = ("province", "regency", "district")


@dataclass
class RecapForm:
    """One recap of one region for one contest, parsed, not yet checked."""

    region_code: str
    contest_code: str
    submitted_at: datetime
    source: str | None = None
    votes: dict[int, int | None] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)
    extra: dict[str, Any] | None = None
    actor: str | None = None

    @property
    def key(self) -> str:
        """Source, region, contest and UTC time: the identity that makes re-import a no-op."""
        moment, _ = to_utc_naive(self.submitted_at)
        return f"{self.source or ''}|{self.region_code}|{self.contest_code}|{moment.isoformat()}"

    def votes_list(self, candidates: int) -> list[int | None]:
        return [self.votes.get(k) for k in range(1, candidates + 1)]


@dataclass(frozen=True)
class StoredRecap:
    id: int
    region_code: str
    contest_code: str


# --------------------------------------------------------------------------- recaps.csv


def parse_recap_row(row: Row) -> tuple[RecapForm | None, list[Problem]]:
    """A recaps.csv row -> a recap, or the problems that make it unusable."""
    problems = [
        Problem("required", f"{column} is empty", column).at(row)
        for column in ("region_code", "contest_code", "submitted_at")
        if not row.get(column)
    ]
    counts = {name: _count(row, name, problems) for name in RECAP_COUNT_FIELDS}
    votes: dict[int, int | None] = {}
    for column in row.values:
        number = bundle.candidate_number_of(column or "")
        if number is not None and row.get(column):
            votes[number] = _count(row, column, problems)
    submitted_at = None
    if row.get("submitted_at"):
        try:
            submitted_at = parse_timestamp(row.get("submitted_at"))
        except InvalidValue as error:
            problems.append(error.problem.at(row))
    if problems or submitted_at is None:
        return None, problems
    form = RecapForm(row.get("region_code"), row.get("contest_code"), submitted_at,
                     row.get("source") or None, votes, counts)
    return form, []


def _count(row: Row, column: str, problems: list[Problem]) -> int | None:
    try:
        return parse_count(row.get(column), column)
    except InvalidValue as error:
        problems.append(error.problem.at(row))
        return None


# --------------------------------------------------------------------------- validation


def validate_recap(form: RecapForm, catalog: Catalog) -> tuple[RegionRef | None, ContestRef | None, list[Problem]]:
    """Check a recap's references: the rules that decide whether it can be stored at all."""
    problems: list[Problem] = []
    region = catalog.regions.get(form.region_code)
    contest = catalog.contests.get(form.contest_code)
    if region is None:
        problems.append(Problem("unknown-region", f"no region {form.region_code!r}", "region_code"))
    elif region.level not in RECAP_LEVELS:
        problems.append(Problem("bad-level", f"{region.code} is a {region.level}; recaps are of districts, "
                                "regencies and provinces", "region_code"))
    if contest is None:
        problems.append(Problem("unknown-contest", f"no contest {form.contest_code!r}", "contest_code"))
    if region is not None and contest is not None and not _votes_in(region.code, contest.region_code):
        problems.append(Problem("region-outside-contest",
                                f"region {region.code} does not vote in {contest.code} (region {contest.region_code})",
                                "region_code"))
    if contest is not None:
        problems += [
            Problem("unknown-candidate", f"contest {contest.code} has candidates 1..{len(contest.candidates)}, "
                    f"not {number}", bundle.votes_column(number))
            for number in sorted(form.votes) if number not in contest.candidates
        ]
    if form.source is not None and len(form.source) > 40:
        problems.append(Problem("too-long", "source is longer than 40 characters", "source"))
    return region, contest, problems


def _votes_in(region_code: str, contest_region: str | None) -> bool:
    """A region votes in a contest when it lies under the contest's region or contains it.

    The province's recap of a regent race is still a recap of that race (it lists the
    regency), so a region above the contest's is accepted too.
    """
    if contest_region is None:
        return True
    return is_below(region_code, contest_region) or is_below(contest_region, region_code)


# --------------------------------------------------------------------------- storing


def existing_recap_keys(connection: Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 900):
        rows = connection.execute(select(Recap.recap_key).where(Recap.recap_key.in_(keys[start : start + 900])))
        found.update(rows.scalars())
    return found


def store_recaps(
    connection: Connection, recaps: Sequence[tuple[RecapForm, RegionRef, ContestRef]]
) -> list[StoredRecap]:
    """Append new recaps (repeats, stored or within ``recaps``, are skipped). Runs in the caller's transaction."""
    known = existing_recap_keys(connection, [form.key for form, _, _ in recaps])
    fresh: dict[str, tuple[RecapForm, RegionRef, ContestRef]] = {}
    for item in recaps:
        if item[0].key not in known:
            fresh.setdefault(item[0].key, item)
    if not fresh:
        return []
    received_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [_recap_row(form, region, contest, received_at) for form, region, contest in fresh.values()]
    result = connection.execute(
        Recap.__table__.insert().returning(Recap.id, sort_by_parameter_order=True),  # type: ignore[attr-defined]
        rows,
    )
    return [
        StoredRecap(recap_id, region.code, contest.code)
        for recap_id, (_, region, contest) in zip(result.scalars(), fresh.values(), strict=True)
    ]


def _recap_row(form: RecapForm, region: RegionRef, contest: ContestRef, received_at: datetime) -> dict[str, Any]:
    submitted_at, offset = to_utc_naive(form.submitted_at)
    return {
        "recap_key": form.key,
        "region_id": region.id,
        "contest_id": contest.id,
        "level": region.level,
        "submitted_at": submitted_at,
        "submitted_offset": offset,
        "received_at": received_at,
        "source": form.source,
        "votes": form.votes_list(len(contest.candidates)),
        **{name: form.counts.get(name) for name in RECAP_COUNT_FIELDS},
        "extra": form.extra,
        "actor": form.actor,
    }


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RecapView:
    """A stored recap as readers (GraphQL, the detector, the report, export) see it."""

    id: int
    region_code: str
    contest_code: str
    level: str
    submitted_at: datetime
    source: str | None
    votes: list[int | None]
    counts: dict[str, int | None]
    extra: dict[str, Any] | None

    @property
    def vote_total(self) -> int:
        return sum(v or 0 for v in self.votes)


_RecapRegion = aliased(Region)


def _recap_query() -> Any:
    return (
        select(Recap, _RecapRegion.code.label("region_code"), Contest.code.label("contest_code"))
        .join(_RecapRegion, _RecapRegion.id == Recap.region_id)
        .join(Contest, Contest.id == Recap.contest_id)
    )


def _view(recap: Recap, region_code: str, contest_code: str) -> RecapView:
    return RecapView(
        recap.id, region_code, contest_code, recap.level,
        from_utc_naive(recap.submitted_at, recap.submitted_offset), recap.source, list(recap.votes or []),
        {name: getattr(recap, name) for name in RECAP_COUNT_FIELDS}, recap.extra,
    )


def _views(connection: Connection, query: Any) -> list[RecapView]:
    from sqlalchemy.orm import Session

    with Session(bind=connection) as session:
        return [_view(*row) for row in session.execute(query)]


def all_recaps(connection: Connection) -> list[RecapView]:
    """Every stored recap, oldest stored first (for export)."""
    return _views(connection, _recap_query().order_by(Recap.id))


def recaps_of_region(connection: Connection, region_code: str, contest_code: str | None = None) -> list[RecapView]:
    """Every recap of one region (optionally of one contest), newest first."""
    query = _recap_query().where(_RecapRegion.code == region_code)
    if contest_code is not None:
        query = query.where(Contest.code == contest_code)
    return _views(connection, query.order_by(Recap.submitted_at.desc(), Recap.id.desc()))


def current_recaps(
    connection: Connection, contest_codes: Iterable[str] | None = None, under: str | None = None
) -> list[RecapView]:
    """The current (latest) recap of every region and contest, optionally within region ``under``."""
    latest = (
        select(Recap.region_id, Recap.contest_id, func.max(Recap.submitted_at).label("at"))
        .group_by(Recap.region_id, Recap.contest_id)
        .subquery()
    )
    query = _recap_query().join(
        latest,
        (latest.c.region_id == Recap.region_id)
        & (latest.c.contest_id == Recap.contest_id)
        & (latest.c.at == Recap.submitted_at),
    )
    if contest_codes is not None:
        query = query.where(Contest.code.in_(list(contest_codes)))
    views = _views(connection, query.order_by(Recap.id))
    newest: dict[tuple[str, str], RecapView] = {}
    for view in views:  # two recaps at the same instant: the later stored wins
        newest[(view.region_code, view.contest_code)] = view
    return [v for v in newest.values() if is_below(v.region_code, under)]


def recap_export_row(recap: RecapView) -> dict[str, Any]:
    """A stored recap as its recaps.csv row (times with the sender's offset, as imported)."""
    return {
        "region_code": recap.region_code,
        "contest_code": recap.contest_code,
        "submitted_at": bundle.format_timestamp(recap.submitted_at),
        "source": recap.source,
        **{bundle.votes_column(n): v for n, v in enumerate(recap.votes, start=1)},
        **recap.counts,
    }


def recaps_grouped(connection: Connection, region_ids: Sequence[int]) -> dict[int, list[RecapView]]:
    """region id -> its recaps, newest first: one statement for a whole page of regions (DataLoader)."""
    grouped: dict[int, list[RecapView]] = {}
    ids = list(region_ids)
    for start in range(0, len(ids), 900):
        query = (_recap_query().add_columns(Recap.region_id.label("rid"))
                 .where(Recap.region_id.in_(ids[start : start + 900]))
                 .order_by(Recap.submitted_at.desc(), Recap.id.desc()))
        from sqlalchemy.orm import Session

        with Session(bind=connection) as session:
            for recap, region_code, contest_code, rid in session.execute(query):
                grouped.setdefault(rid, []).append(_view(recap, region_code, contest_code))
    return grouped


# --------------------------------------------------------------------------- what the recap detector sees


@dataclass(frozen=True)
class RecapFacts:
    """One region's current recap beside what lies below it (plain data for detectors).

    :param votes: the recap's votes per candidate (index 0 = number 1; None where not stated).
    :param station_votes: the sums of the current station forms below the region.
    :param stations_total: stations below the region; ``stations_reported`` of them have a form.
    :param children_total: regions directly below that have stations (whose recaps should add up).
    """

    region_code: str
    level: str
    parent_code: str | None
    votes: tuple[int | None, ...]
    submitted_at: datetime
    source: str | None
    station_votes: tuple[int, ...]
    stations_total: int
    stations_reported: int
    children_total: int

    @property
    def all_reported(self) -> bool:
        return self.stations_total > 0 and self.stations_reported >= self.stations_total


@dataclass(frozen=True)
class RegionRecaps:
    """The current recaps of one contest at and below a region: ``pilkada_check_region``'s ``recaps``."""

    region_code: str
    contest_code: str
    recaps: tuple[RecapFacts, ...] = ()

    def children_of(self, code: str) -> list[RecapFacts]:
        return [r for r in self.recaps if r.parent_code == code]


def load_region_recaps(connection: Connection, region_code: str, contest_code: str) -> RegionRecaps:
    """Current recaps at and below ``region_code`` with their regions' station sums (three statements)."""
    from pilkada_graph.models import RegionResult, RegionResultVotes

    views = [v for v in current_recaps(connection, [contest_code], under=region_code)]
    if not views:
        return RegionRecaps(region_code, contest_code)
    codes = [v.region_code for v in views]
    parent = aliased(Region)
    regions = {r.code: r for r in connection.execute(
        select(Region.id, Region.code, Region.stations_total, parent.code.label("parent_code"))
        .outerjoin(parent, parent.id == Region.parent_id).where(Region.code.in_(codes)))}
    ids = [r.id for r in regions.values()]
    contest_id = connection.execute(select(Contest.id).where(Contest.code == contest_code)).scalar_one()
    reported = dict(connection.execute(
        select(RegionResult.region_id, RegionResult.stations_reported)
        .where(RegionResult.contest_id == contest_id, RegionResult.region_id.in_(ids))).all())
    sums: dict[int, dict[int, int]] = {}
    for rid, number, votes in connection.execute(
            select(RegionResultVotes.region_id, RegionResultVotes.number, RegionResultVotes.votes)
            .where(RegionResultVotes.contest_id == contest_id, RegionResultVotes.region_id.in_(ids))):
        sums.setdefault(rid, {})[number] = votes
    children = dict(connection.execute(
        select(Region.parent_id, func.count()).where(Region.parent_id.in_(ids), Region.stations_total > 0)
        .group_by(Region.parent_id)).all())
    facts = []
    for view in views:
        region = regions[view.region_code]
        by_number = sums.get(region.id, {})
        facts.append(RecapFacts(
            view.region_code, view.level, region.parent_code, tuple(view.votes), view.submitted_at, view.source,
            tuple(by_number.get(n, 0) for n in range(1, len(view.votes) + 1)),
            region.stations_total, reported.get(region.id, 0), children.get(region.id, 0),
        ))
    return RegionRecaps(region_code, contest_code, tuple(sorted(facts, key=lambda f: f.region_code)))
