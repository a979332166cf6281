"""Election forensics: statistical tests on station-level counts.

Every test is a plain function over numpy arrays (no database, no settings object) so that the CLI,
the region detectors and an analyst's notebook call the same code. Each returns a frozen dataclass
with ``to_dict()`` (plain JSON types) and a one-line ``summary``.

Tests and their references (details and how to read them: ``docs/forensics.md``):

- ``second_digit``: Mebane's second-digit Benford test (2BL).
- ``last_digit``: uniformity of last digits (Beber & Scacco 2012).
- ``round_numbers``: counts and percentages ending in 0 or 5 (Beber & Scacco 2012; Kobak et al. 2016).
- ``integer_percentages``: Kobak, Shpilkin & Pshenichnikov, Ann. Appl. Stat. 10(1), 2016.
- ``fingerprint``: Klimek, Yegorov, Hanel & Thurner, PNAS 109(41), 2012.
- ``turnout_shape``: skewness, kurtosis and Hartigan's dip test of unimodality.

A test never decides that fraud happened: a small p-value says the counts are unlikely under the
test's null model of an honest count, which is a reason to look, not a verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage, special, stats

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

BENFORD_SECOND_DIGIT: FloatArray = np.array(
    [sum(math.log10(1 + 1 / (10 * k + d)) for k in range(1, 10)) for d in range(10)]
)
"""P(second digit = d) under Benford's law, d = 0..9 (Mebane's 2BL distribution)."""

BENFORD_SECOND_DIGIT_MEAN = float(np.dot(np.arange(10), BENFORD_SECOND_DIGIT))  # 4.187
_DIGITS = np.arange(10)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ContestArrays:
    """Per-station numbers of one contest, aligned by row (one row = one station).

    ``voters`` is the number of voters who used their right (ballots issued, form I.B.4);
    ``valid + invalid`` is the number of ballots found in the boxes. Kobak et al. compute turnout
    from the first and the leader's result from the second, and so do we.
    """

    registered: IntArray
    voters: IntArray
    valid: IntArray
    invalid: IntArray
    votes: IntArray  # stations x candidates
    candidate_names: tuple[str, ...]
    station_codes: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.station_codes)
        for name in ("registered", "voters", "valid", "invalid"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per station ({n})")
        if self.votes.shape != (n, len(self.candidate_names)):
            raise ValueError("votes must be stations x candidates")

    @property
    def ballots_cast(self) -> IntArray:
        """Valid and invalid ballots together: the denominator of the leader's result."""
        return self.valid + self.invalid

    @property
    def winner_index(self) -> int:
        """Column of the candidate with the most votes overall (the 'leader' of the papers)."""
        return int(np.argmax(self.votes.sum(axis=0)))

    def subset(self, mask: npt.NDArray[np.bool_]) -> ContestArrays:
        """The same contest restricted to the stations where ``mask`` is true."""
        codes = tuple(c for c, keep in zip(self.station_codes, mask, strict=True) if keep)
        return ContestArrays(
            self.registered[mask], self.voters[mask], self.valid[mask], self.invalid[mask],
            self.votes[mask], self.candidate_names, codes,
        )


# --------------------------------------------------------------------------------------------
# Result plumbing
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Turn numpy scalars/arrays and tuples into JSON types, recursively."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


