"""Sirekap station JSON: the 155 real Palangka Raya stations of the 2024 presidential election."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.ingest import import_bundle
from pilkada_graph.models import CurrentTally, Station, Tally
from pilkada_graph.rules import FormValues, failed_checks
from pilkada_graph.sirekap import dotted_code, import_sirekap
from tests.ingest.helpers import database_snapshot
from tests.sirekap.helpers import PILPRES, PPWP, pilpres_bundle

PASLON = PILPRES / "paslon-ppwp.json"


@pytest.fixture
def pilpres(engine: Engine, tmp_path: Path) -> Engine:
    assert import_bundle(engine, pilpres_bundle(tmp_path / "bundle")).committed
    return engine


def import_real_stations(engine: Engine, path: Path = PILPRES) -> object:
    report = import_sirekap(engine, path, paslon=PASLON, contest_code=PPWP)
    assert report.ok, [str(p) for p in report.problems]
    return report


def tallies_of(engine: Engine, tps: str) -> list[Tally]:
    with engine.connect() as connection:
        query = (select(Tally).join(Station, Station.id == Tally.station_id)
                 .where(Station.code == dotted_code(tps)).order_by(Tally.submitted_at))
        return list(connection.execute(query).all())


def test_every_real_station_file_imports_and_creates_its_station(pilpres: Engine) -> None:
    report = import_real_stations(pilpres)
    assert report.stored["stations.csv"] == 155  # type: ignore[attr-defined]
    assert report.stored["tallies.csv"] == 171  # type: ignore[attr-defined]
    with pilpres.connect() as connection:
        assert len(connection.execute(select(CurrentTally)).all()) == 155


def test_a_null_chart_and_administrasi_stay_empty_not_zero(pilpres: Engine) -> None:
    import_real_stations(pilpres)
    (tally,) = tallies_of(pilpres, "6271011001001")  # chart and administrasi are both null
    assert tally.votes == [None, None, None]
    assert all(getattr(tally, name) is None for name in COUNT_FIELDS)
    assert tally.extra["images"][0].startswith("https://sirekap-obj-formc.kpu.go.id/")


def test_administrasi_maps_to_the_form_and_keeps_the_splits_as_evidence(pilpres: Engine) -> None:
    import_real_stations(pilpres)
    first, later = tallies_of(pilpres, "6271011001002")
    assert (later.dpt, later.dptb, later.dpk, later.voters) == (273, 12, 24, 210)
    assert (later.valid_votes, later.invalid_votes, later.total_votes) == (209, 1, 210)
    assert later.votes == [16, 180, 13]  # the "null" key of the chart is noise
    assert later.extra["administrasi"]["pengguna_dpt_j"] == 174
    assert later.extra["administrasi"]["pemilih_dpt_l"] == 113
    assert first.votes == [None, None, None]  # the first snapshot had no chart yet


def test_two_snapshots_are_two_revisions_and_the_later_is_current(pilpres: Engine) -> None:
    import_real_stations(pilpres)
    first, later = tallies_of(pilpres, "6271011001002")
    assert later.submitted_at == datetime(2024, 2, 24, 15, 31, 28)  # 22:31:28 WIB, stored as UTC
    assert later.submitted_offset == 7 * 60
    with pilpres.connect() as connection:
        current = connection.execute(select(CurrentTally.tally_id).where(CurrentTally.station_id == later.station_id))
        assert current.scalar_one() == later.id
    assert first.submission_id != later.submission_id


def test_importing_the_same_files_again_changes_nothing(pilpres: Engine) -> None:
    import_real_stations(pilpres)
    before = database_snapshot(pilpres)
    report = import_real_stations(pilpres)
    assert report.stored["tallies.csv"] == 0 and report.repeats["tallies.csv"] == 171  # type: ignore[attr-defined]
    assert database_snapshot(pilpres) == before


def test_forms_that_break_their_own_arithmetic_are_the_known_misreads(pilpres: Engine) -> None:
    import_real_stations(pilpres)
    with pilpres.connect() as connection:
        rows = connection.execute(
            select(Tally, Station.code.label("station_code")).join(CurrentTally, CurrentTally.tally_id == Tally.id)
            .join(Station, Station.id == Tally.station_id)).all()
    broken = {row.station_code for row in rows
              if failed_checks(FormValues({n: getattr(row, n) for n in COUNT_FIELDS}, row.votes))}
    assert len(broken) == 10
    assert "62.71.01.1001.053" in broken  # DPK misread as 664 beside 444 DPT users and 644 voters


def test_an_unknown_village_is_an_error_naming_the_file(pilpres: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    document = json.loads(next(PILPRES.glob("6271011001002@*.json")).read_text())
    (folder / "6271019999001.json").write_text(json.dumps(document))
    report = import_sirekap(pilpres, folder, paslon=PASLON, contest_code=PPWP)
    assert not report.committed
    assert any(p.file == "6271019999001.json" and p.rule == "unknown-village" for p in report.problems)


def test_a_candidate_missing_from_the_paslon_file_is_an_error_naming_the_file(pilpres: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    source = next(PILPRES.glob("6271011001002@5*.json"))
    document = json.loads(source.read_text())
    document["chart"]["100099"] = 5
    shutil.copy(source, folder / source.name)
    (folder / source.name).write_text(json.dumps(document))
    report = import_sirekap(pilpres, folder, paslon=PASLON, contest_code=PPWP)
    (problem,) = report.problems
    assert (problem.file, problem.rule, problem.column) == (source.name, "unknown-candidate", "chart.100099")


@pytest.mark.parametrize(("undotted", "dotted"), [
    ("62", "62"), ("6271", "62.71"), ("627101", "62.71.01"), ("6271011001", "62.71.01.1001"),
    ("6271011001053", "62.71.01.1001.053"),
])
def test_sirekap_codes_become_dotted_codes(undotted: str, dotted: str) -> None:
    assert dotted_code(undotted) == dotted
