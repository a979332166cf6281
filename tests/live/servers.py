"""Real servers and a real WebSocket client for the live tests (uvicorn processes, ``websockets``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from pilkada_graph.config import Settings
from pilkada_graph.service import Desk
from pilkada_graph.simulate import submit_tally_mutation
from tests.processes import free_port, stop_process, wait_for_port
from tests.tokens import bearer, new_token


def load_reference_data(database_url: str, bundle: Path, scratch: Path) -> None:
    """The bundle's regions, contests, candidates and stations, without its tallies."""
    folder = scratch / "reference"
    shutil.copytree(bundle, folder)
    (folder / "tallies.csv").unlink()
    desk = Desk.open(Settings(database_url=database_url), with_detection=False)
    assert desk.import_bundle(folder).committed
    desk.engine.dispose()


@contextmanager
def uvicorn_server(database_url: str, event_bus: str) -> Iterator[str]:
    """A real ``uvicorn`` process serving the app; yields its GraphQL URL."""
    port = free_port()
    env = {**os.environ, "PILKADA_DATABASE_URL": database_url, "PILKADA_EVENT_BUS": event_bus}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "pilkada_graph.app:app_from_environment",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        wait_for_port(port, timeout=30)
        url = f"http://127.0.0.1:{port}/graphql"
        TOKENS[url] = new_token(database_url, "admin", name="live-tests")  # anonymous is read-only
        yield url
    finally:
        stop_process(process, "uvicorn (a request or subscription task never ended)")


#: GraphQL URL -> the admin token made for that server.
TOKENS: dict[str, str] = {}


def auth_headers(url: str) -> dict[str, str]:
    """``Authorization: Bearer`` for the server at ``url`` (HTTP headers and connection_init payload alike)."""
    return bearer(TOKENS.get(url.replace("ws://", "http://")))


def submit(url: str, row: dict[str, Any]) -> dict[str, Any]:
    """``submitTally`` one form over HTTP; the answer's ``submitTally`` object."""
    response = httpx.post(url, json={"query": submit_tally_mutation(row)}, headers=auth_headers(url), timeout=30)
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"]["submitTally"])


class Subscription:
    """One WebSocket connection with one subscription, in either protocol."""

    def __init__(self, connection: Any, protocol: str) -> None:
        self.connection = connection
        self.protocol = protocol

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next result (``{"data": …}`` or ``{"errors": …}``), skipping keep-alives."""
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
            if message["type"] in ("next", "data"):
                return dict(message["payload"])
            if message["type"] in ("error", "complete"):
                raise AssertionError(f"subscription ended: {message}")


async def open_subscription(url: str, query: str, protocol: str = "graphql-transport-ws") -> Subscription:
    connection = await websockets.connect(url.replace("http://", "ws://"), subprotocols=[protocol])  # type: ignore[list-item]
    await connection.send(json.dumps({"type": "connection_init", "payload": auth_headers(url)}))
    while json.loads(await connection.recv())["type"] != "connection_ack":
        pass
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await connection.send(json.dumps({"id": "1", "type": start, "payload": {"query": query}}))
    return Subscription(connection, protocol)


async def until_live(url: str, subscription: Subscription, probes: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Submit probe forms until one arrives on ``subscription`` (then the bus path is live)."""
    for row in probes:
        await asyncio.to_thread(submit, url, row)
        try:
            return await subscription.next(timeout=1.0)
        except TimeoutError:
            continue
    raise AssertionError("no probe form ever arrived")
