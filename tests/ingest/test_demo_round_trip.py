"""The demo election through the whole data path: import, aggregates, export, re-import."""

from __future__ import annotations

import filecmp
from collections import defaultdict
from pathlib import Path

from sqlalchemy import Engine, select

from pilkada_graph import bundle
from pilkada_graph.export import export_bundle
from pilkada_graph.ingest import import_bundle
from pilkada_graph.models import Contest, Region, RegionResult, RegionResultVotes
from tests.ingest.helpers import database_snapshot, read_csv


def current_revisions(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The latest revision per (station, contest), computed from the CSV alone."""
    latest: dict[tuple[str, str], dict[str, str]] = {}
    for row in read_csv(folder / bundle.TALLIES):
        key = (row["station_code"], row["contest_code"])
        if key not in latest or row["submitted_at"] > latest[key]["submitted_at"]:
            latest[key] = row
    return latest


def expected_province_votes(folder: Path) -> dict[str, dict[int, int]]:
    votes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for (_, contest), row in current_revisions(folder).items():
        for column, value in row.items():
            number = bundle.candidate_number_of(column)
            if number is not None and value:
                votes[contest][number] += int(value)
    return votes


def test_demo_bundle_exports_exactly_as_imported(engine: Engine, demo_bundle: Path, tmp_path: Path) -> None:
    report = import_bundle(engine, demo_bundle)
    assert report.ok, report.problems[:5]
    export_bundle(engine, tmp_path / "out")
    for name in bundle.present_files(demo_bundle):
        assert filecmp.cmp(demo_bundle / name, tmp_path / "out" / name, shallow=False), name


def test_reimporting_the_demo_tallies_changes_nothing(engine: Engine, demo_bundle: Path) -> None:
    import_bundle(engine, demo_bundle)
    before = database_snapshot(engine)
    report = import_bundle(engine, demo_bundle)
    assert report.ok and sum(report.stored.values()) == 0
    assert database_snapshot(engine) == before


def test_province_results_equal_the_sum_of_current_revisions(engine: Engine, demo_bundle: Path) -> None:
    import_bundle(engine, demo_bundle)
    expected = expected_province_votes(demo_bundle)
    current = current_revisions(demo_bundle)
    with engine.connect() as connection:
        province = connection.execute(select(Region.id).where(Region.code == "62")).scalar_one()
        contests = dict(connection.execute(select(Contest.code, Contest.id)).all())
        for code, votes in expected.items():
            stored = dict(connection.execute(
                select(RegionResultVotes.number, RegionResultVotes.votes).where(
                    RegionResultVotes.region_id == province, RegionResultVotes.contest_id == contests[code])
            ).all())
            assert stored == votes, code
            reported = connection.execute(select(RegionResult.stations_reported).where(
                RegionResult.region_id == province, RegionResult.contest_id == contests[code])).scalar_one()
            assert reported == sum(1 for (_, contest) in current if contest == code)
