"""Real Sirekap data (Pilpres 2024, Bener Meriah): every form whose filled fields do not add up is flagged.

The expected set is computed here with plain arithmetic on the CSV, independently of
:mod:`pilkada_graph.rules`; the bundle comes from ``examples/bener_meriah_to_bundle.py``.
"""

from __future__ import annotations

import csv
from types import ModuleType

import pytest
from sqlalchemy import func, select

from pilkada_graph.config import Settings
from pilkada_graph.detection_score import load_issue_rows
from pilkada_graph.models import DetectorFailure
from pilkada_graph.plugins import load_module
from pilkada_graph.service import Desk

from ..conftest import ROOT, SHARED

SOURCE = SHARED / "data" / "indonesia" / "pilpres2024_bener_meriah_tps.csv"


def converter() -> ModuleType:
    return load_module(ROOT / "examples" / "bener_meriah_to_bundle.py", "bener_meriah_to_bundle")


def value(row: dict[str, str], name: str) -> int | None:
    return int(row[name]) if row[name].strip() else None


def breaks_arithmetic(row: dict[str, str]) -> bool:
    """The form's rules on the filled fields, written out by hand."""
    votes = [value(row, c) for c in ("votes_01_anies", "votes_02_prabowo", "votes_03_ganjar")]
    valid, invalid, total = value(row, "valid_votes"), value(row, "invalid_votes"), value(row, "total_votes")
    voters, dpt = value(row, "users_total"), value(row, "dpt_total")
    if valid is not None and None not in votes and sum(v or 0 for v in votes) != valid:
        return True
    chain = [valid + invalid] if valid is not None and invalid is not None else []
    chain += [v for v in (total, voters) if v is not None]
    if len(set(chain)) > 1:
        return True
    if voters is not None and dpt is not None:
        return voters > dpt + (value(row, "users_dptb") or 0) + (value(row, "users_dpk") or 0)
    return False


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Desk, list[dict[str, str]], list[str]]:
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is not here")
    folder = tmp_path_factory.mktemp("bener-meriah")
    module = converter()
    module.convert(SOURCE, folder / "bundle")
    desk = Desk.open(Settings(database_url=f"sqlite:///{folder / 'desk.db'}", detection={"debounce": 0}))
    assert desk.import_bundle(folder / "bundle").committed
    with SOURCE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return desk, rows, [module.station_code(r) for r in rows]


def test_every_station_whose_filled_fields_break_the_form_is_flagged(
        imported: tuple[Desk, list[dict[str, str]], list[str]]) -> None:
    desk, rows, codes = imported
    expected = {code for code, row in zip(codes, rows, strict=True) if breaks_arithmetic(row)}
    flagged = {i.station_code for i in load_issue_rows(desk.engine)
               if i.detector == "form-arithmetic" and i.active and i.severity == "critical"}
    assert expected, "the real data has broken forms to find"
    assert flagged == expected


def test_the_many_empty_fields_crash_no_detector(imported: tuple[Desk, list[dict[str, str]], list[str]]) -> None:
    desk, rows, _ = imported
    assert sum(1 for r in rows if not r["valid_votes"]) > 100
    with desk.engine.connect() as connection:
        failures = connection.execute(select(func.count()).select_from(DetectorFailure)).scalar_one()
    assert failures == 0