class _Result:
    """Mixin: ``to_dict`` over the dataclass fields not marked ``metadata={'json': False}``."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"test": getattr(self, "test_name", type(self).__name__)}
        for f in fields(self):  # type: ignore[arg-type]
            if f.metadata.get("json", True):
                out[f.name] = _plain(getattr(self, f.name))
        out["summary"] = self.summary
        return out

    @property
    def summary(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


def _fmt_p(p: float) -> str:
    return f"p={p:.2g}" if p >= 1e-4 else "p<1e-4"


def _norm_two_sided(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else float("nan")


def _as_int(values: npt.ArrayLike) -> IntArray:
    return np.asarray(values, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Digit tests
# --------------------------------------------------------------------------------------------


def second_digits(counts: npt.ArrayLike) -> IntArray:
    """Second significant digit of each count >= 10 (counts < 10 have none and are dropped)."""
    c = _as_int(counts)
    c = c[c >= 10]
    while np.any(c >= 100):  # integer arithmetic: log10 rounding would misplace 1000, 10000...
        c = np.where(c >= 100, c // 10, c)
    return c % 10


@dataclass(frozen=True)
class SecondDigitResult(_Result):
    """Mebane's 2BL test on one candidate's counts."""

    candidate: str | None
    n: int
    mean: float
    expected_mean: float
    ci_low: float
    ci_high: float
    z_mean: float
    p_mean: float
    chi2: float
    p_value: float
    digit_counts: tuple[int, ...]
    expected_proportions: tuple[float, ...]
    test_name: str = field(default="second-digit", metadata={"json": False})

    @property
    def summary(self) -> str:
        who = f"{self.candidate}: " if self.candidate else ""
        return (
            f"{who}2BL mean second digit {self.mean:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f}) "
            f"vs {self.expected_mean:.3f}, {_fmt_p(self.p_mean)}; chi2={self.chi2:.1f} (df 9), "
            f"{_fmt_p(self.p_value)}; n={self.n}"
        )


def second_digit(
    counts: npt.ArrayLike, n_boot: int = 1000, seed: int = 0, candidate: str | None = None
) -> SecondDigitResult:
    """Second-digit Benford test (2BL, Mebane 2006/2008) on one candidate's station counts.

    Reports the mean second digit against Benford's 4.187 (z-test with the 2BL variance, and a
    bootstrap 95% interval), and a chi-square of the ten digit frequencies against 2BL (df 9).
    The bootstrap resamples stations; it is drawn as a multinomial over the digit histogram,
    which is the same distribution as resampling rows and needs no n_boot x n matrix.

    Why the caveat in the docs: 2BL is an empirical regularity of mixed counts, not a law of
    honest elections; counts from stations of similar size can depart from it without fraud.
    """
    digits = second_digits(counts)
    n = int(digits.size)
    hist = np.bincount(digits, minlength=10)
    if n == 0:
        nan = float("nan")
        return SecondDigitResult(candidate, 0, nan, BENFORD_SECOND_DIGIT_MEAN, nan, nan, nan, nan, nan,
                                 nan, tuple(int(h) for h in hist), tuple(BENFORD_SECOND_DIGIT.tolist()))
    mean = float(np.dot(_DIGITS, hist) / n)
    var_2bl = float(np.dot((_DIGITS - BENFORD_SECOND_DIGIT_MEAN) ** 2, BENFORD_SECOND_DIGIT))
    z = (mean - BENFORD_SECOND_DIGIT_MEAN) / math.sqrt(var_2bl / n)
    expected = n * BENFORD_SECOND_DIGIT
    chi2 = float(np.sum((hist - expected) ** 2 / expected))
    boot = np.random.default_rng(seed).multinomial(n, hist / n, size=n_boot) @ _DIGITS / n
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return SecondDigitResult(
        candidate, n, mean, BENFORD_SECOND_DIGIT_MEAN, float(lo), float(hi), float(z), _norm_two_sided(z),
        chi2, float(stats.chi2.sf(chi2, 9)), tuple(int(h) for h in hist), tuple(BENFORD_SECOND_DIGIT.tolist()),
    )


@dataclass(frozen=True)
class LastDigitResult(_Result):
    """Uniformity of last digits of one set of counts."""

    candidate: str | None
    n: int
    min_count: int
    mean: float
    z_mean: float
    p_mean: float
    chi2: float
    p_value: float
    digit_counts: tuple[int, ...]
    test_name: str = field(default="last-digit", metadata={"json": False})

    @property
    def summary(self) -> str:
        who = f"{self.candidate}: " if self.candidate else ""
        return (
            f"{who}mean last digit {self.mean:.3f} vs 4.5, {_fmt_p(self.p_mean)}; uniformity chi2="
            f"{self.chi2:.1f} (df 9), {_fmt_p(self.p_value)}; n={self.n} counts >= {self.min_count}"
        )


def last_digit(counts: npt.ArrayLike, min_count: int = 10, candidate: str | None = None) -> LastDigitResult:
    """Last-digit test (Beber & Scacco 2012; Mebane): honest counts end in 0..9 equally often.

    Counts below ``min_count`` are ignored because a one-digit count is its own last digit and
    small counts are far from uniform (zeros alone would look like a heap of round numbers).
    Reports a chi-square against the uniform distribution (df 9) and the mean last digit
    against 4.5 (z-test, standard deviation sqrt(8.25) per count).
    """
    c = _as_int(counts)
    digits = c[c >= min_count] % 10
    n = int(digits.size)
    hist = np.bincount(digits, minlength=10)
    if n == 0:
        nan = float("nan")
        return LastDigitResult(candidate, 0, min_count, nan, nan, nan, nan, nan, tuple(int(h) for h in hist))
    mean = float(np.dot(_DIGITS, hist) / n)
    z = (mean - 4.5) / math.sqrt(8.25 / n)
    chi2 = float(np.sum((hist - n / 10) ** 2 / (n / 10)))
    return LastDigitResult(candidate, n, min_count, mean, float(z), _norm_two_sided(z), chi2,
                           float(stats.chi2.sf(chi2, 9)), tuple(int(h) for h in hist))


@dataclass(frozen=True)
class DigitTable(_Result):
    """One digit test run on each candidate (and, for last digits, on all counts pooled)."""

    test_name: str
    results: tuple[SecondDigitResult | LastDigitResult, ...]

    @property
    def min_p(self) -> float:
        """Smallest chi-square p-value over the rows (before any multiple-testing correction)."""
        return float(np.nanmin([r.p_value for r in self.results])) if self.results else float("nan")

    @property
    def summary(self) -> str:
        worst = min(self.results, key=lambda r: r.p_value if math.isfinite(r.p_value) else 2.0)
        return f"{self.test_name}: {len(self.results)} rows, smallest chi2 p-value {worst.summary}"

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test_name, "results": [r.to_dict() for r in self.results], "summary": self.summary}


def second_digit_by_candidate(
    votes: npt.ArrayLike, candidate_names: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> DigitTable:
    """Run :func:`second_digit` on each column of a stations x candidates array."""
    v = _as_int(votes)
    rows = tuple(second_digit(v[:, j], n_boot, seed + j, name) for j, name in enumerate(candidate_names))
    return DigitTable("second-digit", rows)


def last_digit_by_candidate(votes: npt.ArrayLike, candidate_names: Sequence[str], min_count: int = 10) -> DigitTable:
    """Run :func:`last_digit` on each column and on all counts pooled (Beber & Scacco pool them)."""
    v = _as_int(votes)
    rows = [last_digit(v[:, j], min_count, name) for j, name in enumerate(candidate_names)]
    rows.append(last_digit(v.ravel(), min_count, "all candidates"))
    return DigitTable("last-digit", tuple(rows))


# --------------------------------------------------------------------------------------------
# Round numbers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundNumbersResult(_Result):
    """Shares of counts (C05s) and of integer percentages (P05s) ending in 0 or 5."""

    n_counts: int
    c05_share: float
    c05_expected: float
    c05_p_value: float
    n_percentages: int
    p05_share: float
    p05_expected: float
    p05_z: float
    p05_p_value: float
    min_count: int
    test_name: str = field(default="round-numbers", metadata={"json": False})

    @property
    def p_value(self) -> float:
        """The smaller of the two p-values (the test flags if either kind of rounding is off)."""
        return float(np.nanmin([self.c05_p_value, self.p05_p_value]))

    @property
    def summary(self) -> str:
        return (
            f"counts ending in 0/5: {self.c05_share:.4f} vs {self.c05_expected:.2f}, {_fmt_p(self.c05_p_value)} "
            f"(n={self.n_counts}); percentages ending in 0/5: {self.p05_share:.4f} vs {self.p05_expected:.4f}, "
            f"{_fmt_p(self.p05_p_value)} (n={self.n_percentages})"
        )


def round_percent(counts: IntArray, totals: IntArray) -> IntArray:
    """count/total*100 rounded half up, in exact integer arithmetic."""
    return (200 * counts + totals) // (2 * totals)


def _p05_probability(totals: IntArray, p: FloatArray, exact_below_sd: float = 10.0) -> FloatArray:
    """P(round(100 X / n) is a multiple of 5) for X ~ Binomial(n, p), one value per row.

    Exact lattice sums where the binomial standard deviation is below ``exact_below_sd`` (there
    the granularity of small counts matters); above it the normal approximation with continuity
    correction is accurate to well under 1% per row and is about twenty times faster, which is
    what keeps this test at a second for 100k stations x 7 parties.
    """
    n = _as_int(totals)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    sd = np.sqrt(n * p * (1 - p))
    out = np.empty(n.size)
    wide = sd >= exact_below_sd
    out[~wide] = _p05_exact(n[~wide], p[~wide], sd[~wide])
    out[wide] = _p05_normal(n[wide], p[wide], sd[wide])
    return out


def _p05_exact(n: IntArray, p: FloatArray, sd: FloatArray, width_sd: float = 7.0) -> FloatArray:
    """Exact P05 probability by summing the binomial pmf over x within ``width_sd`` sd of the mean."""
    lo = np.maximum(np.floor(n * p - width_sd * sd) - 1, 0).astype(np.int64)
    hi = np.minimum(np.ceil(n * p + width_sd * sd) + 1, n).astype(np.int64)
    out = np.zeros(n.size)
    order = np.argsort(hi - lo, kind="stable")
    for chunk in np.array_split(order, max(1, n.size // 5000)):
        if chunk.size == 0:
            continue
        x = lo[chunk, None] + np.arange(int((hi[chunk] - lo[chunk]).max()) + 1)[None, :]
        nn, pp = n[chunk, None], p[chunk, None]
        keep = (x <= hi[chunk, None]) & (round_percent(x, np.maximum(nn, 1)) % 5 == 0)
        xf = np.where(keep, x, 0).astype(np.float64)
        logpmf = (special.gammaln(nn + 1.0) - special.gammaln(xf + 1) - special.gammaln(nn - xf + 1)
                  + special.xlogy(xf, pp) + special.xlog1py(nn - xf, -pp))
        out[chunk] = np.where(keep, np.exp(logpmf), 0.0).sum(axis=1)
    return np.clip(out, 0.0, 1.0)


def _p05_normal(n: IntArray, p: FloatArray, sd: FloatArray) -> FloatArray:
    k = np.arange(0, 101, 5)[None, :]
    nn = n[:, None].astype(np.float64)
    x_lo = np.ceil((k - 0.5) * nn / 100 - 1e-9)
    x_hi = np.ceil((k + 0.5) * nn / 100 - 1e-9) - 1
    mean, s = (n * p)[:, None], sd[:, None]
    mass = special.ndtr((x_hi + 0.5 - mean) / s) - special.ndtr((x_lo - 0.5 - mean) / s)
    return np.clip(np.where(x_hi >= x_lo, mass, 0.0).sum(axis=1), 0.0, 1.0)


def round_numbers(counts: npt.ArrayLike, totals: npt.ArrayLike, min_count: int = 10) -> RoundNumbersResult:
    """Round-number test (Beber & Scacco 2012): do counts or percentages end in 0 or 5 too often?

    C05s: among counts >= ``min_count``, the share ending in 0 or 5 should be 0.2 (last digits are
    uniform); exact two-sided binomial test.

    P05s: the percentage count/total*100, rounded to a whole number, ends in 0 or 5. Its expected
    share is not 0.2: a station with 40 votes can only show even percentages. We compute it
    analytically, station by station, as P(round(100 X/total) in {0, 5, ..., 100}) for
    X ~ Binomial(total, count/total), and compare the observed number with the sum of these
    probabilities (normal approximation to the Poisson-binomial, two-sided z-test).
    """
    c = _as_int(counts).ravel()
    t = _as_int(totals).ravel()
    if c.shape != t.shape:
        raise ValueError("counts and totals must have the same shape")
    big = c[c >= min_count]
    c05 = int(np.count_nonzero(big % 5 == 0))
    c05_p = float(stats.binomtest(c05, big.size, 0.2).pvalue) if big.size else float("nan")
    ok = (t > 0) & (c <= t)
    cc, tt = c[ok], t[ok]
    observed = int(np.count_nonzero(round_percent(cc, tt) % 5 == 0))
    probs = _p05_probability(tt, cc / tt) if tt.size else np.zeros(0)
    expected, var = float(probs.sum()), float((probs * (1 - probs)).sum())
    z = (observed - expected) / math.sqrt(var) if var > 0 else float("nan")
    return RoundNumbersResult(
        int(big.size), c05 / big.size if big.size else float("nan"), 0.2, c05_p,
        int(tt.size), observed / tt.size if tt.size else float("nan"),
        expected / tt.size if tt.size else float("nan"), float(z), _norm_two_sided(z), min_count,
    )


# --------------------------------------------------------------------------------------------
# Integer percentages (Kobak, Shpilkin & Pshenichnikov 2016)
# --------------------------------------------------------------------------------------------


def is_integer_percentage(
    counts: npt.ArrayLike, totals: npt.ArrayLike, tolerance: float = 0.05
) -> npt.NDArray[np.bool_]:
    """True where 100*count/total is within ``tolerance`` percentage points of a whole number.

    Uses the remainder of 100*count modulo total, so no float rounding can move a boundary case.
    """
    c, t = _as_int(counts), _as_int(totals)
    r = (100 * c) % t
    return np.minimum(r, t - r) <= tolerance * t


def _integer_probability(n: IntArray, p: FloatArray, tolerance: float = 0.05) -> FloatArray:
    """P(100 X / n is within ``tolerance`` of a whole number) for X ~ Binomial(n, p), per station."""
    return _percent_window_mass(n, p, step=1, half_width=tolerance, closed=True)


def _percent_window_mass(
    n: IntArray, p: FloatArray, step: int, half_width: float, closed: bool, width_sd: float = 7.0
) -> FloatArray:
    """Binomial(n, p) mass of the x whose percentage 100x/n lies near a multiple of ``step``.

    "Near k" is |100x/n - k| <= half_width (``closed``) or -half_width <= 100x/n - k < half_width.
    Only the k within ``width_sd`` standard deviations of 100p matter, and each holds at most
    2 * half_width * n / 100 + 1 values of x, so we sum exact binomial probabilities over that
    small lattice instead of calling a CDF for all 101 percentages. Rows are grouped by window
    size so that padding stays small.
    """
    n = _as_int(n)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    sd_pct = 100 * np.sqrt(p * (1 - p) / np.maximum(n, 1)) + 100 / np.maximum(n, 1)
    k_lo = np.maximum(np.floor((100 * p - width_sd * sd_pct) / step) - 1, 0).astype(np.int64) * step
    k_hi = np.minimum(np.ceil((100 * p + width_sd * sd_pct) / step) + 1, 100 // step).astype(np.int64) * step
    out = np.zeros(n.size)
    cost = (k_hi - k_lo) // step * (n // 50 + 1)
    order = np.argsort(cost, kind="stable")
    for chunk in np.array_split(order, max(1, n.size // 2000)):
        out[chunk] = _window_mass_chunk(n[chunk], p[chunk], k_lo[chunk], k_hi[chunk], step, half_width, closed)
    return np.clip(out, 0.0, 1.0)


def _window_mass_chunk(n: IntArray, p: FloatArray, k_lo: IntArray, k_hi: IntArray, step: int,
                       half_width: float, closed: bool) -> FloatArray:
    if n.size == 0:
        return np.zeros(0)
    k = k_lo[:, None] + step * np.arange(int((k_hi - k_lo).max()) // step + 1)[None, :]
    nn = n[:, None]
    x_lo = np.ceil((k - half_width) * nn / 100 - 1e-9).astype(np.int64)
    if closed:
        x_hi = np.floor((k + half_width) * nn / 100 + 1e-9).astype(np.int64)
    else:
        x_hi = np.ceil((k + half_width) * nn / 100 - 1e-9).astype(np.int64) - 1
    span = int(max((x_hi - x_lo).max(), 0)) + 1
    x = x_lo[:, :, None] + np.arange(span)[None, None, :]
    valid = (k <= k_hi[:, None])[:, :, None] & (x <= x_hi[:, :, None]) & (x >= 0) & (x <= nn[:, :, None])
    x = np.where(valid, x, 0).astype(np.float64)
    n3 = nn[:, :, None].astype(np.float64)
    p3 = p[:, None, None]
    logpmf = (special.gammaln(n3 + 1) - special.gammaln(x + 1.0) - special.gammaln(n3 - x + 1)
              + special.xlogy(x, p3) + special.xlog1py(n3 - x, -p3))
    return np.where(valid, np.exp(logpmf), 0.0).sum(axis=(1, 2))


@dataclass(frozen=True)
class IntegerPercentagesResult(_Result):
    """Stations whose turnout or leader's result is an integer percentage, observed vs binomial null."""

    n_stations: int
    observed: int
    expected: float
    excess: float
    sim_std: float
    p_value: float
    turnout_observed: int
    turnout_expected: float
    leader_observed: int
    leader_expected: float
    n_sim: int
    tolerance: float
    simulated: tuple[int, ...] = field(repr=False, metadata={"json": False})
    test_name: str = field(default="integer-percentages", metadata={"json": False})

    @property
    def z(self) -> float:
        return self.excess / self.sim_std if self.sim_std > 0 else float("nan")

    @property
    def summary(self) -> str:
        return (
            f"{self.observed} of {self.n_stations} stations show an integer turnout or leader's result, "
            f"{self.expected:.0f} expected (sd {self.sim_std:.1f}): excess {self.excess:+.0f}, "
            f"{_fmt_p(self.p_value)} ({self.n_sim} simulations)"
        )


