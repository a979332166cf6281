"""Fixtures for live tests: a private Redis server that a test may stop and restart.

The shared Redis at ``PILKADA_TEST_REDIS_URL`` serves everyone's tests; a test that restarts Redis
gets its own ``redis-server`` on a free port instead, so it disturbs nobody.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_unavailable
from tests.processes import free_port, stop_process, wait_for_port


class PrivateRedis:
    """A ``redis-server`` process of this test's own, on a port nobody else uses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "redis-server")
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        service_unavailable("redis-server", "not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
