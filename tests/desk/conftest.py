"""A real server on demo data, tokens of every role, and Debian's chromium driven by Playwright.

The server is a ``uvicorn`` process on a SQLite file holding the small demo election with about
a third of its stations not yet reported, so the progress screen has something to count. Tokens
come from ``pilkada-graph token create`` (the CLI contract). The browser is ``/usr/bin/chromium``,
never a downloaded one; without it the browser tests skip and say why, unless
``PILKADA_REQUIRE_SERVICES`` is set, when they fail.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pilkada_graph.config import Settings
from pilkada_graph.service import Desk
from tests.conftest import ROOT, service_unavailable
from tests.live.servers import uvicorn_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "desk"
ROLES = ("viewer", "clerk", "reviewer", "admin")
CONTEST = "gub-62"


@dataclass
class DeskServer:
    """The running server: its base URL, a token per role and the stations left unreported."""

    url: str
    tokens: dict[str, str]
    unreported: list[str]
    reported: list[str]

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def query(self, query: str, variables: dict[str, Any] | None = None, role: str | None = "admin") -> dict[str, Any]:
        """One GraphQL request over HTTP with ``role``'s token; its ``data`` (errors fail the test)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        response = httpx.post(self.graphql, json={"query": query, "variables": variables or {}}, headers=headers,
                              timeout=30)
        body = response.json()
        assert not body.get("errors"), body
        return dict(body["data"])


def keep_part_of_the_night(bundle: Path, folder: Path) -> tuple[list[str], list[str]]:
    """Copy ``bundle`` with every third station's forms left out: (reported, unreported) station codes."""
    shutil.copytree(bundle, folder)
    with (bundle / "stations.csv").open(newline="") as file:
        stations = [row["code"] for row in csv.DictReader(file)]
    unreported = set(stations[::3])
    with (bundle / "tallies.csv").open(newline="") as source, (folder / "tallies.csv").open("w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        writer.writerows(row for row in reader if row["station_code"] not in unreported)
    return [s for s in stations if s not in unreported], [s for s in stations if s in unreported]


def create_token(database_url: str, role: str) -> str:
    """``pilkada-graph token create``: the secret is alone on the last line."""
    done = subprocess.run(
        [sys.executable, "-m", "pilkada_graph.cli", "token", "create", "--role", role, "--name", f"desk {role}"],
        env={**os.environ, "PILKADA_DATABASE_URL": database_url}, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="package")
def desk_server(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskServer]:
    scratch = tmp_path_factory.mktemp("desk")
    database_url = f"sqlite:///{scratch / 'desk.db'}"
    reported, unreported = keep_part_of_the_night(small_bundle, scratch / "bundle")
    desk = Desk.open(Settings(database_url=database_url))
    assert desk.import_bundle(scratch / "bundle").committed
    desk.engine.dispose()
    tokens = {role: create_token(database_url, role) for role in ROLES}
    with uvicorn_server(database_url, "memory") as graphql_url:
        yield DeskServer(graphql_url.removesuffix("/graphql"), tokens, unreported, reported)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_unavailable("chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_desk(browser: Any, desk_server: DeskServer) -> Iterator[Any]:
    """``open_desk(role, hash)``: a fresh tab on ``/desk`` with ``role``'s token (None: no token)."""
    contexts = []
    errors: list[str] = []

    def open_page(role: str | None, hash_: str = "#/progress") -> Any:
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="id-ID",
                                      timezone_id="Asia/Jakarta")
        contexts.append(context)
        if role:
            context.add_init_script(f"sessionStorage.setItem('pilkada-desk.token', {desk_server.tokens[role]!r})")
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{desk_server.url}/desk/{hash_}")
        page.wait_for_selector("#view[data-view]")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    """Save ``test-artifacts/desk/NAME.png`` (the README's copies are ``docs/img/desk-NAME.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