def integer_percentages_mask(
    voters: IntArray, registered: IntArray, leader_votes: IntArray, ballots_cast: IntArray,
    min_registered: int = 100, max_percent: float = 99.0,
) -> npt.NDArray[np.bool_]:
    """Stations the paper keeps: >= 100 registered, a vote cast, both percentages <= 99%."""
    ok = (registered >= min_registered) & (voters > 0) & (ballots_cast > 0)
    ok &= voters * 100 <= max_percent * registered
    ok &= leader_votes * 100 <= max_percent * np.maximum(ballots_cast, 1)
    return ok & (leader_votes <= ballots_cast) & (voters <= registered)


def integer_percentages(
    voters: npt.ArrayLike, registered: npt.ArrayLike, leader_votes: npt.ArrayLike, ballots_cast: npt.ArrayLike,
    n_sim: int = 1000, seed: int = 0, tolerance: float = 0.05,
) -> IntegerPercentagesResult:
    """Integer-percentage test of Kobak, Shpilkin & Pshenichnikov (Ann. Appl. Stat. 10(1), 2016).

    Turnout = voters / registered, leader's result = leader's votes / ballots cast (valid +
    invalid). Stations with < 100 registered, no vote, or either percentage above 99% are left
    out, as in the paper. A percentage is "integer" when within ``tolerance`` (0.05) percentage
    points of a whole number. The statistic is the number of stations where turnout OR the
    leader's result is integer.

    Null model, as in the paper: every station's voters ~ Binomial(registered, observed turnout)
    and leader's votes ~ Binomial(ballots cast, observed result), drawn independently. Instead of
    drawing ~10^8 binomials we compute, per station, the exact probability that each draw lands
    on an integer percentage, and then draw the count ``n_sim`` times as a sum of independent
    Bernoulli trials with P(turnout or leader integer) = 1 - (1 - q_t)(1 - q_l). That is the same
    distribution as the paper's Monte Carlo, in a fraction of the time. The p-value is
    (1 + #{simulations >= observed}) / (1 + n_sim).
    """
    v, reg, lead, cast = (_as_int(a) for a in (voters, registered, leader_votes, ballots_cast))
    keep = integer_percentages_mask(v, reg, lead, cast)
    v, reg, lead, cast = v[keep], reg[keep], lead[keep], cast[keep]
    turnout_int = is_integer_percentage(v, reg, tolerance)
    leader_int = is_integer_percentage(lead, cast, tolerance)
    q_turnout = _integer_probability(reg, v / reg, tolerance)
    q_leader = _integer_probability(cast, lead / cast, tolerance)
    q_either = 1 - (1 - q_turnout) * (1 - q_leader)
    simulated = _bernoulli_sums(q_either, n_sim, seed)
    observed = int(np.count_nonzero(turnout_int | leader_int))
    expected = float(simulated.mean()) if n_sim else float(q_either.sum())
    p_value = (1 + int(np.count_nonzero(simulated >= observed))) / (1 + n_sim)
    return IntegerPercentagesResult(
        int(keep.sum()), observed, expected, observed - expected, float(simulated.std(ddof=1)) if n_sim > 1 else 0.0,
        p_value, int(turnout_int.sum()), float(q_turnout.sum()), int(leader_int.sum()), float(q_leader.sum()),
        n_sim, tolerance, tuple(int(s) for s in simulated),
    )


