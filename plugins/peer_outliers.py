"""Built-in detectors: a station far outside its peers' turnout or vote shares.

What they look for
    ``turnout-outlier``: a station whose turnout is far from its peers'. ``vote-share-outlier``:
    a station where one candidate's share of the valid votes is far above its peers' (votes
    flipped to that candidate), or where that share and the turnout are both above them (ballots
    stuffed for that candidate: each signal may be moderate, together they are not).
How
    Peers are the other stations of the village together with the district (the median of the
    village's other stations and the district's leave-one-out median), within the region the
    runner hands over (a regency, or a city's contest as a whole); a station whose own turnout or
    share is already a clear outlier (family-wise, either way) is left out as a peer, so an
    invented neighbour does not make its honest village look odd. Rates are compared on the
    empirical-logit scale, where each station's binomial counting noise is known from its size;
    the extra spread of honest stations (``tau``) is estimated from the region itself so that
    the z-scores' robust standard deviation is one (:mod:`pilkada_graph.peerstats`); with
    ``tail_quantile`` set, the tail is then widened to the region's own quantile of |z| when
    honest differences are heavier-tailed than a normal (``tail_scale``; off by default, see why
    there). Turnout and a share both above the peers are
    scored together: their sum, divided by its own robust spread in the region (honest turnout
    and shares are correlated), the direction stuffed ballots push both. A turnout is
    reported when its one-sided p-value, multiplied by the number of stations tested in the region
    (Bonferroni), is below ``alpha`` (warning) or ``critical_alpha`` (critical); a turnout far
    *below* its peers is reported as info (a problem of the form, rarely of fraud). A share is
    reported when its p-value (the smaller of share alone and share with turnout), adjusted by
    Benjamini-Hochberg over every station and candidate of the region, is below ``alpha``:
    the expected share of honest stations among those reported stays at ``alpha``, and a region
    where nothing is wrong reports anything with chance ``alpha``; but where several stations
    were tampered with, the weaker flips get through, which Bonferroni would stop.
Why
    Stuffing and flipping keep the form's arithmetic intact; they show only against the
    neighbours, who voted under the same conditions. Thresholds are probabilities, not
    percentages, so they mean the same in a high-variance election and a homogeneous one.
Reference
    Median/MAD outlier rules (Hampel 1974; Leys et al., J. Exp. Soc. Psych. 49, 2013);
    empirical logit (Cox 1970); Bonferroni correction; Benjamini & Hochberg, JRSS B 57(1), 1995;
    Klimek et al., PNAS 109(41), 2012.
Settings
    ``alpha`` (0.02: the family-wise level of turnout reports, the false-discovery rate of share
    reports; a desk that wants nine in ten warnings to be real can afford two in a hundred
    false), ``critical_alpha`` (1e-6), ``min_district_peers`` (4),
    ``tail_quantile`` (0 = a normal tail for turnout and a single share; e.g. 0.8 reads the tail's
    width on the region's own z-scores), ``joint_tail_quantile`` (0.8 for the joint turnout+share
    score: a sum of two heavy-tailed honest differences has a heavier tail than either, and
    without it honest regions raise it more often than ``alpha`` says, while widening the
    single-share tail too cost the recall of flipped votes on the benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pilkada_graph.detect_types import ContestView, DetectorInfo, DetectorSettings, Finding, RegionTallies, Severity
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.peerstats import (
    PeerComparison,
    benjamini_hochberg,
    bonferroni,
    compare_with_peers,
    expit,
    fmt_p,
    robust_sd,
    tail_scale,
    upper_p,
)

TURNOUT = "turnout-outlier"
SHARES = "vote-share-outlier"
DEFAULTS = {"alpha": 0.02, "critical_alpha": 1e-6, "min_district_peers": 4, "tail_quantile": 0.0,
            "joint_tail_quantile": 0.8}
REFERENCE = "Hampel 1974; Leys et al. 2013; Benjamini & Hochberg 1995; Klimek et al., PNAS 109(41), 2012"
SUGGESTION = ("Check the form's photo (C.Hasil) against the entry; ask the witnesses for their copy and the PPK "
              "for its recap; if the figures are confirmed and the attendance list does not explain them, "
              "recommend that Bawaslu consider a recount or a re-vote (PSU).")
LOW_TURNOUT = "Check the form's photo: a far lower turnout than the neighbours' is most often a misread count."


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(TURNOUT, "A station's turnout is far from its village's and district's (binomial-aware z).",
                     defaults=dict(DEFAULTS), reference=REFERENCE, next_step=SUGGESTION, checks="region"),
        DetectorInfo(SHARES, "A candidate's share far above the station's peers', alone or with the turnout.",
                     defaults=dict(DEFAULTS), reference=REFERENCE, next_step=SUGGESTION, checks="region"),
    ]


@dataclass(frozen=True)
class PeerSignals:
    """The peer comparisons of one region: turnout, and each candidate's share of the valid votes."""

    turnout: PeerComparison
    shares: list[PeerComparison]


