"""The SQL behind the API: batched reads, one statement per batch of keys.

Every function takes a :class:`~sqlalchemy.Connection` and a batch of keys and returns rows in
plain Python shapes; the DataLoaders in :mod:`pilkada_graph.schema.loaders` call them off the
event loop and re-order the answers to their keys. Keeping the SQL here (and none in
resolvers) is what lets a test bound the number of statements per query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, Select, bindparam, func, select, tuple_
from sqlalchemy.exc import OperationalError

from pilkada_graph.db import statement_deadline
from pilkada_graph.models import (
    Candidate,
    Contest,
    CurrentTally,
    Issue,
    IssueEvent,
    Region,
    RegionResult,
    RegionResultVotes,
    Station,
    Tally,
)
from pilkada_graph.schema.errors import QueryTimeout

T = TypeVar("T")
#: SQLite allows 999 bound parameters per statement in old builds: stay under it.
CHUNK = 900


#: Seconds an API read may run before the database interrupts it (``[limits] statement_timeout``).
READ_TIMEOUT = 10.0


def read(engine: Engine, fetch: Callable[[Connection], T], timeout: float = READ_TIMEOUT) -> T:
    """Run ``fetch`` on a read-only connection (on SQLite: without taking the write lock).

    A read still running after ``timeout`` seconds (SQLite: a progress handler; PostgreSQL: the
    connection's ``statement_timeout``) is interrupted and reported as :class:`QueryTimeout`.
    """
    try:
        with engine.execution_options(read_only=True).connect() as connection, \
                statement_deadline(connection, timeout):
            return fetch(connection)
    except OperationalError as error:
        if _interrupted(error):
            raise QueryTimeout("the query ran too long and was stopped: ask for less") from None
        raise


def read_many(engine: Engine, fetches: Sequence[Callable[[Connection], Any]],
              timeout: float = READ_TIMEOUT) -> list[tuple[bool, Any]]:
    """Run several reads on one connection: ``(True, result)`` or ``(False, exception)`` for each.

    The DataLoaders of one round of a query (a page's stations, tallies and issues) share one
    connection checkout and one worker thread this way. A read that fails does not fail the
    others: its transaction is rolled back and the next read starts afresh. On SQLite the
    ``timeout`` bounds the round's reads together (on PostgreSQL, each statement).
    """
    outcomes: list[tuple[bool, Any]] = []
    with engine.execution_options(read_only=True).connect() as connection, \
            statement_deadline(connection, timeout):
        for fetch in fetches:
            try:
                outcomes.append((True, fetch(connection)))
            except OperationalError as error:
                connection.rollback()
                outcomes.append((False, QueryTimeout("the query ran too long and was stopped: ask for less")
                                 if _interrupted(error) else error))
            except Exception as error:  # noqa: BLE001 - handed to the loader that asked, like a direct call
                connection.rollback()
                outcomes.append((False, error))
    return outcomes


def _interrupted(error: OperationalError) -> bool:
    """SQLite's "interrupted" (progress handler) or PostgreSQL's query_canceled (statement_timeout)."""
    return "interrupted" in str(error.orig) or getattr(error.orig, "sqlstate", None) == "57014"


def _chunks(keys: Sequence[Any]) -> list[Sequence[Any]]:
    return [keys[start : start + CHUNK] for start in range(0, len(keys), CHUNK)] or [[]]


@cache
def _select_in(columns: tuple[Any, ...], key_column: Any) -> Select:
    """``SELECT columns WHERE key_column IN :keys``, built once.

    Building a Core statement and its cache key costs several times what SQLite takes to
    answer an indexed lookup; a prebuilt statement with an expanding parameter is reused.
    """
    return select(*columns).where(key_column.in_(bindparam("keys", expanding=True)))


def _rows_where_in(connection: Connection, columns: Sequence[Any], key_column: Any, keys: Sequence[Any]) -> list[Row]:
    statement = _select_in(tuple(columns), key_column)
    found: list[Row] = []
    for chunk in _chunks(list(keys)):
        if chunk:
            found.extend(connection.execute(statement, {"keys": list(chunk)}))
    return found


@cache
def _select_pairs(columns: tuple[Any, ...], left: Any, right: Any, order: tuple[Any, ...] = ()) -> Select:
    """``SELECT columns WHERE right = :right AND left IN :lefts [ORDER BY order]``, built once."""
    return (select(*columns).where(right == bindparam("right"), left.in_(bindparam("lefts", expanding=True)))
            .order_by(*order))


def _rows_of_pairs(connection: Connection, statement: Select, pairs: Sequence[tuple[int, int]]) -> list[Row]:
    """Rows of ``statement`` (from :func:`_select_pairs`) for (left, right) pairs: one run per right
    value (a batch of (station, contest) pairs is a few contests), in chunks of lefts."""
    by_right: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        by_right[b].append(a)
    found: list[Row] = []
    for right, lefts in by_right.items():
        for chunk in _chunks(sorted(set(lefts))):
            found.extend(connection.execute(statement, {"right": right, "lefts": list(chunk)}))
    return found


# --------------------------------------------------------------------------- regions

REGION_COLUMNS = (
    Region.id, Region.code, Region.name, Region.level, Region.parent_id, Region.stations_total,
    Region.registered_total,
)


def regions_by_id(connection: Connection, ids: Sequence[int]) -> list[Row]:
    return _rows_where_in(connection, REGION_COLUMNS, Region.id, ids)


def regions_by_code(connection: Connection, codes: Sequence[str]) -> list[Row]:
    return _rows_where_in(connection, REGION_COLUMNS, Region.code, codes)


def region_children(connection: Connection, parent_ids: Sequence[int]) -> dict[int, list[Row]]:
    children: dict[int, list[Row]] = defaultdict(list)
    for row in sorted(_rows_where_in(connection, REGION_COLUMNS, Region.parent_id, parent_ids), key=lambda r: r.code):
        children[row.parent_id].append(row)
    return children


# --------------------------------------------------------------------------- contests

CONTEST_COLUMNS = (Contest.id, Contest.code, Contest.name, Contest.region_id)


def contests_by_code(connection: Connection, codes: Sequence[str]) -> list[Row]:
    return _rows_where_in(connection, CONTEST_COLUMNS, Contest.code, codes)


def contests_by_id(connection: Connection, ids: Sequence[int]) -> list[Row]:
    return _rows_where_in(connection, CONTEST_COLUMNS, Contest.id, ids)


def all_contests(connection: Connection) -> list[Row]:
    return list(connection.execute(select(*CONTEST_COLUMNS).order_by(Contest.code)))


def candidates_of(connection: Connection, contest_ids: Sequence[int]) -> dict[int, list[Row]]:
    columns = (Candidate.contest_id, Candidate.number, Candidate.name)
    by_contest: dict[int, list[Row]] = defaultdict(list)
    for row in sorted(_rows_where_in(connection, columns, Candidate.contest_id, contest_ids), key=lambda r: r.number):
        by_contest[row.contest_id].append(row)
    return by_contest


# --------------------------------------------------------------------------- stations

STATION_COLUMNS = (Station.id, Station.code, Station.village_id, Station.number, Station.registered)


def stations_by_id(connection: Connection, ids: Sequence[int]) -> list[Row]:
    return _rows_where_in(connection, STATION_COLUMNS, Station.id, ids)


def stations_by_code(connection: Connection, codes: Sequence[str]) -> list[Row]:
    return _rows_where_in(connection, STATION_COLUMNS, Station.code, codes)


# --------------------------------------------------------------------------- tallies

TALLY_COLUMNS = tuple(column for column in Tally.__table__.columns if column.name not in ("extra",))  # type: ignore[attr-defined]


def tallies_by_id(connection: Connection, ids: Sequence[int]) -> list[Row]:
    return _rows_where_in(connection, TALLY_COLUMNS, Tally.id, ids)


@cache
def _current_tallies_statement() -> Select:
    return (select(*TALLY_COLUMNS).join(CurrentTally, CurrentTally.tally_id == Tally.id)
            .where(CurrentTally.contest_id == bindparam("right"),
                   CurrentTally.station_id.in_(bindparam("lefts", expanding=True))))


def current_tallies(connection: Connection, pairs: Sequence[tuple[int, int]]) -> list[Row]:
    """The current revision of each (station id, contest id) pair that has one."""
    return _rows_of_pairs(connection, _current_tallies_statement(), pairs)


def revisions(connection: Connection, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[Row]]:
    """Every revision of each (station id, contest id) pair, oldest first."""
    statement = _select_pairs(TALLY_COLUMNS, Tally.station_id, Tally.contest_id, (Tally.submitted_at, Tally.id))
    by_pair: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for row in _rows_of_pairs(connection, statement, pairs):
        by_pair[(row.station_id, row.contest_id)].append(row)
    return by_pair


# --------------------------------------------------------------------------- results

RESULT_COLUMNS = (
    RegionResult.region_id, RegionResult.contest_id, RegionResult.stations_reported, RegionResult.registered,
    RegionResult.voters, RegionResult.valid_votes, RegionResult.invalid_votes,
)
RESULT_VOTE_COLUMNS = (RegionResultVotes.region_id, RegionResultVotes.contest_id, RegionResultVotes.number,
                       RegionResultVotes.votes)


def region_results(
    connection: Connection, keys: Sequence[tuple[int, int]]
) -> tuple[dict[tuple[int, int], Row], dict[tuple[int, int], dict[int, int]]]:
    """The aggregates kept by ingest for (region id, contest id): totals and votes per number."""
    totals_statement = _select_pairs(RESULT_COLUMNS, RegionResult.region_id, RegionResult.contest_id)
    votes_statement = _select_pairs(RESULT_VOTE_COLUMNS, RegionResultVotes.region_id, RegionResultVotes.contest_id)
    totals = {(row.region_id, row.contest_id): row for row in _rows_of_pairs(connection, totals_statement, keys)}
    votes: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for row in _rows_of_pairs(connection, votes_statement, keys):
        votes[(row.region_id, row.contest_id)][row.number] = row.votes
    return totals, votes


# --------------------------------------------------------------------------- issues

ISSUE_COLUMNS = tuple(Issue.__table__.columns)  # type: ignore[attr-defined]


def issues_by_id(connection: Connection, ids: Sequence[int]) -> list[Row]:
    return _rows_where_in(connection, ISSUE_COLUMNS, Issue.id, ids)


def issues_grouped(connection: Connection, column: Any, keys: Sequence[int]) -> dict[int, list[Row]]:
    """Issues whose ``column`` (station_id or tally_id) is one of ``keys``, newest first."""
    grouped: dict[int, list[Row]] = defaultdict(list)
    rows = _rows_where_in(connection, ISSUE_COLUMNS, column, keys)
    for row in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True):
        grouped[getattr(row, column.key)].append(row)
    return grouped


def issue_events(connection: Connection, issue_ids: Sequence[int]) -> dict[int, list[Row]]:
    """Each issue's history, oldest first."""
    columns = tuple(IssueEvent.__table__.columns)  # type: ignore[attr-defined]
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in sorted(_rows_where_in(connection, columns, IssueEvent.issue_id, issue_ids),
                      key=lambda r: (r.at, r.id)):
        grouped[row.issue_id].append(row)
    return grouped


# --------------------------------------------------------------------------- pages


def keyset_after(columns: Sequence[Any], values: Sequence[Any], descending: bool) -> Any:
    """Rows strictly after the cursor ``values`` in ``columns`` order (all one direction)."""
    left = tuple_(*columns)
    right = tuple_(*(bindparam(None, value, type_=column.type) for column, value in zip(columns, values, strict=True)))
    return left < right if descending else left > right


def page(connection: Connection, statement: Select, order: Sequence[Any], descending: bool,
         after: Sequence[Any] | None, limit: int) -> list[Row]:
    """One keyset page: ``limit`` rows after the cursor, plus one to tell if there are more."""
    if after is not None:
        statement = statement.where(keyset_after(order, after, descending))
    ordering = [column.desc() if descending else column.asc() for column in order]
    return list(connection.execute(statement.order_by(*ordering).limit(limit + 1)))


def count(connection: Connection, statement: Select) -> int:
    """How many rows ``statement`` selects, counted by the database."""
    return int(connection.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one())
