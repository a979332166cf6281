"""Contests (one election of a head of region) and their candidates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row
from strawberry import relay

from pilkada_graph.schema.context import Info
from pilkada_graph.schema.errors import NotFound
from pilkada_graph.schema.loaders import load_many

if TYPE_CHECKING:
    from pilkada_graph.schema.regions import Region

RegionRef = Annotated["Region", strawberry.lazy("pilkada_graph.schema.regions")]


@strawberry.type(description="A pair on the ballot of one contest.")
class Candidate:
    number: int = strawberry.field(description="Ballot number (nomor urut), 1..N.")
    name: str = strawberry.field(description="The pair's names, e.g. `A - B`.")


@strawberry.type(description="One election of the head of a province or regency (or a nationwide one).")
class Contest(relay.Node):
    code: str = strawberry.field(description="Unique code, e.g. `gub-62` (governor of 62).")
    name: str = strawberry.field(description="The contest's full name.")
    row_id: strawberry.Private[int]
    region_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Row) -> Contest:
        return cls(code=row.code, name=row.name, row_id=row.id, region_id=row.region_id)

    @classmethod
    def resolve_id(cls, root: Contest, *, info: Info) -> str:
        return root.code

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        return await contests_by_code(info, list(node_ids))

    @strawberry.field(description="The province or regency whose head is elected; null for a nationwide contest.")
    async def region(self, info: Info) -> RegionRef | None:
        from pilkada_graph.schema.regions import region_by_id

        return await region_by_id(info, self.region_id)

    @strawberry.field(description="The candidates, in ballot order.")
    async def candidates(self, info: Info) -> list[Candidate]:
        rows = await info.context.loaders.candidates.load(self.row_id)
        return [Candidate(number=row.number, name=row.name) for row in rows]


async def contests_by_code(info: Info, codes: list[str]) -> list[Contest | None]:
    rows = await load_many(info.context.loaders.contest_by_code, codes)
    return [Contest.from_row(row) if row else None for row in rows]


async def contest_by_id(info: Info, contest_id: int | None) -> Contest | None:
    if contest_id is None:
        return None
    row = await info.context.loaders.contest_by_id.load(contest_id)
    return Contest.from_row(row) if row else None


async def require_contest(info: Info, code: str) -> Row:
    """The stored contest ``code``, or a clear error naming it."""
    row = await info.context.loaders.contest_by_code.load(code)
    if row is None:
        raise NotFound(f"no contest {code!r}")
    return row


@strawberry.type
class ContestQuery:
    @strawberry.field(description="The contest with this code (an error when there is none).")
    async def contest(self, info: Info, code: str) -> Contest | None:
        return Contest.from_row(await require_contest(info, code))

    @strawberry.field(description="Every contest, by code.")
    async def contests(self, info: Info) -> list[Contest]:
        from pilkada_graph.schema import store

        rows = await info.context.loaders.run(store.all_contests)
        for row in rows:
            info.context.loaders.contest_by_id.prime(row.id, row)
        return [Contest.from_row(row) for row in rows]