def peer_signals(tallies: RegionTallies, min_district_peers: int) -> PeerSignals:
    """Turnout and shares against peers; a station that is itself a clear outlier is nobody's peer.

    Two passes: the first compares every station with every form that adds up; the second
    leaves out as peers the stations whose turnout or a share is beyond the family-wise
    threshold. In a village of two, an invented neighbour (turnout 99%, one candidate 98%)
    would otherwise be half of the honest station's reference and make it an outlier in turn.
    """
    fit = adds_up(tallies)
    first = compare_all(tallies, min_district_peers, fit)
    return compare_all(tallies, min_district_peers, fit & ~clear_outliers(first))


def compare_all(tallies: RegionTallies, min_district_peers: int, peers: np.ndarray) -> PeerSignals:
    places = (tallies.village_codes, tallies.district_codes)
    turnout = compare_with_peers(tallies.voters, tallies.registered, *places, min_district_peers=min_district_peers,
                                 peers=peers)
    valid = np.where(np.isnan(tallies.votes).any(axis=1), np.nan, np.nansum(tallies.votes, axis=1))
    shares = [compare_with_peers(tallies.votes[:, j], valid, *places, min_district_peers=min_district_peers,
                                 peers=peers) for j in range(tallies.votes.shape[1])]
    return PeerSignals(turnout, shares)


def clear_outliers(signals: PeerSignals, alpha: float = 0.05) -> np.ndarray:
    """Stations whose turnout or some share is an outlier either way at family-wise level ``alpha``."""
    z = np.column_stack([signals.turnout.z, *[s.z for s in signals.shares]])
    p = bonferroni(2.0 * upper_p(np.abs(z)), int(np.count_nonzero(np.isfinite(z))))
    return np.nanmin(np.where(np.isfinite(p), p, 1.0), axis=1) < alpha


def adds_up(tallies: RegionTallies) -> np.ndarray:
    """Stations fit to be peers: no more voters than registered, votes = valid, valid + invalid = voters.

    Fields not read do not disqualify; a misread form (a turnout of 0.2% for a "1" read for
    "381") would drag a small village's reference and make its honest neighbour look odd.
    """
    valid = np.nansum(tallies.votes, axis=1)
    with np.errstate(invalid="ignore"):
        bad = (tallies.voters > tallies.registered) | (np.abs(valid - tallies.valid_votes) > 0)
        bad |= np.abs(tallies.valid_votes + tallies.invalid_votes - tallies.voters) > 0
    return ~np.nan_to_num(bad, nan=0).astype(bool)


@hookimpl
def pilkada_check_region(contest: ContestView, tallies: RegionTallies,
                         settings: DetectorSettings) -> list[Finding] | None:
    wanted = [name for name in (TURNOUT, SHARES) if name in settings]
    if not wanted or tallies.stations_reported == 0:
        return None
    config = settings[wanted[0]]
    signals = peer_signals(tallies, int(config.get("min_district_peers", 4)))
    findings: list[Finding] = []
    if TURNOUT in settings:
        findings += turnout_findings(tallies, signals.turnout, settings[TURNOUT])
    if SHARES in settings and signals.shares:
        findings += share_findings(tallies, contest, signals, settings[SHARES])
    return findings


def severity_of(p_adjusted: float, config: Mapping[str, Any]) -> Severity | None:
    if p_adjusted < float(config["critical_alpha"]):
        return "critical"
    if p_adjusted < float(config["alpha"]):
        return "warning"
    return None


def turnout_findings(tallies: RegionTallies, turnout: PeerComparison, config: Mapping[str, Any]) -> list[Finding]:
    tests = turnout.tested
    z = turnout.z / tail_scale(turnout.z, float(config["tail_quantile"]))
    high = bonferroni(upper_p(z), tests)
    low = bonferroni(upper_p(-z), tests)
    findings = []
    for i in np.flatnonzero(np.minimum(high, low) < float(config["alpha"])):
        above = high[i] <= low[i]
        severity = severity_of(float(high[i]), config) if above else "info"
        if severity is None:
            continue
        observed, peers = float(expit(turnout.logit[i])), float(expit(turnout.reference[i]))
        p = float(high[i] if above else low[i])
        findings.append(Finding(
            detector=TURNOUT, subject=str(tallies.station_codes[i]), contest=tallies.contest_code, severity=severity,
            message=(f"turnout {100 * observed:.1f}% against {100 * peers:.1f}% at its peers "
                     f"(z = {turnout.z[i]:+.1f}, {fmt_p(p)} after {tests} stations tested)"),
            evidence={"turnout": observed, "peer_turnout": peers, "z": float(turnout.z[i]), "p_adjusted": p,
                      "tau": float(turnout.tau[i]), "stations_tested": tests, "voters": _int(tallies.voters[i]),
                      "registered": _int(tallies.registered[i]), "village_peers": int(turnout.village_peers[i])},
            suggestion=SUGGESTION if above else LOW_TURNOUT, score=abs(float(turnout.z[i])),
        ))
    return findings


