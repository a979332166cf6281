"""Live updates: ``issueFlagged``, ``tallySubmitted`` and ``progress``, over WebSocket.

Resolvers do not query per subscriber. Each server process has one
:class:`~pilkada_graph.broadcast.Broadcaster` per desk; its renderers (here) load the rows of a
batch of bus events once, evaluate every distinct ``where`` its subscribers asked for in the same
statement (with the very SQL of the ``issues`` query, :func:`~.filters.issue_clause`, so "matches"
means exactly what it means there, regions covering everything below them), and build the
strawberry object once. Each subscriber then primes its own loaders with the rows the object's
fields need (station, region, contest), so resolving ``station { code }`` costs no query either.

When a subscriber fell behind or the bus lost events, the stream carries an error with
``extensions.code == "MISSED_EVENTS"`` in place of what was missed: re-query, then keep listening.

Over our WebSocket handlers the selection set, too, is executed once per event for each group of
alike subscribers (same document, variables and rights), and the JSON sent as is: see
:mod:`~pilkada_graph.schema.live`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import strawberry
from sqlalchemy import Connection, Engine, case, select
from starlette.concurrency import run_in_threadpool

from pilkada_graph.broadcast import MISSED, Broadcaster, Delivery, Renderer, Subscriber
from pilkada_graph.models import Contest as ContestModel
from pilkada_graph.models import Issue as IssueModel
from pilkada_graph.models import Station as StationModel
from pilkada_graph.models import Tally as TallyModel
from pilkada_graph.pubsub import ISSUE, PROGRESS, TALLY, Event
from pilkada_graph.schema import store
from pilkada_graph.schema.contests import require_contest
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.errors import NotFound
from pilkada_graph.schema.filters import (
    Comparison,
    IssueWhere,
    StationWhere,
    comparison_clause,
    issue_clause,
    station_clause,
    within_clause,
)
from pilkada_graph.schema.issues import Issue
from pilkada_graph.schema.live import Rendered, RenderGroup, RenderGroups, Sink, current_sink, missed_events
from pilkada_graph.schema.loaders import Loaders
from pilkada_graph.schema.regions import Region, Results, results_of
from pilkada_graph.schema.tallies import Tally
from pilkada_graph.service import Desk

#: Filters evaluated per statement (one boolean column each; PostgreSQL allows 1664 columns).
FILTERS_PER_STATEMENT = 400


# --------------------------------------------------------------------------- filters as SQL columns


def matching_filters(connection: Connection, base: Any, id_column: Any, ids: Sequence[int],
                     clauses: Mapping[Hashable, Any]) -> dict[int, list[Hashable]]:
    """id -> keys of the filters whose SQL ``clauses`` hold for that row (one statement per 400 filters)."""
    matches: dict[int, list[Hashable]] = {i: [] for i in ids}
    keys = list(clauses)
    for start in range(0, max(len(keys), 1), FILTERS_PER_STATEMENT):
        chunk = keys[start : start + FILTERS_PER_STATEMENT]
        columns = [case((clauses[key], 1), else_=0).label(f"m{n}") for n, key in enumerate(chunk)]
        for row in connection.execute(base.add_columns(*columns).where(id_column.in_(list(ids)))):
            matches[row[0]].extend(key for n, key in enumerate(chunk) if row[n + 1])
    return matches


def _rows_by_id(rows: Sequence[Any]) -> dict[int, Any]:
    return {row.id: row for row in rows}


# --------------------------------------------------------------------------- issues


def load_issues(connection: Connection, ids: Sequence[int], filters: Mapping[Hashable, IssueWhere | None]
                ) -> tuple[dict[int, Any], dict[int, list[Hashable]], dict[str, dict[int, Any]]]:
    issues = _rows_by_id(store.issues_by_id(connection, ids))
    clauses = {key: issue_clause(where) for key, where in filters.items()}
    matches = matching_filters(connection, select(IssueModel.id), IssueModel.id, list(issues), clauses)
    related = {
        "station_by_id": _rows_by_id(store.stations_by_id(connection, _ids(issues, "station_id"))),
        "region_by_id": _rows_by_id(store.regions_by_id(connection, _ids(issues, "region_id"))),
        "contest_by_id": _rows_by_id(store.contests_by_id(connection, _ids(issues, "contest_id"))),
    }
    return issues, matches, related


def _ids(rows: Mapping[int, Any], column: str) -> list[int]:
    return sorted({getattr(row, column) for row in rows.values() if getattr(row, column) is not None})


def _primes(row: Any, related: Mapping[str, Mapping[int, Any]], columns: Mapping[str, str]) -> tuple[Any, ...]:
    primes = []
    for loader, column in columns.items():
        key = getattr(row, column)
        if key is not None and key in related[loader]:
            primes.append((loader, key, related[loader][key]))
    return tuple(primes)


ISSUE_RELATED = {"station_by_id": "station_id", "region_by_id": "region_id", "contest_by_id": "contest_id"}
TALLY_RELATED = {"station_by_id": "station_id", "contest_by_id": "contest_id"}


def issue_renderer(engine: Engine) -> Renderer:
    async def render(events: Sequence[Event], filters: Mapping[Hashable, Any]) -> list[Delivery | None]:
        ids = [e.id for e in events if e.id is not None]
        issues, matches, related = await run_in_threadpool(store.read, engine,
                                                           lambda c: load_issues(c, ids, filters))
        deliveries: list[Delivery | None] = []
        for issue_id in dict.fromkeys(ids):  # one delivery per issue per batch: its latest state
            row = issues.get(issue_id)
            if row is not None:
                rendered = Rendered(Issue.from_row(row), _primes(row, related, ISSUE_RELATED))
                deliveries.append(Delivery(rendered, matches[issue_id]))
        return deliveries

    return render


# --------------------------------------------------------------------------- tallies


@strawberry.input(description="Which submitted tallies to receive; every condition given must hold.")
class TallyWhere:
    within: str | None = strawberry.field(
        default=None, description="Only stations in the region with this code (at any depth below it)."
    )
    contest: Comparison[str] | None = strawberry.field(default=None, description="The contest's code.")
    source: Comparison[str] | None = strawberry.field(default=None, description="Who sent it (`sirekap`, `desk`…).")
    station: StationWhere | None = strawberry.field(default=None, description="Conditions on the station.")


def tally_clause(where: TallyWhere | None) -> Any:
    from sqlalchemy import and_, true

    if where is None:
        return true()
    return and_(
        true(),
        *within_clause(StationModel.code, where.within),
        *comparison_clause(ContestModel.code, where.contest),
        *comparison_clause(TallyModel.source, where.source),
        station_clause(where.station),
    )


def load_tallies(connection: Connection, ids: Sequence[int], filters: Mapping[Hashable, TallyWhere | None]
                 ) -> tuple[dict[int, Any], dict[int, list[Hashable]], dict[str, dict[int, Any]]]:
    tallies = _rows_by_id(store.tallies_by_id(connection, ids))
    base = (select(TallyModel.id).join(StationModel, StationModel.id == TallyModel.station_id)
            .join(ContestModel, ContestModel.id == TallyModel.contest_id))
    clauses = {key: tally_clause(where) for key, where in filters.items()}
    matches = matching_filters(connection, base, TallyModel.id, list(tallies), clauses)
    related = {
        "station_by_id": _rows_by_id(store.stations_by_id(connection, _ids(tallies, "station_id"))),
        "contest_by_id": _rows_by_id(store.contests_by_id(connection, _ids(tallies, "contest_id"))),
    }
    return tallies, matches, related


def tally_renderer(engine: Engine) -> Renderer:
    async def render(events: Sequence[Event], filters: Mapping[Hashable, Any]) -> list[Delivery | None]:
        ids = [e.id for e in events if e.id is not None]
        tallies, matches, related = await run_in_threadpool(store.read, engine,
                                                            lambda c: load_tallies(c, ids, filters))
        return [
            Delivery(Rendered(Tally.from_row(tallies[i]), _primes(tallies[i], related, TALLY_RELATED)), matches[i])
            for i in dict.fromkeys(ids)
            if i in tallies
        ]

    return render


# --------------------------------------------------------------------------- progress


def standalone_info(engine: Engine) -> Any:
    """What the shared resolvers need of ``info`` (fresh loaders), outside any request."""
    return SimpleNamespace(context=SimpleNamespace(loaders=Loaders(engine)))


async def current_results(info: Any, region_code: str, contest_code: str) -> Results | None:
    region_row = await info.context.loaders.region_by_code.load(region_code)
    if region_row is None:
        raise NotFound(f"no region {region_code!r}")
    return await results_of(info, Region.from_row(region_row), await require_contest(info, contest_code))


def progress_renderer(engine: Engine) -> Renderer:
    """One delivery per (region, contest) watched and touched in the batch: its results now."""

    async def render(events: Sequence[Event], filters: Mapping[Hashable, Any]) -> list[Delivery | None]:
        touched = {(region, e.contest_code) for e in events if e.contest_code for region in e.region_codes}
        watched = sorted(touched.intersection(filters))
        info = standalone_info(engine)
        results = await asyncio.gather(*(current_results(info, region, contest) for region, contest in watched))
        return [Delivery(Rendered(r), [key]) for key, r in zip(watched, results, strict=True) if r is not None]

    return render


# --------------------------------------------------------------------------- one broadcaster per desk


_broadcasters: weakref.WeakKeyDictionary[Desk, dict[asyncio.AbstractEventLoop, Broadcaster]] = (
    weakref.WeakKeyDictionary()
)


def broadcaster_for(desk: Desk) -> Broadcaster:
    """This process's broadcaster for ``desk`` (created, and subscribed to the bus, on first use)."""
    loop = asyncio.get_running_loop()
    per_loop = _broadcasters.setdefault(desk, {})
    for stale in [other for other in per_loop if other.is_closed()]:
        del per_loop[stale]
    if loop not in per_loop:
        per_loop[loop] = Broadcaster(desk.bus, {
            ISSUE: issue_renderer(desk.engine),
            TALLY: tally_renderer(desk.engine),
            PROGRESS: progress_renderer(desk.engine),
        })
    return per_loop[loop]


