"""The demo election: deterministic, honest, realistic, and shaped like the bundle spec."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from pilkada_graph.bundle import CORE_FILES, TALLIES, read_header, read_rows, tally_columns, votes_column
from pilkada_graph.demo import (
    KALTENG_GOVERNOR_VALID_VOTES,
    KOLOM_KOSONG,
    PACKAGE_DATA,
    DemoElection,
    DemoParameters,
    DemoRow,
    generate,
    write_bundle,
    write_demo_bundle,
)

Tally = DemoRow


@pytest.fixture(scope="module")
def kalteng() -> DemoElection:
    return generate(seed=2024, scale="kalteng")


@pytest.fixture(scope="module")
def national() -> DemoElection:
    return generate(seed=7, scale="national", stations=12_000)


def votes_of(tally: Tally) -> list[int]:
    return [int(v) for k in range(1, 7) if (v := tally.get(votes_column(k))) is not None]


def arithmetic_breaks(tally: Tally) -> list[str]:
    """The form rules of shared/spec/bundle.md that ``tally`` breaks."""
    c = {k: int(v) for k, v in tally.items() if isinstance(v, int)}
    rules = {
        "sum votes = valid": sum(votes_of(tally)) == c["valid_votes"],
        "valid + invalid = total": c["valid_votes"] + c["invalid_votes"] == c["total_votes"],
        "total = used": c["total_votes"] == c["ballots_used"],
        "used = voters": c["ballots_used"] == c["voters"],
        "voters <= lists": c["voters"] <= c["dpt"] + c["dptb"] + c["dpk"],
        "received = used + unused + spoiled": c["ballots_received"]
        == c["ballots_used"] + c["ballots_unused"] + c["ballots_spoiled"],
        "received = dpt + 2.5%": c["ballots_received"] == c["dpt"] + -(-c["dpt"] * 25 // 1000),
        "non-negative": min(c.values()) >= 0,
    }
    return [rule for rule, holds in rules.items() if not holds]


def current_governor_tallies(election: DemoElection) -> list[Tally]:
    latest: dict[str, Tally] = {}
    for tally in election.tallies:
        if tally["contest_code"] == "gub-62":
            latest[str(tally["station_code"])] = tally  # rows are in arrival order
    return list(latest.values())


def test_same_seed_writes_byte_identical_bundles_and_another_seed_does_not(tmp_path: Path) -> None:
    first = write_demo_bundle(tmp_path / "a", seed=11, scale="small")
    write_demo_bundle(tmp_path / "b", seed=11, scale="small")
    write_demo_bundle(tmp_path / "c", seed=12, scale="small")
    assert set(first) == set(CORE_FILES)
    for name in CORE_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / TALLIES).read_bytes() != (tmp_path / "c" / TALLIES).read_bytes()


def test_bundle_has_every_column_and_reads_back_with_the_bundle_reader(tmp_path: Path) -> None:
    election = generate(seed=3, scale="small")
    written = write_bundle(election, tmp_path)
    assert read_header(tmp_path / TALLIES) == list(tally_columns(election.max_candidates))
    rows = list(read_rows(tmp_path / TALLIES))
    assert len(rows) == written[TALLIES] == len(election.tallies)
    assert len({row.get("submission_id") for row in rows}) == len(rows)
    first = election.tallies[0]
    assert rows[0].get("submission_id") == first["submission_id"]
    assert rows[0].get("dpt") == str(first["dpt"])
    regencies_contest = next(row for row in rows if row.get("contest_code") == "bup-62.08")
    assert regencies_contest.get("votes_2") and not regencies_contest.get("votes_4")  # Sukamara has 2 pairs


def test_every_form_obeys_the_arithmetic_except_first_reads_the_desk_corrects(kalteng: DemoElection) -> None:
    revisions: dict[tuple[object, object], list[Tally]] = defaultdict(list)
    for tally in kalteng.tallies:
        revisions[(tally["station_code"], tally["contest_code"])].append(tally)
    corrected = {key: forms for key, forms in revisions.items() if len(forms) == 2}
    assert 0.005 < len(corrected) / len(revisions) < 0.02
    for key, forms in revisions.items():
        assert [f["submission_id"] for f in forms] == [f"demo-{key[0]}-{key[1]}-r{r}" for r in (1, 2)][: len(forms)]
        if len(forms) == 1:
            assert arithmetic_breaks(forms[0]) == [], forms[0]
            continue
        first, second = forms
        assert arithmetic_breaks(first) == ["sum votes = valid"]
        assert arithmetic_breaks(second) == []
        assert (first["source"], second["source"]) == ("sirekap", "desk")
        assert str(second["submitted_at"]) > str(first["submitted_at"])
        differing = [a for a, b in zip(votes_of(first), votes_of(second), strict=True) if a != b]
        assert len(differing) == 1  # one pair's count misread


def test_stations_are_the_real_count_and_never_over_600(kalteng: DemoElection) -> None:
    registered = np.array([s["registered"] for s in kalteng.stations])
    assert len(registered) == 4446
    assert registered.max() <= 600 and registered.min() >= 30
    assert 430 < registered.mean() < 452
    codes = [str(s["code"]) for s in kalteng.stations]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"62\.\d\d\.\d\d\.[12]\d{3}\.\d{3}", code) for code in codes)
    villages = {r["code"] for r in kalteng.regions if r["level"] == "village"}
    assert {s["village_code"] for s in kalteng.stations} <= villages


def test_turnout_and_invalid_share_are_near_kalteng_2024(kalteng: DemoElection) -> None:
    forms = current_governor_tallies(kalteng)
    voters = sum(int(t["voters"]) for t in forms)
    assert voters / sum(int(t["dpt"]) for t in forms) == pytest.approx(0.70, abs=0.01)
    assert sum(int(t["invalid_votes"]) for t in forms) / voters == pytest.approx(0.047, abs=0.003)
    spoiled = [int(t["ballots_spoiled"]) for t in kalteng.tallies]
    assert 0 < np.mean(spoiled) < 2


def test_governor_shares_follow_the_real_districts_and_totals(kalteng: DemoElection) -> None:
    real = json.loads((PACKAGE_DATA / "kalteng-district-results.json").read_text())["districts"]
    simulated: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
    for tally in current_governor_tallies(kalteng):
        simulated[str(tally["station_code"])[:8]] += votes_of(tally)
    districts = sorted(simulated)
    ours = np.array([simulated[d] / simulated[d].sum() for d in districts])
    theirs = np.array([np.array(real[d]["governor"]) / sum(real[d]["governor"]) for d in districts])
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.95
    totals = ours.T @ np.array([simulated[d].sum() for d in districts])
    assert totals / totals.sum() == pytest.approx(
        np.array(KALTENG_GOVERNOR_VALID_VOTES) / sum(KALTENG_GOVERNOR_VALID_VOTES), abs=0.02
    )


def test_contests_use_the_real_pairs_in_ballot_order(kalteng: DemoElection) -> None:
    assert len(kalteng.contests) == 15
    codes = {c["code"] for c in kalteng.contests}
    assert {"gub-62", "bup-62.01", "wako-62.71"} <= codes
    pairs = Counter(str(c["contest_code"]) for c in kalteng.candidates)
    assert pairs["gub-62"] == 4 and all(2 <= n <= 5 for n in pairs.values())
    governor = [c["name"] for c in kalteng.candidates if c["contest_code"] == "gub-62"]
    assert governor[0].startswith("Dr. Ir. WILLY MIDEL YOSEPH")  # type: ignore[union-attr]
    names = {c["code"]: c["name"] for c in kalteng.contests}
    assert names["bup-62.01"] == "Pemilihan Bupati dan Wakil Bupati Kotawaringin Barat 2024"


@pytest.mark.parametrize("election_name", ["kalteng", "national"])
def test_every_station_votes_once_in_its_province_and_its_regency_contest(
    election_name: str, request: pytest.FixtureRequest
) -> None:
    election: DemoElection = request.getfixturevalue(election_name)
    region_of = {c["code"]: str(c["region_code"]) for c in election.contests}
    first_reads: dict[str, list[str]] = defaultdict(list)
    for tally in election.iter_tallies():
        if tally["source"] == "sirekap":
            first_reads[str(tally["station_code"])].append(str(tally["contest_code"]))
    assert len(first_reads) == len(election.station_table)
    for station, contests in first_reads.items():
        parts = station.split(".")
        assert sorted(region_of[c] for c in contests) == [parts[0], f"{parts[0]}.{parts[1]}"], station


def test_arrivals_spread_over_election_night(kalteng: DemoElection) -> None:
    moments = [datetime.fromisoformat(str(t["submitted_at"])) for t in kalteng.tallies if t["source"] == "sirekap"]
    assert all(str(t["submitted_at"]).endswith("+07:00") for t in kalteng.tallies)
    assert min(moments) >= datetime.fromisoformat("2024-11-27T13:00:00+07:00")
    assert max(moments) <= datetime.fromisoformat("2024-11-27T23:59:59+07:00")
    hours = Counter(m.hour for m in moments)
    assert max(hours, key=lambda h: hours[h]) in range(15, 20)
    assert hours[22] + hours[23] > 0


def test_national_scale_has_the_shape_of_indonesia(national: DemoElection) -> None:
    levels = Counter(str(r["level"]) for r in national.regions)
    assert levels["province"] == 38 and levels["regency"] == 508
    assert levels["village"] <= len(national.station_table) == 12_000
    assert all(
        re.fullmatch(r"\d\d(\.\d\d(\.\d\d(\.[12]\d{3})?)?)?", str(r["code"]))
        and (r["parent_code"] is None or str(r["code"]).startswith(f"{r['parent_code']}."))
        for r in national.regions
    )
    assert len(national.contests) == 546
    pairs = Counter(str(c["contest_code"]) for c in national.candidates)
    assert set(pairs.values()) <= {2, 3, 4, 5, 6}
    kolom_kosong = [c for c in national.candidates if c["name"] == KOLOM_KOSONG]
    assert kolom_kosong and all(pairs[str(c["contest_code"])] == 2 and c["number"] == 2 for c in kolom_kosong)
    first_reads = sum(1 for t in national.iter_tallies() if t["source"] == "sirekap")
    assert first_reads == 2 * 12_000
    assert 0.02 < len(national.tally_table) / first_reads - 1 < 0.04
    assert max(int(s["registered"]) for s in national.iter_stations()) <= 600


def test_stations_override_rescales_kalteng_and_parameters_change_the_model() -> None:
    election = generate(seed=5, scale="kalteng", stations=5_000, parameters=DemoParameters(turnout=0.8))
    assert len(election.station_table) == 5_000
    counts = election.tally_table.counts
    first = election.tally_table.revision == 1
    assert counts["voters"][first].sum() / counts["dpt"][first].sum() == pytest.approx(0.8, abs=0.015)


def test_progress_is_reported_for_generation_and_writing(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    write_demo_bundle(tmp_path, seed=1, scale="small", progress=lambda *call: calls.append(call))
    phases = {phase for phase, _, _ in calls}
    assert {"plan", "tallies", f"write {TALLIES}"} <= phases
    assert all(0 <= done <= total for _, done, total in calls)
    assert (f"write {TALLIES}", sum(1 for _ in csv.reader((tmp_path / TALLIES).open())) - 1) in {
        (phase, done) for phase, done, _ in calls
    }


def test_package_data_stands_in_when_the_shared_folder_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_shared = generate(seed=9, scale="small")
    monkeypatch.setenv("PILKADA_SHARED", str(tmp_path / "nowhere"))
    without = generate(seed=9, scale="small")
    assert without.regions == with_shared.regions
    assert without.tallies == with_shared.tallies
    assert {"regions.csv", "paslon-pkwkp.json", "paslon-pkwkk.json", "LICENSE-wilayah.txt"} <= {
        path.name for path in PACKAGE_DATA.iterdir()
    }


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown demo scale"):
        generate(scale="galaxy")