def share_findings(tallies: RegionTallies, contest: ContestView, signals: PeerSignals,
                   config: Mapping[str, Any]) -> list[Finding]:
    """Per station, the strongest of: a share far above peers; a share and turnout above peers together."""
    z_share = np.column_stack([s.z for s in signals.shares])
    z_turnout = signals.turnout.z[:, None]
    z_sum = joint_z(z_share, z_turnout)
    with np.errstate(invalid="ignore"):
        z_both = np.where((z_share > 0) & (z_turnout > 0), z_sum, np.nan)
    tests = int(np.count_nonzero(np.isfinite(z_share)))
    p_share = upper_p(z_share / tail_scale(z_share, float(config["tail_quantile"])))
    p_both = upper_p(z_both / tail_scale(z_sum, float(config["joint_tail_quantile"])))
    best = benjamini_hochberg(np.fmin(p_share, p_both))
    findings = []
    for i in np.flatnonzero(np.nanmin(np.where(np.isfinite(best), best, 1.0), axis=1) < float(config["alpha"])):
        j = int(np.nanargmin(np.where(np.isfinite(best[i]), best[i], 1.0)))
        p = float(best[i, j])
        severity = severity_of(p, config)
        if severity is None:
            continue
        stuffed = bool(np.isfinite(p_both[i, j]) and p_both[i, j] < p_share[i, j])
        findings.append(_share_finding(tallies, contest, signals, int(i), j, p, severity, stuffed, tests))
    return findings


def joint_z(z_share: np.ndarray, z_turnout: np.ndarray) -> np.ndarray:
    """Turnout and a share above the peers together, as one z calibrated on the region itself.

    Stuffed ballots for one candidate raise both; the sum is the most powerful test of "both
    up" when each is standard normal. But honest stations' turnout and shares are correlated
    (a candidate's stronghold turns out more, or less), so the sum's spread is not sqrt(2):
    it is measured (robust sd over every station and candidate, never below one z's).
    """
    with np.errstate(invalid="ignore"):
        total = z_share + z_turnout
    spread = robust_sd(total)
    return total / (spread if math.isfinite(spread) and spread > 1.0 else 1.0)


def _share_finding(tallies: RegionTallies, contest: ContestView, signals: PeerSignals, i: int, j: int, p: float,
                   severity: Severity, stuffed: bool, tests: int) -> Finding:
    number = tallies.candidates[j]
    name = contest.candidates.get(number, f"candidate {number}")
    share, peer_share = float(expit(signals.shares[j].logit[i])), float(expit(signals.shares[j].reference[i]))
    turnout, peer_turnout = float(expit(signals.turnout.logit[i])), float(expit(signals.turnout.reference[i]))
    what = (f"{name} (no. {number}) has {100 * share:.1f}% of the valid votes against {100 * peer_share:.1f}% "
            f"at its peers (z = {signals.shares[j].z[i]:+.1f})")
    if stuffed:
        what += (f", with turnout {100 * turnout:.1f}% against {100 * peer_turnout:.1f}% "
                 f"(z = {signals.turnout.z[i]:+.1f})")
    return Finding(
        detector=SHARES, subject=str(tallies.station_codes[i]), contest=tallies.contest_code, severity=severity,
        message=f"{what}; {fmt_p(p)} adjusted over {tests} tests (Benjamini-Hochberg)",
        evidence={"candidate": number, "share": share, "peer_share": peer_share,
                  "z_share": float(signals.shares[j].z[i]),
                  "turnout": turnout, "peer_turnout": peer_turnout, "z_turnout": float(signals.turnout.z[i]),
                  "pattern": "share and turnout" if stuffed else "share", "p_adjusted": p, "tests": tests,
                  "votes": _int(tallies.votes[i, j]), "tau_share": float(signals.shares[j].tau[i])},
        suggestion=SUGGESTION, score=-math.log10(max(p, 1e-300)),
    )


def _int(value: float) -> int | None:
    return None if not math.isfinite(value) else int(value)