_render_groups: weakref.WeakKeyDictionary[Broadcaster, RenderGroups] = weakref.WeakKeyDictionary()


def render_groups(broadcaster: Broadcaster) -> RenderGroups:
    """The render groups of ``broadcaster``'s subscribers (one per document, variables and rights)."""
    return _render_groups.setdefault(broadcaster, RenderGroups())


def render_group(info: Info, broadcaster: Broadcaster, sink: Sink | None) -> RenderGroup | None:
    """The group this subscriber's answers are rendered with, when it came over our WebSocket handlers."""
    if sink is None:
        return None
    return render_groups(broadcaster).group_for(info.schema, info.context, sink.request)


async def live(info: Info, kind: str, key: Hashable, criteria: Any,
               first: Callable[[], Awaitable[Any]] | None = None) -> AsyncGenerator[Any, None]:
    """One subscription's stream: ``first()`` (if given), then every matching event.

    Over our WebSocket handlers, the broadcaster renders each event once per group of alike
    subscribers and this generator writes the JSON to the socket itself (it never yields, so
    graphql-core executes nothing per subscriber); otherwise it yields objects for graphql-core.
    """
    broadcaster = broadcaster_for(info.context.desk)
    sink = current_sink()
    group = render_group(info, broadcaster, sink)
    async with broadcaster.subscription(kind, key, criteria, group) as subscriber:
        now = await first() if first is not None else None  # after subscribing: no change falls between
        if sink is None or group is None:
            if first is not None:
                yield now
            async for item in deliveries(info, subscriber):
                yield item
            return
        await sink.serve(subscriber, group, first=await group(now) if first is not None else None)


