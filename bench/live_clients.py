"""The processes around the server under test in ``bench_live.py``: subscribers and background ingest.

A *client worker* opens ``count`` WebSocket connections (graphql-transport-ws subscriptions to the
app, or plain connections to the baseline), stamps every message it receives with
``time.monotonic_ns()`` (CLOCK_MONOTONIC: system-wide on Linux, so comparable with the stamps the
bench process takes when ``submitTally`` returns), and answers the bench's commands over a pipe:

* ``("status",)`` -> ``(connections open, connections that received anything, measured receipts)``
* ``("measure", ids)`` -> ``True``: from now on count receipts of these submission ids
* ``("results",)`` -> ``(stamps by submission id, MISSED_EVENTS errors)``
* ``("close",)`` -> ``True``, then the worker closes its connections and exits.

Thousands of connections do not fit in one process's default file limit, nor are they opened at once
(the server's accept backlog), hence :func:`raise_file_limit` and batches of :data:`OPENING`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as StopEvent
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

#: Connections being opened at the same time by one worker (the server's backlog is BACKLOG).
OPENING = 100
BACKLOG = 4096
OPEN_TIMEOUT = 120.0
CLOSE_TIMEOUT = 30.0


def raise_file_limit() -> int:
    """Lift this process's open-file limit to its hard limit (10,000 sockets need 10,000 descriptors)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run_event_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on uvloop when installed (as uvicorn does), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# --------------------------------------------------------------------------- receipts


@dataclass
class Receipts:
    """Every message received by one worker's connections, as (submission id -> receipt stamps)."""

    stamps: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    heard_from: set[int] = field(default_factory=set)
    measured: frozenset[str] = frozenset()
    measured_count: int = 0
    errors: int = 0

    def record(self, connection: int, message: str | bytes, stamp: int) -> None:
        self.heard_from.add(connection)
        body = json.loads(message)
        if body.get("type") not in (None, "next"):
            return
        payload = body["payload"]
        if payload.get("errors"):
            self.errors += 1
            return
        submission_id = next(iter(payload["data"].values()))["submissionId"]
        self.stamps[submission_id].append(stamp)
        if submission_id in self.measured:
            self.measured_count += 1

    def measure(self, ids: list[str]) -> None:
        self.measured = frozenset(ids)
        self.measured_count = sum(len(self.stamps.get(i, ())) for i in self.measured)


# --------------------------------------------------------------------------- connections


async def open_subscription(url: str, query: str | None, token: str | None = None) -> ClientConnection:
    """A connection with one graphql-transport-ws subscription to ``query`` (or a bare one: ``None``)."""
    protocols = [Subprotocol("graphql-transport-ws")] if query else None
    connection = await connect(url, subprotocols=protocols, ping_interval=None, open_timeout=OPEN_TIMEOUT,
                               max_size=None)
    if query:
        params = {"Authorization": f"Bearer {token}"} if token else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": params}))
        while json.loads(await connection.recv())["type"] != "connection_ack":
            pass
        await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return connection


async def open_all(url: str, query: str | None, token: str | None, count: int, seconds: float
                   ) -> tuple[list[ClientConnection], int]:
    """``count`` subscriptions, :data:`OPENING` at a time, for at most ``seconds``; the open ones, how many failed."""
    gate = asyncio.Semaphore(OPENING)

    async def one() -> ClientConnection:
        async with gate:
            return await open_subscription(url, query, token)

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    connections = [t.result() for t in done if t.exception() is None]
    return connections, count - len(connections)


async def read(connection: ClientConnection, number: int, receipts: Receipts) -> None:
    with contextlib.suppress(Exception):  # a closed connection ends its reader; the counts tell
        async for message in connection:
            receipts.record(number, message, time.monotonic_ns())


async def close_all(connections: list[ClientConnection]) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.close() for c in connections), return_exceptions=True),
                               CLOSE_TIMEOUT)


# --------------------------------------------------------------------------- the worker process


async def serve_commands(pipe: Connection, url: str, query: str | None, token: str | None, count: int,
                         seconds: float) -> None:
    receipts = Receipts()
    connections, failed = await open_all(url, query, token, count, seconds)
    readers = [asyncio.create_task(read(c, n, receipts)) for n, c in enumerate(connections)]
    while True:
        command, *arguments = await asyncio.to_thread(pipe.recv)
        if command == "status":
            pipe.send((len(connections), failed, len(receipts.heard_from), receipts.measured_count))
        elif command == "measure":
            receipts.measure(arguments[0])
            pipe.send(True)
        elif command == "results":
            pipe.send((dict(receipts.stamps), receipts.errors))
        elif command == "close":
            await close_all(connections)
            for reader in readers:
                reader.cancel()
            pipe.send(True)
            return


def client_worker(pipe: Connection, url: str, query: str | None, token: str | None, count: int,
                  seconds: float) -> None:
    """Entry point of one subscriber process (``multiprocessing``, spawn); opening takes at most ``seconds``."""
    raise_file_limit()
    run_event_loop(serve_commands(pipe, url, query, token, count, seconds))


# --------------------------------------------------------------------------- background ingest


def ingest_worker(pipe: Connection, stop: StopEvent, url: str, token: str | None, rows: list[dict[str, Any]],
                  rate: float) -> None:
    """Submit ``rows`` through ``submitTally`` at ``rate`` until ``stop``; send back (forms answered, seconds)."""
    from pilkada_graph.simulate import Simulator

    simulator = Simulator(url, rate, token, say=lambda _: None)

    async def until_stopped() -> float:
        started = time.monotonic()
        work = asyncio.create_task(simulator.run(rows))
        halt = asyncio.create_task(asyncio.to_thread(stop.wait))
        await asyncio.wait([work, halt], return_when=asyncio.FIRST_COMPLETED)
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        return time.monotonic() - started

    seconds = asyncio.run(until_stopped())
    pipe.send((sum(simulator.report.outcomes.values()), seconds))
