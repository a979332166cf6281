"""Region built-ins on hand-made regions: an honest region raises nothing, a planted anomaly is found."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from pilkada_graph.detect_types import DetectorSettings
from pilkada_graph.peerstats import benjamini_hochberg, calibrated_z, loo_medians, peer_reference, row_nanmedians

from .helpers import CONTEST, honest_region, plugin, raised, region, settings_of

peers = plugin("peer_outliers")
copies = plugin("copied_forms")
rounding = plugin("round_numbers")
multivariate = plugin("multivariate_outliers")

TARGET = "62.71.02.1003.002"


def check(module: Any, stations: list[dict[str, Any]], **overrides: Any) -> list[Any]:
    """Call the module's region hook with the arguments it names, as pluggy would."""
    available = {"contest": CONTEST, "tallies": region(stations), "settings": settings_of(module, **overrides)}
    wanted = inspect.signature(module.pilkada_check_region).parameters
    return module.pilkada_check_region(**{name: available[name] for name in wanted})


def planted(stations: list[dict[str, Any]], change: Any) -> list[dict[str, Any]]:
    return [change(dict(s)) if s["code"] == TARGET else s for s in stations]


# --------------------------------------------------------------------------- peer statistics


def test_leave_one_out_medians_and_the_village_plus_district_reference() -> None:
    values = np.array([1.0, 2.0, 3.0, 10.0, np.nan, 5.0, 6.0])
    groups = np.array(list("aaaabbb"))
    assert np.allclose(loo_medians(values, groups), [3, 3, 2, 2, np.nan, 6, 5], equal_nan=True)
    reference, village_peers = peer_reference(values, np.array(list("aabbbcc")), groups, min_district_peers=1)
    assert reference[0] == 2.5  # its one village peer (2) and its district's other median (3)
    assert village_peers.tolist() == [1, 1, 1, 1, 2, 1, 1]


def test_benjamini_hochberg_matches_the_step_up_rule_and_keeps_the_shape_and_nans() -> None:
    p = np.array([[0.01, 0.04, np.nan], [0.03, 0.5, 0.002]])
    adjusted = benjamini_hochberg(p)
    # Sorted finite p: 0.002, 0.01, 0.03, 0.04, 0.5 (m = 5) -> p * m / rank, then the running minimum from the top.
    expected = np.array([[0.025, 0.05, np.nan], [0.05, 0.5, 0.01]])
    np.testing.assert_allclose(adjusted, expected, equal_nan=True)
    assert (adjusted[np.isfinite(p)] >= p[np.isfinite(p)]).all()
    assert benjamini_hochberg(np.array([np.nan])).shape == (1,)


def test_row_nanmedians_equal_numpys_nanmedian_per_row() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        matrix = rng.normal(size=(int(rng.integers(1, 20)), int(rng.integers(1, 7))))
        matrix[rng.random(matrix.shape) < 0.4] = np.nan
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan rows
            expected = np.nanmedian(matrix, axis=1)
        np.testing.assert_allclose(row_nanmedians(matrix), expected, equal_nan=True)


def test_calibrated_z_has_unit_robust_spread_and_never_shrinks_below_binomial_noise() -> None:
    rng = np.random.default_rng(1)
    wide = rng.normal(0, 0.3, 2000)
    z, tau = calibrated_z(wide, np.full(2000, 0.01))
    assert abs(1.4826 * np.median(np.abs(z - np.median(z))) - 1) < 0.01 and abs(tau[0] - 0.28) < 0.03
    narrow_z, narrow_tau = calibrated_z(rng.normal(0, 0.05, 2000), np.full(2000, 0.01))
    assert narrow_tau[0] == 0 and np.std(narrow_z) < 1


def test_an_invented_form_does_not_make_its_honest_village_neighbour_an_outlier() -> None:
    stations = honest_region(5, per_village=2)
    invented = "62.71.02.1003.001"

    def invent(s: dict[str, Any]) -> dict[str, Any]:
        if s["code"] == invented:
            s["votes"] = [int(s["registered"] * 0.96), 2, 1]
            s["invalid"] = 0
        return s

    findings = raised(check(peers, [invent(dict(s)) for s in stations]))
    assert {f.subject for f in findings} == {invented}