async def deliveries(info: Info, subscriber: Subscriber) -> AsyncGenerator[Any, None]:
    """The rendered objects for one subscriber, with a MISSED_EVENTS error where events were lost."""
    async for rendered in subscriber:
        if rendered is MISSED:
            yield missed_events()
            continue
        rendered.prime(info.context.loaders)
        yield rendered.item


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(description="Issues as they are raised or change status (flagged, updated, "
                             "cleared, reviewed), filtered like the `issues` query.")
    async def issue_flagged(self, info: Info, where: IssueWhere | None = None) -> AsyncGenerator[Issue, None]:
        async for item in live(info, ISSUE, repr(where), where):
            yield item

    @strawberry.subscription(description="Tally revisions as they are stored, whichever server took them.")
    async def tally_submitted(self, info: Info, where: TallyWhere | None = None) -> AsyncGenerator[Tally, None]:
        async for item in live(info, TALLY, repr(where), where):
            yield item

    @strawberry.subscription(description="A contest's count in a region (stations reported of total, results): "
                             "now, then again whenever a form below the region changes it.")
    async def progress(self, info: Info, region: str, contest: str) -> AsyncGenerator[Results, None]:
        async def now() -> Results:
            results = await current_results(info, region, contest)
            if results is None:
                raise NotFound(f"region {region!r} does not vote in {contest!r}")
            return results

        async for item in live(info, PROGRESS, (region, contest), None, first=now):
            yield item
