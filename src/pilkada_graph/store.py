"""Storing revisions: the write half of ingest, built for bulk speed.

Every feed ends here (through :func:`store_tallies`), inside the caller's transaction:

1. skip submission ids already stored (a repeat is a no-op);
2. insert the new revisions with ids reserved up front, through the DBAPI's own
   ``executemany`` (SQLAlchemy's per-row parameter processing would cost more than the
   insert itself on a national import);
3. move each (station, contest)'s current-revision pointer when the new revision is later;
4. add the difference between the new and the old current revision to the aggregates of
   the station's village, district, regency and province (``x = x + delta``, so concurrent
   writers on PostgreSQL never lose an update).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Connection

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.rules import registered_of

if TYPE_CHECKING:
    from pilkada_graph.ingest import Catalog, ContestRef, StationRef, TallyForm

#: Names the staging tables of COPY upserts.
_STAGING_NUMBERS = itertools.count(1)
#: From this many rows on, PostgreSQL writes go through COPY rather than executemany.
COPY_THRESHOLD = 64
#: Parameters per statement stay under SQLite's default limit of 32,766 variables.
IN_CHUNK = 900
RESULT_COLUMNS = ("stations_reported", "registered", "voters", "valid_votes", "invalid_votes")
TALLY_COLUMNS = (
    "id", "submission_id", "station_id", "contest_id", "submitted_at", "submitted_offset", "received_at",
    "source", *COUNT_FIELDS, "votes", "extra", "actor", "token_id",
)


class StoredTally(NamedTuple):
    """A revision this transaction stored, and whether it became the current one.

    (A named tuple: one is built per revision of a national import.)
    """

    id: int
    submission_id: str
    station_id: int
    contest_id: int
    station_code: str
    contest_code: str
    is_current: bool
    previous_id: int | None


class ValidTally(NamedTuple):
    """A form whose references were checked: it can be stored (a named tuple: one per row)."""

    form: TallyForm
    station: StationRef
    contest: ContestRef


class RawSQL:
    """The DBAPI cursor of a SQLAlchemy connection, in its transaction, with one paramstyle.

    Statements are written with ``?`` placeholders and translated for psycopg (``%s``).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        cursor = self.connection.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(parameters))

    def fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(parameters))
            return list(cursor.fetchall())

    def fetchall_in(self, sql: str, values: Sequence[Any], parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, which tests membership in ``values`` with ``IN ({values})`` and then
        takes ``parameters``. PostgreSQL gets one statement, ``= ANY(?)`` with an array (one round
        trip however many values: 9,000 ids took twice as long in chunks); SQLite gets chunks of
        ``IN (?, ...)`` (its limit on variables)."""
        if not values:
            return []
        if self.postgres:
            return self.fetchall(sql.replace("IN ({values})", "= ANY(?)"), (list(values), *parameters))
        rows: list[tuple[Any, ...]] = []
        for chunk in chunked(values, IN_CHUNK - len(parameters)):
            rows += self.fetchall(sql.replace("{values}", marks(len(chunk))), (*chunk, *parameters))
        return rows

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    on_conflict: str = "") -> None:
        """``INSERT INTO table (columns) VALUES ... [on_conflict]`` for every row.

        On PostgreSQL a large batch goes through ``COPY`` (into a temporary table first when
        there is an ON CONFLICT clause): row-by-row statements cost a round trip each.
        """
        if not rows:
            return
        names = ", ".join(columns)
        if not self.postgres or len(rows) < COPY_THRESHOLD:
            self.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks(len(columns))}) {on_conflict}", rows)
            return
        if not on_conflict:
            self._copy(table, names, rows)
            return
        # Unique per process, not per RawSQL: a bundle import stores chunk after chunk in one
        # transaction, and each chunk's staging table lives (ON COMMIT DROP) until its commit.
        staging = f"staging_{table}_{next(_STAGING_NUMBERS)}"
        self.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        self._copy(staging, names, rows)
        self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {on_conflict}")

    def _copy(self, table: str, names: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def reserve_ids(self, table: str, count: int) -> list[int]:
        """``count`` fresh primary keys for ``table``.

        PostgreSQL takes them from the table's sequence; SQLite holds the write lock for the
        whole transaction (``BEGIN IMMEDIATE``), so the next ids after the largest are ours.
        """
        if count == 0:
            return []
        if self.postgres:
            rows = self.fetchall(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                                 "FROM generate_series(1, ?)", (count,))
            return [r[0] for r in rows]
        start = self.fetchall(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0] + 1
        return list(range(start, start + count))

    def timestamp(self, moment: datetime) -> Any:
        """A naive UTC time as the column stores it (SQLAlchemy's SQLite text format)."""
        return moment if self.postgres else moment.isoformat(" ", "microseconds")

    def parse_timestamp(self, value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def marks(count: int) -> str:
    """``?,?,...``: the placeholders of an ``IN (...)`` list or a row of ``count`` values."""
    return ",".join("?" * count)


def chunked(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing_submissions(connection: Connection, submission_ids: Sequence[str]) -> dict[str, int]:
    """submission_id -> tally id, for those already stored."""
    return dict(RawSQL(connection).fetchall_in(  # type: ignore[arg-type]
        "SELECT submission_id, id FROM tallies WHERE submission_id IN ({values})", sorted(set(submission_ids))))


def store_tallies(connection: Connection, tallies: Sequence[ValidTally], catalog: Catalog,
                  sums: PendingSums | None = None) -> list[StoredTally]:
    """Store new revisions, move current pointers, and update the region aggregates.

    Repeated submission ids (already stored, or twice in ``tallies``) are skipped. Runs in
    the caller's transaction: everything here commits or rolls back together. With ``sums``, the
    changes to the aggregates are added there, for the caller to write before it commits (a bulk
    import writes them once); without, they are written here.
    """
    known = existing_submissions(connection, [t.form.submission_id for t in tallies])
    fresh: dict[str, ValidTally] = {}
    for tally in tallies:
        if tally.form.submission_id not in known:
            fresh.setdefault(tally.form.submission_id, tally)
    if not fresh:
        return []
    raw = RawSQL(connection)
    lock_stations(raw, {t.station.id for t in fresh.values() if t.station.id is not None})
    prepared = _Prepared.in_submission_order(fresh.values(), raw)
    _insert_revisions(raw, prepared)
    pending = sums if sums is not None else PendingSums()
    stored = _advance_current(raw, prepared, pending)
    if sums is None:
        pending.write(raw, catalog)
    return stored


class _Prepared(NamedTuple):
    """A revision about to be stored, with what both the insert and the aggregates need, computed once."""

    id: int
    tally: ValidTally
    submitted_at: datetime
    #: ``submitted_at`` as the column takes it (text on SQLite): for the revision and its pointer.
    column_time: Any
    offset: int
    votes: list[int | None]

    @classmethod
    def in_submission_order(cls, tallies: Iterable[ValidTally], raw: RawSQL) -> list[_Prepared]:
        """The revisions in the order they were submitted (UTC time, then submission id), with ids
        reserved in that order: a later revision always has a larger id."""
        from pilkada_graph.ingest import to_utc_naive

        timed = sorted(((*to_utc_naive(t.form.submitted_at), t) for t in tallies),
                       key=lambda item: (item[0], item[2].form.submission_id))  # the instant, not its offset
        ids = raw.reserve_ids("tallies", len(timed))
        return [cls(tally_id, tally, submitted_at, raw.timestamp(submitted_at), offset,
                    tally.form.votes_list(len(tally.contest.candidates)))
                for tally_id, (submitted_at, offset, tally) in zip(ids, timed, strict=True)]


def lock_stations(raw: RawSQL, station_ids: set[int], *, share: bool = False) -> None:
    """On PostgreSQL, lock the stations' rows until the transaction ends (SQLite's writers are one at a time).

    Storing revisions locks them ``FOR UPDATE``: two processes storing revisions of one station must
    not both think theirs is the newest. Storing a check's issues locks them ``FOR SHARE`` (``share``):
    no newer revision is stored while the check confirms that its revision is still the current one.
    """
    if not raw.postgres or not station_ids:
        return
    mode = "SHARE" if share else "UPDATE"
    for chunk in chunked(sorted(station_ids), 5000):  # in id order, chunk after chunk: no two lockers deadlock
        raw.fetchall(f"SELECT id FROM stations WHERE id IN ({marks(len(chunk))}) ORDER BY id FOR {mode}", chunk)


def replaced_revisions(raw: RawSQL, judged: Mapping[str, tuple[int, int, int]]) -> set[str]:
    """The keys of ``judged`` (key -> station id, contest id, tally id) whose revision is no longer the
    current one of its station and contest: a newer one was stored while it was being judged."""
    rows = raw.fetchall_in(
        "SELECT station_id, contest_id, tally_id FROM current_tallies WHERE station_id IN ({values})",
        sorted({station_id for station_id, _, _ in judged.values()}))
    current = {(station_id, contest_id): tally_id for station_id, contest_id, tally_id in rows}
    return {key for key, (station_id, contest_id, tally_id) in judged.items()
            if current.get((station_id, contest_id)) != tally_id}


def _insert_revisions(raw: RawSQL, prepared: Sequence[_Prepared]) -> None:
    received_at = raw.timestamp(datetime.now(UTC).replace(tzinfo=None))
    rows = []
    for p, votes in zip(prepared, json_int_lists([p.votes for p in prepared]), strict=True):
        form, tally = p.tally.form, p.tally
        rows.append((
            p.id, form.submission_id, tally.station.id, tally.contest.id, p.column_time, p.offset,
            received_at, form.source, *map(form.counts.get, COUNT_FIELDS), votes,
            json.dumps(form.extra, ensure_ascii=False) if form.extra is not None else None,
            form.actor, form.token_id,
        ))
    raw.insert_many("tallies", TALLY_COLUMNS, rows)


def json_int_lists(rows: Sequence[Sequence[int | None]]) -> list[str]:
    """Each row of counts as the ``votes`` column stores it (``json.dumps`` with no spaces: ``[1,2,null]``),
    in one ``json.dumps`` of them all, cut at the rows' seams (a call per revision cost more)."""
    if not rows:
        return []
    inner = json.dumps(rows, separators=(",", ":"))[2:-2]  # [[1,2],[3,null]] -> 1,2],[3,null
    return ["[" + part + "]" for part in inner.split("],[")]


class Contribution(NamedTuple):
    """What one current revision adds to the sums of every region above its station."""

    registered: int
    voters: int
    valid: int
    invalid: int
    votes: tuple[int, ...]

    @classmethod
    def of(cls, counts: dict[str, Any], votes: Sequence[int | None], station_registered: int | None) -> Contribution:
        registered = registered_of(counts)
        if registered is None:
            registered = station_registered or 0
        return cls(
            registered,
            counts.get("voters") or 0,
            counts.get("valid_votes") or 0,
            counts.get("invalid_votes") or 0,
            tuple(cast("Sequence[int]", votes)) if None not in votes else tuple(v or 0 for v in votes),
        )

    def minus(self, old: Contribution | None) -> list[int]:
        """The change to the sums (``RESULT_COLUMNS``, then votes per ballot number) replacing ``old``."""
        if old is None:
            return [1, self.registered, self.voters, self.valid, self.invalid, *self.votes]
        size = max(len(self.votes), len(old.votes))
        new_votes = list(self.votes) + [0] * (size - len(self.votes))
        old_votes = list(old.votes) + [0] * (size - len(old.votes))
        return [0, self.registered - old.registered, self.voters - old.voters, self.valid - old.valid,
                self.invalid - old.invalid, *(a - b for a, b in zip(new_votes, old_votes, strict=True))]


class _Current(NamedTuple):
    tally_id: int
    submitted_at: datetime
    contribution: Contribution


def _current_revisions(raw: RawSQL, batch: Sequence[ValidTally]) -> dict[tuple[int, int], _Current]:
    """The current revision of every (station, contest) the batch touches."""
    registered = {t.station.id: t.station.registered for t in batch}
    pairs = {(t.station.id, t.contest.id) for t in batch}
    columns = ", ".join(f"t.{name}" for name in COUNT_FIELDS)
    found: dict[tuple[int, int], _Current] = {}
    rows = raw.fetchall_in(
        f"SELECT c.station_id, c.contest_id, t.id, t.submitted_at, t.votes, {columns} "
        "FROM current_tallies c JOIN tallies t ON t.id = c.tally_id WHERE c.station_id IN ({values})",
        sorted(registered))  # type: ignore[type-var]
    for station_id, contest_id, tally_id, submitted_at, votes, *counts in rows:
        if (station_id, contest_id) not in pairs:
            continue
        votes = json.loads(votes) if isinstance(votes, str) else votes
        contribution = Contribution.of(dict(zip(COUNT_FIELDS, counts, strict=True)), votes,
                                       registered[station_id])
        found[(station_id, contest_id)] = _Current(tally_id, raw.parse_timestamp(submitted_at), contribution)
    return found


def _advance_current(raw: RawSQL, prepared: Sequence[_Prepared], sums: PendingSums) -> list[StoredTally]:
    """Move each (station, contest)'s pointer to its latest revision and add the change to ``sums``.

    ``prepared`` is in submission order, so a revision is current when it is no older than the
    current one so far; only the last current revision of each pair counts in the aggregates.
    """
    before = _current_revisions(raw, [p.tally for p in prepared])
    latest: dict[tuple[int, int], _Prepared] = {}
    stored: list[StoredTally] = []
    for p in prepared:
        tally = p.tally
        key = (tally.station.id, tally.contest.id)
        newest = latest.get(key)  # type: ignore[arg-type]
        if newest is not None:
            previous_id, previous_at = newest.id, newest.submitted_at
        elif key in before:
            previous_id, previous_at = before[key].tally_id, before[key].submitted_at  # type: ignore[index]
        else:
            previous_id, previous_at = None, None
        is_current = previous_at is None or p.submitted_at >= previous_at
        if is_current:
            latest[key] = p  # type: ignore[index]
        stored.append(StoredTally(p.id, tally.form.submission_id, key[0], key[1],  # type: ignore[arg-type]
                                  tally.station.code, tally.contest.code, is_current, previous_id))
    write_current_pointers(raw, [(s, c, p.id, p.column_time) for (s, c), p in latest.items()])
    _add_changes(sums, latest, before)
    return stored


def write_current_pointers(raw: RawSQL, rows: Sequence[tuple[int, int, int, Any]]) -> None:
    """Point each (station id, contest id) at its current revision: rows of (station id, contest id,
    tally id, ``submitted_at`` as the column takes it)."""
    raw.insert_many(
        "current_tallies", ("station_id", "contest_id", "tally_id", "submitted_at"), rows,
        "ON CONFLICT (station_id, contest_id) DO UPDATE SET tally_id = excluded.tally_id, "
        "submitted_at = excluded.submitted_at",
    )


def _add_changes(sums: PendingSums, latest: dict[tuple[int, int], _Prepared],
                 before: dict[tuple[int, int], _Current]) -> None:
    """Add to ``sums`` what each (station, contest)'s new current revision changes in its village."""
    for key, p in latest.items():
        tally = p.tally
        now = Contribution.of(tally.form.counts, p.votes, tally.station.registered)
        old = before.get(key)
        sums.add((tally.station.village_code, key[1]), now.minus(old.contribution if old else None))


class PendingSums:
    """Changes to the region aggregates per (village code, contest id), added up until written.

    A bulk import adds every chunk's changes here and writes them once, before it commits: a chunk
    of a national file ordered by time touches most villages, so writing after each chunk upserted
    the sums of every region above them once per chunk.
    """

    def __init__(self) -> None:
        self.villages: dict[tuple[str, int], list[int]] = {}

    def add(self, key: tuple[str, int], delta: Sequence[int]) -> None:
        """Add one village's change (``RESULT_COLUMNS`` then the votes per ballot number)."""
        _accumulate(self.villages, key, delta)

    def write(self, raw: RawSQL, catalog: Catalog) -> None:
        """Carry the changes up the tree and add them to the aggregates; nothing is pending after."""
        if self.villages:
            write_result_deltas(raw, carry_up(self.villages, catalog))
        self.villages = {}


def carry_up(level: dict[tuple[str, int], list[int]], catalog: Catalog) -> dict[tuple[int, int], list[int]]:
    """From deltas per (village code, contest id) to deltas per (region id, contest id) of every
    region above them, for :func:`write_result_deltas`.

    A delta is one flat list: ``RESULT_COLUMNS`` then the votes of ballot numbers 1, 2, ...
    Each region's sum is added once into its parent's, so the work is one addition per
    region touched rather than four per station (a village per station, as in the Russian
    data, would otherwise quadruple it).
    """
    deltas: dict[tuple[int, int], list[int]] = {}
    while level:
        parents: dict[tuple[str, int], list[int]] = {}
        for (code, contest_id), delta in level.items():
            region = catalog.regions[code]
            assert region.id is not None
            deltas[(region.id, contest_id)] = delta
            if region.parent_code:
                _accumulate(parents, (region.parent_code, contest_id), delta)
        level = parents
    return deltas


def _accumulate(sums: dict[tuple[str, int], list[int]], key: tuple[str, int], delta: Sequence[int]) -> None:
    target = sums.get(key)
    if target is None:
        sums[key] = list(delta)
        return
    if len(target) < len(delta):
        target.extend([0] * (len(delta) - len(target)))
    for i, value in enumerate(delta):
        target[i] += value


def write_result_deltas(raw: RawSQL | Connection, deltas: dict[tuple[int, int], list[int]]) -> None:
    """Add deltas per (region id, contest id) (``RESULT_COLUMNS``, then the votes per ballot number)
    to the aggregates atomically (``x = x + delta``): safe with concurrent writers, which take the
    rows' locks in one order (the keys sorted)."""
    raw = raw if isinstance(raw, RawSQL) else RawSQL(raw)
    width = len(RESULT_COLUMNS)
    totals: list[tuple[int, ...]] = []
    votes: list[tuple[int, int, int, int]] = []
    for (region_id, contest_id), delta in sorted(deltas.items()):
        if any(delta[:width]):
            totals.append((region_id, contest_id, *delta[:width]))
        votes += [(region_id, contest_id, number, value) for number, value in enumerate(delta[width:], start=1)
                  if value]
    updates = ", ".join(f"{c} = region_results.{c} + excluded.{c}" for c in RESULT_COLUMNS)
    raw.insert_many("region_results", ("region_id", "contest_id", *RESULT_COLUMNS), totals,
                    f"ON CONFLICT (region_id, contest_id) DO UPDATE SET {updates}")
    raw.insert_many(
        "region_result_votes", ("region_id", "contest_id", "number", "votes"), votes,
        "ON CONFLICT (region_id, contest_id, number) DO UPDATE SET votes = region_result_votes.votes + excluded.votes",
    )
