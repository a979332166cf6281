"""The desk's report for the demo election: its numbers are the database's, in HTML, PDF and Markdown."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from pilkada_graph.config import Settings
from pilkada_graph.detect import DetectionRunner
from pilkada_graph.ingest import import_bundle
from pilkada_graph.issues import list_issues
from pilkada_graph.lifecycle import review
from pilkada_graph.models import Candidate, Contest, Region, RegionResult, RegionResultVotes
from pilkada_graph.plugins import PluginHost
from pilkada_graph.report import build_report, markdown, number, render_html, write_pdf
from tests.ingest.helpers import read_csv, write_csv

CONTEST = "gub-62"
RESOLUTION_NOTE = "Foto C.Hasil dicek: salah ketik operator, sudah dikoreksi"


@pytest.fixture
def reviewed_demo(engine: Engine, small_bundle: Path, tmp_path: Path) -> Engine:
    """The small demo election with one misread form (flagged, then resolved) and one inflated recap (open)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(small_bundle, bundle)
    assert import_bundle(engine, bundle).committed
    station = read_csv(bundle / "stations.csv")[0]["code"]
    extra = tmp_path / "extra"
    extra.mkdir()
    write_csv(extra / "tallies.csv",
              ["submission_id", "station_code", "contest_code", "submitted_at", "votes_1", "votes_2", "votes_3",
               "votes_4", "valid_votes"],
              [["misread-1", station, CONTEST, "2024-11-30T09:00:00+07:00", 10, 20, 30, 40, 666]])
    write_csv(extra / "recaps.csv", ["region_code", "contest_code", "submitted_at", "source", "votes_1"],
              [["62.08", CONTEST, "2024-11-30T10:00:00+07:00", "kpu", 999_999]])
    assert import_bundle(engine, extra).committed
    # The two detectors whose issues the report is checked against: what the statistical ones
    # raise on this small honest election is not what this test is about.
    host = PluginHost.from_settings(Settings(database_url="sqlite://"), builtins=("form_arithmetic", "recap"),
                                    entry_points=False)
    DetectionRunner(engine, host).detect_all(contest=CONTEST)
    with engine.connect() as connection:
        misread = next(i for i in list_issues(connection) if i["detector"] == "form-arithmetic")
    review(engine, misread["id"], "resolve", actor="desk:ana", token_id=None, note=RESOLUTION_NOTE)
    return engine


def database_results(engine: Engine, region: str) -> tuple[dict[int, int], int, int]:
    with engine.connect() as connection:
        ids = select(Region.id).where(Region.code == region).scalar_subquery()
        contest = select(Contest.id).where(Contest.code == CONTEST).scalar_subquery()
        votes = dict(connection.execute(select(RegionResultVotes.number, RegionResultVotes.votes).where(
            RegionResultVotes.region_id == ids, RegionResultVotes.contest_id == contest)).all())
        reported = connection.execute(select(RegionResult.stations_reported).where(
            RegionResult.region_id == ids, RegionResult.contest_id == contest)).scalar_one()
        candidates = connection.execute(select(func.count()).select_from(Candidate).join(Contest).where(
            Contest.code == CONTEST)).scalar_one()
    return votes, reported, candidates


def test_report_numbers_are_the_databases(reviewed_demo: Engine) -> None:
    data = build_report(reviewed_demo, "62", CONTEST)
    votes, reported, candidates = database_results(reviewed_demo, "62")
    assert [c.votes for c in data.candidates] == [votes.get(n, 0) for n in range(1, candidates + 1)]
    assert data.stations_reported == reported
    assert sum(r.reported for r in data.progress) == reported
    with reviewed_demo.connect() as connection:
        issues = [i for i in list_issues(connection) if i["contest_code"] == CONTEST]
    assert sum(data.issues_by_status.values()) == len(issues)
    assert data.issues_by_status.get("resolved") == 1
    assert [i["detector"] for i in data.top_open] == ["recap-mismatch"]
    assert [(i["note"], i["actor"]) for i in data.resolved] == [(RESOLUTION_NOTE, "desk:ana")]


def test_html_report_shows_results_issues_resolutions_and_embedded_plots(reviewed_demo: Engine) -> None:
    data = build_report(reviewed_demo, "62", CONTEST)
    page = render_html(data)
    assert page.startswith("<!doctype html>") and 'lang="id"' in page
    for candidate in data.candidates:
        assert number(candidate.votes, "id") in page
    assert "Kemajuan penghitungan per wilayah" in page and "Temuan terbuka paling serius" in page
    assert RESOLUTION_NOTE in page and "recap-mismatch" in page and "D.Hasil" in page
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) == 3


def test_markdown_report_in_english_keeps_the_same_numbers(reviewed_demo: Engine) -> None:
    data = build_report(reviewed_demo, "62", CONTEST)
    text = markdown(data, "en")
    assert "# Pilkada Desk Report: Kalimantan Tengah (62)" in text
    assert f"Stations in: {number(data.stations_reported, 'en')} / {number(data.stations_total, 'en')}" in text


def test_pdf_report_has_a_text_page_and_three_plots(reviewed_demo: Engine, tmp_path: Path) -> None:
    path = write_pdf(build_report(reviewed_demo, "62", CONTEST), tmp_path / "laporan.pdf")
    content = path.read_bytes()
    assert content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", content)) == 4
