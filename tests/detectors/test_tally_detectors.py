"""Per-tally built-ins on hand-made forms, on both sides of each threshold."""

from __future__ import annotations

from pilkada_graph.detect_types import DetectorSettings

from .helpers import judge, plugin, settings_of, tally

arithmetic = plugin("form_arithmetic")
turnout = plugin("turnout_rules")
extreme = plugin("extreme_results")
revisions = plugin("revisions")


# --------------------------------------------------------------------------- form arithmetic


def test_a_consistent_form_raises_nothing_and_a_broken_sum_is_critical() -> None:
    settings = settings_of(arithmetic)
    assert judge(arithmetic, tally(), settings) == []
    broken = tally((120, 100, 50), valid_votes=271, voters=281, total_votes=281, ballots_used=281)
    (finding,) = judge(arithmetic, broken, settings)
    assert finding.severity == "critical"
    assert finding.evidence["failed_checks"][0]["rule"] == "votes-sum"


def test_a_ballot_accounting_error_alone_is_a_warning() -> None:
    (finding,) = judge(arithmetic, tally(ballots_unused=0), settings_of(arithmetic))
    assert finding.severity == "warning"


def test_a_three_read_as_eight_is_named_in_the_hint() -> None:
    misread = tally((180, 100, 50), valid_votes=280, voters=290, total_votes=290, ballots_used=290)
    (finding,) = judge(arithmetic, misread, settings_of(arithmetic))
    hints = finding.evidence["likely_misreads"]
    assert hints[0]["field"] == "votes_1" and hints[0]["probably"] == 130
    assert "3 read as 8" in finding.message


def test_a_doubled_digit_is_named_in_the_hint() -> None:
    doubled = tally((1120, 100, 50), valid_votes=270, voters=280, total_votes=280, ballots_used=280)
    (finding,) = judge(arithmetic, doubled, settings_of(arithmetic))
    assert finding.evidence["likely_misreads"][0]["probably"] == 120


def test_a_difference_no_single_misread_explains_gets_no_hint() -> None:
    broken = tally((120, 100, 50), valid_votes=233, voters=243, total_votes=243, ballots_used=243)
    (finding,) = judge(arithmetic, broken, settings_of(arithmetic))
    assert finding.evidence["likely_misreads"] == []


def test_empty_fields_break_no_rule_and_the_tolerance_is_respected() -> None:
    partial = tally((120, None, 50), valid_votes=None, invalid_votes=None, voters=None, total_votes=None,
                    ballots_used=None, ballots_unused=None, ballots_received=None, ballots_spoiled=None)
    assert judge(arithmetic, partial, settings_of(arithmetic)) == []
    off_by_one = tally((120, 100, 50), valid_votes=271, voters=281, total_votes=281, ballots_used=281)
    assert judge(arithmetic, off_by_one, settings_of(arithmetic, tolerance=1)) == []
    assert judge(arithmetic, off_by_one, DetectorSettings({})) is None


# --------------------------------------------------------------------------- turnout rules


def turnout_form(voters: int, dpt: int = 400, **counts: int) -> object:
    valid = voters - 10
    return tally((valid - 100, 60, 40), dpt=dpt, **counts)


def test_turnout_just_below_near_full_passes_and_at_near_full_is_a_warning() -> None:
    settings = settings_of(turnout, near_full=0.98)
    assert judge(turnout, turnout_form(391), settings) == []  # 97.75%
    (finding,) = judge(turnout, turnout_form(392), settings)  # 98%
    assert finding.severity == "warning" and finding.evidence["problems"][0]["rule"] == "near-full"


def test_more_voters_than_registered_is_critical_unless_form_arithmetic_reports_it() -> None:
    over = turnout_form(405)
    alone = settings_of(turnout)
    (finding,) = judge(turnout, over, alone)
    assert finding.severity == "critical" and finding.evidence["problems"][0]["rule"] == "over-registered"
    both = DetectorSettings({**{n: alone[n] for n in alone}, "form-arithmetic": {"tolerance": 0}})
    assert all(p["rule"] != "over-registered"
               for f in judge(turnout, over, both) for p in f.evidence["problems"])


def test_no_unused_ballot_is_a_warning_and_one_unused_ballot_is_not() -> None:
    settings = settings_of(turnout)
    assert judge(turnout, turnout_form(300, ballots_unused=1), settings) == []
    (finding,) = judge(turnout, turnout_form(300, ballots_unused=0), settings)
    assert finding.evidence["problems"][0]["rule"] == "zero-unused"


def test_a_tiny_station_is_not_judged_for_near_full_turnout() -> None:
    small = tally((10, 5, 3), dpt=19, voters=18, valid_votes=18, invalid_votes=0, total_votes=18, ballots_used=18)
    assert judge(turnout, small, settings_of(turnout, zero_unused=False)) == []


# --------------------------------------------------------------------------- extreme results


def test_one_candidate_near_all_votes_with_near_full_turnout_is_critical() -> None:
    settings = settings_of(extreme)
    flagged = tally((380, 5, 5), invalid_votes=2, dpt=400)  # 392/400 = 98%, 97.4%
    (finding,) = judge(extreme, flagged, settings)
    assert finding.severity == "critical" and finding.evidence["candidate"] == 1


def test_either_condition_alone_is_not_extreme() -> None:
    settings = settings_of(extreme)
    share_only = tally((280, 5, 5), invalid_votes=2, dpt=400)  # 73% turnout
    turnout_only = tally((200, 120, 70), invalid_votes=2, dpt=400)  # 51% share
    assert judge(extreme, share_only, settings) == []
    assert judge(extreme, turnout_only, settings) == []


# --------------------------------------------------------------------------- revisions


def test_the_first_revision_and_an_unchanged_one_raise_nothing() -> None:
    settings = settings_of(revisions)
    assert judge(revisions, tally(), settings) == []
    assert judge(revisions, tally(tally_id=2), settings, previous=tally()) == []


def test_correcting_a_form_that_did_not_add_up_is_info() -> None:
    misread = tally((170, 100, 50), valid_votes=270, voters=280, total_votes=280, ballots_used=280)
    (finding,) = judge(revisions, tally(tally_id=2, source="desk"), settings_of(revisions), previous=misread)
    assert finding.severity == "info" and finding.evidence["change"] == [-50, 0, 0]


def test_adding_votes_to_one_candidate_of_a_consistent_form_is_critical_with_the_difference() -> None:
    marked_up = tally((180, 100, 50), tally_id=2, source="recap")
    (finding,) = judge(revisions, marked_up, settings_of(revisions), previous=tally())
    assert finding.severity == "critical" and finding.evidence["change"] == [60, 0, 0]
    assert "recap" in finding.message


def test_a_gain_below_the_threshold_or_two_gainers_is_a_warning() -> None:
    settings = settings_of(revisions, min_gain=10)
    small = tally((129, 100, 50), tally_id=2)
    two_gainers = tally((140, 120, 50), tally_id=2)
    for changed in (small, two_gainers):
        (finding,) = judge(revisions, changed, settings, previous=tally())
        assert finding.severity == "warning"


def test_votes_moved_to_one_candidate_at_a_later_revision_are_critical() -> None:
    swap = tally((140, 80, 50), tally_id=2)
    (finding,) = judge(revisions, swap, settings_of(revisions), previous=tally())
    assert finding.severity == "critical" and finding.evidence["change"] == [20, -20, 0]
