"""Per-request DataLoaders: each batches the keys a query level asks for into one statement.

A page of 100 stations that each want their current tally and issues costs one statement for
the tallies and one for the issues, not 200. Loaders are created per request (in the context),
so their caches never serve one request's data to another or outlive a write.

The SQL is in :mod:`pilkada_graph.schema.store` and runs in a worker thread
(:func:`starlette.concurrency.run_in_threadpool`): the database driver is synchronous and
must not block the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row
from starlette.concurrency import run_in_threadpool
from strawberry.dataloader import DataLoader

from pilkada_graph.models import Issue
from pilkada_graph.recaps import recaps_grouped
from pilkada_graph.schema import store

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[Connection, Sequence[Any]], Any]


class Loaders:
    """The loaders of one request, one per kind of lookup."""

    def __init__(self, engine: Engine, read_timeout: float = store.READ_TIMEOUT) -> None:
        self.engine = engine
        self.read_timeout = read_timeout
        self.region_by_id = self._one(store.regions_by_id, "id")
        self.region_by_code = self._one(store.regions_by_code, "code")
        self.region_children = self._grouped(store.region_children, default=list)
        self.contest_by_id = self._one(store.contests_by_id, "id")
        self.contest_by_code = self._one(store.contests_by_code, "code")
        self.candidates = self._grouped(store.candidates_of, default=list)
        self.station_by_id = self._one(store.stations_by_id, "id")
        self.station_by_code = self._one(store.stations_by_code, "code")
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
        """Run one read off the event loop (for the page queries that are not batched by key)."""
        return await run_in_threadpool(store.read, self.engine, fetch, self.read_timeout)

    def _one(self, fetch: Fetch, key: str | Callable[[Row], Any]) -> DataLoader[Any, Row | None]:
        key_of = (lambda row: getattr(row, key)) if isinstance(key, str) else key

        async def load(keys: list[Any]) -> list[Row | None]:
            rows = await self.run(lambda connection: fetch(connection, keys))
            found = {key_of(row): row for row in rows}
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
