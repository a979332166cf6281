"""Built-in detector: turnout rules that a single form can break on its own.

What it looks for
    * more voters than registered (the form's DPT + DPTb + DPK, or the station list's figure when
      the form carries no DPT) - unless ``form-arithmetic`` is enabled and already reports the
      form's own ``voters-registered`` rule, so one problem is not queued twice;
    * turnout at or near 100% (``near_full``, 98% by default) at a station of at least
      ``min_registered`` voters;
    * no unused ballot at all (every ballot received was used or spoiled).
Why
    Real turnout in Indonesia stays far from 100% (about 70% in the 2024 Pilkada): every voter
    on the list voting, or every ballot used, is what ballot stuffing and invented forms look
    like. The station's *peers* are judged by the ``turnout-outlier`` detector; these rules need
    no peers and run as each form arrives.
Reference
    UU 10/2016 and PKPU 17/2024 (only registered voters and DPK voters with an ID card vote);
    Klimek et al., PNAS 109(41), 2012 (100% turnout with 100% for one side as a fraud marker).
Settings
    ``near_full`` (0.98), ``min_registered`` (20), ``zero_unused`` (true).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from pilkada_graph.detect_types import (
    BoolArray,
    DetectorInfo,
    DetectorSettings,
    Finding,
    Severity,
    TallyBatch,
    TallyView,
)
from pilkada_graph.hookspecs import hookimpl

NAME = "turnout-rules"
ARITHMETIC = "form-arithmetic"
OVER_REGISTERED = ("Check the form's photo and the station's voter lists (DPT, DPTb, DPK); if the form "
                   "really shows more voters than registered, recommend that Bawaslu consider a re-vote (PSU).")
NEAR_FULL = ("Check the form's photo and the signed voter attendance list (C.Daftar Hadir); ask the "
             "witnesses for their copy; if the attendance list is short, recommend that Bawaslu consider "
             "a recount or a re-vote (PSU).")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(
            NAME,
            "More voters than registered, turnout at or near 100%, or not one unused ballot.",
            defaults={"near_full": 0.98, "min_registered": 20, "zero_unused": True},
            reference="PKPU 17/2024; Klimek et al., PNAS 109(41), 2012",
            next_step=NEAR_FULL,
        )
    ]


@hookimpl
def pilkada_check_tallies(tallies: TallyBatch, settings: DetectorSettings) -> list[Finding] | None:
    """Only the forms that may break a rule are looked at closer: more voters than registered, turnout
    at or near full at a station large enough, or no unused ballot."""
    config = settings.of(NAME)
    if config is None:
        return None
    return [finding for i in tallies.rows_where(partial(worth_a_look, config=config))
            for finding in check_tally(tallies.view(i), settings)]


def worth_a_look(tallies: TallyBatch, config: Mapping[str, Any]) -> BoolArray:
    """The rows that may break a rule (``turnout_problems`` decides)."""
    voters, unused, received = tallies.voters, tallies.counts["ballots_unused"], tallies.counts["ballots_received"]
    near = (tallies.turnout >= float(config.get("near_full", 0.98))) & (
        tallies.registered >= int(config.get("min_registered", 20)))
    none_unused = (unused == 0) & (received > 0) & (voters > 0) if config.get("zero_unused", True) else False
    return (voters > tallies.registered) | near | none_unused  # type: ignore[no-any-return]


def check_tally(tally: TallyView, settings: DetectorSettings) -> list[Finding]:
    """The finding on one form, if it breaks a turnout rule."""
    config = settings.of(NAME)
    if config is None:
        return []
    problems = turnout_problems(tally, config, arithmetic_reports=ARITHMETIC in settings)
    if not problems:
        return []
    severity: Severity = "critical" if any(p["rule"] == "over-registered" for p in problems) else "warning"
    over = any(p["rule"] == "over-registered" for p in problems)
    return [Finding(
        detector=NAME,
        subject=tally.station_code,
        contest=tally.contest_code,
        severity=severity,
        message="; ".join(p["message"] for p in problems),
        evidence={"problems": problems, "voters": tally.voters, "registered": tally.registered,
                  "ballots_received": tally.ballots_received, "ballots_unused": tally.ballots_unused,
                  "submission_id": tally.submission_id},
        suggestion=OVER_REGISTERED if over else NEAR_FULL,
        score=tally.turnout,
    )]


def turnout_problems(tally: TallyView, config: Mapping[str, Any], *, arithmetic_reports: bool) -> list[dict[str, Any]]:
    """The turnout rules this form breaks, each with its figures and a sentence."""
    problems: list[dict[str, Any]] = []
    voters, registered, turnout = tally.voters, tally.registered, tally.turnout
    if voters is not None and registered is not None and voters > registered:
        already = arithmetic_reports and any(f.rule == "voters-registered" for f in tally.failed_checks)
        if not already:
            problems.append({"rule": "over-registered", "voters": voters, "registered": registered,
                             "message": f"{voters} voters, but only {registered} registered"})
    elif near_full(turnout, registered, config):
        problems.append({"rule": "near-full", "turnout": turnout,
                         "message": f"turnout {100 * (turnout or 0):.1f}% ({voters} of {registered} registered)"})
    if config.get("zero_unused", True) and tally.ballots_unused == 0 and tally.ballots_received and voters:
        problems.append({"rule": "zero-unused", "ballots_received": tally.ballots_received,
                         "message": f"not one of {tally.ballots_received} ballots received is unused"})
    return problems


def near_full(turnout: float | None, registered: int | None, config: Mapping[str, Any]) -> bool:
    if turnout is None or registered is None or registered < int(config.get("min_registered", 20)):
        return False
    return turnout >= float(config.get("near_full", 0.98))
