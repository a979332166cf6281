"""The result form's own arithmetic (Model C.Hasil), as ``shared/spec/bundle.md`` states it.

One set of rules serves everyone: the form-arithmetic detector, GraphQL's ``failedChecks``
on a tally, and the desk console's entry screen (through GraphQL). A rule is judged only on
the fields that are filled: a form read in part breaks no rule with what it lacks.

:func:`failed_checks` judges one form and says how it fails; :func:`rows_breaking_rules` answers
only *whether*, for a whole batch of forms at once (numpy on columns), so that the per-tally
checks of an import spell out the failures of the few forms that have any.
``tests/detectors/test_rules_on_columns.py`` checks that the two agree on every form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: Ballots received include a reserve of 2.5% of the DPT, rounded up.
RESERVE_RATE = 0.025


@dataclass(frozen=True)
class FormValues:
    """The counts of one form; ``None`` where a field was not read."""

    counts: Mapping[str, int | None]
    votes: Sequence[int | None] = field(default_factory=tuple)

    def get(self, name: str) -> int | None:
        return self.counts.get(name)


@dataclass(frozen=True)
class CheckFailure:
    """A rule the form breaks: which, the fields involved, and what each side came to."""

    rule: str
    fields: tuple[str, ...]
    expected: int
    actual: int
    message: str

    @property
    def difference(self) -> int:
        return self.actual - self.expected

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "fields": list(self.fields),
            "expected": self.expected,
            "actual": self.actual,
            "difference": self.difference,
            "message": self.message,
        }


RULE_DESCRIPTIONS: dict[str, str] = {
    "votes-sum": "the candidates' votes add up to the valid votes",
    "votes-total": "valid + invalid votes = total votes = ballots used = voters",
    "voters-registered": "voters are not more than registered (DPT + DPTb + DPK)",
    "ballots-balance": "ballots received = used + unused + spoiled",
    "ballots-reserve": "ballots received = DPT + 2.5% of DPT (rounded up)",
}


def registered_of(form: FormValues | Mapping[str, int | None]) -> int | None:
    """DPT + DPTb + DPK, or None when the DPT was not read (of a form, or of its counts alone)."""
    dpt = form.get("dpt")
    if dpt is None:
        return None
    return dpt + (form.get("dptb") or 0) + (form.get("dpk") or 0)


def expected_ballots_received(dpt: int) -> int:
    return dpt + math.ceil(dpt * RESERVE_RATE)


def failed_checks(form: FormValues) -> list[CheckFailure]:
    """Every rule that the filled fields of ``form`` break, in the form's order."""
    return [
        *_votes_sum(form),
        *_votes_total_chain(form),
        *_voters_registered(form),
        *_ballots_balance(form),
        *_ballots_reserve(form),
    ]


def _votes_sum(form: FormValues) -> list[CheckFailure]:
    valid = form.counts.get("valid_votes")
    if valid is None or not form.votes or None in form.votes:
        return []
    total = sum(form.votes)  # type: ignore[arg-type]
    if total == valid:
        return []
    return [
        CheckFailure(
            "votes-sum",
            tuple(f"votes_{k}" for k in range(1, len(form.votes) + 1)) + ("valid_votes",),
            valid,
            total,
            f"the candidates' votes add up to {total}, but valid votes say {valid}",
        )
    ]


def _votes_total_chain(form: FormValues) -> list[CheckFailure]:
    valid, invalid = form.counts.get("valid_votes"), form.counts.get("invalid_votes")
    chain: list[tuple[str, int]] = []
    if valid is not None and invalid is not None:
        chain.append(("valid_votes+invalid_votes", valid + invalid))
    for name in ("total_votes", "ballots_used", "voters"):
        value = form.counts.get(name)
        if value is not None:
            chain.append((name, value))
    failures = []
    for (left_name, left), (right_name, right) in zip(chain, chain[1:], strict=False):
        if left != right:
            failures.append(
                CheckFailure(
                    "votes-total",
                    (*left_name.split("+"), right_name),
                    left,
                    right,
                    f"{right_name} is {right}, but {left_name} is {left}",
                )
            )
    return failures


