"""The recap detector: a district recap inflated for one candidate is flagged, and nothing else."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from types import ModuleType

from sqlalchemy import Engine

from pilkada_graph.config import Settings
from pilkada_graph.detect import DetectionRunner
from pilkada_graph.detect_types import ContestView
from pilkada_graph.ingest import import_bundle
from pilkada_graph.issues import list_issues
from pilkada_graph.plugins import builtin_plugins_dir, load_module
from pilkada_graph.recaps import RecapFacts
from pilkada_graph.service import Desk
from tests.ingest.helpers import read_csv, write_csv

CONTEST = "gub-62"
INFLATED_DISTRICT = "62.08.02"
INFLATION = 137


def recap_plugin() -> ModuleType:
    return load_module(builtin_plugins_dir() / "recap.py", "recap_plugin")


def district_sums_of_current_forms(bundle: Path, contest: str, candidates: int) -> dict[str, list[int]]:
    """Per district, the sum of each station's latest revision, straight from the bundle's tallies.csv."""
    latest: dict[str, dict[str, str]] = {}
    for row in read_csv(bundle / "tallies.csv"):
        if row["contest_code"] == contest:
            seen = latest.get(row["station_code"])
            moment = datetime.fromisoformat(row["submitted_at"])
            if seen is None or moment >= datetime.fromisoformat(seen["submitted_at"]):
                latest[row["station_code"]] = row
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * candidates)
    for code, row in latest.items():
        district = code.rsplit(".", 2)[0]
        for k in range(candidates):
            sums[district][k] += int(row[f"votes_{k + 1}"] or 0)
    return dict(sums)


def write_district_recaps(folder: Path, sums: dict[str, list[int]]) -> None:
    folder.mkdir()
    header = ["region_code", "contest_code", "submitted_at", "source", *(f"votes_{k + 1}" for k in range(4))]
    rows = [[district, CONTEST, "2024-11-29T10:00:00+07:00", "ppk", *votes] for district, votes in sorted(sums.items())]
    write_csv(folder / "recaps.csv", header, rows)


def test_an_inflated_district_recap_is_flagged_with_its_difference(engine: Engine, small_bundle: Path,
                                                                   tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(small_bundle, bundle)
    assert import_bundle(engine, bundle).committed
    sums = district_sums_of_current_forms(bundle, CONTEST, 4)
    sums[INFLATED_DISTRICT][1] += INFLATION  # candidate number 2 gains votes at the PPK
    write_district_recaps(tmp_path / "recaps", sums)
    assert import_bundle(engine, tmp_path / "recaps").committed

    runner = DetectionRunner.for_desk(Desk(engine, Settings(database_url="sqlite://")))
    runner.detect_all(contest=CONTEST)
    with engine.connect() as connection:
        flagged = [i for i in list_issues(connection) if i["detector"] == "recap-mismatch"]
    assert [(i["region_code"], i["contest_code"]) for i in flagged] == [(INFLATED_DISTRICT, CONTEST)]
    (issue,) = flagged
    assert issue["evidence"]["stations"] == [{"number": 2, "recap": sums[INFLATED_DISTRICT][1],
                                              "reference": sums[INFLATED_DISTRICT][1] - INFLATION,
                                              "difference": INFLATION}]
    assert f"+{INFLATION}" in issue["message"] and issue["severity"] == "critical"
    assert "D.Hasil" in issue["suggestion"]


def facts(code: str, votes: tuple[int | None, ...], stations: tuple[int, ...], *, parent: str | None = None,
          reported: int = 3, children: int = 0, level: str = "district") -> RecapFacts:
    return RecapFacts(code, level, parent, votes, datetime(2024, 11, 29), "ppk", stations, 3, reported, children)


CONTEST_VIEW = ContestView(CONTEST, "Gubernur", "62", {1: "A", 2: "B", 3: "C"})


def test_a_recap_that_shrinks_a_rival_names_both_changes() -> None:
    plugin = recap_plugin()
    finding = plugin.check_recap(facts("62.08.01", (100, 250, 40), (100, 200, 60)), [], CONTEST_VIEW)
    assert finding.message.endswith("no 2 (B) +50, no 3 (C) -20")
    assert [c["difference"] for c in finding.evidence["stations"]] == [50, -20]


def test_a_recap_is_not_judged_against_stations_until_all_have_reported() -> None:
    plugin = recap_plugin()
    assert plugin.check_recap(facts("62.08.01", (100, 250, 40), (100, 200, 60), reported=2), [], CONTEST_VIEW) is None


def test_a_regency_recap_is_compared_with_the_district_recaps_below_it() -> None:
    plugin = recap_plugin()
    districts = [facts("62.08.01", (10, 20, 30), (10, 20, 30), parent="62.08"),
                 facts("62.08.02", (5, 5, 5), (5, 5, 5), parent="62.08")]
    regency = facts("62.08", (15, 25, 40), (15, 25, 35), parent="62", reported=2, children=2, level="regency")
    finding = plugin.check_recap(regency, districts, CONTEST_VIEW)
    assert [c["difference"] for c in finding.evidence["recaps_below"]] == [5]
    assert "stations" not in finding.evidence  # not every station reported: no station comparison


def test_an_empty_candidate_in_a_recap_is_not_a_difference() -> None:
    plugin = recap_plugin()
    assert plugin.vote_changes((None, 20), (7, 20)) == []


def test_hook_pilkada_check_region_receives_recaps(tmp_path: Path) -> None:
    """The ``recaps`` argument of ``pilkada_check_region`` carries the region's recaps and their station sums."""
    plugin = recap_plugin()
    from pilkada_graph.detect_types import DetectorSettings
    from pilkada_graph.recaps import RegionRecaps

    recaps = RegionRecaps("62.08", CONTEST, (facts("62.08.01", (1, 2, 4), (1, 2, 3)),))
    findings = plugin.pilkada_check_region(contest=CONTEST_VIEW, recaps=recaps,
                                           settings=DetectorSettings({"recap-mismatch": {"tolerance": 0}}))
    assert [(f.subject, f.evidence["stations"][0]["difference"]) for f in findings] == [("62.08.01", 1)]
