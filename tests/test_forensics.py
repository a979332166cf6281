"""Election forensics: constructed cases, calibration on honest synthetic elections, Russia 2011/2012."""

from __future__ import annotations

import csv
import json
import math
from fractions import Fraction
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pilkada_graph import forensics as F
from pilkada_graph.plugins import load_module
from tests.conftest import SHARED

RUSSIA = SHARED / "data" / "russia"
RUSSIA_2011 = RUSSIA / "russia_2011_duma_uik.csv.gz"
RUSSIA_2012 = RUSSIA / "russia_2012_president_uik.csv.gz"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "russia_to_bundle.py"
needs_russia = pytest.mark.skipif(not RUSSIA_2011.exists(), reason="shared Russian data not present")


@cache
def russia_module() -> ModuleType:
    """examples/ is not a package: load the converter by path."""
    return load_module(EXAMPLE, "russia_to_bundle")


@cache
def russia(year: int) -> F.ContestArrays:
    return russia_module().load_contest_arrays(RUSSIA_2011 if year == 2011 else RUSSIA_2012)


def honest_election(seed: int, n_districts: int = 50, per_district: int = 6, n_candidates: int = 3) -> F.ContestArrays:
    """A small fair election: hierarchical binomial model with district-level turnout and preferences.

    registered ~ U{300..1000}; district turnout ~ Beta(13, 7) (mean 0.65), station turnout ~ Beta
    around it; district preferences ~ Dirichlet, station shares ~ Dirichlet around them; voters,
    invalid ballots and votes are binomial/multinomial draws. Nothing in it is rounded or stuffed.
    """
    rng = np.random.default_rng(seed)
    n = n_districts * per_district
    district = np.repeat(np.arange(n_districts), per_district)
    registered = rng.integers(300, 1001, n)
    district_turnout = rng.beta(13, 7, n_districts)[district]
    turnout = rng.beta(40 * district_turnout, 40 * (1 - district_turnout))
    preference = rng.dirichlet(np.full(n_candidates, 4.0), n_districts)[district] * 60
    shares = np.array([rng.dirichlet(a) for a in preference])
    voters = rng.binomial(registered, turnout)
    invalid = rng.binomial(voters, 0.03)
    valid = voters - invalid
    votes = np.array([rng.multinomial(v, s) for v, s in zip(valid, shares, strict=True)])
    names = tuple(f"pair {k + 1}" for k in range(n_candidates))
    return F.ContestArrays(registered, voters, valid, invalid, votes, names, tuple(f"s{i}" for i in range(n)))


# ------------------------------------------------------------------------------------------------
# Constructed cases
# ------------------------------------------------------------------------------------------------


def test_counts_that_are_all_multiples_of_five_fail_round_numbers() -> None:
    rng = np.random.default_rng(1)
    totals = rng.integers(400, 900, 2000)
    counts = (rng.binomial(totals, 0.4) // 5) * 5
    result = F.round_numbers(counts, totals)
    assert result.c05_share == 1.0
    assert result.c05_p_value < 1e-12


def test_binomial_counts_pass_round_numbers() -> None:
    rng = np.random.default_rng(2)
    totals = rng.integers(400, 900, 3000)
    result = F.round_numbers(rng.binomial(totals, rng.uniform(0.2, 0.6, totals.size)), totals)
    assert result.c05_p_value > 0.01 and result.p05_p_value > 0.01


def test_exactly_uniform_last_digits_pass_last_digit() -> None:
    result = F.last_digit(np.arange(10, 1010))
    assert result.chi2 == 0 and result.p_value == pytest.approx(1.0)
    assert result.mean == pytest.approx(4.5) and result.p_mean == pytest.approx(1.0)


def test_counts_ending_in_seven_fail_last_digit() -> None:
    counts = np.arange(1, 500) * 10 + 7
    result = F.last_digit(counts)
    assert result.p_value < 1e-12 and result.mean == 7


def test_last_digit_ignores_counts_below_min_count() -> None:
    result = F.last_digit([0, 0, 0, 3, 12, 25], min_count=10)
    assert result.n == 2 and result.digit_counts[2] == 1 and result.digit_counts[5] == 1


def test_benford_distributed_counts_pass_second_digit() -> None:
    rng = np.random.default_rng(3)
    counts = np.floor(10 ** rng.uniform(1, 5, 20000)).astype(np.int64)  # log-uniform: Benford exactly
    result = F.second_digit(counts, n_boot=200)
    assert result.p_value > 0.01 and result.p_mean > 0.01
    assert result.ci_low < F.BENFORD_SECOND_DIGIT_MEAN < result.ci_high


def test_second_digit_reads_the_second_significant_digit() -> None:
    assert F.second_digits([5, 10, 19, 100, 1000, 12345, 99, 9990]).tolist() == [0, 9, 0, 0, 2, 9, 9]


def test_second_digit_flags_counts_with_a_fixed_second_digit() -> None:
    counts = np.array([10 * d + 5 for d in range(1, 10)] * 100)  # 15, 25, ..., 95: second digit always 5
    result = F.second_digit(counts, n_boot=100)
    assert result.mean == 5 and result.p_value < 1e-12


def test_expected_second_digit_mean_is_benfords_4187() -> None:
    assert pytest.approx(4.187, abs=5e-4) == F.BENFORD_SECOND_DIGIT_MEAN
    assert F.BENFORD_SECOND_DIGIT.sum() == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 5000), data=st.data())
