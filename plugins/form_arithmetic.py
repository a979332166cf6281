"""Built-in detector: the result form's own arithmetic does not add up.

What it looks for
    Any rule of ``shared/spec/bundle.md`` that the form's *filled* fields break (a form read in
    part breaks no rule with what it lacks): the votes do not add up to the valid votes; valid +
    invalid, total, ballots used and voters disagree; more voters than registered; ballots do not
    balance or do not match the DPT plus the 2.5% reserve.
Why
    A form whose votes do not add up was almost always misread or mistyped, and its figures
    enter the count: that is critical. Ballot accounting errors do not change the count: a
    warning. When the difference is what one misread digit makes (3 read as 8, 2 as 7, 1 as 7,
    5 as 6, ...) or a digit written twice, the issue says which field probably holds it, so the
    reviewer knows where to look on the photo.
Reference
    PKPU 17/2024 and its Model C.Hasil; the rules are :mod:`pilkada_graph.rules` (the same the entry
    screen and GraphQL's ``failedChecks`` use); the runner has already evaluated them.
Settings
    ``tolerance`` (0): differences up to this are ignored; ``ignore_rules`` ([]): rule names not
    to report (e.g. ``ballots-reserve`` where the reserve is handled differently).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, Severity, TallyBatch, TallyView
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.rules import CheckFailure, FormValues, failed_checks

NAME = "form-arithmetic"
#: Rules whose failure means the counted figures themselves are wrong.
COUNT_RULES = frozenset({"votes-sum", "votes-total", "voters-registered"})
#: Handwritten digits a reader or the OCR confuses (both ways).
CONFUSABLE_DIGITS = ((3, 8), (2, 7), (1, 7), (5, 6), (4, 9), (0, 8), (6, 8), (0, 6))
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
def pilkada_check_tallies(tallies: TallyBatch, settings: DetectorSettings) -> list[Finding] | None:
    """Only the forms that break a rule (``tallies.breaks_rules``) are looked at closer."""
    if settings.of(NAME) is None:
        return None
    return [finding for i in tallies.rows_where(lambda t: t.breaks_rules)
            for finding in check_tally(tallies.view(i), settings)]


def check_tally(tally: TallyView, settings: DetectorSettings) -> list[Finding]:
    """The finding on one form: none when it breaks no rule, or none that counts."""
    config = settings.of(NAME)
    if config is None:
        return []
    if not tally.failed_checks:  # most forms: nothing to filter
        return []
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
    hints = misread_hints(tally, failures)
    message = "; ".join(f.message for f in failures)
    if hints:
        message += "; " + "; ".join(h["message"] for h in hints)
    return Finding(
        detector=NAME,
        subject=tally.station_code,
        contest=tally.contest_code,
        severity=severity,
        message=message,
        evidence={"failed_checks": [f.to_dict() for f in failures], "likely_misreads": hints,
                  "submission_id": tally.submission_id},
        suggestion=SUGGESTION,
        score=float(max(abs(f.difference) for f in failures)),
    )


# --------------------------------------------------------------------------- misread digits


def form_of(tally: TallyView) -> FormValues:
    return FormValues({name: getattr(tally, name) for name in COUNT_FIELDS}, tally.votes)


def field_values(form: FormValues) -> dict[str, int | None]:
    values = dict(form.counts)
    values.update({f"votes_{k}": v for k, v in enumerate(form.votes, start=1)})
    return values


def with_value(form: FormValues, name: str, value: int) -> FormValues:
    if name.startswith("votes_"):
        votes = list(form.votes)
        votes[int(name.removeprefix("votes_")) - 1] = value
        return FormValues(form.counts, tuple(votes))
    return FormValues({**form.counts, name: value}, form.votes)


def misread_alternatives(value: int) -> Iterator[tuple[int, str]]:
    """Values a reader may have meant: one digit confused with a look-alike, or a doubled digit."""
    digits = str(value)
    for i, digit in enumerate(digits):
        for a, b in CONFUSABLE_DIGITS:
            for read, meant in ((a, b), (b, a)):
                if int(digit) == read:
                    yield int(digits[:i] + str(meant) + digits[i + 1:]), f"{meant} read as {read}"
        if i + 1 < len(digits) and digits[i + 1] == digit and len(digits) > 1:
            yield int(digits[:i] + digits[i + 1:]), f"the digit {digit} written twice"
        yield int(digits[:i] + digit + digits[i:]), f"a doubled {digit} read once"


def misread_hints(tally: TallyView, failures: Sequence[CheckFailure]) -> list[dict[str, Any]]:
    """Fields whose value, with one misread digit undone, makes every broken count rule hold again.

    The rules are re-evaluated by :func:`pilkada_graph.rules.failed_checks`, so a hint is only
    given when the corrected form breaks no count rule and no rule it did not break before.
    """
    form = form_of(tally)
    broken = {f.rule for f in failures if f.rule in COUNT_RULES}
    before = {(f.rule, f.fields) for f in failed_checks(form)}
    suspects = sorted({name for f in failures if f.rule in COUNT_RULES for name in f.fields})
    values = field_values(form)
    hints = []
    for name in suspects:
        value = values.get(name)
        if value is None:
            continue
        for meant, how in misread_alternatives(value):
            after = {(f.rule, f.fields) for f in failed_checks(with_value(form, name, meant))}
            if not {rule for rule, _ in after} & broken and after <= before:
                hints.append({"field": name, "value": value, "probably": meant, "how": how,
                              "message": f"{name} = {value} is probably {meant} ({how})"})
                break
    return hints
