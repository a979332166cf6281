"""The command line as a user meets it: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.helpers import read_csv, write_csv


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilkada_graph.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture
def bad_bundle(mini_bundle: Path) -> Path:
    write_csv(mini_bundle / "candidates.csv", ["contest_code", "number", "name"],
              [["gub-62", n, f"P{n}"] for n in range(1, 5)] + [["wako-62.71", 1, "W1"], ["wako-62.71", 2, "W2"]])
    header = ["submission_id", "station_code", "contest_code", "submitted_at", "votes_1", "votes_9"]
    write_csv(mini_bundle / "tallies.csv", header, [
        ["a", "62.71.01.1001.001", "gub-62", "2024-11-27T15:00:00+07:00", 10, ""],
        ["b", "62.71.01.1001.001", "gub-62", "2024-11-27T15:01:00+07:00", -4, ""],
        ["c", "62.71.01.1001.002", "gub-62", "2024-11-27T15:02:00+07:00", 10, ""],
        ["d", "62.71.77.1001.001", "gub-62", "2024-11-27T15:03:00+07:00", 10, ""],
        ["e", "62.71.01.1001.002", "gub-62", "2024-11-27T15:04:00+07:00", 10, 3],
    ])
    return mini_bundle


def test_import_exits_nonzero_with_one_located_error_per_problem(bad_bundle: Path, sqlite_url: str) -> None:
    result = run_cli("import", str(bad_bundle), "--database-url", sqlite_url)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: tallies.csv: line 3: column votes_1: negative-count: counts are whole numbers >= 0, got -4",
        "error: tallies.csv: line 5: column station_code: unknown-station: no station '62.71.77.1001.001'",
        "error: tallies.csv: line 6: column votes_9: unknown-candidate: contest gub-62 has candidates 1..4, not 9",
    ]
    assert "nothing was stored" in result.stderr
    listing = run_cli("export", str(bad_bundle.parent / "after"), "--database-url", sqlite_url)
    assert listing.returncode == 0
    assert read_csv(bad_bundle.parent / "after" / "regions.csv") == []


def test_skip_invalid_writes_the_rejects_file_with_reasons(bad_bundle: Path, sqlite_url: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = run_cli("import", str(bad_bundle), "--database-url", sqlite_url, "--skip-invalid",
                     "--rejects", str(rejects))
    assert result.returncode == 0, result.stderr
    rows = read_csv(rejects)
    assert [(r["line"], r["rules"]) for r in rows] == [
        ("3", "negative-count"), ("5", "unknown-station"), ("6", "unknown-candidate")
    ]
    assert json.loads(rows[0]["row"])["submission_id"] == "b"


def test_issues_json_is_an_array(mini_bundle: Path, sqlite_url: str) -> None:
    assert run_cli("import", str(mini_bundle), "--database-url", sqlite_url).returncode == 0
    result = run_cli("issues", "--json", "--database-url", sqlite_url)
    assert result.returncode == 0
    issues = json.loads(result.stdout)
    assert isinstance(issues, list)
    for issue in issues:
        assert {"id", "detector", "severity", "status", "contest_code", "region_code", "station_code",
                "message", "evidence", "created_at"} <= set(issue)


def test_import_of_a_missing_folder_is_a_usage_error(sqlite_url: str, tmp_path: Path) -> None:
    result = run_cli("import", str(tmp_path / "nope"), "--database-url", sqlite_url)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
