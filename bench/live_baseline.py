"""The baseline for ``bench_live.py``: a bare ``websockets`` broadcast server and nothing else.

    python bench/live_baseline.py PORT

A connection to ``/publish`` sends payloads; each one is acknowledged (``ok``) and then written to
every other connection with :func:`websockets.asyncio.server.broadcast`. No GraphQL, no database,
no per-subscriber work: the floor that a Python process on this machine can fan a message out at,
measured the same way as the app (from the acknowledgement to each client's receipt).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, broadcast, serve

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_clients import BACKLOG, raise_file_limit, run_event_loop  # noqa: E402

PUBLISH_PATH = "/publish"


async def serve_forever(port: int) -> None:
    subscribers: set[ServerConnection] = set()

    async def handle(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == PUBLISH_PATH:
            async for payload in connection:
                await connection.send("ok")  # "submitTally returned", then the fan-out, as in the app
                broadcast(subscribers, payload)
            return
        subscribers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            subscribers.discard(connection)

    async with serve(handle, "127.0.0.1", port, backlog=BACKLOG, max_size=None):
        await asyncio.Future()


if __name__ == "__main__":
    raise_file_limit()
    run_event_loop(serve_forever(int(sys.argv[1])))
