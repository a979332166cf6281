"""The one door every count comes in by: parse -> validate -> store, in one transaction.

The bundle importer, the Sirekap importer and the ``submitTally`` mutation differ only in how
they parse; they share :func:`parse_count`, :func:`parse_timestamp`, the :class:`Catalog`
that validates references, :func:`validate_tally` and :func:`store_tallies`, which stores
revisions and keeps the region aggregates and current-revision pointers up to date in the
same transaction. Detection and events happen after commit (see :mod:`pilkada_graph.service`).

Errors are :class:`Problem` values naming file, line, column and rule, never exceptions
half-way through a write: an import either stores everything valid or (without
``skip_invalid``) nothing at all, because the whole import runs in one transaction that is
rolled back when any row was rejected.
"""

from __future__ import annotations

import getpass
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pilkada_graph import bundle
from pilkada_graph.bundle import COUNT_FIELDS, LEVELS, Row
from pilkada_graph.models import (
    Candidate,
    Contest,
    CurrentTally,
    Region,
    RegionResult,
    RegionResultVotes,
    Station,
    Tally,
)
from pilkada_graph.rules import FormValues, registered_of

Progress = Callable[[str, int, int | None], None]
CHUNK = 2000

# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """Why one row (or one field of a submission) cannot be stored."""

    rule: str
    message: str
    column: str | None = None
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = [part for part in (self.file, self.line and f"line {self.line}") if part]
        if self.column:
            where.append(f"column {self.column}")
        prefix = ": ".join(str(p) for p in where)
        return f"{prefix}: {self.rule}: {self.message}" if prefix else f"{self.rule}: {self.message}"

    def at(self, row: Row) -> Problem:
        return Problem(self.rule, self.message, self.column, row.file, row.line)


