"""``pilkada-graph serve``: the command a desk deploys answers, and stops when it is told to, even
while subscribers come and go."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from tests.live.servers import load_reference_data, open_subscription
from tests.processes import free_port, stop_process, wait_for_port

PROGRESS = 'subscription { progress(region: "62", contest: "gub-62") { stationsTotal stationsReported } }'


async def stop_while_subscribed(url: str, server: subprocess.Popen[str]) -> str:
    """Two subscriptions that stay, several that leave at once (some before their first answer),
    then SIGTERM: the server's log once it has exited."""
    staying = [await open_subscription(url, PROGRESS) for _ in range(2)]
    for subscription in staying:
        first = await subscription.next()
        assert first["data"]["progress"]["stationsTotal"] > 0
    for _ in range(6):
        leaving = await open_subscription(url, PROGRESS)
        await leaving.connection.close()
    server.send_signal(signal.SIGTERM)
    _, log = await asyncio.to_thread(server.communicate, timeout=30)
    for subscription in staying:  # the server closed them as it went
        with pytest.raises(websockets.ConnectionClosed):
            await subscription.next(timeout=5)
    return str(log)


def test_serve_answers_then_stops_on_sigterm_with_subscriptions_open(small_bundle: Path, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'desk.db'}"
    load_reference_data(database_url, small_bundle, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pilkada_graph.cli", "serve", "--database-url", database_url,
         "--port", str(port), "--shutdown-timeout", "10"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert health["status"] == "ok" and health["database"] == "sqlite"
        log = asyncio.run(stop_while_subscribed(f"http://127.0.0.1:{port}/graphql", server))
    finally:
        stop_process(server, "pilkada-graph serve")
    # uvicorn ends a clean shutdown by raising the signal it was stopped with again (0 on older ones).
    assert server.returncode in (0, -signal.SIGTERM), log
    assert "Shutting down" in log and "Finished server process" in log, log
    # Every task ended by itself: none had to be cancelled when the shutdown timeout ran out.
    assert "timeout graceful shutdown exceeded" not in log, log
    assert "Traceback" not in log, log
