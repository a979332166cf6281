"""Robust statistics over a station's peers: pure functions over arrays, for region detectors.

A station is judged against its neighbours because real results cluster: stations of one
village resemble each other far more than stations of another regency do. Three ideas run
through this module:

* **Counts, not rates.** A share is compared on the empirical-logit scale, where a count's
  binomial noise has a known variance (``1/(x+½) + 1/(n-x+½)``) that shrinks with the
  station's size, so a 30-voter station is not flagged for the noise a 30-voter station has.
* **Peers, robustly.** The reference for a station is the median of its village's *other*
  stations together with its district's leave-one-out median (a pseudo-peer that shrinks a
  village of one or two stations towards its district). Medians ignore the few bad forms.
* **Calibration from the data.** Real stations differ by more than binomial noise. The extra
  spread ``tau`` is estimated from the region itself, so that the robust standard deviation
  (1.4826 x MAD) of the z-scores is one; an election with a lot of local variation is judged on
  its own spread, not on a threshold tuned elsewhere.

Thresholds are then p-values with a Bonferroni correction for the number of stations (and
candidates) tested in the region: ``p x m < alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special, stats

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: 1.4826 x MAD estimates a normal distribution's standard deviation.
MAD_TO_SD = 1.482602218505602


def empirical_logit(counts: npt.ArrayLike, totals: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """log((x+½)/(n-x+½)) and its binomial variance; counts above their totals are capped at them.

    The half counts keep 0 and n finite (Haldane-Anscombe). ``nan`` in, ``nan`` out.
    """
    x = np.asarray(counts, dtype=np.float64)
    n = np.asarray(totals, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        x = np.where(x > n, n, x)
        bad = ~(np.isfinite(x) & np.isfinite(n) & (n > 0) & (x >= 0))
        a, b = np.where(bad, 1.0, x + 0.5), np.where(bad, 1.0, n - x + 0.5)
        value = np.log(a / b)
        variance = 1.0 / a + 1.0 / b
    return np.where(bad, np.nan, value), np.where(bad, np.nan, variance)


def robust_sd(values: npt.ArrayLike) -> float:
    """1.4826 x the median absolute deviation from the median (nan ignored; nan when empty)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(MAD_TO_SD * np.median(np.abs(v - np.median(v))))


def _group_ids(codes: npt.ArrayLike) -> npt.NDArray[np.intp]:
    return np.unique(np.asarray(codes), return_inverse=True)[1].reshape(-1)


def loo_medians(values: npt.ArrayLike, codes: npt.ArrayLike) -> FloatArray:
    """For each element, the median of the *other* finite elements of its group (nan if none).

    Vectorised: sort by (group, value), then the median of "the group without me" is one or two
    neighbours of the group's middle, shifted by one when I sit below the middle.
    """
    v = np.asarray(values, dtype=np.float64)
    group = _group_ids(codes)
    finite = np.isfinite(v)
    order = np.lexsort((np.where(finite, v, np.inf), ~finite, group))
    g_sorted, v_sorted, f_sorted = group[order], v[order], finite[order]
    n_groups = int(group.max()) + 1 if group.size else 0
    start = np.searchsorted(g_sorted, np.arange(n_groups))
    count = np.bincount(group[finite], minlength=n_groups)
    rank = np.arange(v.size) - start[g_sorted]  # finite values come first within a group
    others = count[g_sorted] - 1

    def other(j: npt.NDArray[np.intp]) -> FloatArray:
        index = start[g_sorted] + np.where(j < rank, j, j + 1)
        return v_sorted[np.clip(index, 0, v.size - 1)]

    half = others // 2
    odd = other(half)
    even = 0.5 * (other(np.maximum(half - 1, 0)) + other(half))
    median_sorted = np.where(others % 2 == 1, odd, even)
    median_sorted = np.where(f_sorted & (others > 0), median_sorted, np.nan)
    out = np.empty(v.size)
    out[order] = median_sorted
    return out


