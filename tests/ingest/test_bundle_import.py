"""Bundle import: strict validation, all-or-nothing, idempotence, aggregates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from pilkada_graph.ingest import import_bundle
from pilkada_graph.models import CurrentTally, Region, RegionResult, RegionResultVotes, Station, Tally
from tests.ingest.helpers import database_snapshot, read_csv, write_csv

TALLY_HEADER = [
    "submission_id", "station_code", "contest_code", "submitted_at", "source",
    "dpt", "voters", "votes_1", "votes_2", "votes_3", "votes_4", "votes_9", "valid_votes", "invalid_votes",
]


def bad_tallies(folder: Path) -> None:
    """Line 3: a negative count; line 5: an unknown station; line 6: votes_9 in a 4-pair contest."""
    good = ["62.71.01.1001.001", "gub-62", "2024-11-27T15:00:00+07:00", "desk"]
    write_csv(folder / "tallies.csv", TALLY_HEADER, [
        ["ok-1", *good, 412, 300, 50, 100, 80, 60, "", 290, 10],
        ["neg-1", *good, 412, 300, 50, -100, 80, 60, "", 290, 10],
        ["ok-2", "62.71.01.1001.002", "gub-62", "2024-11-27T15:05:00+07:00", "desk", 300, 200, 40, 60, 50, 40, "",
         190, 10],
        ["unknown-1", "62.71.99.9999.001", "gub-62", "2024-11-27T15:06:00+07:00", "desk", 300, 200, 40, 60, 50, 40,
         "", 190, 10],
        ["nine-1", *good[:1], "gub-62", "2024-11-27T15:07:00+07:00", "desk", 412, 300, 50, 100, 80, 60, 7, 297, 3],
    ])


@pytest.fixture
def four_pair_bundle(mini_bundle: Path) -> Path:
    write_csv(mini_bundle / "candidates.csv", ["contest_code", "number", "name"],
              [["gub-62", n, f"Pair {n}"] for n in range(1, 5)] + [["wako-62.71", n, f"W{n}"] for n in (1, 2)])
    (mini_bundle / "tallies.csv").unlink()
    return mini_bundle


def test_mini_bundle_imports_and_aggregates_follow_current_revision(engine: Engine, mini_bundle: Path) -> None:
    report = import_bundle(engine, mini_bundle)
    assert report.ok and report.committed
    assert report.stored["tallies.csv"] == 3
    with engine.connect() as connection:
        province = connection.execute(select(Region.id).where(Region.code == "62")).scalar_one()
        votes = dict(connection.execute(
            select(RegionResultVotes.number, RegionResultVotes.votes)
            .where(RegionResultVotes.region_id == province, RegionResultVotes.contest_id == 1)
        ).all())
        result = connection.execute(
            select(RegionResult).where(RegionResult.region_id == province, RegionResult.contest_id == 1)
        ).one()
    # s1 (90/200) was replaced by its later revision s2 (91/200): only the current one counts.
    assert votes == {1: 91, 2: 200}
    assert (result.stations_reported, result.voters, result.invalid_votes) == (1, 301, 10)


def test_reimporting_the_same_bundle_changes_nothing(engine: Engine, mini_bundle: Path) -> None:
    import_bundle(engine, mini_bundle)
    before = database_snapshot(engine)
    report = import_bundle(engine, mini_bundle)
    assert report.ok
    assert sum(report.stored.values()) == 0
    assert report.repeats["tallies.csv"] == 3
    assert database_snapshot(engine) == before


def test_rejected_rows_name_file_line_column_and_rule_and_store_nothing(
    engine: Engine, four_pair_bundle: Path
) -> None:
    import_bundle(engine, four_pair_bundle)
    bad_tallies(four_pair_bundle)
    before = database_snapshot(engine)
    report = import_bundle(engine, four_pair_bundle)
    assert not report.committed
    located = {(p.file, p.line, p.column, p.rule) for p in report.problems}
    assert located == {
        ("tallies.csv", 3, "votes_2", "negative-count"),
        ("tallies.csv", 5, "station_code", "unknown-station"),
        ("tallies.csv", 6, "votes_9", "unknown-candidate"),
    }
    assert database_snapshot(engine) == before


def test_skip_invalid_stores_the_good_rows_only(engine: Engine, four_pair_bundle: Path) -> None:
    import_bundle(engine, four_pair_bundle)
    bad_tallies(four_pair_bundle)
    report = import_bundle(engine, four_pair_bundle, skip_invalid=True)
    assert report.committed
    assert sorted(row.line for row, _ in report.rejected) == [3, 5, 6]
    with engine.connect() as connection:
        stored = set(connection.execute(select(Tally.submission_id)).scalars())
    assert stored == {"ok-1", "ok-2"}


def test_a_tally_that_breaks_the_form_arithmetic_is_stored_as_reported(engine: Engine, mini_bundle: Path) -> None:
    write_csv(mini_bundle / "tallies.csv", ["submission_id", "station_code", "contest_code", "submitted_at",
                                            "votes_1", "votes_2", "valid_votes", "voters", "dpt"],
              [["odd", "62.71.01.1001.001", "gub-62", "2024-11-27T15:00:00+07:00", 666, 200, 290, 900, 412]])
    report = import_bundle(engine, mini_bundle)
    assert report.ok
    with engine.connect() as connection:
        tally = connection.execute(select(Tally).where(Tally.submission_id == "odd")).one()
    assert (tally.votes, tally.valid_votes, tally.voters) == ([666, 200], 290, 900)


def test_missing_required_column_is_reported_once_for_the_file(engine: Engine, mini_bundle: Path) -> None:
    write_csv(mini_bundle / "tallies.csv", ["submission_id", "station_code", "submitted_at"],
              [["x", "62.71.01.1001.001", "2024-11-27T15:00:00+07:00"]])
    report = import_bundle(engine, mini_bundle)
    assert [(p.file, p.line, p.column, p.rule) for p in report.problems] == [
        ("tallies.csv", 1, "contest_code", "missing-column")
    ]
    assert not report.committed


def test_station_outside_the_contests_region_is_rejected(engine: Engine, mini_bundle: Path) -> None:
    regions = read_csv(mini_bundle / "regions.csv")
    extra = [["62.01", "Kotawaringin Barat", "regency", "62"], ["62.01.01", "Kumai", "district", "62.01"],
             ["62.01.01.1011", "Candi", "village", "62.01.01"]]
    write_csv(mini_bundle / "regions.csv", ["code", "name", "level", "parent_code"],
              [list(r.values()) for r in regions] + extra)
    write_csv(mini_bundle / "stations.csv", ["code", "village_code", "number", "registered"],
              [["62.01.01.1011.001", "62.01.01.1011", 1, 300]])
    write_csv(mini_bundle / "tallies.csv", ["submission_id", "station_code", "contest_code", "submitted_at"],
              [["wrong", "62.01.01.1011.001", "wako-62.71", "2024-11-27T15:00:00+07:00"]])
    report = import_bundle(engine, mini_bundle)
    assert [(p.line, p.rule) for p in report.problems] == [(2, "station-outside-contest")]


@pytest.mark.parametrize(
    ("row", "rule", "column"),
    [
        (["62.99.01", "X", "district", "62.99"], "unknown-parent", "parent_code"),
        (["62.71.01.1001.7", "X", "village", "62.71.01.1001"], "bad-level", "level"),
        (["62.72.01", "X", "district", "62.71"], "bad-code", "code"),
        (["62.71.01", "Pahandut", "village", "62.71"], "conflicts-with-stored", "code"),
        (["63", "X", "nation", ""], "bad-level", "level"),
    ],
)
def test_region_rules(engine: Engine, mini_bundle: Path, tmp_path: Path, row: list[str], rule: str,
                      column: str | None) -> None:
    import_bundle(engine, mini_bundle)
    folder = tmp_path / "regions-only"
    folder.mkdir()
    write_csv(folder / "regions.csv", ["code", "name", "level", "parent_code"], [row])
    report = import_bundle(engine, folder)
    assert [p.rule for p in report.problems] == [rule]
    if column:
        assert report.problems[0].column == column


def test_candidate_numbers_must_be_contiguous(engine: Engine, mini_bundle: Path) -> None:
    write_csv(mini_bundle / "candidates.csv", ["contest_code", "number", "name"],
              [["gub-62", 1, "A"], ["gub-62", 3, "C"], ["wako-62.71", 1, "W1"], ["wako-62.71", 2, "W2"]])
    (mini_bundle / "tallies.csv").unlink()
    report = import_bundle(engine, mini_bundle)
    assert {p.rule for p in report.problems} == {"not-contiguous"}
    assert not report.committed


def test_later_revision_becomes_current_even_when_it_arrives_first(engine: Engine, mini_bundle: Path) -> None:
    rows = read_csv(mini_bundle / "tallies.csv")
    header = list(rows[0].keys())
    write_csv(mini_bundle / "tallies.csv", header, [list(rows[1].values())])  # the 16:42 revision alone
    import_bundle(engine, mini_bundle)
    write_csv(mini_bundle / "tallies.csv", header, [list(rows[0].values())])  # then the older 15:42 one
    import_bundle(engine, mini_bundle)
    with engine.connect() as connection:
        current = connection.execute(
            select(Tally.submission_id).join(CurrentTally, CurrentTally.tally_id == Tally.id)
        ).scalars().all()
        revisions = connection.execute(select(func.count()).select_from(Tally)).scalar()
    assert current == ["s2"]
    assert revisions == 2


def test_stations_are_found_alike_whether_a_few_are_looked_up_or_most(
        engine: Engine, small_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few codes are looked up by code; half the stations or more by one scan of them all."""
    from pilkada_graph.ingest import Catalog
    from pilkada_graph.store import RawSQL

    import_bundle(engine, small_bundle)
    lookups: list[int] = []
    by_code = RawSQL.fetchall_in

    def counted(raw: RawSQL, sql: str, values: list[str], *args: object) -> object:
        lookups.append(len(values))
        return by_code(raw, sql, values, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RawSQL, "fetchall_in", counted)
    unknown = "62.71.99.9999.001"
    with engine.connect() as connection:
        codes = [code for (code,) in connection.execute(select(Station.code))]
        one_by_one = Catalog(connection)
        for code in codes:
            one_by_one.prefetch_stations([code, unknown])
        assert lookups and max(lookups) == 2  # each by its code (the unknown one looked up once)
        lookups.clear()
        at_once = Catalog(connection)
        at_once.prefetch_stations([*codes, unknown])
        assert lookups == []  # one scan
    assert one_by_one.stations == at_once.stations
    assert set(at_once.stations) == {*codes, unknown} and at_once.stations[unknown] is None
