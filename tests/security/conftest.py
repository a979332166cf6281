"""A real uvicorn process over the small demo election, with tokens of every role and two regencies.

The small election has two regencies, 62.08 (Sukamara) and 62.09 (Lamandau): a clerk or reviewer
of one must never act on, or read the private data of, the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from strawberry.relay import GlobalID

from pilkada_graph.db import make_engine
from pilkada_graph.detect_types import Finding
from pilkada_graph.lifecycle import Scope, upsert_findings
from tests.graphql.conftest import Process, import_into, start_uvicorn
from tests.tokens import bearer, new_token

STATION_08 = "62.08.01.2001.001"
STATION_09 = "62.09.01.2001.001"
#: Words that would betray the server's insides in an error message.
LEAKS = ("Traceback", "File \"", "sqlalchemy", "sqlite3", "psycopg", "SELECT ", "INSERT ", ".py", "/work/", "/tmp/")


@dataclass
class Secured:
    """A running server, its database, and a token per role (and regency)."""

    url: str
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    issues: dict[str, str] = field(default_factory=dict)  # regency -> global id of an issue there

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
             **kwargs: Any) -> httpx.Response:
        secret = self.tokens.get(token, token) if token else None
        headers = {**bearer(secret), **kwargs.pop("headers", {})}
        return httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers, timeout=30, **kwargs)

    def answer(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        response = self.post(query, variables, token)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def scalar(self, sql: str, **params: Any) -> Any:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql), params).scalar()
        finally:
            engine.dispose()


def start_server(database_url: str, config: str = "", env: dict[str, str] | None = None) -> tuple[str, Process]:
    """uvicorn on a free port with ``config`` as its TOML settings; ready when this returns."""
    return start_uvicorn(database_url, config=config, env=env)


def make_tokens(database_url: str) -> dict[str, str]:
    """One token per role and regency, plus a revoked and an expired one."""
    from datetime import timedelta

    from sqlalchemy import update

    from pilkada_graph.models import ApiToken
    from pilkada_graph.tokens import create_token, revoke_token, utc_now

    tokens = {
        "admin": new_token(database_url, "admin", name="admin-ani"),
        "clerk-08": new_token(database_url, "clerk", ["62.08"], name="clerk-sukamara"),
        "clerk-09": new_token(database_url, "clerk", ["62.09"], name="clerk-lamandau"),
        "reviewer-08": new_token(database_url, "reviewer", ["62.08"], name="reviewer-sukamara"),
        "viewer-08": new_token(database_url, "viewer", ["62.08"], name="viewer-sukamara"),
        "viewer": new_token(database_url, "viewer", name="viewer-all"),
    }
    engine = make_engine(database_url)
    revoked, info = create_token(engine, "admin", actor="revoked")
    revoke_token(engine, info.id)
    expired, info = create_token(engine, "admin", actor="expired", expires="1m")
    with engine.begin() as connection:
        connection.execute(update(ApiToken).where(ApiToken.id == info.id)
                           .values(expires_at=utc_now() - timedelta(seconds=1)))
    engine.dispose()
    return {**tokens, "revoked": revoked, "expired": expired}


def probe_issues(database_url: str) -> dict[str, str]:
    """An open issue about a station of each regency: regency -> the issue's global id."""
    engine = make_engine(database_url)
    found = {}
    for regency, station in (("62.08", STATION_08), ("62.09", STATION_09)):
        finding = Finding(detector="probe", subject=station, contest="gub-62", severity="warning",
                          message=f"probe issue in {regency}")
        with engine.begin() as connection:
            [issue_id] = upsert_findings(connection, "probe", [finding], scope=Scope())
        found[regency] = str(GlobalID("Issue", str(issue_id)))
    engine.dispose()
    return found


def prepare(database_url: str, bundle: Path) -> Secured:
    import_into(database_url, bundle)
    return Secured("", database_url, make_tokens(database_url), probe_issues(database_url))


@pytest.fixture(scope="module")
def secured(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """One server (SQLite, development settings) shared by a module's tests."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('security') / 'desk.db'}"
    server = prepare(database_url, small_bundle)
    server.url, process = start_server(database_url)
    yield server
    process.stop()


@pytest.fixture
def serve_with() -> Iterator[Callable[..., Secured]]:
    """Servers with settings of a test's own: ``serve_with(database_url, bundle, config="...")``."""
    processes: list[Process] = []

    def start(database_url: str, bundle: Path, config: str = "") -> Secured:
        server = prepare(database_url, bundle)
        server.url, process = start_server(database_url, config)
        processes.append(process)
        return server

    yield start
    for process in processes:
        process.stop()


def submit_query(submission_id: str, station: str, voters: int = 200, contest: str = "gub-62",
                 submitted_at: str = "2024-11-27T18:42:10+07:00") -> str:
    return f"""mutation {{ submitTally(input: {{
      submissionId: "{submission_id}", stationCode: "{station}", contestCode: "{contest}",
      submittedAt: "{submitted_at}", source: "desk", voters: {voters},
      votes: [{{ number: 1, votes: 90 }}, {{ number: 2, votes: 100 }}], validVotes: 190, invalidVotes: 10
    }}) {{
      __typename
      ... on TallyAccepted {{ repeat tally {{ id submissionId }} issues {{ id }} }}
      ... on TallyRejected {{ errors {{ field rule message }} }}
    }} }}"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in body.get("errors", [])]
