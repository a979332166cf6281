"""Subscriptions end to end: real uvicorn processes, a real WebSocket client, SQLite with the
in-process bus, PostgreSQL with Redis or LISTEN/NOTIFY between two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from strawberry.relay import GlobalID

from pilkada_graph.db import driver_url
from pilkada_graph.detect_types import Finding
from pilkada_graph.lifecycle import Scope, upsert_findings
from pilkada_graph.simulate import night_forms, spoil
from tests.live.conftest import PrivateRedis
from tests.live.servers import auth_headers, load_reference_data, open_subscription, submit, until_live, uvicorn_server

TALLIES = "subscription { tallySubmitted { submissionId station { code } contest { code } } }"
SUKAMARA = "62.08"


@pytest.fixture(scope="module")
def forms() -> list[dict[str, Any]]:
    """The small demo's first revisions, in arrival order."""
    return [row for row in night_forms(7, "small") if row["source"] == "sirekap"]


def probes(forms: list[dict[str, Any]], start: int) -> Iterator[dict[str, Any]]:
    return iter(forms[start : start + 40])


def raise_issue(database_url: str, station: str) -> int:
    """An open issue about ``station``, as a detector would have raised it."""
    engine = create_engine(driver_url(database_url))
    finding = Finding("test-detector", station, "gub-62", "warning", "looks odd", {"odd": 1})
    with engine.begin() as connection:
        ids = upsert_findings(connection, "test-detector", [finding], scope=Scope())
    engine.dispose()
    return ids[0]


def review(url: str, issue_id: int) -> None:
    import httpx
    from strawberry.relay import GlobalID

    global_id = GlobalID("Issue", str(issue_id))
    query = f'mutation {{ reviewIssue(input: {{id: "{global_id}", action: ACKNOWLEDGE}}) {{ __typename }} }}'
    answer = httpx.post(url, json={"query": query}, headers=auth_headers(url), timeout=30).json()
    assert answer["data"]["reviewIssue"]["__typename"] == "IssueReviewed"


async def test_tally_submitted_to_one_process_reaches_a_subscriber_of_another_via_redis(
    postgres_url: str, redis_url: str, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    load_reference_data(postgres_url, small_bundle, tmp_path)
    bus = f"{redis_url}?channel=test-{tmp_path.name}"
    with uvicorn_server(postgres_url, bus) as a, uvicorn_server(postgres_url, bus) as b:
        subscription = await open_subscription(b, TALLIES)
        received = await until_live(a, subscription, probes(forms, 0))
        assert received["data"]["tallySubmitted"]["contest"]["code"] == "gub-62"


async def test_issue_reviewed_on_one_process_reaches_a_subscriber_of_another_via_postgres(
    postgres_url: str, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    load_reference_data(postgres_url, small_bundle, tmp_path)
    station = forms[0]["station_code"]
    issue_id = raise_issue(postgres_url, station)
    with uvicorn_server(postgres_url, "postgres") as a, uvicorn_server(postgres_url, "postgres") as b:
        issues = await open_subscription(
            b, "subscription { issueFlagged(where: {severity: {_in: [WARNING, CRITICAL]}}) "
               "{ id detector severity status evidence station { code } contest { code } } }")
        await until_live(a, await open_subscription(b, TALLIES), probes(forms, 1))
        await asyncio.to_thread(review, a, issue_id)
        issue = (await issues.next())["data"]["issueFlagged"]
    assert issue["id"] == str(GlobalID("Issue", str(issue_id)))
    assert (issue["status"], issue["station"]["code"], issue["evidence"]) == ("ACKNOWLEDGED", station, {"odd": 1})


async def test_subscriber_filtered_on_a_regency_receives_that_regency_only(
    sqlite_url: str, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    load_reference_data(sqlite_url, small_bundle, tmp_path)
    inside = [row for row in forms if row["station_code"].startswith(SUKAMARA + ".")]
    outside = [row for row in forms if not row["station_code"].startswith(SUKAMARA + ".")]
    with uvicorn_server(sqlite_url, "memory") as server:
        regency = await open_subscription(
            server, f'subscription {{ tallySubmitted(where: {{within: "{SUKAMARA}"}}) {{ station {{ code }} }} }}')
        everything = await open_subscription(server, TALLIES)
        await until_live(server, everything, iter(outside[:40]))
        for row in outside[40:45] + inside[:3]:
            await asyncio.to_thread(submit, server, row)
        codes = [(await regency.next())["data"]["tallySubmitted"]["station"]["code"] for _ in range(3)]
        assert codes == [row["station_code"] for row in inside[:3]]
        with pytest.raises(TimeoutError):
            await regency.next(timeout=1.0)


async def test_legacy_graphql_ws_protocol_receives_tallies(
    sqlite_url: str, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    load_reference_data(sqlite_url, small_bundle, tmp_path)
    with uvicorn_server(sqlite_url, "memory") as server:
        subscription = await open_subscription(server, TALLIES, protocol="graphql-ws")
        received = await until_live(server, subscription, probes(forms, 0))
        assert received["data"]["tallySubmitted"]["submissionId"].startswith("demo-")


async def test_bad_form_flags_an_issue_live_with_its_station_and_evidence(
    sqlite_url: str, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    pytest.importorskip("pilkada_graph.detect", reason="the detection runner is not installed yet")
    load_reference_data(sqlite_url, small_bundle, tmp_path)
    bad = spoil(forms[50], "arithmetic", __import__("random").Random(1))
    with uvicorn_server(sqlite_url, "memory") as server:
        issues = await open_subscription(
            server, "subscription { issueFlagged { id detector severity evidence station { code } } }")
        await until_live(server, await open_subscription(server, TALLIES), probes(forms, 0))
        await asyncio.to_thread(submit, server, bad)
        issue = (await issues.next())["data"]["issueFlagged"]
    assert issue["station"]["code"] == bad["station_code"]
    assert issue["evidence"]


async def test_servers_survive_a_redis_restart_and_ingest_never_fails(
    postgres_url: str, private_redis: PrivateRedis, small_bundle: Path, tmp_path: Path, forms: list[dict[str, Any]]
) -> None:
    load_reference_data(postgres_url, small_bundle, tmp_path)
    with uvicorn_server(postgres_url, private_redis.url) as a, uvicorn_server(postgres_url, private_redis.url) as b:
        subscription = await open_subscription(b, TALLIES)
        await until_live(a, subscription, probes(forms, 0))
        private_redis.stop()
        for row in forms[100:105]:  # the bus is down: every form is still stored
            assert (await asyncio.to_thread(submit, a, row))["__typename"] == "TallyAccepted"
        private_redis.start()
        missed = await subscription.next(timeout=20)
        assert missed["errors"][0]["extensions"]["code"] == "MISSED_EVENTS"
        resumed = await until_live(a, subscription, probes(forms, 200))
        assert resumed["data"]["tallySubmitted"]["submissionId"].startswith("demo-")
