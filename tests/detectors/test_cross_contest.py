"""The voters of one station's two forms (governor and regent): the cross-contest detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pilkada_graph import detect_data
from pilkada_graph.config import Settings
from pilkada_graph.detect_types import ContestView, RegionSummary
from pilkada_graph.service import Desk

from .helpers import plugin, raised, region, settings_of

CROSS = plugin("cross_contest")
NAME = "voters-differ-between-contests"


def twin_forms(n: int = 30, *, seed: int = 1, spread: float = 0.0) -> list[dict[str, Any]]:
    """Stations whose other form counts the same voters (give or take ``spread``, as independent draws would)."""
    rng = np.random.default_rng(seed)
    stations = []
    for i in range(n):
        votes = [int(v) for v in rng.multinomial(int(rng.integers(250, 320)), [0.5, 0.3, 0.2])]
        voters = sum(votes) + 5
        other = voters + (int(round(rng.normal(0, spread))) if spread else 0)
        stations.append({"code": f"62.71.01.1001.{i + 1:03d}", "registered": 420, "votes": votes, "invalid": 5,
                         "other_voters": other})
    return stations


def flagged(stations: list[dict[str, Any]], **overrides: Any) -> list[str]:
    findings = CROSS.pilkada_check_region(tallies=region(stations), settings=settings_of(CROSS, **overrides))
    return [f.subject for f in raised(findings)]


def stuff(station: dict[str, Any], extra: int) -> None:
    station["votes"] = [station["votes"][0] + extra, *station["votes"][1:]]


def test_ballots_stuffed_into_one_contests_box_are_reported_on_that_form() -> None:
    stations = twin_forms()
    stuff(stations[7], 40)
    [finding] = CROSS.pilkada_check_region(tallies=region(stations), settings=settings_of(CROSS))
    assert finding.subject == stations[7]["code"] and finding.severity == "warning"
    assert finding.evidence["difference"] == 40 and finding.evidence["other_contests_voters"] == stations[7][
        "other_voters"]
    assert finding.suggestion and "C.Hasil" in finding.suggestion


def test_a_difference_below_min_difference_or_min_share_is_not_reported() -> None:
    stations = twin_forms()
    stuff(stations[3], 4)  # under min_difference (5 voters)
    assert flagged(stations) == []
    assert flagged(stations, min_difference=3, min_share=0.01) == [stations[3]["code"]]
    stuff(stations[3], 3)  # 7 voters: over 5 and over 2% of the other form's ~290
    assert flagged(stations) == [stations[3]["code"]]
    assert flagged(stations, min_share=0.03) == []


def test_the_form_with_fewer_voters_is_not_reported() -> None:
    stations = twin_forms()
    stations[5]["other_voters"] += 40  # the other contest's form is the one with more voters
    assert flagged(stations) == []


def test_where_the_two_contests_turnouts_vary_independently_ordinary_differences_are_not_reported() -> None:
    stations = twin_forms(60, spread=12.0)  # another generator: each form drawn on its own
    assert flagged(stations) == []
    stuff(stations[0], 120)  # far beyond the region's own spread
    assert flagged(stations) == [stations[0]["code"]]


def test_a_region_with_too_few_stations_that_have_both_forms_is_not_tested() -> None:
    stations = twin_forms(12)
    stuff(stations[0], 40)
    for station in stations[1:4]:
        station["other_voters"] = None
    assert flagged(stations) == []  # 9 stations with both forms, min_stations 10
    assert flagged(stations, min_stations=9) == [stations[0]["code"]]


def test_a_copied_or_broken_form_of_the_other_contest_is_no_witness(tmp_path: Path) -> None:
    # Four stations of one village, two contests; at station 001 the regent form is a copy of
    # station 002's and at station 003 its arithmetic is broken: neither may witness the governor form.
    desk = Desk.open(Settings(database_url=f"sqlite:///{tmp_path / 'desk.db'}"), with_detection=False)
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "regions.csv").write_text("code,name,level,parent_code\n62,Kalteng,province,\n"
                                        "62.71,Palangka Raya,regency,62\n62.71.01,Pahandut,district,62.71\n"
                                        "62.71.01.1001,Langkai,village,62.71.01\n")
    (folder / "contests.csv").write_text("code,name,region_code\ngub-62,Gubernur,62\nwali-62.71,Wali Kota,62.71\n")
    (folder / "candidates.csv").write_text("contest_code,number,name\ngub-62,1,A\ngub-62,2,B\n"
                                           "wali-62.71,1,C\nwali-62.71,2,D\n")
    stations = [f"62.71.01.1001.{n:03d}" for n in range(1, 5)]
    (folder / "stations.csv").write_text("code,village_code,number,registered\n" + "".join(
        f"{code},62.71.01.1001,{n},400\n" for n, code in enumerate(stations, start=1)))
    governor = {code: (150 + n, 100) for n, code in enumerate(stations)}
    regent = dict(governor)
    regent[stations[0]] = regent[stations[1]]  # a copy of station 002's form
    rows = [(code, "gub-62", *governor[code]) for code in stations]
    rows += [(code, "wali-62.71", *regent[code]) for code in stations]
    lines = []
    for i, (code, contest, a, b) in enumerate(rows):
        voters = a + b + (7 if (code, contest) == (stations[2], "wali-62.71") else 0)  # broken arithmetic
        lines.append(f"s{i},{code},{contest},2024-11-27T14:00:00+07:00,{voters},{a + b},0,{a},{b}\n")
    (folder / "tallies.csv").write_text("submission_id,station_code,contest_code,submitted_at,voters,valid_votes,"
                                        "invalid_votes,votes_1,votes_2\n" + "".join(lines))
    assert desk.import_bundle(folder).committed
    with desk.engine.connect() as connection:
        contest = ContestView("gub-62", "Gubernur", "62", {1: "A", 2: "B"})
        summary = RegionSummary("62.71", "regency", 4, 4, 1600, 0, 0, 0)
        contest_id = connection.exec_driver_sql("SELECT id FROM contests WHERE code = 'gub-62'").scalar_one()
        tallies = detect_data.load_region_tallies(connection, summary, contest, contest_id)
    assert tallies.other_voters is not None
    witnesses = dict(zip(tallies.station_codes.tolist(), tallies.other_voters.tolist(), strict=True))
    assert np.isnan(witnesses[stations[0]]) and np.isnan(witnesses[stations[1]])  # the copy and its source
    assert np.isnan(witnesses[stations[2]])  # voters != valid + invalid
    assert witnesses[stations[3]] == sum(regent[stations[3]])