def _bernoulli_sums(prob: FloatArray, n_sim: int, seed: int, chunk: int = 50) -> IntArray:
    """``n_sim`` draws of sum_i Bernoulli(prob_i), in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_sim, dtype=np.int64)
    for start in range(0, n_sim, chunk):
        size = min(chunk, n_sim - start)
        out[start:start + size] = (rng.random((size, prob.size)) < prob).sum(axis=1)
    return out


# --------------------------------------------------------------------------------------------
# Election fingerprint (Klimek et al. 2012)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FingerprintResult(_Result):
    """2D histogram of turnout vs winner's share and the mass in the high/high corner."""

    n_stations: int
    bins: int
    corner: float
    mode_turnout: float
    mode_share: float
    corner_mass: float
    expected_mass: float
    excess_mass: float
    corner_stations: int
    mirror_stations: int
    p_value: float
    weighted_by: str
    histogram: tuple[tuple[float, ...], ...] = field(repr=False, metadata={"json": False})
    test_name: str = field(default="fingerprint", metadata={"json": False})

    @property
    def summary(self) -> str:
        return (
            f"{self.corner_mass:.2%} of {self.weighted_by} have turnout and winner's share > {self.corner:.0%}; "
            f"the mirror image about the mode ({self.mode_turnout:.2f}, {self.mode_share:.2f}) predicts "
            f"{self.expected_mass:.2%}: excess {self.excess_mass:+.2%}, {_fmt_p(self.p_value)}"
        )


