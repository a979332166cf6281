"""The one door every count comes in by: parse -> validate -> store, in one transaction.

The bundle importer, the Sirekap importer and the ``submitTally`` mutation differ only in how
they parse; they share :func:`parse_count`, :func:`parse_timestamp`, the :class:`Catalog`
that validates references, :func:`validate_tally` and :func:`store_tallies`, which stores
revisions and keeps the region aggregates and current-revision pointers up to date in the
same transaction. Detection and events happen after commit (see :mod:`pilkada_graph.service`).

One shortcut: the rows of a bundle's tallies.csv in which nothing needs deciding (plain counts,
one time layout, valid references, new ids, no stored revision to replace) are stored a chunk of
whole columns at a time by :mod:`pilkada_graph.columnar`, which writes the same rows; every other
row, and everything else, comes through this door.

Errors are :class:`Problem` values naming file, line, column and rule, never exceptions
half-way through a write: an import either stores everything valid or (without
``skip_invalid``) nothing at all, because the whole import runs in one transaction that is
rolled back when any row was rejected.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import getpass
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, update

from pilkada_graph import bundle
from pilkada_graph.bundle import COUNT_FIELDS, LEVELS, Row
from pilkada_graph.models import Candidate, Contest, Region, Station
from pilkada_graph.rules import FormValues
from pilkada_graph.store import (
    PendingSums,
    RawSQL,
    StoredTally,
    ValidTally,
    existing_submissions,
    store_tallies,
)

__all__ = ["StoredTally", "ValidTally", "existing_submissions", "store_tallies"]  # re-exported for feeds

Progress = Callable[[str, int, int | None], None]
CHUNK = 10_000

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


def missing_values(row: Row, columns: Sequence[str]) -> list[Problem]:
    """A ``required`` problem for each of ``columns`` that is empty in ``row``."""
    return [Problem("required", f"{column} is empty", column) for column in columns if not row.get(column)]


class InvalidValue(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# --------------------------------------------------------------------------- parsing


#: The largest count a column can hold (a 32-bit INTEGER, as PostgreSQL stores it); no station has
#: a billion voters, so anything above is a misread, rejected rather than failing the write.
MAX_COUNT = 2_147_483_647
#: Counts of up to this many digits are under ``MAX_COUNT`` and may skip the range check.
SAFE_COUNT_DIGITS = len(str(MAX_COUNT)) - 1


def parse_count(text: str | int | None, column: str) -> int | None:
    """A form count: empty -> None; otherwise a whole number from 0 to :data:`MAX_COUNT`."""
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
    if value > MAX_COUNT:
        raise InvalidValue(Problem("too-large", f"counts are at most {MAX_COUNT:,}, got {value}", column))
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
    try:
        moment.astimezone(UTC)  # stored in UTC: 9999-12-31T23:30:00-03:00 is past the last day
    except OverflowError:
        raise InvalidValue(
            Problem("bad-timestamp", f"{text!s} is out of range in UTC (years 1 to 9999)", column)
        ) from None
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
    """A tallies.csv row -> a form, or the problems that make it unusable.

    Clean rows (every count empty or plain digits) take a short road; a row with anything
    else takes the general one, which names each problem.
    """
    values = row.values
    vote_columns = _votes_columns(tuple(values))
    counts = _plain_ints(values, COUNT_FIELDS)
    votes = _plain_ints(values, [column for column, _ in vote_columns])
    submission_id, station_code, contest_code, submitted = (
        (values.get(column) or "").strip() for column in _REQUIRED_TALLY_COLUMNS)
    if counts is None or votes is None or not (submission_id and station_code and contest_code and submitted):
        return _parse_tally_row_generally(row)
    try:
        submitted_at = parse_timestamp(submitted)
    except InvalidValue as error:
        return None, [error.problem.at(row)]
    form = TallyForm(submission_id, station_code, contest_code, submitted_at, (values.get("source") or "").strip()
                     or None, dict(zip(COUNT_FIELDS, counts, strict=True)),
                     {number: vote for (_, number), vote in zip(vote_columns, votes, strict=True) if vote is not None})
    return form, []


_REQUIRED_TALLY_COLUMNS = bundle.REQUIRED_COLUMNS[bundle.TALLIES]  # in this order: the id, station, contest, time


def _plain_ints(values: Mapping[str, str | None], columns: Sequence[str]) -> list[int | None] | None:
    """Each column's count (None where empty) when all are empty or plain digits short enough to be
    in range; None when any needs the general parser."""
    counts: list[int | None] = []
    for column in columns:
        text = values.get(column)
        if not text:
            counts.append(None)
        elif text.isdecimal() and len(text) <= SAFE_COUNT_DIGITS:
            counts.append(int(text))
        else:
            return None
    return counts


def _parse_tally_row_generally(row: Row) -> tuple[TallyForm | None, list[Problem]]:
    """The general road: every cell through :func:`parse_count`, every problem named."""
    problems = [Problem("required", f"{column} is empty", column).at(row)
                for column in _REQUIRED_TALLY_COLUMNS if not row.get(column)]
    counts = {column: _count_or_problem(row, column, problems) for column in COUNT_FIELDS}
    votes = {
        number: _count_or_problem(row, column, problems)
        for column, number in _votes_columns(tuple(row.values))
        if row.values.get(column)
    }
    submitted_at = None
    if row.get("submitted_at"):
        try:
            submitted_at = parse_timestamp(row.get("submitted_at"))
        except InvalidValue as error:
            problems.append(error.problem.at(row))
    if problems or submitted_at is None:
        return None, problems
    form = TallyForm(row.get("submission_id"), row.get("station_code"), row.get("contest_code"), submitted_at,
                     row.get("source") or None, counts, votes)
    return form, []


def _count_or_problem(row: Row, column: str, problems: list[Problem]) -> int | None:
    try:
        return parse_count(row.values.get(column), column)
    except InvalidValue as error:
        problems.append(error.problem.at(row))
        return None


@functools.lru_cache(maxsize=64)
def _votes_columns(header: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The ``votes_K`` columns of a header with their ballot numbers (once per file, not per row)."""
    found = ((column, bundle.candidate_number_of(column or "")) for column in header)
    return tuple((column, number) for column, number in found if number is not None)