def peer_reference(values: npt.ArrayLike, village_codes: npt.ArrayLike, district_codes: npt.ArrayLike,
                   min_district_peers: int = 4, peers: npt.ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
    """Each station's peer value: median of its village's other stations and its district's LOO median.

    Returns the reference and the number of village peers used. Stations whose district has
    fewer than ``min_district_peers`` other stations with a value get ``nan`` (not judged).
    ``peers`` (a mask) says which stations may serve as peers: a form that does not add up is
    still judged, but is nobody's yardstick.
    """
    judged = np.asarray(values, dtype=np.float64)
    n = judged.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    v = judged if peers is None else np.where(np.asarray(peers, dtype=bool), judged, np.nan)
    finite = np.isfinite(v)
    district = _group_ids(district_codes)
    district_loo = np.where(finite, loo_medians(v, district_codes), _group_medians(v, district))
    peers_in_district = np.bincount(district[finite], minlength=district.max() + 1)[district] - finite
    enough = peers_in_district >= min_district_peers
    village = _group_ids(village_codes)
    members, slot = _group_matrix(v, village)
    peers = members[village]  # each station's village, itself included
    peers[np.arange(n), slot] = np.nan
    village_peers = np.count_nonzero(np.isfinite(peers), axis=1).astype(np.float64)
    reference = row_nanmedians(np.column_stack([peers, district_loo]))
    reference = np.where(np.isfinite(judged) & enough & np.isfinite(district_loo), reference, np.nan)
    return reference, village_peers


def row_nanmedians(matrix: FloatArray) -> FloatArray:
    """``np.nanmedian(matrix, axis=1)`` (nan for an all-nan row) without numpy's masked-array
    machinery, which cost more than the rest of a region's peer comparison."""
    rows = matrix.shape[0]
    ordered = np.sort(matrix, axis=1)  # nan sorts last
    counts = np.count_nonzero(~np.isnan(matrix), axis=1)
    index = np.arange(rows)
    low = ordered[index, np.maximum((counts - 1) // 2, 0)]
    high = ordered[index, np.maximum(counts // 2, 0)]
    return np.where(counts > 0, 0.5 * (low + high), np.nan)


def _group_matrix(values: FloatArray, group: npt.NDArray[np.intp]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The values laid out one row per group (nan-padded), and each element's column in its row."""
    order = np.argsort(group, kind="stable")
    start = np.searchsorted(group[order], np.arange(group.max() + 1))
    slot = np.empty(values.size, dtype=np.intp)
    slot[order] = np.arange(values.size) - start[group[order]]
    members = np.full((group.max() + 1, int(slot.max()) + 1), np.nan)
    members[group, slot] = values
    return members, slot


def _group_medians(values: FloatArray, group: npt.NDArray[np.intp]) -> FloatArray:
    """Each element's group median over the finite values (for stations that are no peer themselves)."""
    if values.size == 0:
        return np.full(values.shape, np.nan)
    members, _ = _group_matrix(np.where(np.isfinite(values), values, np.nan), group)
    return row_nanmedians(members)[group]


def calibrated_z(residuals: npt.ArrayLike, noise_variance: npt.ArrayLike,
                 groups: npt.ArrayLike | None = None, min_group: int = 30) -> tuple[FloatArray, FloatArray]:
    """z = residual / sqrt(tau² + noise), with tau² >= 0 chosen so that the z's robust sd is one.

    ``groups`` (optional, ordered labels: the number of village peers) get a tau each, fitted on
    the group widened to its nearest labels until it holds ``min_group`` values, and never below
    the tau of a group with more peers: a station compared with three village peers has a far
    smaller honest residual than one compared with its district alone, and one spread for both
    would flag the latter's ordinary differences. When the residuals are no wider than their
    counting noise, tau stays 0: the data cannot make a station look less surprising than its
    binomial noise says. Returns the z-scores and each station's tau.
    """
    r = np.asarray(residuals, dtype=np.float64)
    var = np.asarray(noise_variance, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(var)
    tau = np.full(r.shape, np.nan)
    if np.count_nonzero(ok) < 5:
        return np.full(r.shape, np.nan), tau
    if groups is None:
        tau[ok] = _tau(r[ok], var[ok])
    else:
        labels = np.asarray(groups, dtype=np.float64)
        larger = 0.0  # the tau of the group with more peers: fewer peers never means less spread
        for label in sorted(np.unique(labels[ok]), reverse=True):
            fitted = ok & _nearest_groups(labels, ok, label, min_group)
            larger = max(_tau(r[fitted], var[fitted]), larger)
            tau[ok & (labels == label)] = larger
    with np.errstate(invalid="ignore"):
        z = np.where(ok, r / np.sqrt(np.where(ok, tau**2 + var, 1.0)), np.nan)
    return z, tau


def _nearest_groups(labels: FloatArray, ok: BoolArray, label: float, min_group: int) -> BoolArray:
    """The members of ``label`` and of the labels nearest to it, until there are ``min_group``."""
    distance = np.abs(labels - label)
    for reach in np.unique(distance[ok]):
        chosen = distance <= reach
        if np.count_nonzero(chosen & ok) >= min_group:
            return chosen
    return np.ones(labels.shape, dtype=bool)


def _tau(r: FloatArray, var: FloatArray) -> float:
    """The extra spread that makes robust_sd(r / sqrt(tau² + var)) one (0 when already below one)."""

    def excess(tau2: float) -> float:
        return _finite_robust_sd(r / np.sqrt(tau2 + var)) - 1.0

    if not excess(0.0) > 0.0:
        return 0.0
    high = max(float(np.max(var)), robust_sd(r) ** 2, 1e-12)
    while excess(high) > 0.0:
        high *= 4.0
    return math.sqrt(optimize.brentq(excess, 0.0, high, rtol=1e-3))


def _finite_median(v: FloatArray) -> float:
    """np.median of finite values without its generic machinery (called thousands of times per region)."""
    n = v.size
    half = n // 2
    if n % 2:
        return float(np.partition(v, half)[half])
    part = np.partition(v, (half - 1, half))
    return 0.5 * float(part[half - 1] + part[half])


def _finite_robust_sd(v: FloatArray) -> float:
    """:func:`robust_sd` of an array known to be finite and non-empty."""
    return MAD_TO_SD * _finite_median(np.abs(v - _finite_median(v)))


def upper_p(z: npt.ArrayLike) -> FloatArray:
    """One-sided p-value P(Z >= z) of a standard normal (nan stays nan)."""
    return special.ndtr(-np.asarray(z, dtype=np.float64))


def tail_scale(z: npt.ArrayLike, shoulder: float = 0.0, min_values: int = 30) -> float:
    """How much wider than a standard normal the region's z-scores are at their ``shoulder``
    quantile of |z| (at least one); ``shoulder = 0`` (the default) assumes a normal tail.

    ``tau`` makes the z's *median* spread one, but honest differences between stations can be
    heavier-tailed than a normal, and then a normal tail turns a region's honest extremes into
    false alarms. Dividing z by (``shoulder`` quantile of |z|) / (the normal's) calibrates the
    tail on the region's own residuals. It is off by default because it is read on residuals
    that include the anomalies: on the detection benchmark, reading it at the 80% quantile cost
    the Kalteng election's stuffing and flipping recall (0.81 -> 0.74, 0.78 -> 0.73) more than it
    gained in precision (0.977 -> 0.979). Turn it on (e.g. 0.8) for elections known to be
    heavy-tailed and clean-ish, where false alarms matter more than a few percent of recall.
    """
    if not shoulder:
        return 1.0
    a = np.abs(np.asarray(z, dtype=np.float64))
    a = a[np.isfinite(a)]
    if a.size < min_values:
        return 1.0
    normal = float(stats.norm.ppf(0.5 + shoulder / 2))
    return max(1.0, float(np.quantile(a, shoulder)) / normal)


def two_sided_p(z: npt.ArrayLike) -> FloatArray:
    return 2.0 * special.ndtr(-np.abs(np.asarray(z, dtype=np.float64)))


def bonferroni(p: npt.ArrayLike, tests: int) -> FloatArray:
    """p x tests, capped at one: the chance that any of ``tests`` honest stations looks this bad."""
    return np.minimum(np.asarray(p, dtype=np.float64) * max(tests, 1), 1.0)


def benjamini_hochberg(p: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values over every finite entry of ``p`` (any shape; nan stays nan).

    Reporting the entries whose adjusted p-value is below ``q`` keeps the expected share of false
    reports among them at ``q`` at most (for independent tests), and, where nothing is wrong at
    all, the chance of any report at ``q``, as Bonferroni does. Where several stations of a region
    were tampered with, it lets the weaker of them through, which Bonferroni would not.
    """
    values = np.asarray(p, dtype=np.float64)
    flat = values.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    adjusted = np.full(flat.shape, np.nan)
    m = finite.size
    if m:
        order = finite[np.argsort(flat[finite], kind="stable")]
        scaled = flat[order] * m / np.arange(1, m + 1)
        adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted.reshape(values.shape)


@dataclass(frozen=True)
class PeerComparison:
    """A rate of every station against its peers: observed and peer logits, z-scores, and tau."""

    logit: FloatArray
    reference: FloatArray
    z: FloatArray
    tau: FloatArray
    village_peers: FloatArray

    @property
    def tested(self) -> int:
        return int(np.count_nonzero(np.isfinite(self.z)))


def compare_with_peers(counts: npt.ArrayLike, totals: npt.ArrayLike, village_codes: npt.ArrayLike,
                       district_codes: npt.ArrayLike, min_district_peers: int = 4,
                       peers: npt.ArrayLike | None = None) -> PeerComparison:
    """counts/totals of each station against its village and district peers, binomial-aware.

    The peer reference's own noise is part of the residual spread and is absorbed by tau.
    ``peers`` masks the stations that may serve as peers (see :func:`peer_reference`).
    """
    logit, variance = empirical_logit(counts, totals)
    reference, village_peers = peer_reference(logit, village_codes, district_codes, min_district_peers, peers)
    z, tau = calibrated_z(logit - reference, variance, groups=np.minimum(village_peers, 2))
    return PeerComparison(logit, reference, z, tau, village_peers)


def expit(x: npt.ArrayLike) -> FloatArray:
    return special.expit(np.asarray(x, dtype=np.float64))


def fmt_p(p: float) -> str:
    """A p-value as a reviewer reads it: ``p = 0.003``, ``p < 1e-12``."""
    if not math.isfinite(p):
        return "p = n/a"
    if p < 1e-12:
        return "p < 1e-12"
    return f"p = {p:.2g}"


def percent(x: float) -> str:
    return f"{100.0 * x:.1f}%"


__all__ = [
    "PeerComparison",
    "bonferroni",
    "calibrated_z",
    "compare_with_peers",
    "empirical_logit",
    "peer_reference",
    "robust_sd",
    "tail_scale",
    "two_sided_p",
    "upper_p",
]
