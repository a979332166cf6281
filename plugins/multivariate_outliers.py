"""Built-in detector: a station unlike the others of its region in several respects at once.

What it looks for
    Per contest and region (the runner's regency, or a city's contest as a whole), scikit-learn's
    LocalOutlierFactor is fitted on every reporting station's turnout, each candidate's share,
    the invalid share (all on the logit scale) and the station's size (log registered), each
    feature robustly standardised (median/MAD). Its outlier factor is then *calibrated* against
    its own distribution: the upper tail of the factors (above their ``tail_quantile``) is fitted
    with an exponential (peaks over threshold, the generalised Pareto with shape 0), which gives
    a p-value to every factor beyond the bulk; multiplied by the number of stations
    (Bonferroni), below ``alpha`` it is a warning, below ``info_alpha`` an info. So the number
    of issues follows the data, not a fixed top-N. (LocalOutlierFactor rather than an
    IsolationForest: the same ranking quality here, at a hundredth of the time per region.)
Why
    Some forms are odd in a combination no single rule checks (a big station with a low
    turnout, a high invalid share and an unusual winner). This detector casts the wide net; the
    specific detectors say what is wrong, this one says where to look.
Reference
    Breunig, Kriegel, Ng & Sander, "LOF", SIGMOD 2000; Coles, *An Introduction to Statistical
    Modeling of Extreme Values*, 2001 (peaks over threshold).
Settings
    ``alpha`` (0.01), ``info_alpha`` (0.2), ``neighbours`` (20), ``tail_quantile`` (0.9),
    ``min_stations`` (30).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from sklearn.neighbors import LocalOutlierFactor

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, RegionTallies, Severity
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.peerstats import MAD_TO_SD, bonferroni, empirical_logit, fmt_p

NAME = "multivariate-outlier"
SUGGESTION = ("Look at the station's form photo (C.Hasil) and its figures beside its neighbours'; if nothing "
              "explains the difference, ask the witnesses for their copy.")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [DetectorInfo(
        NAME, "A station unlike its region's in turnout, shares, invalid votes and size together (LOF).",
        defaults={"alpha": 0.01, "info_alpha": 0.2, "neighbours": 20, "tail_quantile": 0.9, "min_stations": 30},
        reference="Breunig et al., SIGMOD 2000; Coles 2001", next_step=SUGGESTION, checks="region",
    )]


def features(tallies: RegionTallies) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Turnout, shares, invalid share (logits) and log size, one row per station (nan where unread)."""
    valid = np.nansum(tallies.votes, axis=1)
    columns = [empirical_logit(tallies.voters, tallies.registered)[0]]
    names = ["turnout"]
    for j, number in enumerate(tallies.candidates):
        columns.append(empirical_logit(tallies.votes[:, j], valid)[0])
        names.append(f"share_{number}")
    columns.append(empirical_logit(tallies.invalid_votes, tallies.valid_votes + tallies.invalid_votes)[0])
    names.append("invalid_share")
    with np.errstate(divide="ignore", invalid="ignore"):
        columns.append(np.log(tallies.registered))
    names.append("log_registered")
    return np.column_stack(columns), names


def standardised(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    centre = np.median(x, axis=0)
    scale = MAD_TO_SD * np.median(np.abs(x - centre), axis=0)
    return (x - centre) / np.where(scale > 0, scale, 1.0)


@hookimpl
def pilkada_check_region(tallies: RegionTallies, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    x, names = features(tallies)
    rows = np.flatnonzero(np.isfinite(x).all(axis=1))
    if rows.size < int(config["min_stations"]):
        return []
    z = standardised(x[rows])
    neighbours = min(int(config["neighbours"]), rows.size - 1)
    factor = -LocalOutlierFactor(n_neighbors=neighbours).fit(z).negative_outlier_factor_
    calibrated, p_one = tail_p_values(factor, float(config["tail_quantile"]))
    p = bonferroni(p_one, rows.size)
    findings = []
    for k in np.flatnonzero(p < float(config["info_alpha"])):
        severity: Severity = "warning" if p[k] < float(config["alpha"]) else "info"
        findings.append(finding(tallies, int(rows[k]), z[k], names, float(calibrated[k]), float(p[k]), severity,
                                rows.size))
    return findings


def tail_p_values(score: npt.NDArray[np.float64], quantile: float
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """P(score >= s) from the empirical bulk and an exponential fitted to the excesses over the tail.

    Returns the excess in units of the fitted tail's mean and the one-sided p-values.
    """
    threshold = float(np.quantile(score, quantile))
    excess = score[score > threshold] - threshold
    mean_excess = float(excess.mean()) if excess.size else 0.0
    if mean_excess <= 0:
        return np.zeros(score.shape), np.ones(score.shape)
    above = np.maximum(score - threshold, 0.0) / mean_excess
    tail = (1.0 - quantile) * np.exp(-above)
    bulk = 1.0 - np.searchsorted(np.sort(score), score, side="left") / score.size
    return above, np.where(score > threshold, tail, bulk)


def finding(tallies: RegionTallies, i: int, z: npt.NDArray[np.float64], names: list[str], score: float, p: float,
            severity: Severity, tested: int) -> Finding:
    order = np.argsort(-np.abs(z))[:3]
    unusual = ", ".join(f"{names[k]} {z[k]:+.1f} sd" for k in order)
    return Finding(
        detector=NAME, subject=str(tallies.station_codes[i]), contest=tallies.contest_code, severity=severity,
        message=f"unlike the region's other stations ({unusual}); {fmt_p(p)} after {tested} stations",
        evidence={"tail_excess": score, "p_adjusted": p, "stations": tested,
                  "features": {names[k]: float(z[k]) for k in range(len(names))}},
        suggestion=SUGGESTION, score=-math.log10(max(p, 1e-300)),
    )