class InvalidValue(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# --------------------------------------------------------------------------- parsing


def parse_count(text: str | int | None, column: str) -> int | None:
    """A form count: empty -> None; otherwise a whole number >= 0."""
    if text is None or text == "":
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise InvalidValue(
                Problem("not-a-number", f"{text!r} is not a whole number", column)
            ) from None
    if value < 0:
        raise InvalidValue(Problem("negative-count", f"counts are whole numbers >= 0, got {value}", column))
    return value


def parse_timestamp(text: str | datetime, column: str = "submitted_at") -> datetime:
    """An ISO 8601 time with its UTC offset (``2024-11-27T15:42:10+07:00``)."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(str(text).strip())
        except ValueError:
            raise InvalidValue(
                Problem("bad-timestamp", f"{text!r} is not an ISO 8601 time", column)
            ) from None
    if moment.tzinfo is None:
        raise InvalidValue(
            Problem("bad-timestamp", f"{text!s} has no UTC offset (write e.g. +07:00)", column)
        )
    return moment


def to_utc_naive(moment: datetime) -> tuple[datetime, int]:
    """Split an aware time into UTC (naive, as stored) and its offset in minutes."""
    offset = moment.utcoffset() or timedelta(0)
    return moment.astimezone(UTC).replace(tzinfo=None), int(offset.total_seconds() // 60)


def from_utc_naive(moment: datetime, offset_minutes: int) -> datetime:
    """The inverse of :func:`to_utc_naive`: the time as its sender wrote it."""
    zone = timezone(timedelta(minutes=offset_minutes))
    return moment.replace(tzinfo=UTC).astimezone(zone)


# --------------------------------------------------------------------------- the form


@dataclass
class TallyForm:
    """One submission of one station's result form for one contest, parsed, not yet checked."""

    submission_id: str
    station_code: str
    contest_code: str
    submitted_at: datetime
    source: str | None = None
    counts: dict[str, int | None] = field(default_factory=dict)
    votes: dict[int, int | None] = field(default_factory=dict)
    extra: dict[str, Any] | None = None
    actor: str | None = None
    token_id: int | None = None

    def values(self, candidates: int) -> FormValues:
        return FormValues(self.counts, self.votes_list(candidates))

    def votes_list(self, candidates: int) -> list[int | None]:
        return [self.votes.get(k) for k in range(1, candidates + 1)]


def parse_tally_row(row: Row) -> tuple[TallyForm | None, list[Problem]]:
    """A tallies.csv row -> a form, or the problems that make it unusable."""
    problems: list[Problem] = []
    for column in ("submission_id", "station_code", "contest_code", "submitted_at"):
        if not row.get(column):
            problems.append(Problem("required", f"{column} is empty", column).at(row))
    counts: dict[str, int | None] = {}
    for column in COUNT_FIELDS:
        counts[column] = _count_or_problem(row, column, problems)
    votes: dict[int, int | None] = {}
    for column in row.values:
        number = bundle.candidate_number_of(column or "")
        if number is not None:
            votes[number] = _count_or_problem(row, column, problems)
    submitted_at = None
    if row.get("submitted_at"):
        try:
            submitted_at = parse_timestamp(row.get("submitted_at"))
        except InvalidValue as error:
            problems.append(error.problem.at(row))
    if problems or submitted_at is None:
        return None, problems
    form = TallyForm(
        submission_id=row.get("submission_id"),
        station_code=row.get("station_code"),
        contest_code=row.get("contest_code"),
        submitted_at=submitted_at,
        source=row.get("source") or None,
        counts=counts,
        votes={k: v for k, v in votes.items() if v is not None or row.get(f"votes_{k}")},
    )
    return form, []


def _count_or_problem(row: Row, column: str, problems: list[Problem]) -> int | None:
    try:
        return parse_count(row.get(column), column)
    except InvalidValue as error:
        problems.append(error.problem.at(row))
        return None


# --------------------------------------------------------------------------- references


@dataclass
class RegionRef:
    code: str
    level: str
    parent_code: str | None
    id: int | None = None


@dataclass
class ContestRef:
    code: str
    region_code: str | None
    id: int | None = None
    candidates: dict[int, str] = field(default_factory=dict)


@dataclass
class StationRef:
    code: str
    village_code: str
    registered: int | None
    id: int | None = None
    village_id: int | None = None


class Catalog:
    """What rows may refer to: what is stored plus what this import brings.

    Regions and contests are few and loaded whole; stations are looked up on demand in
    chunks, so that one ``submitTally`` does not load a national station list.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.regions: dict[str, RegionRef] = {}
        self.region_ids: dict[int, RegionRef] = {}
        self.contests: dict[str, ContestRef] = {}
        self.stations: dict[str, StationRef | None] = {}
        self._load_regions_and_contests()

    def _load_regions_and_contests(self) -> None:
        rows = self.connection.execute(select(Region.id, Region.code, Region.level, Region.parent_id)).all()
        codes = {r.id: r.code for r in rows}
        for r in rows:
            ref = RegionRef(r.code, r.level, codes.get(r.parent_id) if r.parent_id else None, r.id)
            self.regions[r.code] = ref
            self.region_ids[r.id] = ref
        contests = self.connection.execute(select(Contest.id, Contest.code, Contest.region_id)).all()
        by_id = {}
        for c in contests:
            region = self.region_ids.get(c.region_id) if c.region_id else None
            by_id[c.id] = self.contests[c.code] = ContestRef(c.code, region.code if region else None, c.id)
        for cand in self.connection.execute(select(Candidate.contest_id, Candidate.number, Candidate.name)):
            by_id[cand.contest_id].candidates[cand.number] = cand.name

    def station(self, code: str) -> StationRef | None:
        if code not in self.stations:
            self.prefetch_stations([code])
        return self.stations.get(code)

    def prefetch_stations(self, codes: Iterable[str]) -> None:
        missing = sorted({c for c in codes if c not in self.stations})
        for start in range(0, len(missing), 900):
            chunk = missing[start : start + 900]
            found = self.connection.execute(
                select(Station.id, Station.code, Station.village_id, Station.registered).where(
                    Station.code.in_(chunk)
                )
            ).all()
            for s in found:
                village = self.region_ids[s.village_id]
                self.stations[s.code] = StationRef(s.code, village.code, s.registered, s.id, s.village_id)
            for code in chunk:
                self.stations.setdefault(code, None)

    def ancestors(self, region_code: str) -> list[RegionRef]:
        """The region and every region above it, nearest first."""
        chain = []
        ref = self.regions.get(region_code)
        while ref is not None:
            chain.append(ref)
            ref = self.regions.get(ref.parent_code) if ref.parent_code else None
        return chain


def is_below(code: str, ancestor: str | None) -> bool:
    """True when ``code`` is ``ancestor`` or lies under it in the code tree (None covers all)."""
    return ancestor is None or code == ancestor or code.startswith(ancestor + ".")


def descendant_range(code: str) -> tuple[str, str]:
    """Codes strictly below ``code`` are those in ``[code + '.', code + '/')`` ('/' follows '.')."""
    return code + ".", code + "/"


# --------------------------------------------------------------------------- validation


def validate_tally(form: TallyForm, catalog: Catalog) -> tuple[StationRef | None, ContestRef | None, list[Problem]]:
    """Check a form's references: the rules that decide whether it can be stored at all."""
    problems = []
    if not form.submission_id.strip():
        problems.append(Problem("required", "submission_id is empty", "submission_id"))
    elif len(form.submission_id) > 200:
        problems.append(Problem("too-long", "submission_id is longer than 200 characters", "submission_id"))
    station = catalog.station(form.station_code)
    contest = catalog.contests.get(form.contest_code)
    if station is None:
        problems.append(Problem("unknown-station", f"no station {form.station_code!r}", "station_code"))
    if contest is None:
        problems.append(Problem("unknown-contest", f"no contest {form.contest_code!r}", "contest_code"))
    if station and contest and not is_below(station.code, contest.region_code):
        problems.append(
            Problem(
                "station-outside-contest",
                f"station {station.code} does not vote in {contest.code} (region {contest.region_code})",
                "station_code",
            )
        )
    if contest is not None:
        for number in sorted(form.votes):
            if number not in contest.candidates:
                problems.append(
                    Problem(
                        "unknown-candidate",
                        f"contest {contest.code} has candidates 1..{len(contest.candidates)}, not {number}",
                        bundle.votes_column(number),
                    )
                )
    if form.source is not None and len(form.source) > 40:
        problems.append(Problem("too-long", "source is longer than 40 characters", "source"))
    return station, contest, problems


# --------------------------------------------------------------------------- storing tallies


@dataclass(frozen=True)
class StoredTally:
    """A revision this transaction stored, and whether it became the current one."""

    id: int
    submission_id: str
    station_id: int
    contest_id: int
    station_code: str
    contest_code: str
    is_current: bool
    previous_id: int | None


@dataclass
class ValidTally:
    form: TallyForm
    station: StationRef
    contest: ContestRef


def _dialect_insert(connection: Connection, table: Any) -> Any:
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def existing_submissions(connection: Connection, submission_ids: Sequence[str]) -> dict[str, int]:
    """submission_id -> tally id, for those already stored."""
    found: dict[str, int] = {}
    for start in range(0, len(submission_ids), 900):
        chunk = submission_ids[start : start + 900]
        rows = connection.execute(select(Tally.submission_id, Tally.id).where(Tally.submission_id.in_(chunk)))
        found.update({r.submission_id: r.id for r in rows})
    return found


def store_tallies(connection: Connection, tallies: Sequence[ValidTally], catalog: Catalog) -> list[StoredTally]:
    """Store new revisions, move current pointers, and update the region aggregates.

    Repeated submission ids (already stored, or twice in ``tallies``) are skipped. Must run
    inside the caller's transaction: everything here commits or rolls back together.
    """
    known = existing_submissions(connection, [t.form.submission_id for t in tallies])
    fresh: dict[str, ValidTally] = {}
    for tally in tallies:
        if tally.form.submission_id not in known:
            fresh.setdefault(tally.form.submission_id, tally)
    if not fresh:
        return []
    batch = sorted(fresh.values(), key=lambda t: (t.form.submitted_at, t.form.submission_id))
    _lock_stations(connection, {t.station.id for t in batch if t.station.id is not None})
    ids = _insert_revisions(connection, batch)
    return _advance_current(connection, batch, ids, catalog)


def _lock_stations(connection: Connection, station_ids: set[int]) -> None:
    # Two processes storing revisions of one station must not both think theirs is newest.
    if connection.dialect.name != "postgresql" or not station_ids:
        return
    ordered = sorted(station_ids)
    for start in range(0, len(ordered), 5000):
        connection.execute(
            select(Station.id).where(Station.id.in_(ordered[start : start + 5000])).with_for_update()
        )


def _revision_row(tally: ValidTally, received_at: datetime) -> dict[str, Any]:
    form = tally.form
    submitted_at, offset = to_utc_naive(form.submitted_at)
    return {
        "submission_id": form.submission_id,
        "station_id": tally.station.id,
        "contest_id": tally.contest.id,
        "submitted_at": submitted_at,
        "submitted_offset": offset,
        "received_at": received_at,
        "source": form.source,
        **{name: form.counts.get(name) for name in COUNT_FIELDS},
        "votes": form.votes_list(len(tally.contest.candidates)),
        "extra": form.extra,
        "actor": form.actor,
        "token_id": form.token_id,
    }


def _insert_revisions(connection: Connection, batch: Sequence[ValidTally]) -> dict[str, int]:
    received_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [_revision_row(t, received_at) for t in batch]
    statement = Tally.__table__.insert().returning(  # type: ignore[attr-defined]
        Tally.id, Tally.submission_id, sort_by_parameter_order=True
    )
    ids: dict[str, int] = {}
    for start in range(0, len(rows), 5000):
        result = connection.execute(statement, rows[start : start + 5000])
        ids.update({r.submission_id: r.id for r in result})
    return ids


@dataclass
class _Contribution:
    """What one current revision adds to the sums of every region above its station."""

    registered: int
    voters: int
    valid: int
    invalid: int
    votes: list[int]

    @classmethod
    def of(cls, counts: dict[str, int | None], votes: Sequence[int | None], station_registered: int | None) -> _Contribution:
        registered = registered_of(FormValues(counts))
        if registered is None:
            registered = station_registered or 0
        return cls(
            registered,
            counts.get("voters") or 0,
            counts.get("valid_votes") or 0,
            counts.get("invalid_votes") or 0,
            [v or 0 for v in votes],
        )


def _current_revisions(connection: Connection, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], Any]:
    """(station_id, contest_id) -> the current revision's row, for the pairs given."""
    stations = sorted({s for s, _ in pairs})
    found: dict[tuple[int, int], Any] = {}
    columns = [CurrentTally.station_id, CurrentTally.contest_id, Tally.id, Tally.submitted_at, Tally.votes]
    columns += [getattr(Tally, name) for name in COUNT_FIELDS]
    for start in range(0, len(stations), 900):
        rows = connection.execute(
            select(*columns)
            .join(Tally, Tally.id == CurrentTally.tally_id)
            .where(CurrentTally.station_id.in_(stations[start : start + 900]))
        )
        for r in rows:
            if (r.station_id, r.contest_id) in pairs:
                found[(r.station_id, r.contest_id)] = r
    return found


