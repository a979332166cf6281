"""Russia 2012 from CSV to the CLI: convert, import into SQLite, integer percentages show the published excess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
RUSSIA_2012 = SHARED / "data" / "russia" / "russia_2012_president_uik.csv.gz"


@pytest.mark.skipif(not RUSSIA_2012.exists(), reason="shared Russian data not present")
def test_russia_2012_through_the_cli_shows_an_excess_of_integer_percentages(tmp_path: Path) -> None:
    bundle, url = tmp_path / "pres-2012", f"sqlite:///{tmp_path / 'russia.db'}"
    converted = subprocess.run([sys.executable, str(ROOT / "examples" / "russia_to_bundle.py"), str(RUSSIA_2012),
                                str(bundle), "--limit", "10000"], capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr
    imported = run_cli("import", str(bundle), "--no-detect", "--database-url", url)
    assert imported.returncode == 0, imported.stderr
    result = run_cli("forensics", "integer-percentages", "--contest", "pres-2012", "--json", "--database-url", url)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["results"]["integer-percentages"]
    assert figures["n_stations"] > 8000
    assert figures["excess"] > 6 * figures["sim_std"]
    assert figures["p_value"] == pytest.approx(1 / 1001)
    assert figures["turnout_observed"] > figures["turnout_expected"]
    assert figures["leader_observed"] > figures["leader_expected"]