def test_integer_percentage_matches_exact_fraction_arithmetic(total: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(0, total))
    percent = Fraction(100 * count, total)
    expected = abs(percent - round(percent)) <= Fraction(5, 100)
    assert bool(F.is_integer_percentage([count], [total])[0]) == expected


@pytest.mark.parametrize(("n", "p"), [(100, 0.5), (200, 0.63), (1234, 0.71), (3001, 0.02), (150, 0.97)])
def test_integer_probability_equals_brute_force_binomial_sum(n: int, p: float) -> None:
    x = np.arange(n + 1)
    brute = stats.binom.pmf(x, n, p)[F.is_integer_percentage(x, np.full_like(x, n))].sum()
    assert F._integer_probability(np.array([n]), np.array([p]))[0] == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize(("n", "p"), [(37, 0.3), (150, 0.02), (1000, 0.5), (2500, 0.37), (101, 0.97)])
def test_p05_probability_equals_brute_force_binomial_sum(n: int, p: float) -> None:
    x = np.arange(n + 1)
    brute = stats.binom.pmf(x, n, p)[F.round_percent(x, np.full_like(x, n)) % 5 == 0].sum()
    assert F._p05_probability(np.array([n]), np.array([p]))[0] == pytest.approx(brute, abs=2e-3)


def test_stations_rounded_to_integer_percentages_show_an_excess() -> None:
    arrays = honest_election(7, n_districts=100, per_district=10)
    voters, registered = arrays.voters.copy(), arrays.registered.copy()
    forged = np.arange(0, voters.size, 4)  # a quarter of the stations write down a round turnout
    registered[forged] = np.maximum(np.round(registered[forged], -2), 300)
    percent = np.round(100 * voters[forged] / registered[forged]).astype(np.int64)
    voters[forged] = percent * registered[forged] // 100
    leader = arrays.votes[:, arrays.winner_index]
    honest = F.integer_percentages(arrays.voters, arrays.registered, leader, arrays.ballots_cast, n_sim=300)
    rigged = F.integer_percentages(voters, registered, leader, arrays.ballots_cast, n_sim=300)
    assert honest.p_value > 0.01
    assert rigged.p_value == pytest.approx(1 / 301) and rigged.excess > 150
    assert rigged.turnout_observed - rigged.turnout_expected > 150


def test_integer_percentages_keeps_only_the_papers_stations() -> None:
    keep = F.integer_percentages_mask(
        voters=np.array([50, 99, 100, 0, 60]), registered=np.array([100, 100, 100, 100, 99]),
        leader_votes=np.array([10, 10, 10, 0, 10]), ballots_cast=np.array([50, 99, 100, 0, 60]),
    )
    assert keep.tolist() == [True, True, False, False, False]  # 100% turnout, no vote, < 100 registered


def test_ballot_stuffing_smears_the_fingerprint_into_the_corner() -> None:
    arrays = honest_election(11, n_districts=100, per_district=10)
    turnout, share, _ = F.turnout_and_share(arrays)
    honest = F.fingerprint(turnout, share)
    stuffed_t, stuffed_s = turnout.copy(), share.copy()
    stuffed = np.arange(0, turnout.size, 10)  # a tenth of the stations smeared toward 100%/100%
    rng = np.random.default_rng(12)
    stuffed_t[stuffed], stuffed_s[stuffed] = rng.uniform(0.85, 1, stuffed.size), rng.uniform(0.81, 0.98, stuffed.size)
    result = F.fingerprint(stuffed_t, stuffed_s)
    assert honest.p_value > 0.05
    assert result.corner_stations >= 100 and result.p_value < 1e-20
    assert result.excess_mass == pytest.approx(0.1, abs=0.02)