def _advance_current(
    connection: Connection, batch: Sequence[ValidTally], ids: dict[str, int], catalog: Catalog
) -> list[StoredTally]:
    pairs = {(t.station.id, t.contest.id) for t in batch}  # type: ignore[misc]
    current = _current_revisions(connection, pairs)  # type: ignore[arg-type]
    state: dict[tuple[int, int], tuple[int, datetime, _Contribution]] = {}
    for (station_id, contest_id), r in current.items():
        counts = {name: getattr(r, name) for name in COUNT_FIELDS}
        station = next(t.station for t in batch if t.station.id == station_id)
        state[(station_id, contest_id)] = (r.id, r.submitted_at, _Contribution.of(counts, r.votes, station.registered))
    before = dict(state)
    stored: list[StoredTally] = []
    for tally in batch:
        key = (tally.station.id, tally.contest.id)
        submitted_at, _ = to_utc_naive(tally.form.submitted_at)
        previous = state.get(key)  # type: ignore[arg-type]
        is_current = previous is None or submitted_at >= previous[1]
        tally_id = ids[tally.form.submission_id]
        if is_current:
            contribution = _Contribution.of(
                tally.form.counts, tally.form.votes_list(len(tally.contest.candidates)), tally.station.registered
            )
            state[key] = (tally_id, submitted_at, contribution)  # type: ignore[index]
        stored.append(
            StoredTally(
                tally_id, tally.form.submission_id, key[0], key[1],  # type: ignore[arg-type]
                tally.station.code, tally.contest.code, is_current, previous[0] if previous else None,
            )
        )
    changed = {k: v for k, v in state.items() if before.get(k) != v}
    _write_current_pointers(connection, changed)
    _apply_result_deltas(connection, changed, before, batch, catalog)
    return stored