def test_honest_regions_raise_peer_outliers_about_as_rarely_as_the_family_wise_alpha_says() -> None:
    """Two families (turnout, shares) at alpha 0.05 each: about one honest region in ten may see one."""
    alarmed = [seed for seed in range(20) if raised(check(peers, honest_region(seed)))]
    assert len(alarmed) <= 4, alarmed


def test_ballots_stuffed_for_one_candidate_are_a_share_and_turnout_outlier() -> None:
    def stuff(s: dict[str, Any]) -> dict[str, Any]:
        s["votes"] = [s["votes"][0] + 70, *s["votes"][1:]]
        return s

    findings = raised(check(peers, planted(honest_region(1), stuff)))
    assert {(f.detector, f.subject) for f in findings} >= {("turnout-outlier", TARGET), ("vote-share-outlier", TARGET)}
    assert {f.subject for f in findings} == {TARGET}


def test_a_small_shift_within_the_noise_is_not_reported() -> None:
    def nudge(s: dict[str, Any]) -> dict[str, Any]:
        s["votes"] = [s["votes"][0] + 8, s["votes"][1] - 8, s["votes"][2]]
        return s

    assert raised(check(peers, planted(honest_region(1), nudge))) == []


def test_votes_flipped_to_one_candidate_are_a_share_outlier_with_its_evidence() -> None:
    def flip(s: dict[str, Any]) -> dict[str, Any]:
        a, b, c = s["votes"]
        s["votes"] = [a + b // 2 + c // 2, b - b // 2, c - c // 2]
        return s

    (finding,) = raised(check(peers, planted(honest_region(1), flip)))
    assert finding.detector == "vote-share-outlier" and finding.evidence["candidate"] == 1
    assert finding.evidence["share"] > finding.evidence["peer_share"] + 0.2


# --------------------------------------------------------------------------- copied forms


def test_a_copied_form_is_reported_at_both_stations_and_honest_neighbours_are_not() -> None:
    stations = honest_region(2)
    assert raised(check(copies, stations)) == []
    source = next(s for s in stations if s["code"] == "62.71.02.1003.001")
    copied = planted(stations, lambda s: {**s, "votes": list(source["votes"]), "invalid": source["invalid"]})
    findings = raised(check(copies, copied))
    assert {f.subject for f in findings} == {TARGET, source["code"]}
    assert findings[0].evidence["chance"] < 1e-4


def test_identical_counts_at_tiny_stations_are_not_reported() -> None:
    stations = [{"code": f"62.71.01.1001.{n:03d}", "registered": 12, "votes": [5, 3], "invalid": 0}
                for n in range(1, 4)]
    stations += [{"code": f"62.71.01.1002.{n:03d}", "registered": 12, "votes": [4 + n % 3, 3], "invalid": 1}
                 for n in range(1, 12)]
    assert raised(check(copies, stations)) == []


# --------------------------------------------------------------------------- round numbers


def test_a_district_of_rounded_counts_is_reported_and_an_honest_one_is_not() -> None:
    stations = honest_region(3)
    assert raised(check(rounding, stations)) == []

    def invent(s: dict[str, Any]) -> dict[str, Any]:
        if s["code"].startswith("62.71.03."):
            s["votes"] = [int(round(v / 10)) * 10 for v in s["votes"]]
            s["invalid"] = 10
        return s

    findings = raised(check(rounding, [invent(dict(s)) for s in stations]))
    assert [(f.subject, f.evidence["level"]) for f in findings] == [("62.71.03", "district")]
    assert findings[0].evidence["share_0_or_5"] == 1.0


def test_a_village_with_too_few_counts_is_not_tested() -> None:
    stations = [{"code": "62.71.01.1001.001", "registered": 400, "votes": [100, 50], "invalid": 10}]
    assert check(rounding, stations) == []


# --------------------------------------------------------------------------- multivariate


def test_the_multivariate_model_warns_only_on_a_station_unlike_all_others() -> None:
    stations = honest_region(4, districts=6)
    assert raised(check(multivariate, stations)) == []
    odd = planted(stations, lambda s: {**s, "registered": 900, "votes": [5, 5, 330], "invalid": 60})
    findings = check(multivariate, odd)
    assert any(f.subject == TARGET for f in findings)
    assert all(f.subject == TARGET for f in raised(findings))


def test_a_disabled_detector_does_not_report() -> None:
    assert peers.pilkada_check_region(contest=CONTEST, tallies=region(honest_region(0)),
                                      settings=DetectorSettings({})) is None