def fingerprint(
    turnout: npt.ArrayLike, winner_share: npt.ArrayLike, weights: npt.ArrayLike | None = None,
    bins: int = 100, corner: float = 0.8, smooth_bins: float = 2.0,
) -> FingerprintResult:
    """Election fingerprint (Klimek, Yegorov, Hanel & Thurner, PNAS 109(41), 2012).

    The 2D histogram of turnout vs the winner's share. In a fair election it is a single
    roughly elliptic cloud; ballot stuffing smears it toward (100%, 100%). We measure the mass
    (share of ``weights``, or of stations) with both values above ``corner`` and compare it with
    what the cloud itself predicts: a 2D Gaussian, and Klimek's fair-election model in general,
    is symmetric under point reflection about its mode, so the expected corner mass is the
    mass in the corner's mirror image [2m - 1, 2m - corner] on each axis. The mode is the peak of
    the histogram smoothed with a Gaussian of ``smooth_bins`` bins.

    Significance: under that symmetry a station in either region is equally likely to be in the
    corner or in its mirror, so the number in the corner given the number in both is
    Binomial(m, 1/2); the p-value is the one-sided exact binomial tail (1.0 when m is 0).
    """
    t = np.asarray(turnout, dtype=np.float64)
    s = np.asarray(winner_share, dtype=np.float64)
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(s) & (t >= 0) & (t <= 1) & (s >= 0) & (s <= 1)
    t, s, w = t[ok], s[ok], w[ok]
    hist, _, _ = np.histogram2d(t, s, bins=bins, range=[[0, 1], [0, 1]], weights=w)
    mode_t, mode_s = _mode(hist, smooth_bins)
    in_corner = (t > corner) & (s > corner)
    lo_t, hi_t = 2 * mode_t - 1, 2 * mode_t - corner
    lo_s, hi_s = 2 * mode_s - 1, 2 * mode_s - corner
    in_mirror = (t >= lo_t) & (t < hi_t) & (s >= lo_s) & (s < hi_s)
    total = float(w.sum()) or 1.0
    n_c, n_m = int(in_corner.sum()), int(in_mirror.sum())
    p = float(stats.binom.sf(n_c - 1, n_c + n_m, 0.5)) if n_c + n_m else 1.0
    corner_mass, expected = float(w[in_corner].sum() / total), float(w[in_mirror].sum() / total)
    return FingerprintResult(
        int(t.size), bins, corner, mode_t, mode_s, corner_mass, expected, corner_mass - expected, n_c, n_m, p,
        "stations" if weights is None else "weight", tuple(tuple(float(x) for x in row) for row in hist),
    )


