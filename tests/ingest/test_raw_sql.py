"""``RawSQL.fetchall_in``: one statement on PostgreSQL, chunks on SQLite, the same rows on both."""

from __future__ import annotations

from sqlalchemy import Engine

from pilkada_graph.store import IN_CHUNK, RawSQL


def test_fetchall_in_finds_every_value_past_a_chunk_and_applies_the_parameters_after_them(engine: Engine) -> None:
    regions = [(n, f"62.{n:05d}", "x", "district", 0, 0) for n in range(1, 2 * IN_CHUNK + 2)]
    with engine.begin() as connection:
        raw = RawSQL(connection)
        raw.executemany("INSERT INTO regions (id, code, name, level, stations_total, registered_total) "
                        "VALUES (?, ?, ?, ?, ?, ?)", regions)
        wanted = [code for _, code, *_ in regions][::2] + ["62.nowhere"]
        rows = raw.fetchall_in("SELECT id, code FROM regions WHERE code IN ({values}) AND level = ?", wanted,
                               ("district",))
        assert sorted(code for _, code in rows) == sorted(wanted[:-1])
        assert raw.fetchall_in("SELECT id FROM regions WHERE code IN ({values}) AND level = ?", wanted,
                               ("village",)) == []
        assert raw.fetchall_in("SELECT id FROM regions WHERE id IN ({values})", []) == []
