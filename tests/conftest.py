"""Shared fixtures: databases on both backends, the demo bundle, a small hand-made bundle.

PostgreSQL and Redis tests talk to real servers named by ``PILKADA_TEST_POSTGRES_URL`` and
``PILKADA_TEST_REDIS_URL``. Without them those tests skip and say why; with
``PILKADA_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) a missing server fails the test instead.
Each PostgreSQL test gets a schema of its own, so runs never see each other's rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from pilkada_graph.db import driver_url, init_database, make_engine

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PILKADA_SHARED", ROOT.parent / "shared"))
FIXTURES = Path(__file__).parent / "fixtures"


def service_unavailable(what: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose real server is not there."""
    message = f"{what} not available: {reason}"
    if os.environ.get("PILKADA_REQUIRE_SERVICES"):
        pytest.fail(message + " (PILKADA_REQUIRE_SERVICES is set, so this must not skip)")
    pytest.skip(message)


def postgres_admin_url() -> str:
    url = os.environ.get("PILKADA_TEST_POSTGRES_URL")
    if not url:
        service_unavailable("PostgreSQL", "set PILKADA_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test")
    assert url is not None
    return url


@contextlib.contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose connections see a fresh, empty schema of their own (dropped afterwards)."""
    admin_url = postgres_admin_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # noqa: BLE001 - any connection failure means "not available"
        service_unavailable("PostgreSQL", str(error).splitlines()[0])
    separator = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections see a fresh, empty schema of their own."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pilkada.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both backends: every test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    init_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def second_engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """Another empty database on the same backend as ``engine``, to compare two ways of doing one thing."""
    with contextlib.ExitStack() as stack:
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'second.db'}"
        else:
            url = stack.enter_context(fresh_postgres_schema())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        init_database(engine)
        yield engine


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("PILKADA_TEST_REDIS_URL")
    if not url:
        service_unavailable("Redis", "set PILKADA_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    assert url is not None
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:  # noqa: BLE001
        service_unavailable("Redis", str(error))
    return url


@pytest.fixture
def mini_bundle(tmp_path: Path) -> Path:
    """A small hand-written bundle (two stations of Palangka Raya) copied to a scratch folder."""
    folder = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", folder)
    return folder


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Kalteng demo election (seed 2024), generated once per test session."""
    from pilkada_graph.demo import write_demo_bundle

    folder = tmp_path_factory.mktemp("demo")
    write_demo_bundle(folder, seed=2024, scale="kalteng")
    return folder


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred stations of the demo generator, for tests that want speed."""
    from pilkada_graph.demo import write_demo_bundle

    folder = tmp_path_factory.mktemp("small")
    write_demo_bundle(folder, seed=7, scale="small")
    return folder