# --------------------------------------------------------------------------- references
#
# A catalog holds one of these per region and per station looked up (a province's thousands, in
# every import): slotted, they are built faster and are one object each for the collector.


@dataclass(slots=True)
class RegionRef:
    code: str
    level: str
    parent_code: str | None
    id: int | None = None


@dataclass(slots=True)
class ContestRef:
    code: str
    region_code: str | None
    id: int | None = None
    candidates: dict[int, str] = field(default_factory=dict)


@dataclass(slots=True)
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

    def __init__(self, connection: Connection, reference: Catalog | None = None) -> None:
        """``reference``: a catalog whose regions and contests are still what is stored (see
        :meth:`reference_stamp`); they are shared rather than loaded again, which saves a
        ``submitTally`` from reading ~90,000 regions on a national desk. Share only with a
        catalog that will not add regions, contests or candidates."""
        self.connection = connection
        self.stations: dict[str, StationRef | None] = {}
        self.regions: dict[str, RegionRef] = {}
        self.region_ids: dict[int, RegionRef] = {}
        self.contests: dict[str, ContestRef] = {}
        if reference is not None:
            self.regions, self.region_ids = reference.regions, reference.region_ids
            self.contests = reference.contests
            return
        self._load_regions_and_contests()

    @staticmethod
    def reference_stamp(connection: Connection) -> tuple[Any, ...]:
        """Changes whenever regions, contests or candidates are added (they are never deleted or
        renumbered): three index lookups, cheap enough to check before every reuse."""
        (stamp,) = RawSQL(connection).fetchall(
            "SELECT (SELECT max(id) FROM regions), (SELECT max(id) FROM contests), (SELECT max(id) FROM candidates)")
        return stamp

    def _load_regions_and_contests(self) -> None:
        """Through the DBAPI cursor: SQLAlchemy's row processing was most of loading a province's
        1,722 regions (an import's first 16 ms)."""
        raw = RawSQL(self.connection)
        rows = raw.fetchall("SELECT id, code, level, parent_id FROM regions")
        codes = {region_id: code for region_id, code, _, _ in rows}
        for region_id, code, level, parent_id in rows:
            ref = RegionRef(code, level, codes.get(parent_id) if parent_id else None, region_id)
            self.regions[code] = ref
            self.region_ids[region_id] = ref
        by_id = {}
        for contest_id, code, region_id in raw.fetchall("SELECT id, code, region_id FROM contests"):
            region = self.region_ids.get(region_id) if region_id else None
            by_id[contest_id] = self.contests[code] = ContestRef(code, region.code if region else None, contest_id)
        for contest_id, number, name in raw.fetchall("SELECT contest_id, number, name FROM candidates"):
            by_id[contest_id].candidates[number] = name

    def station(self, code: str) -> StationRef | None:
        try:
            return self.stations[code]
        except KeyError:
            self.prefetch_stations([code])
            return self.stations.get(code)

    def prefetch_stations(self, codes: Iterable[str]) -> None:
        """Look up every code not looked up yet, a chunk of codes per query, through the DBAPI
        cursor (SQLAlchemy's per-row result processing cost as much as the query itself). When they
        are half the stations or more (a province's first load), every station is read in one scan
        instead: a row scanned costs half a code looked up (0.5 against 0.9 µs on SQLite). Fewer than
        ``_WORTH_A_SCAN`` codes are looked up without asking (a submission's one station: one query)."""
        missing = {c for c in codes if c not in self.stations}
        if not missing:
            return
        raw = RawSQL(self.connection)
        query = "SELECT id, code, village_id, registered FROM stations"
        if len(missing) >= _WORTH_A_SCAN and 2 * len(missing) >= self._stations_about(raw):
            found = raw.fetchall(query)
        else:
            found = raw.fetchall_in(f"{query} WHERE code IN ({{values}})", sorted(missing))
        for station_id, code, village_id, registered in found:
            if code not in self.stations:  # the scan also reads stations looked up before
                village = self.region_ids[village_id]
                self.stations[code] = StationRef(code, village.code, registered, station_id, village_id)
        for code in missing:
            self.stations.setdefault(code, None)

    @staticmethod
    def _stations_about(raw: RawSQL) -> int:
        """About the number of stations: the largest id (stations are never deleted)."""
        return raw.fetchall("SELECT max(id) FROM stations")[0][0] or 0

    def ancestors(self, region_code: str) -> list[RegionRef]:
        """The region and every region above it, nearest first."""
        chain = []
        ref = self.regions.get(region_code)
        while ref is not None:
            chain.append(ref)
            ref = self.regions.get(ref.parent_code) if ref.parent_code else None
        return chain


