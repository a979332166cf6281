"""Keyset connections (Relay style): ``first``/``after``, ``pageInfo``, ``totalCount``.

A cursor holds the sort key of the last row seen, so the next page is "rows after this key" on
an index: page 1,000 costs what page 1 costs, and rows inserted meanwhile never shift a page.
At most :data:`MAX_PAGE` rows per page; asking for more is a clear error, not a silent cap.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Row, Select
from strawberry.types.nodes import SelectedField

from pilkada_graph.schema import store
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.errors import BadArgument

T = TypeVar("T")

MAX_PAGE = 100
DEFAULT_PAGE = 20


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when rows follow this page.")
    has_previous_page: bool = strawberry.field(
        description="True when this page was asked for with `after` (pages go forward only)."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the page's first row.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type(description="One row of a page, with the cursor that points at it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="An opaque position; pass as `after` to continue after this row.")
    node: T = strawberry.field(description="The row itself.")


@strawberry.type(description="One page of a list, with how many rows the whole list holds.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The rows of this page, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    count_rows: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The rows of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many rows the whole list holds (every page, with the same filter).")
    async def total_count(self) -> int:
        return await self.count_rows()


def page_size(first: int | None) -> int:
    """``first`` checked against the limits (a negative or oversized page is the caller's error)."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadArgument(f"first must be between 0 and {MAX_PAGE}, got {first}")
    return first


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None, columns: Sequence[Any]) -> list[Any] | None:
    """The sort key a cursor holds, typed like ``columns``; a tampered cursor is a clear error."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong shape")
        return [_typed(value, column) for value, column in zip(values, columns, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise BadArgument(f"{cursor!r} is not a cursor of this list") from None


def _typed(value: Any, column: Any) -> Any:
    python_type = column.type.python_type
    if value is None:
        return None
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if not isinstance(value, python_type):
        raise TypeError(f"expected {python_type.__name__}")
    return value


def asks_for_total(info: Info) -> bool:
    """Whether the connection's selection names ``totalCount``."""
    return "totalCount" in field_names(info.selected_fields)


def node_field_names(info: Info) -> set[str]:
    """The fields a connection's selection asks of its nodes (under ``edges { node }`` or ``nodes``)."""
    page = [selection for field in info.selected_fields for selection in field.selections]
    edges = _named(page, "edges")
    nodes = _named(page, "nodes") + _named([s for edge in edges for s in edge.selections], "node")
    return field_names(nodes)


def field_names(selections: Sequence[Any]) -> set[str]:
    """Names of the fields selected directly inside ``selections``, through fragments."""
    names: set[str] = set()
    for selection in selections:
        for inner in selection.selections:
            if isinstance(inner, SelectedField):
                names.add(inner.name)
            else:  # a fragment: its fields are selected at this level
                names |= field_names([inner])
    return names


def _named(selections: Sequence[Any], name: str) -> list[Any]:
    found: list[Any] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                found.append(selection)
        else:
            found.extend(_named(selection.selections, name))
    return found


async def keyset_connection(
    info: Info,
    statement: Select,
    order: Sequence[Any],
    descending: bool,
    first: int | None,
    after: str | None,
    to_node: Callable[[Row], T],
) -> Connection[T]:
    """Fetch one page of ``statement`` in ``order`` (whose last column is unique) after ``after``."""
    limit = page_size(first)
    after_values = decode_cursor(after, order)
    loaders = info.context.loaders
    fetch_page = loaders.run(lambda c: store.page(c, statement, order, descending, after_values, limit))
    if asks_for_total(info):  # the count rides in the page's round instead of a round of its own
        rows, total = await asyncio.gather(fetch_page, loaders.run(lambda c: store.count(c, statement)))
    else:
        rows, total = await fetch_page, None
    edges = [Edge(cursor=encode_cursor([getattr(row, column.key) for column in order]), node=to_node(row))
             for row in rows[:limit]]
    page_info = PageInfo(
        has_next_page=len(rows) > limit,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )

    async def count_rows() -> int:
        return total if total is not None else await loaders.run(lambda c: store.count(c, statement))

    return Connection(edges=edges, page_info=page_info, count_rows=count_rows)