def _voters_registered(form: FormValues) -> list[CheckFailure]:
    voters, registered = form.counts.get("voters"), registered_of(form.counts)
    if voters is None or registered is None or voters <= registered:
        return []
    return [
        CheckFailure(
            "voters-registered",
            ("voters", "dpt", "dptb", "dpk"),
            registered,
            voters,
            f"{voters} voters, but only {registered} registered (DPT + DPTb + DPK)",
        )
    ]


def _ballots_balance(form: FormValues) -> list[CheckFailure]:
    received = form.counts.get("ballots_received")
    parts = [form.counts.get(n) for n in ("ballots_used", "ballots_unused", "ballots_spoiled")]
    if received is None or None in parts:
        return []
    accounted = sum(parts)  # type: ignore[arg-type]
    if accounted == received:
        return []
    return [
        CheckFailure(
            "ballots-balance",
            ("ballots_received", "ballots_used", "ballots_unused", "ballots_spoiled"),
            received,
            accounted,
            f"{received} ballots received, but used + unused + spoiled come to {accounted}",
        )
    ]


def _ballots_reserve(form: FormValues) -> list[CheckFailure]:
    dpt, received = form.counts.get("dpt"), form.counts.get("ballots_received")
    if dpt is None or received is None:
        return []
    expected = expected_ballots_received(dpt)
    if received == expected:
        return []
    return [
        CheckFailure(
            "ballots-reserve",
            ("ballots_received", "dpt"),
            expected,
            received,
            f"{received} ballots received; DPT {dpt} plus the 2.5% reserve is {expected}",
        )
    ]


def rows_breaking_rules(counts: Mapping[str, npt.NDArray[np.float64]], votes: npt.NDArray[np.float64],
                        widths: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """For each row of a batch of forms, whether :func:`failed_checks` finds any failure.

    ``counts``: one float column per count field, ``nan`` where not read (a missing column: never
    read); ``votes``: one row per form, column ``k-1`` for ballot number k (``nan`` where not read,
    and in every column beyond the form's own ``widths[i]`` ballot numbers). Counts are integers
    far below 2**53, so float arithmetic on them is exact.
    """
    n = len(widths)
    missing = np.full(n, np.nan)

    def column(name: str) -> npt.NDArray[np.float64]:
        return counts.get(name, missing)

    valid, invalid, voters = column("valid_votes"), column("invalid_votes"), column("voters")
    dpt, received = column("dpt"), column("ballots_received")
    read = ~np.isnan(votes)
    all_votes_read = read.sum(axis=1) == widths  # beyond a row's widths every cell is nan
    votes_sum = (widths > 0) & all_votes_read & ~np.isnan(valid) & (np.where(read, votes, 0.0).sum(axis=1) != valid)
    # The chain valid + invalid = total = ballots used = voters holds when its read links are all equal
    # (fmax and fmin skip nan; a chain with one link read or none has equal ends).
    links = (valid + invalid, column("total_votes"), column("ballots_used"), voters)
    highest = np.fmax(np.fmax(links[0], links[1]), np.fmax(links[2], links[3]))
    lowest = np.fmin(np.fmin(links[0], links[1]), np.fmin(links[2], links[3]))
    chain_broken = highest > lowest
    registered = dpt + zero_where_nan(column("dptb")) + zero_where_nan(column("dpk"))
    over_registered = voters > registered
    accounted = column("ballots_used") + column("ballots_unused") + column("ballots_spoiled")
    unbalanced = ~np.isnan(received) & ~np.isnan(accounted) & (received != accounted)
    off_reserve = ~np.isnan(dpt) & ~np.isnan(received) & (received != dpt + np.ceil(dpt * RESERVE_RATE))
    breaking: npt.NDArray[np.bool_] = votes_sum | chain_broken | over_registered | unbalanced | off_reserve
    return breaking



def zero_where_nan(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """0 where a count was not read (``np.nan_to_num`` without its inf handling, five times cheaper on
    the one-row batch of a submission)."""
    return np.where(np.isnan(values), 0.0, values)
