"""The detection benchmark at reduced size, through the real path: import with the desk, read the issues.

``bench/bench_detection.py`` runs the Kalteng-size version with the full targets (recall >= 0.9
overall and >= 0.75 per kind, precision >= 0.9). Here a small election (two regencies, 279
stations) has 3% of its pairs tampered per kind, a fifth of all pairs in all: the rule-based kinds
must still be found almost always, but stuffing and flipping, which only show against peers, are
judged against few and contaminated peers, so their floor is lower here than in the bench.
"""


from __future__ import annotations

import pytest

from pilkada_graph.anomalies import KINDS, inject, write_tampered_bundle
from pilkada_graph.config import Settings
from pilkada_graph.demo import generate
from pilkada_graph.detection_score import Score, baseline_flags, load_issue_rows, score_issues
from pilkada_graph.service import Desk

#: Kinds a rule finds whatever the peers: the same floor as the bench's overall target.
RULE_KINDS = ("extreme-fraud", "form-misread", "over-voting", "recap-markup", "copied-form", "fabricated-district")
#: Kinds that only show against the station's peers.
PEER_KINDS = ("ballot-stuffing", "vote-flipping")


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Score, Score]:
    folder = tmp_path_factory.mktemp("quality")
    tampered = inject(generate(11, "small"), rate=0.03, seed=11)
    write_tampered_bundle(tampered, folder / "bundle")
    settings = Settings(database_url=f"sqlite:///{folder / 'desk.db'}", detection={"debounce": 0})
    desk = Desk.open(settings)
    assert desk.import_bundle(folder / "bundle").committed
    score = score_issues(tampered, load_issue_rows(desk.engine))
    desk.engine.dispose()
    baseline = score_issues(tampered, [row for row, _ in baseline_flags(tampered, score.flagged_pairs)])
    return score, baseline


def test_every_kind_of_injected_anomaly_is_mostly_found(judged: tuple[Score, Score]) -> None:
    score, _ = judged
    assert set(score.injected) == set(KINDS)
    assert score.recall() >= 0.8, score.missed
    for kind in RULE_KINDS:
        assert score.recall(kind) >= 0.9, (kind, [a for a in score.missed if a.kind == kind])
    for kind in PEER_KINDS:
        assert score.recall(kind) >= 0.3, (kind, [a for a in score.missed if a.kind == kind])


def test_station_level_issues_are_mostly_true(judged: tuple[Score, Score]) -> None:
    score, _ = judged
    assert score.precision >= 0.9, score.false_by_detector


def test_the_detectors_find_far_more_than_an_isolation_forest_with_as_many_flags(judged: tuple[Score, Score]) -> None:
    score, baseline = judged
    assert score.recall() >= baseline.recall() + 0.3