def _write_current_pointers(connection: Connection, changed: dict[tuple[int, int], Any]) -> None:
    if not changed:
        return
    rows = [
        {"station_id": s, "contest_id": c, "tally_id": v[0], "submitted_at": v[1]}
        for (s, c), v in changed.items()
    ]
    statement = _dialect_insert(connection, CurrentTally.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["station_id", "contest_id"],
        set_={"tally_id": statement.excluded.tally_id, "submitted_at": statement.excluded.submitted_at},
    )
    for start in range(0, len(rows), 5000):
        connection.execute(statement, rows[start : start + 5000])


def _apply_result_deltas(
    connection: Connection,
    changed: dict[tuple[int, int], tuple[int, datetime, _Contribution]],
    before: dict[tuple[int, int], tuple[int, datetime, _Contribution]],
    batch: Sequence[ValidTally],
    catalog: Catalog,
) -> None:
    village_of = {t.station.id: t.station.village_code for t in batch}
    totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    votes: dict[tuple[int, int, int], int] = defaultdict(int)
    for (station_id, contest_id), (_, _, new) in changed.items():
        old = before.get((station_id, contest_id))
        delta = _difference(new, old[2] if old else None)
        for region in catalog.ancestors(village_of[station_id]):
            assert region.id is not None
            row = totals[(region.id, contest_id)]
            for i, value in enumerate(delta[0]):
                row[i] += value
            for number, value in enumerate(delta[1], start=1):
                votes[(region.id, contest_id, number)] += value
    write_result_deltas(connection, totals, votes)


