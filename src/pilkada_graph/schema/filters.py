"""Hasura-style ``where`` inputs: ``{severity: {_in: [WARNING, CRITICAL]}, _or: [...]}``.

Each input maps onto SQL through :func:`comparison_clause` (one operator set for every scalar)
and a per-list ``*_clause`` function; the SQL runs in the database, never as a Python filter over
fetched rows. ``within`` selects a region and everything below it with the code key range of
:func:`pilkada_graph.ingest.descendant_range` (an index range scan, no recursive query).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, and_, not_, or_, select, true

from pilkada_graph.ingest import descendant_range
from pilkada_graph.models import Contest, Issue, Station
from pilkada_graph.schema.enums import IssueStatus, Severity

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


@strawberry.input(description="Conditions on one value; all given must hold.")
class Comparison(Generic[T]):
    eq: T | None = strawberry.field(default=None, name="_eq", description="Equal to.")
    neq: T | None = strawberry.field(default=None, name="_neq", description="Not equal to.")
    in_: list[T] | None = strawberry.field(default=None, name="_in", description="One of.")
    nin: list[T] | None = strawberry.field(default=None, name="_nin", description="None of.")
    gt: T | None = strawberry.field(default=None, name="_gt", description="Greater than.")
    gte: T | None = strawberry.field(default=None, name="_gte", description="Greater than or equal to.")
    lt: T | None = strawberry.field(default=None, name="_lt", description="Less than.")
    lte: T | None = strawberry.field(default=None, name="_lte", description="Less than or equal to.")


@strawberry.input(description="Conditions on a value from a closed list; all given must hold.")
class EnumComparison(Generic[E]):
    eq: E | None = strawberry.field(default=None, name="_eq", description="Equal to.")
    neq: E | None = strawberry.field(default=None, name="_neq", description="Not equal to.")
    in_: list[E] | None = strawberry.field(default=None, name="_in", description="One of.")
    nin: list[E] | None = strawberry.field(default=None, name="_nin", description="None of.")


OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda column, value: column == value,
    "neq": lambda column, value: column != value,
    "in_": lambda column, values: column.in_(values),
    "nin": lambda column, values: column.not_in(values),
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
}


def stored_value(value: Any) -> Any:
    """A GraphQL value as the database stores it: enums by value, times as naive UTC."""
    if isinstance(value, list):
        return [stored_value(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def comparison_clause(column: Any, comparison: Any | None) -> list[ColumnElement[bool]]:
    """The SQL conditions of one ``Comparison`` on ``column`` (none when it is absent)."""
    if comparison is None:
        return []
    clauses = []
    for operator, build in OPERATORS.items():
        value = getattr(comparison, operator, None)
        if value is not None:
            clauses.append(build(column, stored_value(value)))
    return clauses


def within_clause(column: Any, code: str | None) -> list[ColumnElement[bool]]:
    """``column`` is ``code`` or a code below it."""
    if code is None:
        return []
    low, high = descendant_range(code)
    return [or_(column == code, and_(column >= low, column < high))]


def combine(own: list[ColumnElement[bool]], and_list: list[Any] | None, or_list: list[Any] | None,
            negated: Any | None, recurse: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
    """``own`` and every ``_and``, at least one ``_or``, and not ``_not``."""
    clauses = list(own)
    clauses += [recurse(where) for where in and_list or []]
    if or_list:
        clauses.append(or_(*(recurse(where) for where in or_list)))
    if negated is not None:
        clauses.append(not_(recurse(negated)))
    return and_(true(), *clauses)


# --------------------------------------------------------------------------- stations


@strawberry.input(description="Which stations to list; every condition given must hold.")
class StationWhere:
    code: Comparison[str] | None = strawberry.field(default=None, description="The station's code.")
    within: str | None = strawberry.field(
        default=None, description="Only stations in the region with this code (at any depth below it)."
    )
    number: Comparison[int] | None = strawberry.field(default=None, description="The TPS number in its village.")
    registered: Comparison[int] | None = strawberry.field(
        default=None, description="Voters on the station's final list (DPT)."
    )
    and_: list[StationWhere] | None = strawberry.field(default=None, name="_and", description="All of these.")
    or_: list[StationWhere] | None = strawberry.field(default=None, name="_or", description="At least one of these.")
    not_: StationWhere | None = strawberry.field(default=None, name="_not", description="Not this.")


def station_clause(where: StationWhere | None) -> ColumnElement[bool]:
    if where is None:
        return true()
    own = [
        *comparison_clause(Station.code, where.code),
        *within_clause(Station.code, where.within),
        *comparison_clause(Station.number, where.number),
        *comparison_clause(Station.registered, where.registered),
    ]
    return combine(own, where.and_, where.or_, where.not_, station_clause)


# --------------------------------------------------------------------------- issues


@strawberry.input(description="Which issues to list; every condition given must hold.")
class IssueWhere:
    status: EnumComparison[IssueStatus] | None = strawberry.field(default=None, description="Review status.")
    severity: EnumComparison[Severity] | None = strawberry.field(default=None, description="Severity.")
    detector: Comparison[str] | None = strawberry.field(default=None, description="The detector's name.")
    contest: Comparison[str] | None = strawberry.field(default=None, description="The contest's code.")
    within: str | None = strawberry.field(
        default=None,
        description="Only issues about the region with this code, or a region or station below it.",
    )
    subject_code: Comparison[str] | None = strawberry.field(
        default=None, description="The code of the station or region the issue is about."
    )
    active: bool | None = strawberry.field(
        default=None, description="True: the detector still sees the problem on the current data."
    )
    created_at: Comparison[datetime] | None = strawberry.field(default=None, description="When it was first raised.")
    updated_at: Comparison[datetime] | None = strawberry.field(default=None, description="When it last changed.")
    score: Comparison[float] | None = strawberry.field(default=None, description="The detector's score.")
    and_: list[IssueWhere] | None = strawberry.field(default=None, name="_and", description="All of these.")
    or_: list[IssueWhere] | None = strawberry.field(default=None, name="_or", description="At least one of these.")
    not_: IssueWhere | None = strawberry.field(default=None, name="_not", description="Not this.")


def issue_clause(where: IssueWhere | None) -> ColumnElement[bool]:
    if where is None:
        return true()
    own = [
        *comparison_clause(Issue.status, where.status),
        *comparison_clause(Issue.severity, where.severity),
        *comparison_clause(Issue.detector, where.detector),
        *within_clause(Issue.subject_code, where.within),
        *comparison_clause(Issue.subject_code, where.subject_code),
        *comparison_clause(Issue.created_at, where.created_at),
        *comparison_clause(Issue.updated_at, where.updated_at),
        *comparison_clause(Issue.score, where.score),
    ]
    if where.active is not None:
        own.append(Issue.active == where.active)
    contest = comparison_clause(Contest.code, where.contest)
    if contest:
        own.append(Issue.contest_id.in_(select(Contest.id).where(*contest)))
    return combine(own, where.and_, where.or_, where.not_, issue_clause)
