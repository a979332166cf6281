"""Judging whole columns agrees with judging each form: the form's rules, and every per-tally built-in.

The built-ins implement ``pilkada_check_tallies``: they screen a batch's columns with numpy and look
closer (``check_tally`` on the row's view) only at the rows the screen picks. A screen that missed a
row would silently drop an issue, so these tests compare, on many generated forms, the batch hook
with ``check_tally`` run on every row.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.detect_types import (
    FEW_ROWS,
    DetectorSettings,
    Finding,
    TallyBatch,
    TallyView,
    as_floats,
    vote_matrix,
)
from pilkada_graph.rules import FormValues, failed_checks, rows_breaking_rules

from .helpers import CONTEST, plugin, settings_of, tally

#: Small counts make equal sides (forms that add up) common; large ones, the digits of real forms.
COUNT = st.one_of(st.none(), st.integers(0, 8), st.integers(0, 8), st.integers(0, 2_000_000))
VOTES = st.lists(st.one_of(st.none(), st.integers(0, 4), st.integers(0, 400)), max_size=4)
FORM = st.tuples(st.fixed_dictionaries({name: COUNT for name in COUNT_FIELDS}), VOTES)


@settings(max_examples=300, deadline=None)
@given(st.lists(FORM, min_size=1, max_size=12))
def test_rows_breaking_rules_is_true_exactly_where_failed_checks_finds_a_failure(
        forms: list[tuple[dict[str, int | None], list[int | None]]]) -> None:
    counts = {name: as_floats([form[name] for form, _ in forms]) for name in COUNT_FIELDS}
    votes = [v for _, v in forms]
    widths = np.array([len(v) for v in votes], dtype=np.int64)
    on_columns = rows_breaking_rules(counts, vote_matrix(votes, int(widths.max())), widths)
    one_by_one = [bool(failed_checks(FormValues(form, tuple(v)))) for form, v in forms]
    assert on_columns.tolist() == one_by_one


@given(st.lists(st.one_of(st.none(), VOTES), max_size=12), st.integers(0, 5))
def test_a_vote_matrix_holds_each_rows_votes_with_nan_where_none_was_read_or_beyond_the_row(
        votes: list[list[int | None] | None], width: int) -> None:
    padded = [((row or []) + [None] * width)[:width] for row in votes]
    expected = np.array([[np.nan if v is None else float(v) for v in row] for row in padded]).reshape(len(votes), width)
    assert np.array_equal(vote_matrix(votes, width), expected, equal_nan=True)


def test_a_missing_count_column_is_a_field_never_read() -> None:
    counts = {"valid_votes": as_floats([10, 10]), "voters": as_floats([12, 12])}
    assert rows_breaking_rules(counts, vote_matrix([[4, 6], [4, 5]], 2), np.array([2, 2])).tolist() == [False, True]


# --------------------------------------------------------------------------- the built-ins' screens

BUILTINS = [plugin(name) for name in ("form_arithmetic", "turnout_rules", "extreme_results", "revisions")]
#: Views near every threshold: turnout near 100%, one candidate with nearly every vote, forms that
#: add up or are one digit off, no unused ballot, revisions that change the votes or not.
NEAR = st.integers(0, 30)
VIEW_VOTES = st.lists(st.one_of(st.none(), st.integers(0, 30), st.just(0)), min_size=3, max_size=3)
OVERRIDES = st.dictionaries(st.sampled_from(COUNT_FIELDS), st.one_of(st.none(), NEAR), max_size=6)
#: Turnout at or near 100%: voters a few short of the DPT (or over it).
NEARLY_FULL = st.builds(lambda dpt, short: {"dpt": dpt, "dptb": 0, "dpk": 0, "voters": dpt - short},
                        st.integers(15, 60), st.integers(-1, 3))


@st.composite
def revision(draw: st.DrawFn, tally_id: int) -> TallyView:
    votes = draw(VIEW_VOTES)
    overrides = {**draw(st.one_of(st.just({}), NEARLY_FULL)), **draw(OVERRIDES)}
    return tally(votes, station=f"62.71.01.1001.{tally_id:03d}", tally_id=tally_id, **overrides)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[TallyView], list[TallyView | None]]:
    n = draw(st.integers(1, 3 * FEW_ROWS))  # most batches larger than FEW_ROWS: the screens decide
    views = [draw(revision(i + 1)) for i in range(n)]
    previous = [draw(st.one_of(st.none(), revision(i + 1))) for i in range(n)]
    return views, previous


def one_by_one(module: ModuleType, views: Sequence[TallyView], previous: Sequence[TallyView | None],
               config: DetectorSettings) -> list[Finding]:
    """``check_tally`` on every row, with the arguments it takes."""
    wanted = inspect.signature(module.check_tally).parameters
    found: list[Finding] = []
    for view, before in zip(views, previous, strict=True):
        available: dict[str, Any] = {"tally": view, "previous": before, "contest": CONTEST, "settings": config}
        found += module.check_tally(**{name: available[name] for name in wanted})
    return found


@settings(max_examples=200, deadline=None)
@given(batches(), st.sampled_from([{}, {"near_full": 0.9, "min_registered": 5, "turnout": 0.8, "share": 0.6,
                                        "min_registered_extreme": 5, "min_gain": 2}]))
def test_each_builtins_batch_hook_finds_what_checking_every_row_finds(
        batch: tuple[list[TallyView], list[TallyView | None]], overrides: dict[str, Any]) -> None:
    views, previous = batch
    tallies = TallyBatch.of_views(views, [CONTEST] * len(views), previous)
    for module in BUILTINS:
        config = settings_of(module, **overrides)
        assert module.pilkada_check_tallies(tallies=tallies, settings=config) == one_by_one(
            module, views, previous, config), module.__name__


def test_a_batch_of_a_few_rows_is_looked_at_row_by_row_and_a_larger_one_through_the_screen() -> None:
    def screen(batch: TallyBatch) -> np.ndarray:
        return batch.tally_ids % 2 == 0

    few = TallyBatch.of_views([tally(tally_id=i) for i in range(1, FEW_ROWS + 1)], [CONTEST] * FEW_ROWS)
    many = TallyBatch.of_views([tally(tally_id=i) for i in range(1, FEW_ROWS + 3)], [CONTEST] * (FEW_ROWS + 2))
    assert few.rows_where(screen) == list(range(FEW_ROWS))
    assert many.rows_where(screen) == [i for i in range(FEW_ROWS + 2) if (i + 1) % 2 == 0]


def test_a_disabled_builtin_judges_nothing() -> None:
    tallies = TallyBatch.of_views([tally()], [CONTEST], [None])
    for module in BUILTINS:
        assert module.pilkada_check_tallies(tallies=tallies, settings=DetectorSettings({})) is None
