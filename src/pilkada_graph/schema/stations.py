"""Polling stations (TPS), their current tallies and every revision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row, select
from strawberry import relay

from pilkada_graph.models import Station as StationModel
from pilkada_graph.schema import store
from pilkada_graph.schema.contests import require_contest
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.enums import StationOrderBy
from pilkada_graph.schema.errors import NotFound
from pilkada_graph.schema.filters import StationWhere, station_clause
from pilkada_graph.schema.loaders import load_many
from pilkada_graph.schema.pagination import Connection, keyset_connection
from pilkada_graph.schema.regions import Region, region_by_id
from pilkada_graph.schema.tallies import Tally

if TYPE_CHECKING:
    from pilkada_graph.schema.issues import Issue

IssueRef = Annotated["Issue", strawberry.lazy("pilkada_graph.schema.issues")]


@strawberry.type(description="A polling station (TPS).")
class Station(relay.Node):
    code: str = strawberry.field(description="Its village's code, a dot and the 3-digit TPS number.")
    number: int | None = strawberry.field(description="TPS number within the village.")
    registered: int | None = strawberry.field(description="Voters on its final list (DPT) before election day.")
    row_id: strawberry.Private[int]
    village_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row) -> Station:
        return cls(code=row.code, number=row.number, registered=row.registered, row_id=row.id,
                   village_id=row.village_id)

    @classmethod
    def resolve_id(cls, root: Station, *, info: Info) -> str:
        return root.code

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        rows = await load_many(info.context.loaders.station_by_code, list(node_ids))
        return [cls.from_row(row) if row else None for row in rows]

    @strawberry.field(description="The village it stands in.")
    async def village(self, info: Info) -> Region:
        village = await region_by_id(info, self.village_id)
        assert village is not None
        return village

    @strawberry.field(description="The current revision of its form for the contest; null before any arrived.")
    async def tally(self, info: Info, contest: str) -> Tally | None:
        contest_row = await require_contest(info, contest)
        row = await info.context.loaders.current_tally.load((self.row_id, contest_row.id))
        return Tally.from_row(row) if row else None

    @strawberry.field(description="Every revision of its form for the contest, oldest first.")
    async def revisions(self, info: Info, contest: str) -> list[Tally]:
        contest_row = await require_contest(info, contest)
        rows = await info.context.loaders.revisions.load((self.row_id, contest_row.id))
        return [Tally.from_row(row) for row in rows]

    @strawberry.field(description="Issues about this station, newest first.")
    async def issues(self, info: Info) -> list[IssueRef]:
        from pilkada_graph.schema.issues import Issue

        return [Issue.from_row(row) for row in await info.context.loaders.issues_of_station.load(self.row_id)]


async def station_by_id(info: Info, station_id: int | None) -> Station | None:
    if station_id is None:
        return None
    row = await info.context.loaders.station_by_id.load(station_id)
    return Station.from_row(row) if row else None


def _station_node(info: Info) -> Any:
    loader = info.context.loaders.station_by_id

    def to_node(row: Row) -> Station:
        loader.prime(row.id, row)
        return Station.from_row(row)

    return to_node


async def station_connection(
    info: Info, where: StationWhere | None, order_by: StationOrderBy, first: int | None, after: str | None
) -> Connection[Station]:
    statement = select(*store.STATION_COLUMNS).where(station_clause(where))
    descending = order_by is StationOrderBy.CODE_DESC
    return await keyset_connection(info, statement, [StationModel.code], descending, first, after, _station_node(info))


@strawberry.type
class StationQuery:
    @strawberry.field(description="The station with this code (an error when there is none).")
    async def station(self, info: Info, code: str) -> Station | None:
        row = await info.context.loaders.station_by_code.load(code)
        if row is None:
            raise NotFound(f"no station {code!r}")
        return Station.from_row(row)

    @strawberry.field(description="Stations matching `where`, a page at a time.")
    async def stations(
        self, info: Info, where: StationWhere | None = None, order_by: StationOrderBy = StationOrderBy.CODE_ASC,
        first: int | None = None, after: str | None = None,
    ) -> Connection[Station]:
        return await station_connection(info, where, order_by, first, after)
