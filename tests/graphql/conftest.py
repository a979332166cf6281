"""Fixtures for the GraphQL tests: a real uvicorn process serving an imported bundle.

``serve(database_url, bundle)`` imports the bundle, starts ``uvicorn --factory
pilkada_graph.app:app_from_environment`` on a free port in a subprocess and returns a client
for it; the process is stopped (by its pid) when the test or module ends.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pilkada_graph.config import Settings
from pilkada_graph.service import Desk
from tests.processes import free_port, stop_process
from tests.tokens import bearer, new_token


@dataclass
class Server:
    """A running API server and the bundle it was loaded with."""

    url: str
    bundle: Path
    database_url: str
    #: The bearer token sent with every request: an admin's, made on first use (anonymous is read-only).
    token: str | None = None

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = new_token(self.database_url, "admin", name="graphql-tests")

    def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                          headers=bearer(self.token), timeout=30)

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a query that must succeed."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def import_into(database_url: str, bundle: Path) -> None:
    desk = Desk.open(Settings(database_url=database_url), with_detection=False)
    report = desk.import_bundle(bundle)
    assert report.ok, report.problems[:5]
    desk.engine.dispose()


@dataclass
class Process:
    popen: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.popen, "uvicorn")


def start_uvicorn(database_url: str, *, production: bool = False, config: str = "",
                  env: dict[str, str] | None = None) -> tuple[str, Process]:
    """uvicorn in a subprocess on a free port, ready (``/healthz`` answers) when this returns.

    ``config`` is the server's TOML settings file (written for it, so that no outside
    ``PILKADA_CONFIG`` leaks in); ``production`` adds ``production = true`` to it.
    """
    port = free_port()
    config_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pilkada-test-{port}.toml"
    config_path.write_text(("production = true\n" if production else "") + config)
    env = {**os.environ, "PILKADA_DATABASE_URL": database_url, "PILKADA_CONFIG": str(config_path), **(env or {})}
    popen = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "pilkada_graph.app:app_from_environment",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    process = Process(popen)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {popen.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, process
        except httpx.TransportError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError("uvicorn did not answer /healthz within 30 s")


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start servers for one test: ``serve(database_url, bundle)``."""
    processes: list[Process] = []

    def start(database_url: str, bundle: Path, *, production: bool = False) -> Server:
        import_into(database_url, bundle)
        url, process = start_uvicorn(database_url, production=production)
        processes.append(process)
        return Server(url, bundle, database_url)

    yield start
    for process in processes:
        process.stop()


@pytest.fixture(scope="module")
def small_server(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One read-mostly server over the small demo bundle (SQLite) shared by a module's tests."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('graphql') / 'small.db'}"
    import_into(database_url, small_bundle)
    url, process = start_uvicorn(database_url)
    yield Server(url, small_bundle, database_url)
    process.stop()


# --------------------------------------------------------------------------- expected numbers


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def number(text: str | None) -> int:
    return int(text) if text else 0


def current_rows(bundle: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The current revision of each (station, contest) in the bundle: latest submitted_at."""
    current: dict[tuple[str, str], dict[str, str]] = {}
    for row in read_csv(bundle / "tallies.csv"):
        key = (row["station_code"], row["contest_code"])
        order = (datetime.fromisoformat(row["submitted_at"]), row["submission_id"])
        held = current.get(key)
        if held is None or order >= (datetime.fromisoformat(held["submitted_at"]), held["submission_id"]):
            current[key] = row
    return current


def expected_results(bundle: Path, region_code: str, contest_code: str) -> dict[str, Any]:
    """Results of ``contest_code`` in ``region_code`` computed straight from the bundle's CSV files."""
    registered_of_station = {r["code"]: number(r.get("registered")) for r in read_csv(bundle / "stations.csv")}
    rows = [row for (station, contest), row in current_rows(bundle).items()
            if contest == contest_code and (station == region_code or station.startswith(region_code + "."))]
    candidates = sorted(number(c["number"]) for c in read_csv(bundle / "candidates.csv")
                        if c["contest_code"] == contest_code)

    def registered(row: dict[str, str]) -> int:
        if row.get("dpt"):
            return sum(number(row.get(f)) for f in ("dpt", "dptb", "dpk"))
        return registered_of_station[row["station_code"]]

    return {
        "stationsReported": len(rows),
        "registered": sum(registered(r) for r in rows),
        "voters": sum(number(r.get("voters")) for r in rows),
        "invalidVotes": sum(number(r.get("invalid_votes")) for r in rows),
        "votes": [sum(number(r.get(f"votes_{n}")) for r in rows) for n in candidates],
    }
