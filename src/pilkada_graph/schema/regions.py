"""Regions (province > regency > district > village) and their results.

Results come from the ``region_results`` aggregates that ingest keeps in the transaction that
stores each tally, so a province's results cost the same two indexed lookups as a village's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row, select
from strawberry import relay

from pilkada_graph.ingest import is_below
from pilkada_graph.models import Region as RegionModel
from pilkada_graph.schema import store
from pilkada_graph.schema.contests import Contest, require_contest
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.enums import IssueOrderBy, Level, StationOrderBy
from pilkada_graph.schema.errors import NotFound
from pilkada_graph.schema.filters import IssueWhere, StationWhere
from pilkada_graph.schema.loaders import load_many
from pilkada_graph.schema.pagination import Connection, keyset_connection

if TYPE_CHECKING:
    from pilkada_graph.schema.issues import Issue
    from pilkada_graph.schema.recaps import Recap
    from pilkada_graph.schema.stations import Station

StationRef = Annotated["Station", strawberry.lazy("pilkada_graph.schema.stations")]
IssueRef = Annotated["Issue", strawberry.lazy("pilkada_graph.schema.issues")]
RecapRef = Annotated["Recap", strawberry.lazy("pilkada_graph.schema.recaps")]


@strawberry.type(description="One candidate's votes in a region.")
class CandidateResult:
    number: int = strawberry.field(description="Ballot number.")
    name: str = strawberry.field(description="The pair's names.")
    votes: int = strawberry.field(description="Valid votes over the current revision of every station below.")
    share: float | None = strawberry.field(
        description="votes / all candidates' votes in the region (0..1); null before any vote is counted."
    )


@strawberry.type(description="A contest's count in a region, over the current revision of every station below it.")
class Results:
    contest: Contest = strawberry.field(description="The contest counted.")
    stations_total: int = strawberry.field(description="Stations below the region that vote in the contest.")
    stations_reported: int = strawberry.field(description="Of those, stations with at least one revision.")
    registered: int = strawberry.field(
        description="Registered voters (DPT + DPTb + DPK, or the station's DPT) of the reported stations."
    )
    voters: int = strawberry.field(description="Voters who used their right, at the reported stations.")
    turnout: float | None = strawberry.field(description="voters / registered (0..1); null before any report.")
    valid_votes: int = strawberry.field(description="Valid votes as written on the forms.")
    invalid_votes: int = strawberry.field(description="Invalid votes.")
    candidates: list[CandidateResult] = strawberry.field(description="Every candidate, in ballot order.")


@strawberry.type(description="A province, regency, district or village.")
class Region(relay.Node):
    code: str = strawberry.field(description="Hierarchical code, e.g. `62.71.01.1001` (Kemendagri).")
    name: str = strawberry.field(description="The region's name.")
    level: Level = strawberry.field(description="Where it sits in the tree.")
    stations_total: int = strawberry.field(description="Polling stations below it.")
    registered_total: int = strawberry.field(description="Voters on the final lists (DPT) of the stations below it.")
    row_id: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Row) -> Region:
        return cls(
            code=row.code, name=row.name, level=Level(row.level), stations_total=row.stations_total,
            registered_total=row.registered_total, row_id=row.id, parent_id=row.parent_id,
        )

    @classmethod
    def resolve_id(cls, root: Region, *, info: Info) -> str:
        return root.code

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        rows = await load_many(info.context.loaders.region_by_code, list(node_ids))
        return [cls.from_row(row) if row else None for row in rows]

    @strawberry.field(description="The region it belongs to; null for a province.")
    async def parent(self, info: Info) -> Region | None:
        return await region_by_id(info, self.parent_id)

    @strawberry.field(description="The regions directly below it, by code.")
    async def children(self, info: Info) -> list[Region]:
        rows = await info.context.loaders.region_children.load(self.row_id)
        return [Region.from_row(row) for row in rows]

    @strawberry.field(description="Polling stations below it, at any depth.")
    async def stations(
        self, info: Info, where: StationWhere | None = None, order_by: StationOrderBy = StationOrderBy.CODE_ASC,
        first: int | None = None, after: str | None = None,
    ) -> Connection[StationRef]:
        from pilkada_graph.schema.stations import station_connection

        return await station_connection(info, StationWhere(within=self.code, and_=[where] if where else None),
                                        order_by, first, after)

    @strawberry.field(description="Issues about it or anything below it.")
    async def issues(
        self, info: Info, where: IssueWhere | None = None, order_by: IssueOrderBy = IssueOrderBy.CREATED_AT_DESC,
        first: int | None = None, after: str | None = None,
    ) -> Connection[IssueRef]:
        from pilkada_graph.schema.issues import issue_connection

        return await issue_connection(info, IssueWhere(within=self.code, and_=[where] if where else None),
                                      order_by, first, after)

    @strawberry.field(description="The contest's count here; null when the region does not vote in the contest.")
    async def results(self, info: Info, contest: str) -> Results | None:
        return await results_of(info, self, await require_contest(info, contest))

    @strawberry.field(description="Recaps of this region (of one contest, or all), newest first.")
    async def recaps(self, info: Info, contest: str | None = None) -> list[RecapRef]:
        from pilkada_graph.schema.recaps import recaps_of_region

        return await recaps_of_region(info, self.row_id, contest)


async def region_by_id(info: Info, region_id: int | None) -> Region | None:
    if region_id is None:
        return None
    row = await info.context.loaders.region_by_id.load(region_id)
    return Region.from_row(row) if row else None


async def stations_voting(info: Info, region: Region, contest: Row) -> int | None:
    """Stations of ``region`` that vote in ``contest``; None when none of them does.

    A region above the contest's own region (the province, for a regency's contest) holds
    exactly the contest region's stations.
    """
    contest_region = await region_by_id(info, contest.region_id)
    if contest_region is None or is_below(region.code, contest_region.code):
        return region.stations_total
    if is_below(contest_region.code, region.code):
        return contest_region.stations_total
    return None


async def results_of(info: Info, region: Region, contest: Row) -> Results | None:
    stations_total = await stations_voting(info, region, contest)
    if stations_total is None:
        return None
    loaders = info.context.loaders
    (totals, votes), candidates = await asyncio.gather(loaders.results.load((region.row_id, contest.id)),
                                                       loaders.candidates.load(contest.id))
    counted = sum(votes.values())
    registered = totals.registered if totals else 0
    voters = totals.voters if totals else 0
    return Results(
        contest=Contest.from_row(contest),
        stations_total=stations_total,
        stations_reported=totals.stations_reported if totals else 0,
        registered=registered,
        voters=voters,
        turnout=voters / registered if registered else None,
        valid_votes=totals.valid_votes if totals else 0,
        invalid_votes=totals.invalid_votes if totals else 0,
        candidates=[
            CandidateResult(
                number=c.number, name=c.name, votes=votes.get(c.number, 0),
                share=votes.get(c.number, 0) / counted if counted else None,
            )
            for c in candidates
        ],
    )


@strawberry.type
class RegionQuery:
    @strawberry.field(description="The region with this code (an error when there is none).")
    async def region(self, info: Info, code: str) -> Region | None:
        row = await info.context.loaders.region_by_code.load(code)
        if row is None:
            raise NotFound(f"no region {code!r}")
        return Region.from_row(row)

    @strawberry.field(description="Regions by code, optionally of one level and/or directly below one parent.")
    async def regions(
        self, info: Info, level: Level | None = None, parent: str | None = None,
        first: int | None = None, after: str | None = None,
    ) -> Connection[Region]:
        statement = select(*store.REGION_COLUMNS)
        if level is not None:
            statement = statement.where(RegionModel.level == level.value)
        if parent is not None:
            parent_row = await info.context.loaders.region_by_code.load(parent)
            if parent_row is None:
                raise NotFound(f"no region {parent!r}")
            statement = statement.where(RegionModel.parent_id == parent_row.id)
        return await keyset_connection(info, statement, [RegionModel.code], False, first, after, Region.from_row)
