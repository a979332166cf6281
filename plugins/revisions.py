"""Built-in detector: a later revision of a form that changes the votes.

What it looks for
    A new revision (from any source: a desk correction, a witness, the PPK's recap) whose
    candidates' votes differ from the revision it replaces. The evidence holds both vote vectors
    and the difference per candidate.
Why
    A count is written once, at the station, in front of witnesses. A later change is either an
    honest correction of a misread form, or a mark-up between the station and the recap, the
    pattern of "vote shifting" at the PPK that Indonesia's 2024 disputes turned on. They look
    alike in a list of revisions; they differ in what the earlier revision was:

    * the earlier form broke its own arithmetic and the new one adds up: a **correction** (info);
    * the earlier form added up and the new one changes the votes: **warning**;
    * ... and one candidate gains at least ``min_gain`` votes (and ``min_gain_share`` of the
      valid votes) while nobody else does: **critical**, the shape of a mark-up.
Reference
    UU 7/2017 art. 532 and UU 10/2016 art. 178 (changing a count is an election crime); Bawaslu's
    2024 findings on recap mark-ups; the form rules of :mod:`pilkada_graph.rules`.
Settings
    ``min_gain`` (10), ``min_gain_share`` (0.02).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pilkada_graph.detect_types import (
    BoolArray,
    ContestView,
    DetectorInfo,
    DetectorSettings,
    Finding,
    Severity,
    TallyBatch,
    TallyView,
)
from pilkada_graph.hookspecs import hookimpl

NAME = "revision-change"
COUNT_RULES = frozenset({"votes-sum", "votes-total", "voters-registered"})
CORRECTION = "Compare the revision with the form's photo (C.Hasil); if the photo bears it out, resolve the issue."
MARK_UP = ("Compare the new figures with the station's form photo (C.Hasil) and the witnesses' copies; ask the "
           "PPK for its recap (D.Hasil) and who changed the figures; if the station's form does not bear them "
           "out, report to Bawaslu and recommend that it consider a recount.")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(
            NAME,
            "A later revision changes the votes: a correction of a broken form, or a mark-up of one that added up.",
            defaults={"min_gain": 10, "min_gain_share": 0.02},
            reference="UU 10/2016 art. 178; Bawaslu findings on recap mark-ups, 2024",
            next_step=MARK_UP,
        )
    ]


@hookimpl
def pilkada_check_tallies(tallies: TallyBatch, settings: DetectorSettings) -> list[Finding] | None:
    """Only the revisions whose votes differ from the ones they replaced are looked at closer."""
    if settings.of(NAME) is None:
        return None
    return [finding for i in tallies.rows_where(votes_changed)
            for finding in check_tally(tallies.view(i), tallies.previous(i), tallies.contest(i), settings)]


def votes_changed(tallies: TallyBatch) -> BoolArray:
    """The rows whose votes differ from the revision they replaced (where both read a candidate's)."""
    now, before = tallies.votes, tallies.previous_votes
    return tallies.has_previous & ((now != before) & ~np.isnan(now) & ~np.isnan(before)).any(axis=1)  # type: ignore[no-any-return]


def check_tally(tally: TallyView, previous: TallyView | None, contest: ContestView,
                settings: DetectorSettings) -> list[Finding]:
    """The finding on one revision, if it changes the votes of the one it replaced."""
    config = settings.of(NAME)
    if config is None:
        return []
    if previous is None:
        return []
    change = vote_change(previous.votes, tally.votes)
    if not any(change):
        return []
    return [finding_for(tally, previous, contest, change, config)]


def vote_change(before: Sequence[int | None], after: Sequence[int | None]) -> list[int]:
    """after - before per candidate; a field read in only one of them counts as no change."""
    width = max(len(before), len(after))
    padded = [(before[i] if i < len(before) else None, after[i] if i < len(after) else None) for i in range(width)]
    return [a - b if a is not None and b is not None else 0 for b, a in padded]


def broke_count_rules(view: TallyView) -> bool:
    return any(f.rule in COUNT_RULES for f in view.failed_checks)


def classify(previous: TallyView, tally: TallyView, change: Sequence[int],
             config: Mapping[str, Any]) -> tuple[Severity, str]:
    if broke_count_rules(previous) and not broke_count_rules(tally):
        return "info", "correction"
    gains = [d for d in change if d > 0]
    valid = tally.valid_votes or sum(v or 0 for v in tally.votes)
    one_gainer = len(gains) == 1 and gains[0] >= max(int(config["min_gain"]), float(config["min_gain_share"]) * valid)
    return ("critical", "mark-up") if one_gainer else ("warning", "change")


def finding_for(tally: TallyView, previous: TallyView, contest: ContestView, change: Sequence[int],
                config: Mapping[str, Any]) -> Finding:
    severity, kind = classify(previous, tally, change, config)
    moved = ", ".join(f"{contest.candidates.get(k, f'candidate {k}')} (no. {k}) {d:+d}"
                      for k, d in enumerate(change, start=1) if d)
    source = f" from {tally.source}" if tally.source else ""
    if kind == "correction":
        message = f"revision{source} corrects a form that did not add up: {moved}"
    elif kind == "mark-up":
        message = f"revision{source} adds votes to one candidate of a form that added up: {moved}"
    else:
        message = f"revision{source} changes the votes of a form that added up: {moved}"
    return Finding(
        detector=NAME,
        subject=tally.station_code,
        contest=tally.contest_code,
        severity=severity,
        message=message,
        evidence={"kind": kind, "change": list(change), "before": list(previous.votes), "after": list(tally.votes),
                  "previous_submission": previous.submission_id, "submission_id": tally.submission_id,
                  "source": tally.source, "previous_source": previous.source,
                  "previous_failed_checks": [f.rule for f in previous.failed_checks]},
        suggestion=CORRECTION if kind == "correction" else MARK_UP,
        score=float(max(abs(d) for d in change)),
    )