def _mode(hist: FloatArray, smooth_bins: float) -> tuple[float, float]:
    """Centre of the highest cell of the smoothed histogram, in data units."""
    smooth = ndimage.gaussian_filter(hist, smooth_bins, mode="constant")
    i, j = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return (i + 0.5) / hist.shape[0], (j + 0.5) / hist.shape[1]


# --------------------------------------------------------------------------------------------
# Shape of the turnout and share distributions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeStats(_Result):
    """Skewness, excess kurtosis and dip statistic of one distribution."""

    variable: str
    n: int
    skewness: float
    skewness_p: float
    kurtosis: float
    kurtosis_p: float
    dip: float
    dip_p: float
    test_name: str = field(default="shape", metadata={"json": False})

    @property
    def summary(self) -> str:
        return (
            f"{self.variable}: skewness {self.skewness:+.2f} ({_fmt_p(self.skewness_p)}), excess kurtosis "
            f"{self.kurtosis:+.2f} ({_fmt_p(self.kurtosis_p)}), dip {self.dip:.4f} ({_fmt_p(self.dip_p)})"
        )


@dataclass(frozen=True)
class TurnoutShapeResult(_Result):
    """Shape statistics of turnout and of the winner's share."""

    turnout: ShapeStats
    winner_share: ShapeStats
    dip_implementation: str
    test_name: str = field(default="turnout-shape", metadata={"json": False})

    @property
    def p_value(self) -> float:
        """Smallest dip-test p-value: multimodality is the shape anomaly this test is for."""
        return min(self.turnout.dip_p, self.winner_share.dip_p)

    @property
    def summary(self) -> str:
        return f"{self.turnout.summary}; {self.winner_share.summary}"


def dip_test(values: npt.ArrayLike) -> tuple[float, float]:
    """Hartigan & Hartigan's (1985) dip statistic and its p-value against the uniform null.

    Uses the PyPI package ``diptest`` (a C++ port of Maechler's R ``diptest``); above 72,000
    values its p-value table is extrapolated, which only matters for p-values near the cut-off.
    """
    import diptest  # local: an optional dependency only this test needs

    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size < 4:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dip, p = diptest.diptest(x, sort_x=False)
    return float(dip), float(p)