#: From this many codes on, :meth:`Catalog.prefetch_stations` asks whether one scan would cost less.
_WORTH_A_SCAN = 100


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
    if contest is not None and not form.votes.keys() <= contest.candidates.keys():
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


# --------------------------------------------------------------------------- bundle import


@dataclass
class ImportReport:
    """What an import did: rows stored per file, repeats skipped, problems found."""

    stored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    repeats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[Problem] = field(default_factory=list)
    rejected: list[tuple[Row, list[Problem]]] = field(default_factory=list)
    tallies: list[StoredTally] = field(default_factory=list)
    #: Recaps stored (:class:`pilkada_graph.recaps.StoredRecap`), for the detectors after commit.
    recaps: list[Any] = field(default_factory=list)
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
        #: The changes to the region aggregates of every chunk stored so far, written by :meth:`finish`.
        self.sums = PendingSums()

    @property
    def writing(self) -> bool:
        return self.skip_invalid or self.report.ok

    def finish(self) -> None:
        """Write what the stored revisions change in the region aggregates (once for the whole import:
        see :class:`~pilkada_graph.store.PendingSums`). Nothing when the import will be rolled back."""
        if self.writing:
            self.sums.write(RawSQL(self.connection), self.catalog)

    def import_folder(self, folder: Path) -> ImportReport:
        handlers: dict[str, Callable[[Iterator[Row]], None]] = {
            bundle.REGIONS: self.import_regions,
            bundle.CONTESTS: self.import_contests,
            bundle.CANDIDATES: self.import_candidates,
            bundle.STATIONS: self.import_stations,
            bundle.RECAPS: self.import_recaps,
        }
        for name in bundle.present_files(folder):
            try:
                if name == bundle.TALLIES:
                    self.import_tallies(bundle.read_chunks(folder / name, CHUNK))
                else:
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
        problems = missing_values(row, ("code", "name", "level"))
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
                Region.__table__.insert().returning(Region.id, Region.code),  # type: ignore[attr-defined]
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
            problems = missing_values(row, ("code", "name"))
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
        problems = missing_values(row, ("contest_code", "number", "name"))
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
        for chunk in _chunks(rows, CHUNK):
            self.catalog.prefetch_stations(row.get("code") for row in chunk)
            accepted = [self._station_or_reject(row) for row in chunk]
            self._write_stations([a for a in accepted if a is not None])

    def _station_or_reject(self, row: Row) -> tuple[Row, StationRef, int | None] | None:
        code, village_code = row.get("code"), row.get("village_code")
        problems = missing_values(row, ("code", "village_code"))
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
                problems.append(
                    Problem("conflicts-with-stored", f"{code} is stored under {stored.village_code}", "code")
                )
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
            Station.__table__.insert().returning(Station.id, Station.code),  # type: ignore[attr-defined]
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

    def import_tallies(self, chunks: Iterable[bundle.CellChunk]) -> None:
        """Each chunk of tallies.csv by the columnar road when it is clean (while writing), except the
        forms it leaves; those, and every other chunk, by the row road, which names every problem
        (:mod:`pilkada_graph.columnar`)."""
        from pilkada_graph.columnar import store_clean_chunk  # it builds on this module

        done = 0
        for chunk in chunks:
            clean = (store_clean_chunk(self.connection, chunk, self.catalog, self.actor, self.sums) if self.writing
                     else None)
            if clean is None:
                self._import_tally_rows(chunk.rows())
            else:
                self._count_stored(clean.tallies, offered=len(clean.tallies))
                if clean.left:
                    self._import_tally_rows(chunk.rows(clean.left))
            done += len(chunk.lines)
            if self.progress:
                self.progress("tallies", done, None)
        if self.progress:
            self.progress("tallies", done, done)

    def _import_tally_rows(self, rows: list[Row]) -> None:
        parsed: list[tuple[Row, TallyForm]] = []
        for row in rows:
            form, problems = parse_tally_row(row)
            if form is None:
                self.report.reject(row, problems)
            else:
                form.actor = self.actor
                parsed.append((row, form))
        self.import_forms(parsed)

    def import_forms(self, parsed: Sequence[tuple[Row, TallyForm]]) -> None:
        """Validate and store parsed forms; each row is where its form came from, for errors.

        The bundle's tallies.csv and Sirekap's station JSON both end here.
        """
        self.catalog.prefetch_stations(f.station_code for _, f in parsed)
        valid = []
        for row, form in parsed:
            station, contest, problems = validate_tally(form, self.catalog)
            if problems or station is None or contest is None:
                self.report.reject(row, problems)
                continue
            valid.append(ValidTally(form, station, contest))
        if self.writing and valid:
            self._count_stored(store_tallies(self.connection, valid, self.catalog, self.sums), offered=len(valid))

    def _count_stored(self, stored: list[StoredTally], *, offered: int) -> None:
        """Report ``stored`` revisions of ``offered`` valid ones (the rest were repeats)."""
        self.report.tallies.extend(stored)
        self.report.stored[bundle.TALLIES] += len(stored)
        self.report.repeats[bundle.TALLIES] += offered - len(stored)

    # -- recaps

    def import_recaps(self, rows: Iterator[Row]) -> None:
        from pilkada_graph.recaps import parse_recap_row

        parsed = []
        for row in rows:
            form, problems = parse_recap_row(row)
            if form is None:
                self.report.reject(row, problems)
            else:
                parsed.append((row, form))
        self.import_recap_forms(parsed)

    def import_recap_forms(self, parsed: Sequence[tuple[Row, Any]]) -> None:
        """Validate and store parsed recaps (:class:`pilkada_graph.recaps.RecapForm`)."""
        from pilkada_graph.recaps import store_recaps, validate_recap

        valid = []
        for row, form in parsed:
            form.actor = self.actor
            region, contest, problems = validate_recap(form, self.catalog)
            if problems or region is None or contest is None:
                self.report.reject(row, problems)
            else:
                valid.append((form, region, contest))
        if self.writing and valid:
            stored = store_recaps(self.connection, valid)
            self.report.recaps.extend(stored)
            self.report.stored[bundle.RECAPS] += len(stored)
            self.report.repeats[bundle.RECAPS] += len(valid) - len(stored)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
    return run_import(engine, lambda importer: importer.import_folder(folder),
                      skip_invalid=skip_invalid, actor=actor, progress=progress)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk import.

    An import builds millions of small, acyclic objects (rows, forms, tuples) that the
    collector would otherwise scan again and again as they survive: on the Kalteng bundle that
    was about a sixth of the import's time. Reference counting frees them as usual meanwhile.

    What is left when it ends (the stored revisions its report carries, the catalog) joins the
    oldest generation at once (``gc.freeze`` then ``gc.unfreeze``), rather than being traversed by
    a pass over the young generation that would only find it alive (2 ms for Kalteng's 9,000
    revisions; it grows with the import).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def run_import(
    engine: Engine,
    work: Callable[[BundleImporter], ImportReport],
    *,
    skip_invalid: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Run one import (any feed's ``work``) in one transaction: committed only when it is clean
    (or ``skip_invalid``), so that every feed shares the all-or-nothing rule."""
    connection = engine.connect()
    transaction = connection.begin()
    try:
        importer = BundleImporter(connection, skip_invalid=skip_invalid, actor=actor, progress=progress)
        with collector_paused():
            report = work(importer)
            importer.finish()
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
