"""Fixtures for detector plugins: a small election with two districts, a desk with a chosen runner."""

from __future__ import annotations

import csv
import importlib
import site
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from pilkada_graph.config import Settings
from pilkada_graph.detect import DetectionRunner, RunnerOptions
from pilkada_graph.ingest import TallyForm
from pilkada_graph.models import DetectorFailure, Issue
from pilkada_graph.plugins import PluginHost
from pilkada_graph.service import Desk

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pilkada-invalid-votes"
WIB = timezone(timedelta(hours=7))
DISTRICTS = ("62.71.01", "62.71.02")
CONTEST = "gub-62"
#: The station whose invalid votes are far above its district's.
OUTLIER = "62.71.01.1001.003"
#: Options for tests: region checks at once, from 5 stations, each regency on its own however small.
TEST_OPTIONS = RunnerOptions(debounce=0, region_min_reported=5, region_min_stations=5, tally_budget=1.0,
                             region_budget=2.0)


def write_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def station_codes(per_district: int = 8) -> list[str]:
    return [f"{d}.1001.{n:03d}" for d in DISTRICTS for n in range(1, per_district + 1)]


def write_election(folder: Path, per_district: int = 8) -> Path:
    """Two districts of Palangka Raya, ``per_district`` stations each, every form consistent
    except the outlier's many invalid votes."""
    folder.mkdir(parents=True, exist_ok=True)
    regions = [["62", "Kalimantan Tengah", "province", ""], ["62.71", "Palangka Raya", "regency", "62"]]
    for d in DISTRICTS:
        regions += [[d, f"District {d}", "district", "62.71"], [f"{d}.1001", f"Village {d}", "village", d]]
    write_csv(folder / "regions.csv", ["code", "name", "level", "parent_code"], regions)
    write_csv(folder / "contests.csv", ["code", "name", "region_code"], [[CONTEST, "Gubernur", "62"]])
    write_csv(folder / "candidates.csv", ["contest_code", "number", "name"], [[CONTEST, 1, "A"], [CONTEST, 2, "B"]])
    codes = station_codes(per_district)
    write_csv(folder / "stations.csv", ["code", "village_code", "number", "registered"],
              [[c, c.rsplit(".", 1)[0], int(c.rsplit(".", 1)[1]), 300] for c in codes])
    header = ["submission_id", "station_code", "contest_code", "submitted_at", "source", "dpt", "dptb", "dpk",
              "voters", "votes_1", "votes_2", "valid_votes", "invalid_votes", "total_votes"]
    rows = []
    for i, code in enumerate(codes):
        votes_1, votes_2, invalid = (70, 70, 60) if code == OUTLIER else (100 + i % 3, 92 - i % 3, 8)
        rows.append([f"b-{code}", code, CONTEST, "2024-11-27T15:00:00+07:00", "desk", 300, 0, 0,
                     votes_1 + votes_2 + invalid, votes_1, votes_2, votes_1 + votes_2, invalid,
                     votes_1 + votes_2 + invalid])
    write_csv(folder / "tallies.csv", header, rows)
    return folder


def form(submission_id: str, station: str, *, minutes: int = 60, votes: tuple[int, int] = (100, 90),
         valid: int | None = None, invalid: int = 10) -> TallyForm:
    """A ``submitTally`` form; ``valid`` defaults to the votes' sum (pass another to break the form)."""
    valid = sum(votes) if valid is None else valid
    return TallyForm(
        submission_id=submission_id, station_code=station, contest_code=CONTEST,
        submitted_at=datetime(2024, 11, 27, 15, 0, tzinfo=WIB) + timedelta(minutes=minutes), source="desk",
        counts={"dpt": 300, "dptb": 0, "dpk": 0, "voters": valid + invalid, "valid_votes": valid,
                "invalid_votes": invalid, "total_votes": valid + invalid},
        votes={1: votes[0], 2: votes[1]},
    )


DeskFactory = Callable[..., Desk]


@pytest.fixture
def make_desk(engine: Engine) -> DeskFactory:
    """A desk on the test's database whose runner loads what the test says.

    The runner's tests use one built-in, ``form_arithmetic``, as "the other detector that still
    runs", so that what they count does not change whenever a built-in detector is added.
    """

    def make(*extra: object, settings: Settings | None = None, builtins: tuple[str, ...] | None = ("form_arithmetic",),
             entry_points: bool = False, options: RunnerOptions = TEST_OPTIONS) -> Desk:
        settings = settings or Settings(database_url="unused")
        host = PluginHost.from_settings(settings, builtins=builtins, entry_points=entry_points, extra=extra)
        return Desk(engine, settings, DetectionRunner(engine, host, options))

    return make


@pytest.fixture
def election(tmp_path: Path) -> Path:
    return write_election(tmp_path / "election")


def count(engine: Engine, model: type, *where: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def issues_of(engine: Engine, detector: str) -> list[Issue]:
    with engine.connect() as connection:
        return list(connection.execute(select(Issue).where(Issue.detector == detector).order_by(Issue.id)))


def failures(engine: Engine) -> list[DetectorFailure]:
    with engine.connect() as connection:
        return list(connection.execute(select(DetectorFailure).order_by(DetectorFailure.id)))


@pytest.fixture(scope="session")
def installed_example() -> Iterator[str]:
    """The example plugin package, installed (editable) into this environment through pip for the
    session, and uninstalled again if the session installed it: the demo and the benchmarks run in
    the same environment and must not find an analyst's example among their detectors."""
    try:
        import pilkada_invalid_votes  # noqa: F401

        installed_here = False
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "-e", str(EXAMPLE)], check=True)
        # Editable installs work through a .pth file, read at start-up: read it now.
        site.addsitedir(sysconfig.get_paths()["purelib"])
        importlib.invalidate_caches()
        installed_here = True
    yield "pilkada-invalid-votes"
    if installed_here:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "pilkada-invalid-votes"],
                       check=True)
