"""WebSocket: the token in connection_init, refused tokens, and private fields filtered per subscriber."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.security.conftest import STATION_08, Secured, codes, submit_query

TALLIES = 'subscription { tallySubmitted(where: { within: "62.08" }) { submissionId actor station { code } } }'
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


async def connect(server: Secured, protocol: str, payload: dict[str, Any]) -> Any:
    connection = await websockets.connect(server.url.replace("http://", "ws://") + "/graphql",
                                          subprotocols=[protocol])  # type: ignore[list-item]
    await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
    return connection


async def subscribe(server: Secured, protocol: str, token: str | None, query: str) -> Any:
    connection = await connect(server, protocol, {"Authorization": f"Bearer {server.tokens[token]}"} if token else {})
    assert json.loads(await asyncio.wait_for(connection.recv(), 10))["type"] == "connection_ack"
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await connection.send(json.dumps({"id": "1", "type": start, "payload": {"query": query}}))
    return connection


async def next_payload(connection: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(connection.recv(), 15))
        if message["type"] in ("next", "data"):
            return dict(message["payload"])
        assert message["type"] not in ("error", "complete"), message


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_refused_token_in_connection_init_closes_the_connection(secured: Secured, protocol: str) -> None:
    connection = await connect(secured, protocol, {"Authorization": f"Bearer {secured.tokens['revoked']}"})
    if protocol == "graphql-transport-ws":
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    else:
        assert json.loads(await asyncio.wait_for(connection.recv(), 10))["type"] == "connection_error"
    await connection.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribers_get_private_fields_only_where_their_token_reaches(secured: Secured, protocol: str) -> None:
    own = await subscribe(secured, protocol, "viewer-08", TALLIES)
    stranger = await subscribe(secured, protocol, "clerk-09", TALLIES)
    anonymous = await subscribe(secured, protocol, None, TALLIES)
    await asyncio.sleep(0.3)
    sent = f"ws-{protocol}"
    accepted = await asyncio.to_thread(secured.answer, submit_query(sent, STATION_08), None, "clerk-08")
    assert accepted["data"]["submitTally"]["__typename"] == "TallyAccepted"
    seen = await next_payload(own)
    assert "errors" not in seen and seen["data"]["tallySubmitted"]["actor"] == "clerk-sukamara"
    for connection in (stranger, anonymous):
        payload = await next_payload(connection)
        assert payload["data"]["tallySubmitted"]["submissionId"] == sent  # the tally itself is public
        assert payload["data"]["tallySubmitted"]["actor"] is None and set(codes(payload)) == {"FORBIDDEN"}
    for connection in (own, stranger, anonymous):
        await connection.close()


async def test_without_anonymous_access_a_websocket_without_token_is_refused(serve_with, sqlite_url: str,
                                                                          small_bundle) -> None:
    server = serve_with(sqlite_url, small_bundle, config="anonymous = false\n")
    connection = await connect(server, "graphql-transport-ws", {})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(connection.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    accepted = await subscribe(server, "graphql-transport-ws", "viewer", TALLIES)
    await accepted.close()
