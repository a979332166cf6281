"""Per-request DataLoaders: each batches the keys a query level asks for into one statement.

A page of 100 stations that each want their current tally and issues costs one statement for
the tallies and one for the issues, not 200. Loaders are created per request (in the context),
so their caches never serve one request's data to another or outlive a write.

The SQL is in :mod:`pilkada_graph.schema.store` and runs in a worker thread
(:func:`starlette.concurrency.run_in_threadpool`): the database driver is synchronous and
must not block the event loop. The reads of one round (every loader dispatched together) share
one thread hop and one connection (:meth:`Loaders.run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import suppress
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Row
from starlette.concurrency import run_in_threadpool
from strawberry.dataloader import DataLoader

from pilkada_graph.models import Issue
from pilkada_graph.recaps import recaps_grouped
from pilkada_graph.schema import store

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[Connection, Sequence[Any]], Any]
Fetch0 = Callable[[Connection], Any]


class Loaders:
    """The loaders of one request, one per kind of lookup."""

    def __init__(self, engine: Engine, read_timeout: float = store.READ_TIMEOUT) -> None:
        self.engine = engine
        self.read_timeout = read_timeout
        self._round: list[tuple[Fetch0, asyncio.Future[Any]]] = []
        self._running: set[asyncio.Future[None]] = set()
        self.region_by_id = self._one(store.regions_by_id, "id")
        self.region_by_code = self._one(store.regions_by_code, "code", also=self.region_by_id)
        self.region_children = self._grouped(store.region_children, default=list)
        self.contest_by_id = self._one(store.contests_by_id, "id")
        self.contest_by_code = self._one(store.contests_by_code, "code", also=self.contest_by_id)
        self.candidates = self._grouped(store.candidates_of, default=list)
        self.station_by_id = self._one(store.stations_by_id, "id")
        self.station_by_code = self._one(store.stations_by_code, "code", also=self.station_by_id)
        self.tally_by_id = self._one(store.tallies_by_id, "id")
        self.current_tally = self._one(store.current_tallies, lambda r: (r.station_id, r.contest_id))
        self.revisions = self._grouped(store.revisions, default=list)
        self.results: DataLoader[tuple[int, int], tuple[Row | None, dict[int, int]]] = DataLoader(
            load_fn=self._load_results
        )
        self.issue_by_id = self._one(store.issues_by_id, "id")
        self.issues_of_station = self._grouped(
            lambda c, keys: store.issues_grouped(c, Issue.station_id, keys), default=list
        )
        self.issues_of_tally = self._grouped(
            lambda c, keys: store.issues_grouped(c, Issue.tally_id, keys), default=list
        )
        self.issue_events = self._grouped(store.issue_events, default=list)
        self.recaps = self._grouped(recaps_grouped, default=list)

    async def run(self, fetch: Callable[[Connection], V]) -> V:
        """Run one read off the event loop, with every other read asked for in the same round.

        DataLoaders dispatch their batches one event-loop tick after the keys were asked for,
        each as a task of its own; reads arriving within two ticks of the first are run together
        in one worker thread on one connection (:func:`store.read_many`), so a query level that
        wants stations, tallies and issues pays one thread hop and one checkout, not three.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._round.append((fetch, answer))
        if len(self._round) == 1:
            loop.call_soon(loop.call_soon, self._start_round)
        return cast(V, await answer)

    def _start_round(self) -> None:
        pending, self._round = self._round, []
        task = asyncio.ensure_future(self._run_round(pending))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_round(self, pending: list[tuple[Fetch0, asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await run_in_threadpool(store.read_many, self.engine, [fetch for fetch, _ in pending],
                                               self.read_timeout)
        except Exception as error:  # noqa: BLE001 - no connection at all: every read of the round fails
            outcomes = [(False, error)] * len(pending)
        for (_, answer), (ok, value) in zip(pending, outcomes, strict=True):
            if answer.done():
                continue
            if ok:
                answer.set_result(value)
            else:
                answer.set_exception(value)

    def _one(self, fetch: Fetch, key: str | Callable[[Row], Any],
             also: DataLoader[Any, Row | None] | None = None) -> DataLoader[Any, Row | None]:
        """A loader of one row per key; rows found by code also fill ``also`` (by id): a station
        asked for by code then answers its tally's ``station`` without another round."""
        key_of = (lambda row: getattr(row, key)) if isinstance(key, str) else key

        async def load(keys: list[Any]) -> list[Row | None]:
            rows = await self.run(lambda connection: fetch(connection, keys))
            found = {key_of(row): row for row in rows}
            if also is not None:
                for row in rows:
                    also.prime(row.id, row)
            return [found.get(k) for k in keys]

        return DataLoader(load_fn=load)

    def _grouped(self, fetch: Fetch, default: Callable[[], Any]) -> DataLoader[Any, Any]:
        async def load(keys: list[Any]) -> list[Any]:
            grouped = await self.run(lambda connection: fetch(connection, keys))
            return [grouped.get(k, default()) for k in keys]

        return DataLoader(load_fn=load)

    async def _load_results(self, keys: list[tuple[int, int]]) -> list[tuple[Row | None, dict[int, int]]]:
        totals, votes = await self.run(lambda connection: store.region_results(connection, keys))
        return [(totals.get(k), votes.get(k, {})) for k in keys]

    def forget_issue(self, issue_id: int) -> None:
        """Drop a cached issue and its history after a write, so the answer shows the change."""
        for loader in (self.issue_by_id, self.issue_events):
            with suppress(KeyError):  # strawberry's clear() raises for a key it never loaded
                loader.clear(issue_id)


async def load_many(loader: DataLoader[K, V], keys: Sequence[K]) -> list[V]:
    """``loader.load_many`` typed as a list."""
    result: Awaitable[list[V]] = loader.load_many(list(keys))
    return list(await result)