def test_two_separate_turnout_clusters_fail_the_dip_test() -> None:
    rng = np.random.default_rng(5)
    bimodal = np.concatenate([rng.normal(0.5, 0.05, 1500), rng.normal(0.95, 0.02, 500)])
    result = F.turnout_shape(bimodal, rng.normal(0.5, 0.1, 2000))
    assert result.turnout.dip_p < 1e-3 and result.winner_share.dip_p > 0.05
    assert result.turnout.skewness > 0  # the small high-turnout cluster is a right tail


def test_every_test_result_serialises_to_json_with_a_summary() -> None:
    arrays = honest_election(0)
    options = {"integer-percentages": {"n_sim": 50}, "second-digit": {"n_boot": 50}}
    for name in F.TESTS:
        result = F.run(name, arrays, **options.get(name, {}))
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["test"] == name and data["summary"] == result.summary and "\n" not in result.summary


def test_run_rejects_an_unknown_test_name() -> None:
    with pytest.raises(ValueError, match="integer-percentages"):
        F.run("benford-first-digit", honest_election(0))


def test_every_test_draws_a_png(tmp_path: Path) -> None:
    arrays = honest_election(1)
    for name in F.TESTS:
        options = {"n_sim": 50} if name == "integer-percentages" else {}
        path = F.plot(name, F.run(name, arrays, **options), arrays, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------
# Calibration: honest elections are flagged about as often as alpha says
# ------------------------------------------------------------------------------------------------

N_ELECTIONS = 200
ALPHA = 0.05
# One-sided binomial tolerance: with a true rate of 5%, 200 elections exceed this count with
# probability 0.001, so a failure means the test is miscalibrated, not unlucky.
MAX_REJECTIONS = int(stats.binom.ppf(0.999, N_ELECTIONS, ALPHA))


@cache
def calibration_p_values() -> dict[str, list[float]]:
    """p-values of every calibrated statistic on 200 honest elections of 300 stations."""
    p: dict[str, list[float]] = {}
    for seed in range(N_ELECTIONS):
        arrays = honest_election(seed)
        for row in F.run("second-digit", arrays, n_boot=10).results:
            p.setdefault(f"second-digit chi2 {row.candidate}", []).append(row.p_value)
        for row in F.run("last-digit", arrays).results:
            p.setdefault(f"last-digit chi2 {row.candidate}", []).append(row.p_value)
            p.setdefault(f"last-digit mean {row.candidate}", []).append(row.p_mean)
        rounds = F.run("round-numbers", arrays)
        p.setdefault("round-numbers C05", []).append(rounds.c05_p_value)
        p.setdefault("round-numbers P05", []).append(rounds.p05_p_value)
        p.setdefault("integer-percentages", []).append(F.run("integer-percentages", arrays, n_sim=100,
                                                             seed=seed).p_value)
        p.setdefault("fingerprint", []).append(F.run("fingerprint", arrays).p_value)
        shape = F.run("turnout-shape", arrays)
        p.setdefault("dip turnout", []).append(shape.turnout.dip_p)
        p.setdefault("dip winner share", []).append(shape.winner_share.dip_p)
        for row in F.run("second-digit", arrays, n_boot=10).results:
            p.setdefault(f"second-digit mean {row.candidate}", []).append(row.p_mean)
    return p


CALIBRATED = ["second-digit chi2", "last-digit chi2", "last-digit mean", "round-numbers", "integer-percentages",
              "fingerprint", "dip"]


def test_honest_elections_are_flagged_no_more_often_than_alpha() -> None:
    rates = {
        name: sum(p < ALPHA for p in values)
        for name, values in calibration_p_values().items()
        if any(name.startswith(prefix) for prefix in CALIBRATED)
    }
    assert len(rates) == 3 + 4 * 2 + 2 + 1 + 1 + 2
    too_many = {name: n for name, n in rates.items() if n > MAX_REJECTIONS}
    assert not too_many, f"flagged more than {MAX_REJECTIONS} of {N_ELECTIONS} honest elections: {too_many}"


def test_second_digit_mean_overflags_honest_elections_of_similar_sized_stations() -> None:
    """Known limitation, kept visible: 2BL's 4.187 is not the mean for binomial counts of stations of
    300-1000 voters (Deckert, Myagkov & Ordeshook 2011), so the mean test flags honest elections
    more often than alpha. The docs tell analysts to read it with the chi-square and a baseline."""
    flagged = [sum(p < ALPHA for p in values) for name, values in calibration_p_values().items()
               if name.startswith("second-digit mean")]
    assert max(flagged) > MAX_REJECTIONS


# ------------------------------------------------------------------------------------------------
# Russia 2011 and 2012: the well-documented anomalies are found
# ------------------------------------------------------------------------------------------------


#: The authors' excess of integer stations (observed minus the mean of their binomial Monte Carlo,
#: turnout or leader integer, the AOAS-2016 station filter): dkobak/elections,
#: analysis/2024/2024.ipynb, the printed ``anomalies[:,0,0]`` (see docs/forensics.md).
PUBLISHED_EXCESS = {2011: 1003.5, 2012: 1159.6}


@needs_russia
@pytest.mark.parametrize("year", [2011, 2012])
def test_russian_elections_reproduce_the_published_excess_of_integer_percentages(year: int) -> None:
    # Kobak, Shpilkin & Pshenichnikov (2016): far more integer stations than the binomial null
    # allows, in turnout and in the leader's result, with the paper's filter and 0.05-point window.
    result = F.run("integer-percentages", russia(year), n_sim=200, seed=year)
    assert result.n_stations > 85_000
    assert result.p_value == pytest.approx(1 / 201)
    assert result.excess > 6 * result.sim_std > 0
    assert abs(result.excess - PUBLISHED_EXCESS[year]) < 3 * result.sim_std  # within the Monte Carlo noise
    assert result.turnout_observed - result.turnout_expected > 300
    assert result.leader_observed - result.leader_expected > 300


@needs_russia
@pytest.mark.parametrize("year", [2011, 2012])
def test_russian_fingerprint_has_a_significant_corner_excess(year: int) -> None:
    result = F.run("fingerprint", russia(year))
    assert result.excess_mass > 0.05
    assert result.corner_stations > 5 * max(result.mirror_stations, 1)
    assert result.p_value < 1e-12


@needs_russia
def test_russian_turnout_is_multimodal() -> None:
    result = F.run("turnout-shape", russia(2011))
    assert result.turnout.dip_p < 1e-3


# ------------------------------------------------------------------------------------------------
# The Russian bundle
# ------------------------------------------------------------------------------------------------


@needs_russia
def test_russian_csv_converts_to_a_bundle_with_dotted_codes(tmp_path: Path) -> None:
    counts = russia_module().convert(RUSSIA_2011, tmp_path, limit=500)
    rows = {name: list(csv.DictReader((tmp_path / f"{name}.csv").open(encoding="utf-8")))
            for name in ("regions", "contests", "candidates", "stations", "tallies")}
    assert counts["stations"] == len(rows["stations"]) == len(rows["tallies"]) == 500
    assert rows["contests"] == [{"code": "duma-2011", "name": rows["contests"][0]["name"], "region_code": ""}]
    assert [c["number"] for c in rows["candidates"]] == [str(k) for k in range(1, 8)]
    regions = {r["code"]: r for r in rows["regions"]}
    levels = ["province", "regency", "district", "village"]
    for code, region in regions.items():
        assert region["level"] == levels[code.count(".")]
        assert region["parent_code"] == (code.rsplit(".", 1)[0] if "." in code else "")
        assert not region["parent_code"] or region["parent_code"] in regions
    first = rows["tallies"][0]
    assert first["station_code"].endswith(".001") and first["station_code"][:-4] in regions
    assert int(first["valid_votes"]) == sum(int(first[f"votes_{k}"]) for k in range(1, 8))
    assert int(first["total_votes"]) == int(first["valid_votes"]) + int(first["invalid_votes"])
    assert first["submitted_at"] == "2011-12-04T20:00:00+03:00" and first["source"] == "cik"


@needs_russia
def test_loaded_arrays_match_the_bundle_tallies(tmp_path: Path) -> None:
    module = russia_module()
    module.convert(RUSSIA_2012, tmp_path, limit=50)
    arrays = module.load_contest_arrays(RUSSIA_2012, limit=50)
    tallies = list(csv.DictReader((tmp_path / "tallies.csv").open(encoding="utf-8")))
    assert list(arrays.station_codes) == [t["station_code"] for t in tallies]
    assert arrays.voters.tolist() == [int(t["voters"]) for t in tallies]
    assert arrays.registered.tolist() == [int(t["dpt"]) for t in tallies]
    assert arrays.candidate_names[arrays.winner_index] == "Putin"
    assert math.isclose(arrays.votes.sum(), sum(int(t["valid_votes"]) for t in tallies))
