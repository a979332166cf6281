"""Issues raised by detectors, their evidence and their review history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlalchemy import Row, select
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from pilkada_graph.models import Issue as IssueModel
from pilkada_graph.schema import store
from pilkada_graph.schema.contests import Contest, contest_by_id
from pilkada_graph.schema.context import Info, require_private
from pilkada_graph.schema.enums import IssueOrderBy, IssueStatus, Severity
from pilkada_graph.schema.filters import IssueWhere, issue_clause
from pilkada_graph.schema.loaders import load_many
from pilkada_graph.schema.pagination import Connection, keyset_connection, node_field_names
from pilkada_graph.schema.regions import Region, region_by_id
from pilkada_graph.schema.stations import Station, station_by_id
from pilkada_graph.schema.tallies import Tally, tally_by_id


def utc(moment: datetime) -> datetime:
    """A stored (naive UTC) time, aware."""
    return moment.replace(tzinfo=UTC)


@strawberry.type(description="One entry of an issue's history: raised, updated, cleared or reviewed.")
class IssueEvent:
    at: datetime = strawberry.field(description="When it happened (UTC).")
    action: str = strawberry.field(description="What happened, e.g. `flagged`, `acknowledge`, `resolve`.")
    from_status: IssueStatus | None = strawberry.field(description="Status before; null when the issue was raised.")
    to_status: IssueStatus = strawberry.field(description="Status after.")
    actor: str | None = strawberry.field(description="Who did it: a reviewer, or the detection runner.")
    note: str | None = strawberry.field(description="The reviewer's note.")
    token_id: int | None = strawberry.field(description="The API token it was done with; null for the runner.")

    @classmethod
    def from_row(cls, row: Row) -> IssueEvent:
        return cls(at=utc(row.at), action=row.action,
                   from_status=IssueStatus(row.from_status) if row.from_status else None,
                   to_status=IssueStatus(row.to_status), actor=row.actor, note=row.note, token_id=row.token_id)


@strawberry.type(description="An anomaly a detector found in a station's tally or a region's results.")
class Issue(relay.Node):
    detector: str = strawberry.field(description="The detector that raised it.")
    severity: Severity = strawberry.field(description="How much it matters.")
    status: IssueStatus = strawberry.field(description="Where it is in its review.")
    message: str = strawberry.field(description="What is wrong, in words.")
    suggestion: str | None = strawberry.field(description="What the desk could do about it.")
    evidence: JSON = strawberry.field(description="The figures behind it, as the detector gave them.")
    score: float | None = strawberry.field(description="The detector's measure of how unusual this is.")
    active: bool = strawberry.field(description="True while the detector still sees it on the current data.")
    subject_code: str = strawberry.field(description="The code of the station or region it is about.")
    created_at: datetime = strawberry.field(description="When it was first raised (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    row_id: strawberry.Private[int]
    station_id: strawberry.Private[int | None]
    region_id: strawberry.Private[int | None]
    contest_id: strawberry.Private[int | None]
    tally_id: strawberry.Private[int | None]
    #: Station, region, contest and tally, when loaded with the page (see :func:`prefetch_relations`).
    related: strawberry.Private[dict[str, Any] | None] = None

    @classmethod
    def from_row(cls, row: Row) -> Issue:
        return cls(
            detector=row.detector, severity=Severity(row.severity), status=IssueStatus(row.status),
            message=row.message, suggestion=row.suggestion, evidence=row.evidence, score=row.score,
            active=row.active, subject_code=row.subject_code, created_at=utc(row.created_at),
            updated_at=utc(row.updated_at), row_id=row.id, station_id=row.station_id, region_id=row.region_id,
            contest_id=row.contest_id, tally_id=row.tally_id,
        )

    @classmethod
    def resolve_id(cls, root: Issue, *, info: Info) -> str:
        return str(root.row_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        ids = [int(i) if i.isdigit() else -1 for i in node_ids]
        rows = await load_many(info.context.loaders.issue_by_id, ids)
        return [cls.from_row(row) if row else None for row in rows]

    # The relations are plain functions: an issue of a page has them already (answered at once, no
    # coroutine per node); any other issue returns the loader's awaitable, which the executor awaits.

    @strawberry.field(description="The station it is about; null for an issue about a whole region.")
    def station(self, info: Info) -> Station | None:
        return self._related("station", lambda: station_by_id(info, self.station_id))

    @strawberry.field(description="The region it is about (for a station's issue: the station's village).")
    def region(self, info: Info) -> Region | None:
        return self._related("region", lambda: region_by_id(info, self.region_id))

    @strawberry.field(description="The contest it is about; null when it concerns every contest.")
    def contest(self, info: Info) -> Contest | None:
        return self._related("contest", lambda: contest_by_id(info, self.contest_id))

    @strawberry.field(description="The tally revision it judged; null for a region's issue.")
    def tally(self, info: Info) -> Tally | None:
        return self._related("tally", lambda: tally_by_id(info, self.tally_id))

    def _related(self, name: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """The relation loaded with the page, else an awaitable of it."""
        if self.related is not None and name in self.related:
            return self.related[name]
        return load()

    @strawberry.field(description="Its history, oldest first: raised, updated, reviewed, with who and their notes. "
                      "Private: needs a token reaching the issue's subject.")
    async def history(self, info: Info) -> list[IssueEvent] | None:
        require_private(info, self.subject_code)
        return [IssueEvent.from_row(row) for row in await info.context.loaders.issue_events.load(self.row_id)]


ISSUE_ORDERS: dict[IssueOrderBy, tuple[Any, bool]] = {
    IssueOrderBy.CREATED_AT_DESC: (IssueModel.created_at, True),
    IssueOrderBy.CREATED_AT_ASC: (IssueModel.created_at, False),
    IssueOrderBy.UPDATED_AT_DESC: (IssueModel.updated_at, True),
    IssueOrderBy.UPDATED_AT_ASC: (IssueModel.updated_at, False),
}


async def issue_connection(
    info: Info, where: IssueWhere | None, order_by: IssueOrderBy, first: int | None, after: str | None
) -> Connection[Issue]:
    column, descending = ISSUE_ORDERS[order_by]
    statement = select(*store.ISSUE_COLUMNS).where(issue_clause(where))
    page = await keyset_connection(info, statement, [column, IssueModel.id], descending, first, after,
                                   Issue.from_row)
    await prefetch_relations(info, [edge.node for edge in page.edges], node_field_names(info))
    return page


async def prefetch_relations(info: Info, issues: list[Issue], wanted: Collection[str]) -> None:
    """Load the relations a page's nodes ask for (of station, region, contest, tally) in one round.

    The loaders would batch them anyway; loading them here, before the nodes are resolved, spares
    a coroutine and a task per node and relation (a page of 50 with all four: 200), which cost
    more than the SQL.
    """
    loaders = info.context.loaders
    how: dict[str, tuple[DataLoader[int, Row | None], Callable[[Row], Any]]] = {
        "station": (loaders.station_by_id, Station.from_row),
        "region": (loaders.region_by_id, Region.from_row),
        "contest": (loaders.contest_by_id, Contest.from_row),
        "tally": (loaders.tally_by_id, Tally.from_row),
    }
    names = [name for name in how if name in wanted] if issues else []
    keys = {name: sorted({getattr(i, f"{name}_id") for i in issues} - {None}) for name in names}
    found = await asyncio.gather(*(load_many(how[name][0], keys[name]) for name in names))
    objects = {name: {key: how[name][1](row) if row else None for key, row in zip(keys[name], rows, strict=True)}
               for name, rows in zip(names, found, strict=True)}
    for issue in issues:
        issue.related = {name: objects[name].get(getattr(issue, f"{name}_id")) for name in names}


async def issue_by_id(info: Info, issue_id: int) -> Issue | None:
    row = await info.context.loaders.issue_by_id.load(issue_id)
    return Issue.from_row(row) if row else None


@strawberry.type
class IssueQuery:
    @strawberry.field(description="Issues matching `where`, a page at a time (newest first by default).")
    async def issues(
        self, info: Info, where: IssueWhere | None = None, order_by: IssueOrderBy = IssueOrderBy.CREATED_AT_DESC,
        first: int | None = None, after: str | None = None,
    ) -> Connection[Issue]:
        return await issue_connection(info, where, order_by, first, after)
