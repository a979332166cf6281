"""Built-in detector: one candidate near 100% together with turnout near 100%.

What it looks for
    A station where turnout is at least ``turnout`` (95%) *and* one candidate has at least
    ``share`` (95%) of the valid votes, at a station of at least ``min_registered`` voters.
Why
    Each alone happens (a candidate's home village; a small, close-knit station); both together
    are the signature of a form filled in without a count: the upper-right corner of Klimek's
    election fingerprint, and the "100% for one pair" results that Bawaslu investigated in 2024.
Reference
    Klimek, Yegorov, Hanel & Thurner, "Statistical detection of systematic election
    irregularities", PNAS 109(41), 2012.
Settings
    ``turnout`` (0.95), ``share`` (0.95), ``min_registered`` (50).
"""

from __future__ import annotations

from pilkada_graph.detect_types import ContestView, DetectorInfo, DetectorSettings, Finding, TallyBatch, TallyView
from pilkada_graph.hookspecs import hookimpl

NAME = "extreme-result"
SUGGESTION = ("Ask the witnesses for their copy of the form and the PPK for its recap; compare the voter "
              "attendance list (C.Daftar Hadir) with the turnout; if they do not bear it out, recommend that "
              "Bawaslu consider a recount or a re-vote (PSU).")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(
            NAME,
            "One candidate near 100% of the votes at a station where turnout is also near 100%.",
            defaults={"turnout": 0.95, "share": 0.95, "min_registered": 50},
            reference="Klimek et al., PNAS 109(41), 2012",
            next_step=SUGGESTION,
        )
    ]


@hookimpl
def pilkada_check_tallies(tallies: TallyBatch, settings: DetectorSettings) -> list[Finding] | None:
    """Only stations with turnout near 100% (and enough registered voters) are looked at closer."""
    config = settings.of(NAME)
    if config is None:
        return None
    turnout, registered = float(config["turnout"]), int(config["min_registered"])
    return [finding for i in tallies.rows_where(lambda t: (t.turnout >= turnout) & (t.registered >= registered))
            for finding in check_tally(tallies.view(i), tallies.contest(i), settings)]


def check_tally(tally: TallyView, contest: ContestView, settings: DetectorSettings) -> list[Finding]:
    """The finding on one form, if one candidate has nearly every vote where nearly everyone voted."""
    config = settings.of(NAME)
    if config is None:
        return []
    turnout, registered = tally.turnout, tally.registered
    votes = [v for v in tally.votes if v is not None]
    if turnout is None or registered is None or not votes or registered < int(config["min_registered"]):
        return []
    valid = sum(votes)
    top = max(votes)
    share = top / valid if valid else 0.0
    if turnout < float(config["turnout"]) or share < float(config["share"]):
        return []
    number = tally.votes.index(top) + 1
    name = contest.candidates.get(number, f"candidate {number}")
    return [Finding(
        detector=NAME,
        subject=tally.station_code,
        contest=tally.contest_code,
        severity="critical",
        message=(f"{name} (no. {number}) has {100 * share:.1f}% of the valid votes ({top} of {valid}) "
                 f"with turnout {100 * turnout:.1f}% ({tally.voters} of {registered} registered)"),
        evidence={"candidate": number, "votes": top, "valid_votes": valid, "share": share,
                  "turnout": turnout, "voters": tally.voters, "registered": registered,
                  "submission_id": tally.submission_id},
        suggestion=SUGGESTION,
        score=min(share, turnout),
    )]