def _difference(new: _Contribution, old: _Contribution | None) -> tuple[list[int], list[int]]:
    if old is None:
        return [1, new.registered, new.voters, new.valid, new.invalid], list(new.votes)
    size = max(len(new.votes), len(old.votes))
    padded_new = new.votes + [0] * (size - len(new.votes))
    padded_old = old.votes + [0] * (size - len(old.votes))
    return (
        [0, new.registered - old.registered, new.voters - old.voters, new.valid - old.valid, new.invalid - old.invalid],
        [a - b for a, b in zip(padded_new, padded_old, strict=True)],
    )


def write_result_deltas(
    connection: Connection,
    totals: dict[tuple[int, int], list[int]],
    votes: dict[tuple[int, int, int], int],
) -> None:
    """Add deltas to the aggregates atomically (``x = x + delta``): safe with concurrent writers."""
    columns = ("stations_reported", "registered", "voters", "valid_votes", "invalid_votes")
    table: Table = RegionResult.__table__  # type: ignore[assignment]
    rows = [
        {"region_id": r, "contest_id": c, **dict(zip(columns, values, strict=True))}
        for (r, c), values in sorted(totals.items())
        if any(values)
    ]
    if rows:
        statement = _dialect_insert(connection, table)
        statement = statement.on_conflict_do_update(
            index_elements=["region_id", "contest_id"],
            set_={name: table.c[name] + statement.excluded[name] for name in columns},
        )
        connection.execute(statement, rows)
    vote_table: Table = RegionResultVotes.__table__  # type: ignore[assignment]
    vote_rows = [
        {"region_id": r, "contest_id": c, "number": n, "votes": v}
        for (r, c, n), v in sorted(votes.items())
        if v
    ]
    if vote_rows:
        statement = _dialect_insert(connection, vote_table)
        statement = statement.on_conflict_do_update(
            index_elements=["region_id", "contest_id", "number"],
            set_={"votes": vote_table.c.votes + statement.excluded.votes},
        )
        connection.execute(statement, vote_rows)


# --------------------------------------------------------------------------- bundle import


@dataclass
class ImportReport:
    """What an import did: rows stored per file, repeats skipped, problems found."""

    stored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    repeats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[Problem] = field(default_factory=list)
    rejected: list[tuple[Row, list[Problem]]] = field(default_factory=list)
    tallies: list[StoredTally] = field(default_factory=list)
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def reject(self, row: Row, problems: list[Problem]) -> None:
        located = [p if p.file else p.at(row) for p in problems]
        self.problems.extend(located)
        self.rejected.append((row, located))


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


