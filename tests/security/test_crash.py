"""Kill the ingesting server with SIGKILL at random moments; nothing acknowledged may be lost.

After every kill: each acknowledged submission is stored exactly once, every stored revision is
whole (the current pointers and the province's aggregates equal a recomputation from the stored
tallies), and on SQLite ``PRAGMA integrity_check`` is ``ok``. Kills per backend:
``PILKADA_CRASH_KILLS`` (default 15, so 30 kills in all; about 40 s for both backends).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from pilkada_graph.db import make_engine
from tests.graphql.conftest import import_into, read_csv
from tests.tokens import new_token

KILLS = int(os.environ.get("PILKADA_CRASH_KILLS", "15"))


def consistency_problems(connection: Connection) -> list[str]:
    """Current pointers and the province's gub-62 aggregates against a recomputation from the tallies."""
    problems = []
    latest = connection.execute(text(
        "select c.station_id, c.contest_id from current_tallies c join tallies t on t.id = c.tally_id "
        "where t.submitted_at < (select max(submitted_at) from tallies x "
        "where x.station_id = c.station_id and x.contest_id = c.contest_id)")).all()
    if latest:
        problems.append(f"{len(latest)} current pointer(s) behind their latest revision")
    missing = connection.execute(text(
        "select count(*) from (select distinct station_id, contest_id from tallies) s where not exists "
        "(select 1 from current_tallies c where c.station_id = s.station_id and c.contest_id = s.contest_id)"
    )).scalar()
    if missing:
        problems.append(f"{missing} station(s) with revisions but no current pointer")
    rows = connection.execute(text(
        "select t.voters, t.valid_votes, t.invalid_votes, t.votes from current_tallies c "
        "join tallies t on t.id = c.tally_id join contests k on k.id = c.contest_id where k.code = 'gub-62'")).all()
    votes: dict[int, int] = defaultdict(int)
    for row in rows:
        stored = row.votes if isinstance(row.votes, list) else __import__("json").loads(row.votes)
        for number, value in enumerate(stored, start=1):
            votes[number] += value or 0
    expected = (len(rows), sum(r.voters or 0 for r in rows), sum(r.valid_votes or 0 for r in rows),
                sum(r.invalid_votes or 0 for r in rows))
    kept = connection.execute(text(
        "select r.stations_reported, r.voters, r.valid_votes, r.invalid_votes from region_results r "
        "join regions g on g.id = r.region_id join contests k on k.id = r.contest_id "
        "where g.code = '62' and k.code = 'gub-62'")).one()
    if tuple(kept) != expected:
        problems.append(f"province aggregates {tuple(kept)} != recomputed {expected}")
    kept_votes = dict(connection.execute(text(
        "select v.number, v.votes from region_result_votes v join regions g on g.id = v.region_id "
        "join contests k on k.id = v.contest_id where g.code = '62' and k.code = 'gub-62'")).all())
    if {n: v for n, v in kept_votes.items() if v} != {n: v for n, v in votes.items() if v}:
        problems.append(f"province votes {kept_votes} != recomputed {dict(votes)}")
    return problems


def check_after_kill(database_url: str, acknowledged: list[str]) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = dict(connection.execute(text(
                "select submission_id, count(*) from tallies where source = 'crash' group by submission_id")).all())
            lost = [s for s in acknowledged if stored.get(s) != 1]
            assert not lost, f"acknowledged but not stored exactly once: {lost[:5]}"
            assert not consistency_problems(connection)
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_acknowledged_submissions_survive_sigkill_and_nothing_is_half_stored(
        backend: str, request: pytest.FixtureRequest, small_bundle: Path, tmp_path: Path) -> None:
    database_url = str(request.getfixturevalue(f"{backend}_url"))
    import_into(database_url, small_bundle)
    stations = sorted({r["code"] for r in read_csv(small_bundle / "stations.csv")})
    (tmp_path / "stations.txt").write_text("\n".join(stations))
    ack_file = tmp_path / "acknowledged.txt"
    ack_file.touch()
    zygote = subprocess.Popen(
        [sys.executable, "-m", "tests.security.crash_worker", database_url, str(ack_file),
         new_token(database_url, "clerk", name="crash-clerk"), str(tmp_path / "stations.txt")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert zygote.stdin is not None and zygote.stdout is not None
    try:
        assert zygote.stdout.readline().strip() == "zygote"
        rng = random.Random(8)
        for round_number in range(KILLS):
            zygote.stdin.write(f"go {round_number}\n")
            zygote.stdin.flush()
            word, pid = zygote.stdout.readline().split()
            assert word == "ready"
            time.sleep(rng.uniform(0.05, 0.6))
            os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.05)
            check_after_kill(database_url, ack_file.read_text().split())
        acknowledged = ack_file.read_text().split()
        assert len(acknowledged) > KILLS  # the loop really ingested between kills
    finally:
        zygote.kill()
        zygote.wait()