def shape_stats(values: npt.ArrayLike, variable: str) -> ShapeStats:
    """Skewness and kurtosis (D'Agostino tests against a normal shape) and the dip test.

    The skewness and kurtosis p-values test *normality*; honest turnout is not exactly normal,
    so with tens of thousands of stations they are small for benign reasons: read their values
    (Klimek et al. compare kurtosis across elections) rather than their p-values.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    nan = float("nan")
    skew = float(stats.skew(x)) if x.size > 2 else nan
    kurt = float(stats.kurtosis(x)) if x.size > 3 else nan
    skew_p = float(stats.skewtest(x).pvalue) if x.size >= 8 else nan
    kurt_p = float(stats.kurtosistest(x).pvalue) if x.size >= 20 else nan
    dip, dip_p = dip_test(x)
    return ShapeStats(variable, int(x.size), skew, skew_p, kurt, kurt_p, dip, dip_p)


def turnout_shape(turnout: npt.ArrayLike, winner_share: npt.ArrayLike) -> TurnoutShapeResult:
    """Shape of turnout and of the winner's share: skewness, kurtosis and Hartigan's dip test.

    A second mode (the Russian peak near 100%) or a heavy right tail is what ballot stuffing
    leaves behind (Klimek et al. 2012); the dip test asks whether one mode explains the data.
    """
    return TurnoutShapeResult(shape_stats(turnout, "turnout"), shape_stats(winner_share, "winner share"),
                              "diptest (PyPI)")


# --------------------------------------------------------------------------------------------
# Registry: CLI names -> functions over ContestArrays
# --------------------------------------------------------------------------------------------


def turnout_and_share(arrays: ContestArrays) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Turnout (voters/registered) and winner's share of valid votes, with the usable-station mask."""
    ok = (arrays.registered > 0) & (arrays.valid > 0) & (arrays.voters <= arrays.registered)
    reg = np.where(ok, arrays.registered, 1)
    valid = np.where(ok, arrays.valid, 1)
    return arrays.voters / reg, arrays.votes[:, arrays.winner_index] / valid, ok


def _run_second_digit(arrays: ContestArrays, n_boot: int = 1000, seed: int = 0) -> DigitTable:
    return second_digit_by_candidate(arrays.votes, arrays.candidate_names, n_boot, seed)


def _run_last_digit(arrays: ContestArrays, min_count: int = 10) -> DigitTable:
    return last_digit_by_candidate(arrays.votes, arrays.candidate_names, min_count)


def _run_round_numbers(arrays: ContestArrays, min_count: int = 10) -> RoundNumbersResult:
    totals = np.repeat(arrays.valid[:, None], arrays.votes.shape[1], axis=1)
    return round_numbers(arrays.votes, totals, min_count)


def _run_integer_percentages(arrays: ContestArrays, n_sim: int = 1000, seed: int = 0,
                             tolerance: float = 0.05) -> IntegerPercentagesResult:
    leader = arrays.votes[:, arrays.winner_index]
    return integer_percentages(arrays.voters, arrays.registered, leader, arrays.ballots_cast, n_sim, seed, tolerance)


def _run_fingerprint(arrays: ContestArrays, bins: int = 100, corner: float = 0.8,
                     weight_by: str = "stations") -> FingerprintResult:
    turnout, share, ok = turnout_and_share(arrays)
    weights = None if weight_by == "stations" else arrays.voters[ok].astype(np.float64)
    result = fingerprint(turnout[ok], share[ok], weights, bins, corner)
    return result if weights is None else _replace_label(result, "voters")


def _replace_label(result: FingerprintResult, label: str) -> FingerprintResult:
    from dataclasses import replace

    return replace(result, weighted_by=label)


def _run_turnout_shape(arrays: ContestArrays) -> TurnoutShapeResult:
    turnout, share, ok = turnout_and_share(arrays)
    return turnout_shape(turnout[ok], share[ok])


TESTS: dict[str, Callable[..., Any]] = {
    "second-digit": _run_second_digit,
    "last-digit": _run_last_digit,
    "round-numbers": _run_round_numbers,
    "integer-percentages": _run_integer_percentages,
    "fingerprint": _run_fingerprint,
    "turnout-shape": _run_turnout_shape,
}
"""CLI name -> ``f(arrays, **options) -> result``."""


def run(test_name: str, arrays: ContestArrays, **options: Any) -> Any:
    """Run the forensic test called ``test_name`` (a key of :data:`TESTS`) on one contest."""
    try:
        test = TESTS[test_name]
    except KeyError:
        raise ValueError(f"unknown forensic test {test_name!r}; choose from {', '.join(TESTS)}") from None
    return test(arrays, **options)


def run_with(test_name: str, arrays: ContestArrays, options: dict[str, Any]) -> Any:
    """Run ``test_name`` with those of ``options`` it takes (the CLI's --seed means nothing to some tests)."""
    import inspect

    accepted = inspect.signature(TESTS[test_name]).parameters
    return run(test_name, arrays, **{k: v for k, v in options.items() if k in accepted})