class BundleImporter:
    """Imports the files of one bundle folder in one transaction.

    Rows are validated and written chunk by chunk inside the transaction (so memory stays
    bounded on a national bundle); when any row is rejected and ``skip_invalid`` is off,
    writing stops, validation goes on to list every problem, and the transaction is rolled
    back so the database is exactly as before.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        skip_invalid: bool = False,
        actor: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.connection = connection
        self.catalog = Catalog(connection)
        self.skip_invalid = skip_invalid
        self.actor = actor or default_actor()
        self.progress = progress
        self.report = ImportReport()

    @property
    def writing(self) -> bool:
        return self.skip_invalid or self.report.ok

    def import_folder(self, folder: Path) -> ImportReport:
        handlers: dict[str, Callable[[Iterator[Row]], None]] = {
            bundle.REGIONS: self.import_regions,
            bundle.CONTESTS: self.import_contests,
            bundle.CANDIDATES: self.import_candidates,
            bundle.STATIONS: self.import_stations,
            bundle.TALLIES: self.import_tallies,
        }
        for name in bundle.present_files(folder):
            try:
                handlers[name](bundle.read_rows(folder / name))
            except bundle.MissingColumnsError as error:
                self.report.problems.append(
                    Problem("missing-column", f"missing required column(s) {', '.join(error.columns)}",
                            error.columns[0], name, 1)
                )
        return self.report

    # -- regions

    def import_regions(self, rows: Iterator[Row]) -> None:
        ordered = sorted(rows, key=lambda r: (_level_rank(r.get("level")), r.line))
        new: list[tuple[Row, RegionRef, str]] = []
        for row in ordered:
            problems = self._region_problems(row)
            if problems:
                self.report.reject(row, problems)
                continue
            code = row.get("code")
            if code in self.catalog.regions:
                self.report.repeats[bundle.REGIONS] += 1
                continue
            ref = RegionRef(code, row.get("level"), row.get("parent_code") or None)
            self.catalog.regions[code] = ref
            new.append((row, ref, row.get("name")))
        if self.writing:
            self._write_regions(new)

    def _region_problems(self, row: Row) -> list[Problem]:
        code, level, parent = row.get("code"), row.get("level"), row.get("parent_code")
        problems = [Problem("required", f"{c} is empty", c) for c in ("code", "name", "level") if not row.get(c)]
        if problems:
            return problems
        if level not in LEVELS:
            return [Problem("bad-level", f"level must be one of {', '.join(LEVELS)}, not {level!r}", "level")]
        stored = self.catalog.regions.get(code)
        if stored is not None:
            if stored.level != level or (stored.parent_code or "") != parent:
                return [Problem("conflicts-with-stored", f"region {code} is stored as a {stored.level} "
                                f"under {stored.parent_code or 'nothing'}", "code")]
            return []
        if level == "province":
            if parent:
                return [Problem("bad-parent", "a province has no parent", "parent_code")]
            if "." in code:
                return [Problem("bad-code", "a province's code has one part", "code")]
            return []
        parent_ref = self.catalog.regions.get(parent)
        if parent_ref is None:
            return [Problem("unknown-parent", f"no region {parent!r}", "parent_code")]
        expected = LEVELS[LEVELS.index(parent_ref.level) + 1] if parent_ref.level != "village" else None
        if level != expected:
            return [Problem("bad-level", f"a child of a {parent_ref.level} is a {expected}, not a {level}", "level")]
        head, _, tail = code.rpartition(".")
        if head != parent or not tail:
            return [Problem("bad-code", f"code must be the parent's code {parent!r}, a dot and one part", "code")]
        return []

    def _write_regions(self, new: list[tuple[Row, RegionRef, str]]) -> None:
        for level in LEVELS:
            batch = [(ref, name) for _, ref, name in new if ref.level == level]
            if not batch:
                continue
            rows = [
                {
                    "code": ref.code,
                    "name": name,
                    "level": ref.level,
                    "parent_id": self.catalog.regions[ref.parent_code].id if ref.parent_code else None,
                    "stations_total": 0,
                    "registered_total": 0,
                }
                for ref, name in batch
            ]
            result = self.connection.execute(
                Region.__table__.insert().returning(Region.id, Region.code, sort_by_parameter_order=True),  # type: ignore[attr-defined]
                rows,
            )
            for r in result:
                self.catalog.regions[r.code].id = r.id
                self.catalog.region_ids[r.id] = self.catalog.regions[r.code]
            self.report.stored[bundle.REGIONS] += len(rows)

    # -- contests and candidates

    def import_contests(self, rows: Iterator[Row]) -> None:
        for row in rows:
            code, region_code = row.get("code"), row.get("region_code") or None
            problems = [Problem("required", f"{c} is empty", c) for c in ("code", "name") if not row.get(c)]
            region = self.catalog.regions.get(region_code) if region_code else None
            if region_code and region is None:
                problems.append(Problem("unknown-region", f"no region {region_code!r}", "region_code"))
            elif region is not None and region.level not in ("province", "regency"):
                problems.append(Problem("bad-level", "a contest elects the head of a province or regency",
                                        "region_code"))
            stored = self.catalog.contests.get(code)
            if stored is not None and not problems:
                if stored.region_code != region_code:
                    problems.append(Problem("conflicts-with-stored",
                                            f"contest {code} is stored for region {stored.region_code}", "region_code"))
                else:
                    self.report.repeats[bundle.CONTESTS] += 1
                    continue
            if problems:
                self.report.reject(row, problems)
                continue
            ref = ContestRef(code, region_code)
            self.catalog.contests[code] = ref
            if self.writing:
                region_id = region.id if region else None
                ref.id = self.connection.execute(
                    Contest.__table__.insert().returning(Contest.id),  # type: ignore[attr-defined]
                    {"code": code, "name": row.get("name"), "region_id": region_id},
                ).scalar_one()
                self.report.stored[bundle.CONTESTS] += 1

    def import_candidates(self, rows: Iterator[Row]) -> None:
        """Candidates are checked per contest once the file is read: numbers must be 1..N."""
        pending: dict[str, list[tuple[Row, int]]] = defaultdict(list)
        for row in rows:
            accepted = self._candidate_or_reject(row)
            if accepted is not None:
                pending[row.get("contest_code")].append((row, accepted))
        for code, entries in pending.items():
            contest = self.catalog.contests[code]
            numbers = sorted([*contest.candidates, *(n for _, n in entries)])
            if numbers != list(range(1, len(numbers) + 1)):
                for row, _ in entries:
                    self.report.reject(row, [Problem("not-contiguous",
                                       f"{code}'s ballot numbers must be 1..N without gaps, got {numbers}", "number")])
                continue
            for row, number in entries:
                contest.candidates[number] = row.get("name")
            if self.writing and contest.id is not None:
                self.connection.execute(
                    Candidate.__table__.insert(),  # type: ignore[attr-defined]
                    [{"contest_id": contest.id, "number": n, "name": row.get("name")} for row, n in entries],
                )
                self.report.stored[bundle.CANDIDATES] += len(entries)

    def _candidate_or_reject(self, row: Row) -> int | None:
        contest = self.catalog.contests.get(row.get("contest_code"))
        problems = [Problem("required", f"{c} is empty", c) for c in ("contest_code", "number", "name") if not row.get(c)]
        number = None
        try:
            number = parse_count(row.get("number"), "number")
        except InvalidValue as error:
            problems.append(error.problem)
        if number == 0:
            problems.append(Problem("bad-number", "ballot numbers start at 1", "number"))
        if contest is None and row.get("contest_code"):
            problems.append(Problem("unknown-contest", f"no contest {row.get('contest_code')!r}", "contest_code"))
        if problems or contest is None or number is None:
            self.report.reject(row, problems)
            return None
        if number in contest.candidates:
            if contest.candidates[number] == row.get("name"):
                self.report.repeats[bundle.CANDIDATES] += 1
            else:
                self.report.reject(row, [Problem("duplicate-number",
                                                 f"{contest.code} already has a candidate number {number}", "number")])
            return None
        return number

    # -- stations

    def import_stations(self, rows: Iterator[Row]) -> None:
        pending: list[tuple[Row, StationRef, int | None]] = []
        for row in rows:
            pending.append(self._station_or_reject(row))  # type: ignore[arg-type]
            pending = [p for p in pending if p is not None]
            if len(pending) >= CHUNK:
                self._write_stations(pending)
                pending = []
        self._write_stations(pending)

    def _station_or_reject(self, row: Row) -> tuple[Row, StationRef, int | None] | None:
        code, village_code = row.get("code"), row.get("village_code")
        problems = [Problem("required", f"{c} is empty", c) for c in ("code", "village_code") if not row.get(c)]
        registered = number = None
        try:
            registered = parse_count(row.get("registered"), "registered")
            number = parse_count(row.get("number"), "number")
        except InvalidValue as error:
            problems.append(error.problem)
        village = self.catalog.regions.get(village_code)
        if village_code and village is None:
            problems.append(Problem("unknown-village", f"no region {village_code!r}", "village_code"))
        elif village is not None and village.level != "village":
            problems.append(Problem("bad-level", f"{village_code} is a {village.level}, not a village", "village_code"))
        head, _, tail = code.rpartition(".")
        if code and (head != village_code or not (tail.isdigit() and len(tail) == 3)):
            problems.append(Problem("bad-code", "a station's code is its village's code, a dot and 3 digits", "code"))
        elif number is not None and tail.isdigit() and int(tail) != number:
            problems.append(Problem("bad-number", f"number {number} does not match code {code}", "number"))
        stored = self.catalog.station(code) if code else None
        if stored is not None and not problems:
            if stored.village_code != village_code:
                problems.append(Problem("conflicts-with-stored", f"{code} is stored under {stored.village_code}", "code"))
            else:
                self.report.repeats[bundle.STATIONS] += 1
                return None
        if problems:
            self.report.reject(row, problems)
            return None
        ref = StationRef(code, village_code, registered, village_id=village.id if village else None)
        self.catalog.stations[code] = ref
        return row, ref, number if number is not None else int(tail)

    def _write_stations(self, pending: list[tuple[Row, StationRef, int | None]]) -> None:
        if not pending or not self.writing:
            return
        rows = [
            {"code": ref.code, "village_id": self.catalog.regions[ref.village_code].id, "number": number,
             "registered": ref.registered}
            for _, ref, number in pending
        ]
        result = self.connection.execute(
            Station.__table__.insert().returning(Station.id, Station.code, sort_by_parameter_order=True),  # type: ignore[attr-defined]
            rows,
        )
        for r in result:
            ref = self.catalog.stations[r.code]
            assert ref is not None
            ref.id = r.id
            ref.village_id = self.catalog.regions[ref.village_code].id
        self._add_station_totals([ref for _, ref, _ in pending])
        self.report.stored[bundle.STATIONS] += len(rows)

    def _add_station_totals(self, stations: list[StationRef]) -> None:
        deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for station in stations:
            for region in self.catalog.ancestors(station.village_code):
                assert region.id is not None
                deltas[region.id][0] += 1
                deltas[region.id][1] += station.registered or 0
        add_station_totals(self.connection, deltas)

    # -- tallies

    def import_tallies(self, rows: Iterator[Row]) -> None:
        chunk: list[Row] = []
        done = 0
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                done += self._import_tally_chunk(chunk)
                chunk = []
                if self.progress:
                    self.progress("tallies", done, None)
        done += self._import_tally_chunk(chunk)
        if self.progress:
            self.progress("tallies", done, done)

    def _import_tally_chunk(self, rows: list[Row]) -> int:
        parsed: list[tuple[Row, TallyForm]] = []
        for row in rows:
            form, problems = parse_tally_row(row)
            if form is None:
                self.report.reject(row, problems)
            else:
                form.actor = self.actor
                parsed.append((row, form))
        self.catalog.prefetch_stations(f.station_code for _, f in parsed)
        valid = []
        for row, form in parsed:
            station, contest, problems = validate_tally(form, self.catalog)
            if problems or station is None or contest is None:
                self.report.reject(row, problems)
                continue
            valid.append(ValidTally(form, station, contest))
        if self.writing and valid:
            stored = store_tallies(self.connection, valid, self.catalog)
            self.report.tallies.extend(stored)
            self.report.stored[bundle.TALLIES] += len(stored)
            self.report.repeats[bundle.TALLIES] += len(valid) - len(stored)
        return len(rows)


def _level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def add_station_totals(connection: Connection, deltas: dict[int, list[int]]) -> None:
    """Add station counts and registered voters to regions (``x = x + delta``)."""
    if not deltas:
        return
    table = Region.__table__
    from sqlalchemy import bindparam

    statement = (
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("rid"))
        .values(
            stations_total=table.c.stations_total + bindparam("dn"),
            registered_total=table.c.registered_total + bindparam("dr"),
        )
    )
    connection.execute(statement, [{"rid": r, "dn": n, "dr": reg} for r, (n, reg) in sorted(deltas.items())])


def import_bundle(
    engine: Engine,
    folder: Path,
    *,
    skip_invalid: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a bundle folder all-or-nothing (or, with ``skip_invalid``, every valid row)."""
    connection = engine.connect()
    transaction = connection.begin()
    try:
        importer = BundleImporter(connection, skip_invalid=skip_invalid, actor=actor, progress=progress)
        report = importer.import_folder(folder)
        if report.ok or skip_invalid:
            transaction.commit()
            report.committed = True
        else:
            transaction.rollback()
    except BaseException:
        transaction.rollback()
        raise
    finally:
        connection.close()
    return report
