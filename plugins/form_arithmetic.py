"""Built-in detector: the result form's own arithmetic does not add up.

The rules are :mod:`pilkada_graph.rules` (the same the entry screen and GraphQL's
``failedChecks`` use); the runner has already evaluated them on every revision, so this
detector only decides what deserves a reviewer's attention and how urgently. A form whose
votes do not add up was almost always misread or mistyped, and its figures enter the count:
that is critical. Ballot accounting errors do not change the count: a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, Severity, TallyView
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.rules import CheckFailure

NAME = "form-arithmetic"
#: Rules whose failure means the counted figures themselves are wrong.
COUNT_RULES = frozenset({"votes-sum", "votes-total", "voters-registered"})
SUGGESTION = ("Check the form's photo (C.Hasil) and correct the entry; if the photo shows the same "
              "figures, ask the PPK for its recap (D.Hasil) or the witnesses for their copy.")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(
            NAME,
            "The form's figures do not add up (votes, totals, voters against registered, ballots).",
            defaults={"tolerance": 0, "ignore_rules": []},
            reference="PKPU 17/2024, Model C.Hasil; shared/spec/bundle.md",
            next_step=SUGGESTION,
        )
    ]


@hookimpl
def pilkada_check_tally(tally: TallyView, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    failures = relevant_failures(tally.failed_checks, config)
    if not failures:
        return []
    return [finding_for(tally, failures)]


def relevant_failures(failures: Sequence[CheckFailure], config: Mapping[str, Any]) -> list[CheckFailure]:
    ignored = set(config.get("ignore_rules", ()))
    tolerance = int(config.get("tolerance", 0))
    return [f for f in failures if f.rule not in ignored and abs(f.difference) > tolerance]


def finding_for(tally: TallyView, failures: Sequence[CheckFailure]) -> Finding:
    severity: Severity = "critical" if any(f.rule in COUNT_RULES for f in failures) else "warning"
    return Finding(
        detector=NAME,
        subject=tally.station_code,
        contest=tally.contest_code,
        severity=severity,
        message="; ".join(f.message for f in failures),
        evidence={"failed_checks": [f.to_dict() for f in failures], "submission_id": tally.submission_id},
        suggestion=SUGGESTION,
        score=float(max(abs(f.difference) for f in failures)),
    )
