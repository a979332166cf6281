"""Sirekap region aggregates as recaps: the Kalteng Pilkada 2024 files, and recaps.csv in a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pilkada_graph.export import export_bundle
from pilkada_graph.ingest import import_bundle
from pilkada_graph.recaps import current_recaps
from pilkada_graph.sirekap import dotted_code, import_sirekap
from tests.ingest.helpers import database_snapshot, read_csv, write_csv
from tests.sirekap.helpers import PILKADA, pilkada_bundle, pilkada_contest_code


@pytest.fixture
def pilkada(engine: Engine, tmp_path: Path) -> Engine:
    assert import_bundle(engine, pilkada_bundle(tmp_path / "bundle")).committed
    return engine


def ballot_votes(entry: dict[str, object], paslon: dict[str, dict[str, object]]) -> list[int]:
    """A chart or table entry's votes in ballot order, as the file itself states them."""
    by_number = {int(paslon[k]["nomor_urut"]): v for k, v in entry.items() if k.isdigit()}  # type: ignore[call-overload]
    return [by_number[n] for n in sorted(by_number)]


def flat_paslon(name: str) -> dict[str, dict[str, object]]:
    return {cid: entry for per_region in json.loads((PILKADA / name).read_text()).values()
            for cid, entry in per_region.items()}


def recap_votes(engine: Engine, contest: str) -> dict[str, list[int | None]]:
    with engine.connect() as connection:
        return {r.region_code: r.votes for r in current_recaps(connection, [contest])}


def test_governor_recaps_equal_the_files_own_totals(pilkada: Engine) -> None:
    report = import_sirekap(pilkada, PILKADA / "pkwkp", paslon=PILKADA / "paslon-pkwkp.json", contest_code="gub-62")
    assert report.ok, [str(p) for p in report.problems]
    paslon = flat_paslon("paslon-pkwkp.json")
    recaps = recap_votes(pilkada, "gub-62")
    for path in sorted((PILKADA / "pkwkp").glob("*.json")):
        tungsura = json.loads(path.read_text())["tungsura"]
        assert recaps[dotted_code(path.stem)] == ballot_votes(tungsura["chart"], paslon), path.name
        for code, entry in tungsura["table"].items():
            assert recaps[dotted_code(code)] == ballot_votes(entry, paslon), (path.name, code)
    assert recaps["62"] == [274360, 462018, 478916, 67016]
    assert len(recaps) == 1 + 14 + 136


def test_regent_recaps_find_their_contest_through_the_paslon_region(pilkada: Engine) -> None:
    report = import_sirekap(pilkada, PILKADA / "pkwkk", paslon=PILKADA / "paslon-pkwkk.json")
    assert report.ok, [str(p) for p in report.problems]
    paslon = flat_paslon("paslon-pkwkk.json")
    for path in sorted((PILKADA / "pkwkk").glob("62??.json")):
        contest = pilkada_contest_code(path.stem)
        recaps = recap_votes(pilkada, contest)
        tungsura = json.loads(path.read_text())["tungsura"]
        assert recaps[dotted_code(path.stem)] == ballot_votes(tungsura["chart"], paslon), path.name
        assert set(recaps) == {dotted_code(path.stem)} | {dotted_code(c) for c in tungsura["table"]}


def test_region_progress_is_kept_with_the_recap(pilkada: Engine) -> None:
    import_sirekap(pilkada, PILKADA / "pkwkp" / "6271.json", paslon=PILKADA / "paslon-pkwkp.json",
                   contest_code="gub-62")
    with pilkada.connect() as connection:
        recaps = {r.region_code: r for r in current_recaps(connection, ["gub-62"])}
    assert (recaps["62.71"].counts["stations_reported"], recaps["62.71"].counts["stations_total"]) == (411, 415)
    assert recaps["62.71.01"].extra["psu"] == "Reguler"
    assert recaps["62.71"].counts["invalid_votes"] is None  # Sirekap's aggregate does not say


def test_importing_region_files_twice_changes_nothing(pilkada: Engine) -> None:
    args = {"paslon": PILKADA / "paslon-pkwkk.json"}
    import_sirekap(pilkada, PILKADA / "pkwkk", **args)  # type: ignore[arg-type]
    before = database_snapshot(pilkada)
    report = import_sirekap(pilkada, PILKADA / "pkwkk", **args)  # type: ignore[arg-type]
    assert report.ok and not report.recaps
    assert database_snapshot(pilkada) == before


RECAP_HEADER = ["region_code", "contest_code", "submitted_at", "source", "votes_1", "votes_2", "invalid_votes"]


def test_recaps_csv_imports_and_exports_row_for_row(pilkada: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "recaps"
    folder.mkdir()
    write_csv(folder / "recaps.csv", RECAP_HEADER, [
        ["62.71.01", "bup-62.71", "2024-11-28T09:00:00+07:00", "ppk", 14991, 28130, 812],
        ["62.71", "bup-62.71", "2024-11-29T10:00:00+07:00", "kpu", 45085, 79092, ""],
    ])
    report = import_bundle(pilkada, folder)
    assert report.committed and report.stored["recaps.csv"] == 2
    export_bundle(pilkada, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "recaps.csv")
    assert [(r["region_code"], r["votes_1"], r["votes_2"], r["invalid_votes"]) for r in rows] == [
        ("62.71.01", "14991", "28130", "812"), ("62.71", "45085", "79092", "")]
    assert rows[0]["submitted_at"] == "2024-11-28T09:00:00+07:00"


@pytest.mark.parametrize(("row", "column", "rule"), [
    (["62.99", "bup-62.71", "2024-11-28T09:00:00+07:00", "kpu", 1, 2, 0], "region_code", "unknown-region"),
    (["62.71", "bup-62.01", "2024-11-28T09:00:00+07:00", "kpu", 1, 2, 0], "region_code", "region-outside-contest"),
    (["62.71", "bup-62.71", "2024-11-28 09:00", "kpu", 1, 2, 0], "submitted_at", "bad-timestamp"),
    (["62.71", "bup-62.71", "2024-11-28T09:00:00+07:00", "kpu", 1, -2, 0], "votes_2", "negative-count"),
    (["62.71.01.1001", "bup-62.71", "2024-11-28T09:00:00+07:00", "kpu", 1, 2, 0], "region_code", "bad-level"),
])
def test_a_bad_recap_row_is_rejected_naming_file_line_column_and_rule(
    pilkada: Engine, tmp_path: Path, row: list[object], column: str, rule: str
) -> None:
    folder = tmp_path / "recaps"
    folder.mkdir()
    write_csv(folder / "recaps.csv", RECAP_HEADER, [row])
    report = import_bundle(pilkada, folder)
    assert not report.committed
    (problem,) = report.problems
    assert (problem.file, problem.line, problem.column, problem.rule) == ("recaps.csv", 2, column, rule)