# --------------------------------------------------------------------------------------------
# Plots (matplotlib, Agg backend, PNG)
# --------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    """pyplot on the Agg backend, imported on first use so the tests stay importable without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fingerprint(result: FingerprintResult, path: str | Path, title: str = "") -> Path:
    """Klimek-style fingerprint: turnout (x) vs winner's share (y), log colour scale."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    hist = np.array(result.histogram)
    fig, ax = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
    masked = np.ma.masked_less_equal(hist.T, 0)
    image = ax.imshow(masked, origin="lower", extent=(0, 100, 0, 100), cmap="viridis", aspect="auto",
                      norm=LogNorm(vmin=max(masked.min(), 1e-9), vmax=masked.max()))
    fig.colorbar(image, ax=ax, label=result.weighted_by)
    c = 100 * result.corner
    ax.plot([c, 100, 100, c, c], [c, c, 100, 100, c], color="red", lw=1)
    ax.plot(100 * result.mode_turnout, 100 * result.mode_share, "w+", ms=10)
    ax.set(xlabel="turnout, %", ylabel="winner's share, %", title=title or "Election fingerprint")
    ax.text(1, 97, f"corner {result.corner_mass:.1%} vs mirror {result.expected_mass:.1%}", color="white",
            va="top", fontsize=8)
    return _save(fig, path)


def plot_integer_percentages(result: IntegerPercentagesResult, arrays: ContestArrays, path: str | Path,
                             title: str = "") -> Path:
    """Turnout and leader's result at 0.1-point bins (spikes at integers) and the null count."""
    plt = _pyplot()
    leader = arrays.votes[:, arrays.winner_index]
    keep = integer_percentages_mask(arrays.voters, arrays.registered, leader, arrays.ballots_cast)
    turnout = 100 * arrays.voters[keep] / arrays.registered[keep]
    result_pct = 100 * leader[keep] / arrays.ballots_cast[keep]
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), layout="constrained")
    edges = np.arange(0, 100.05, 0.1)
    for ax, values, label in ((axes[0], turnout, "turnout, %"), (axes[1], result_pct, "leader's result, %")):
        ax.hist(values, bins=edges, color="black", histtype="stepfilled", lw=0)
        ax.set(xlabel=label, ylabel="stations per 0.1%", xlim=(30, 100))
    sims = np.array(result.simulated)
    axes[2].hist(sims, bins=40, color="grey", label=f"binomial null ({result.n_sim} simulations)")
    axes[2].axvline(result.observed, color="red", label=f"observed {result.observed}")
    axes[2].set(xlabel="stations with integer turnout or leader's result", ylabel="simulations")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{title}\n{result.summary}" if title else result.summary, fontsize=9)
    return _save(fig, path)


def plot_digits(result: DigitTable, path: str | Path, title: str = "") -> Path:
    """Observed digit frequencies per candidate against the null (2BL or uniform)."""
    plt = _pyplot()
    rows = result.results
    cols = min(4, len(rows))
    nrows = math.ceil(len(rows) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), layout="constrained", squeeze=False)
    for ax, row in zip(axes.ravel(), rows, strict=False):
        counts = np.array(row.digit_counts, dtype=np.float64)
        share = counts / counts.sum() if counts.sum() else counts
        null = np.array(row.expected_proportions) if isinstance(row, SecondDigitResult) else np.full(10, 0.1)
        ax.bar(_DIGITS, share, color="steelblue")
        ax.plot(_DIGITS, null, "r.-", lw=1)
        ax.set_title(f"{row.candidate} ({_fmt_p(row.p_value)})", fontsize=8)
        ax.set_xticks(_DIGITS)
    for ax in axes.ravel()[len(rows):]:
        ax.set_visible(False)
    fig.suptitle(title or f"{result.test_name}: observed (bars) vs null (red)", fontsize=9)
    return _save(fig, path)


def plot_turnout_shape(arrays: ContestArrays, path: str | Path, title: str = "") -> Path:
    """Histograms of turnout and of the winner's share at 1-point bins."""
    plt = _pyplot()
    turnout, share, ok = turnout_and_share(arrays)
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    edges = np.linspace(0, 100, 101)
    ax.hist(100 * turnout[ok], bins=edges, histtype="step", label="turnout")
    ax.hist(100 * share[ok], bins=edges, histtype="step", label="winner's share")
    ax.set(xlabel="%", ylabel="stations", title=title or "Turnout and winner's share")
    ax.legend()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    _pyplot().close(fig)
    return out


def plot(test_name: str, result: Any, arrays: ContestArrays, path: str | Path) -> Path:
    """Draw the plot that goes with ``test_name``'s result as a PNG at ``path``."""
    if test_name == "fingerprint":
        return plot_fingerprint(result, path)
    if test_name == "integer-percentages":
        return plot_integer_percentages(result, arrays, path)
    if test_name in ("second-digit", "last-digit"):
        return plot_digits(result, path)
    if test_name == "round-numbers":
        return plot_digits(last_digit_by_candidate(arrays.votes, arrays.candidate_names, result.min_count), path,
                           "last digits of the counts (round numbers end in 0 or 5)")
    if test_name == "turnout-shape":
        return plot_turnout_shape(arrays, path)
    raise ValueError(f"unknown forensic test {test_name!r}; choose from {', '.join(TESTS)}")
