"""``pilkada-graph forensics`` on imported bundles, and the region detectors behind a real import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from pilkada_graph.arrays import UnknownSubject, current_tally_arrays
from pilkada_graph.forensics import TESTS
from pilkada_graph.ingest import import_bundle
from tests.forensics.helpers import demo_arrays, whole_percent_registered
from tests.ingest.helpers import read_csv, write_csv
from tests.test_cli import run_cli

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def small_database(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The small demo bundle (seed 7) imported through the CLI into SQLite, once for this module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('forensics') / 'small.db'}"
    result = run_cli("import", str(small_bundle), "--database-url", url, "--no-detect")
    assert result.returncode == 0, result.stderr
    return url


def test_forensics_json_reports_the_test_on_every_current_form(small_database: str, tmp_path: Path) -> None:
    plot = tmp_path / "integer.png"
    result = run_cli("forensics", "integer-percentages", "--contest", "gub-62", "--json", "--plot", str(plot),
                     "--n-sim", "200", "--database-url", small_database)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["stations"] == len(demo_arrays(7).station_codes)
    figures = output["results"]["integer-percentages"]
    assert figures["n_sim"] == 200
    assert figures["observed"] >= 0 and figures["summary"]
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_forensics_all_below_a_region_prints_every_test_and_draws_a_plot_each(small_database: str,
                                                                                tmp_path: Path) -> None:
    result = run_cli("forensics", "all", "--contest", "gub-62", "--region", "62.09", "--plot",
                     str(tmp_path / "f.png"), "--n-sim", "100", "--database-url", small_database)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gub-62 below 62.09: ")
    assert [line.split(":")[0] for line in lines[1:]] == list(TESTS)
    assert sorted(p.name for p in tmp_path.glob("f-*.png")) == sorted(f"f-{t}.png" for t in TESTS)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--contest", "pilpres-2099", "no contest 'pilpres-2099'"),
    ("--region", "99.99", "no region '99.99'"),
])
def test_forensics_on_an_unknown_contest_or_region_exits_2(small_database: str, option: str, value: str,
                                                          message: str) -> None:
    args = ["--contest", "gub-62", "--region", "62"]
    args[args.index(option) + 1] = value
    result = run_cli("forensics", "last-digit", *args, "--database-url", small_database)
    assert result.returncode == 2
    assert message in result.stderr


def test_forensics_rejects_an_unknown_test_name(small_database: str) -> None:
    result = run_cli("forensics", "tea-leaves", "--contest", "gub-62", "--database-url", small_database)
    assert result.returncode == 2
    assert "unknown forensic test 'tea-leaves'" in result.stderr


def test_current_tally_arrays_are_the_latest_revision_of_each_form(engine: Engine, small_bundle: Path) -> None:
    import_bundle(engine, small_bundle)
    stored = current_tally_arrays(engine, "gub-62")
    generated = demo_arrays(7)
    assert stored.station_codes == generated.station_codes
    for column in ("registered", "voters", "valid", "invalid", "votes"):
        assert np.array_equal(getattr(stored, column), getattr(generated, column)), column
    assert stored.candidate_names == generated.candidate_names
    below = current_tally_arrays(engine, "gub-62", "62.08")
    assert below.station_codes and all(c.startswith("62.08.") for c in below.station_codes)
    with pytest.raises(UnknownSubject):
        current_tally_arrays(engine, "gub-62", "63")


def fabricate_bundle(source: Path, folder: Path, regency: str) -> Path:
    """The bundle with every governor's form of ``regency`` given a whole-number turnout (DPT rewritten)."""
    shutil.copytree(source, folder)
    rows = read_csv(folder / "tallies.csv")
    for row in rows:
        if row["contest_code"] == "gub-62" and row["station_code"].startswith(regency + "."):
            registered = whole_percent_registered(int(row["voters"]))
            row["dpt"] = str(registered - int(row["dptb"] or 0) - int(row["dpk"] or 0))
    write_csv(folder / "tallies.csv", list(rows[0]), [list(r.values()) for r in rows])
    return folder


def test_import_raises_a_forensic_issue_on_a_regency_with_invented_turnout(small_bundle: Path, tmp_path: Path) -> None:
    bundle = fabricate_bundle(small_bundle, tmp_path / "forged", "62.09")
    url = f"sqlite:///{tmp_path / 'forged.db'}"
    imported = run_cli("import", str(bundle), "--database-url", url)
    assert imported.returncode == 0, imported.stderr
    listed = run_cli("issues", "--json", "--database-url", url)
    issues = [i for i in json.loads(listed.stdout) if i["detector"].startswith("forensics-")]
    assert [(i["detector"], i["region_code"], i["contest_code"]) for i in issues] == [
        ("forensics-integer-percentages", "62.09", "gub-62")]
    assert issues[0]["severity"] in ("warning", "critical")
