"""One test per hook (``test_hook_<name>``): what it receives, and what the runner makes of its answer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from pilkada_graph.config import Settings
from pilkada_graph.detect_types import (
    ContestView,
    DetectorInfo,
    DetectorSettings,
    Finding,
    RegionSummary,
    RegionTallies,
    StationContext,
    TallyBatch,
    TallyView,
)
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.plugins import PluginHost
from tests.plugins.conftest import OUTLIER, TEST_OPTIONS, DeskFactory, form, issues_of


class Recording:
    """A test plugin that keeps what its hooks were given."""

    def __init__(self, checks: str = "tally") -> None:
        self.calls: list[dict[str, Any]] = []
        self.checks = checks

    @hookimpl
    def pilkada_detectors(self) -> list[DetectorInfo]:
        return [DetectorInfo("recording", "records its calls", {"limit": 1}, checks=self.checks)]  # type: ignore[arg-type]

    @hookimpl
    def pilkada_check_tally(self, tally: TallyView, previous: TallyView | None, station: StationContext,
                            contest: ContestView, settings: DetectorSettings) -> list[Finding]:
        self.calls.append({"tally": tally, "previous": previous, "station": station, "contest": contest,
                           "settings": settings})
        return []

    @hookimpl
    def pilkada_check_region(self, region: RegionSummary, contest: ContestView, tallies: RegionTallies,
                             settings: DetectorSettings) -> list[Finding]:
        self.calls.append({"region": region, "contest": contest, "tallies": tallies, "settings": settings})
        return [Finding("recording", region.code, contest.code, "info", "seen", {"n": tallies.stations_reported})]


def test_hook_pilkada_detectors() -> None:
    host = PluginHost.from_settings(Settings(detectors={"recording": {"limit": 5}, "form-arithmetic": {
        "enabled": False}}), builtins=("form_arithmetic",), entry_points=False, extra=[Recording()])
    detectors = host.detectors()
    assert detectors["recording"].settings == {"limit": 5} and detectors["recording"].plugin == "Recording"
    assert not detectors["form-arithmetic"].enabled
    assert dict(host.enabled_settings()) == {"recording": {"limit": 5}}


def test_hook_pilkada_check_tally(make_desk: DeskFactory, election: Path) -> None:
    recording = Recording()
    desk = make_desk(recording, builtins=())
    desk.import_bundle(election)
    desk.submit_tally(form("fix-1", OUTLIER, votes=(100, 90), invalid=9))
    call = recording.calls[-1]
    tally, previous, station = call["tally"], call["previous"], call["station"]
    assert (tally.station_code, tally.district_code, tally.invalid_votes, tally.registered) == (
        OUTLIER, "62.71.01", 9, 300)
    assert tally.turnout == 199 / 300 and tally.failed_checks == () and tally.submitted_at.utcoffset() is not None
    assert previous.submission_id == f"b-{OUTLIER}" and previous.invalid_votes == 60
    assert station.district.code == "62.71.01" and station.district.stations_reported == 8
    assert call["contest"].candidates == {1: "A", 2: "B"} and call["settings"]["recording"] == {"limit": 1}
    assert len(recording.calls) == 17  # 16 imported, then the correction


class BatchRecording:
    """A test plugin judging whole batches: it keeps each batch and flags many invalid votes."""

    def __init__(self) -> None:
        self.batches: list[TallyBatch] = []

    @hookimpl
    def pilkada_detectors(self) -> list[DetectorInfo]:
        return [DetectorInfo("batch-recording", "records its batches", {"invalid_above": 50})]

    @hookimpl
    def pilkada_check_tallies(self, tallies: TallyBatch, settings: DetectorSettings) -> list[Finding]:
        self.batches.append(tallies)
        limit = settings["batch-recording"]["invalid_above"]
        return [Finding("batch-recording", (view := tallies.view(i)).station_code, view.contest_code, "warning",
                        "many invalid votes", {"invalid_votes": view.invalid_votes})
                for i in np.flatnonzero(tallies.counts["invalid_votes"] > limit)]


def test_hook_pilkada_check_tallies(make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    recording = BatchRecording()
    desk = make_desk(recording, builtins=())
    desk.import_bundle(election)
    [imported] = recording.batches
    outlier = int(np.flatnonzero(imported.station_codes == OUTLIER)[0])
    assert len(imported) == 16 and imported.votes.shape == (16, 2) and imported.widths.tolist() == [2] * 16
    assert (imported.counts["invalid_votes"][outlier], imported.registered[outlier]) == (60, 300)
    assert imported.turnout[outlier] == 200 / 300
    assert not imported.breaks_rules.any() and not imported.has_previous.any()
    assert imported.view(outlier).district_code == "62.71.01"
    assert imported.contest(outlier).candidates == {1: "A", 2: "B"}
    [issue] = issues_of(engine, "batch-recording")
    assert (issue.evidence, issue.active) == ({"invalid_votes": 60}, True)

    desk.submit_tally(form("fix-1", OUTLIER, votes=(100, 90), valid=180, invalid=9))
    corrected = recording.batches[-1]
    assert len(corrected) == 1 and corrected.has_previous.tolist() == [True]
    assert corrected.breaks_rules.tolist() == [True]  # its votes do not add up to its valid votes
    assert corrected.previous_votes.tolist() == [[70, 70]] and corrected.votes.tolist() == [[100, 90]]
    assert corrected.previous(0).invalid_votes == 60  # type: ignore[union-attr]
    [issue] = issues_of(engine, "batch-recording")
    assert not issue.active  # the corrected revision cleared it


def test_regions_mostly_smaller_than_region_min_stations_are_checked_pooled_one_level_up(
        make_desk: DeskFactory, election: Path) -> None:
    recording = Recording(checks="region")
    desk = make_desk(recording, builtins=(), options=replace(TEST_OPTIONS, region_min_stations=17))
    desk.import_bundle(election)  # one regency of 16 stations: too few on its own
    [call] = recording.calls
    assert (call["region"].code, call["region"].level, call["tallies"].stations_reported) == ("62", "province", 16)


def test_hook_pilkada_check_region(make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    recording = Recording(checks="region")
    desk = make_desk(recording, builtins=())
    desk.import_bundle(election)
    [call] = recording.calls
    tallies = call["tallies"]
    assert (call["region"].code, call["region"].level, call["contest"].code) == ("62.71", "regency", "gub-62")
    assert tallies.stations_reported == 16 and tallies.votes.shape == (16, 2)
    outlier = int(np.flatnonzero(tallies.station_codes == OUTLIER)[0])
    assert (tallies.invalid_votes[outlier], tallies.district_codes[outlier]) == (60, "62.71.01")
    [issue] = issues_of(engine, "recording")
    assert (issue.subject_code, issue.station_id, issue.evidence) == ("62.71", None, {"n": 16})


def test_the_tally_views_the_hook_receives_are_those_their_constructor_makes(
        make_desk: DeskFactory, election: Path) -> None:
    from dataclasses import FrozenInstanceError, fields

    import pytest

    recording = Recording()
    desk = make_desk(recording, builtins=())
    desk.import_bundle(election)
    desk.submit_tally(form("fix-1", OUTLIER, votes=(100, 90), invalid=9))
    names = [f.name for f in fields(TallyView)]
    for tally in (recording.calls[-1]["tally"], recording.calls[-1]["previous"]):
        assert sorted(vars(tally)) == sorted(names)
        rebuilt = TallyView(**{name: getattr(tally, name) for name in names})
        assert rebuilt == tally and hash(rebuilt) == hash(tally) and replace(tally) == tally
        with pytest.raises(FrozenInstanceError):
            tally.voters = 1


def test_a_views_submission_time_is_the_senders_as_the_ingest_module_restores_it() -> None:
    from datetime import datetime

    from pilkada_graph.detect_data import senders_time
    from pilkada_graph.ingest import from_utc_naive

    stored = datetime(2024, 11, 27, 23, 30, 15, 250)
    for offset in (0, 420, 480, 540, -180, 345, 840, -720):
        restored, expected = senders_time(stored, offset), from_utc_naive(stored, offset)
        assert (restored, restored.utcoffset(), restored.tzinfo, restored.fold) == (
            expected, expected.utcoffset(), expected.tzinfo, expected.fold)
        assert restored.isoformat() == expected.isoformat()
