"""The columnar road stores exactly what the row road stores, and takes only chunks that need no decision."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from pilkada_graph import bundle, columnar, ingest
from pilkada_graph.bundle import COUNT_FIELDS, CellChunk
from pilkada_graph.ingest import ImportReport, import_bundle, parse_tally_row, to_utc_naive
from pilkada_graph.models import Base, Tally
from tests.ingest.helpers import read_csv, write_csv

#: What two imports of the same rows need not share: when a revision was received, and its number.
NOT_COMPARED = {("tallies", "received_at"), ("tallies", "id"), ("recaps", "received_at")}


class Roads(NamedTuple):
    """How many rows of each chunk of tallies each road stored."""

    columnar: list[int]
    rows: list[int]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but :data:`NOT_COMPARED`, in a stable order, each revision named by its
    submission id rather than its number (a chunk that takes both roads numbers its revisions road
    by road)."""
    found = {}
    with engine.connect() as connection:
        submission_of = dict(connection.execute(select(Tally.id, Tally.submission_id)).all())
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.c if (table.name, c.name) not in NOT_COMPARED]
            rows = ([submission_of.get(v) if c.name == "tally_id" else v for c, v in zip(columns, r, strict=True)]
                    for r in connection.execute(select(*columns)))
            found[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return found


def revisions(report: ImportReport) -> list[tuple[Any, ...]]:
    """The revisions an import reports, each named by its submission id (see :func:`snapshot`)."""
    submission_of = {t.id: t.submission_id for t in report.tallies}
    return sorted((t.submission_id, t.station_id, t.contest_id, t.station_code, t.contest_code, t.is_current,
                   submission_of.get(t.previous_id)) for t in report.tallies)


def import_counting_roads(engine: Engine, folder: Path, monkeypatch: pytest.MonkeyPatch, *, rows_only: bool,
                          **options: Any) -> tuple[ImportReport, Roads]:
    """Import ``folder``, counting per chunk of tallies the rows each road took."""
    roads = Roads([], [])
    clean_road: Callable[..., Any] = columnar.store_clean_chunk

    def road(connection: Any, chunk: CellChunk, *args: Any) -> Any:
        clean = None if rows_only else clean_road(connection, chunk, *args)
        roads.columnar.append(len(clean.tallies) if clean else 0)
        roads.rows.append(len(clean.left) if clean else len(chunk.cells))
        return clean

    with monkeypatch.context() as patch:
        patch.setattr(columnar, "store_clean_chunk", road)
        report = import_bundle(engine, folder, actor="clerk", **options)
    return report, roads


def both_roads(engine: Engine, second_engine: Engine, folder: Path, monkeypatch: pytest.MonkeyPatch,
               **options: Any) -> tuple[tuple[ImportReport, Roads], tuple[ImportReport, Roads]]:
    return (import_counting_roads(engine, folder, monkeypatch, rows_only=False, **options),
            import_counting_roads(second_engine, folder, monkeypatch, rows_only=True, **options))


def edited_bundle(source: Path, folder: Path, edit: Callable[[list[dict[str, str]]], None]) -> Path:
    """A copy of ``source`` whose tallies.csv rows went through ``edit`` (which changes them in place)."""
    shutil.copytree(source, folder)
    tallies = read_csv(folder / bundle.TALLIES)
    header = list(tallies[0])
    edit(tallies)
    write_csv(folder / bundle.TALLIES, header, [[row[c] for c in header] for row in tallies])
    return folder


@pytest.mark.parametrize("chunk", [ingest.CHUNK, 97])
def test_both_roads_store_the_same_rows_and_report_the_same_revisions(
        engine: Engine, second_engine: Engine, small_bundle: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """In chunks of 97 rows, later chunks hold corrections of forms stored by earlier ones: those forms
    are left to the row road, so both roads meet in one chunk."""
    monkeypatch.setattr(ingest, "CHUNK", chunk)
    (columns, by_columns), (rows, by_rows) = both_roads(engine, second_engine, small_bundle, monkeypatch)
    assert columns.ok and rows.ok, (columns.problems[:3], rows.problems[:3])
    assert sum(by_columns.columnar) > 0 and sum(by_rows.columnar) == 0
    if chunk < ingest.CHUNK:
        assert any(c and r for c, r in zip(*by_columns, strict=True)), "a chunk should have taken both roads"
    assert revisions(columns) == revisions(rows)
    assert dict(columns.stored) == dict(rows.stored) and dict(columns.repeats) == dict(rows.repeats)
    assert snapshot(engine) == snapshot(second_engine)


@pytest.mark.parametrize(("line_end", "from_bytes"), [("\r\n", True), ("\r", False)])
def test_a_file_saved_elsewhere_stores_what_the_same_file_with_plain_lines_stores(
        engine: Engine, second_engine: Engine, small_bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, line_end: str, from_bytes: bool) -> None:
    """A BOM, CR LF line ends and no last line end (as a spreadsheet saves a file) are read from the
    bytes too; lone CR line ends (old Macs) take the cells' reading. Each stores what the plain file,
    read from its bytes, stores."""
    saved_elsewhere = tmp_path / "saved"
    shutil.copytree(small_bundle, saved_elsewhere)
    text = (small_bundle / bundle.TALLIES).read_text(encoding="utf-8")
    (saved_elsewhere / bundle.TALLIES).write_bytes(
        b"\xef\xbb\xbf" + text.rstrip("\n").replace("\n", line_end).encode())
    by_bytes: list[bool] = []
    parse_bytes = columnar._parse_plain_lines

    def counted(*args: Any) -> columnar.TallyColumns | None:
        parsed = parse_bytes(*args)
        by_bytes.append(parsed is not None)
        return parsed

    monkeypatch.setattr(columnar, "_parse_plain_lines", counted)
    plain = import_bundle(engine, small_bundle)
    assert by_bytes and all(by_bytes)
    by_bytes.clear()
    saved = import_bundle(second_engine, saved_elsewhere)
    assert by_bytes and all(read == from_bytes for read in by_bytes)
    assert plain.ok and saved.ok and plain.stored == saved.stored
    assert revisions(plain) == revisions(saved)
    assert snapshot(engine) == snapshot(second_engine)


def test_a_chunk_with_a_bad_row_takes_the_row_road_which_names_the_problem(
        engine: Engine, second_engine: Engine, small_bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = edited_bundle(small_bundle, tmp_path / "one-bad-row", lambda rows: rows[5].update(voters="-4"))
    (columns, by_columns), (rows, _) = both_roads(engine, second_engine, folder, monkeypatch, skip_invalid=True)
    assert by_columns.columnar == [0]
    assert [str(p) for p in columns.problems] == [str(p) for p in rows.problems] == [
        "tallies.csv: line 7: column voters: negative-count: counts are whole numbers >= 0, got -4"]
    assert revisions(columns) == revisions(rows)
    assert snapshot(engine) == snapshot(second_engine)


@pytest.mark.parametrize(("count", "problems"), [
    ("2147483647", []),
    ("12345678901234567890",
     ["tallies.csv: line 5: column dpt: too-large: counts are at most 2,147,483,647, got 12345678901234567890"]),
])
def test_a_count_of_ten_digits_or_more_takes_the_row_road_which_checks_its_range(
        engine: Engine, second_engine: Engine, small_bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, count: str, problems: list[str]) -> None:
    folder = edited_bundle(small_bundle, tmp_path / "huge-count", lambda rows: rows[3].update(dpt=count))
    (columns, by_columns), (rows, _) = both_roads(engine, second_engine, folder, monkeypatch, skip_invalid=True)
    assert by_columns.columnar == [0]
    assert [str(p) for p in columns.problems] == [str(p) for p in rows.problems] == problems
    assert snapshot(engine) == snapshot(second_engine)


@pytest.mark.parametrize("submitted_at", ["9999-12-31T23:30:00-03:00", "0001-01-01T00:30:00+03:00"])
def test_a_time_outside_the_years_utc_can_hold_is_refused_on_both_roads_naming_its_line(
        engine: Engine, second_engine: Engine, small_bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, submitted_at: str) -> None:
    """Stored in UTC, such a time would be the year 10000 or 0: unreadable, so refused as the form arrives."""
    folder = edited_bundle(small_bundle, tmp_path / "far-time", lambda rows: rows[2].update(submitted_at=submitted_at))
    (columns, by_columns), (rows, _) = both_roads(engine, second_engine, folder, monkeypatch, skip_invalid=True)
    assert by_columns.columnar == [0]
    assert [str(p) for p in columns.problems] == [str(p) for p in rows.problems] == [
        f"tallies.csv: line 4: column submitted_at: bad-timestamp: {submitted_at} is out of range in UTC "
        "(years 1 to 9999)"]
    assert snapshot(engine) == snapshot(second_engine)


def test_two_forms_of_one_instant_written_in_two_zones_are_ordered_by_submission_id_on_both_roads(
        engine: Engine, second_engine: Engine, small_bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """14:00+08:00 and 13:00+07:00 are one instant: the later submission id is current, whatever the zones."""
    def one_instant_twice(rows: list[dict[str, str]]) -> None:
        rows += [{**rows[0], "submission_id": "same-instant-a", "submitted_at": "2024-11-28T14:00:00+08:00"},
                 {**rows[0], "submission_id": "same-instant-b", "submitted_at": "2024-11-28T13:00:00+07:00"}]

    folder = edited_bundle(small_bundle, tmp_path / "one-instant", one_instant_twice)
    (columns, by_columns), (rows, _) = both_roads(engine, second_engine, folder, monkeypatch)
    assert by_columns.columnar == [len(read_csv(folder / bundle.TALLIES))]
    assert revisions(columns) == revisions(rows)
    assert [t.is_current for t in rows.tallies if t.submission_id.startswith("same-instant")] == [True, True]
    [latest] = [t for t in rows.tallies if t.submission_id == "same-instant-b"]
    assert latest.previous_id == next(t.id for t in rows.tallies if t.submission_id == "same-instant-a")
    assert snapshot(engine) == snapshot(second_engine)


def test_importing_the_same_tallies_again_takes_the_row_road_and_changes_nothing(
        engine: Engine, small_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, first_roads = import_counting_roads(engine, small_bundle, monkeypatch, rows_only=False)
    before = snapshot(engine)
    again, again_roads = import_counting_roads(engine, small_bundle, monkeypatch, rows_only=False)
    rows = first.stored[bundle.TALLIES]
    assert first_roads == Roads([rows], [0]) and again_roads == Roads([0], [rows])
    assert again.ok and not again.tallies and again.repeats[bundle.TALLIES] == first.stored[bundle.TALLIES]
    assert snapshot(engine) == before


# --------------------------------------------------------------------------- reading columns

CLEAN = st.one_of(st.just(""), st.integers(0, 5000).map(str))
LAYOUT_TIMES = st.sampled_from(["2024-11-27T15:42:10+07:00", "2024-11-27T23:59:59-03:30", "2024-11-27T00:00:00+00:00"])
#: What one cell may be spoiled with: counts the short road refuses, times in other layouts, spaces.
SPOILT = st.sampled_from([" 12", "7 ", "-3", "1.5", "x", "٣", "", "1234567890", "007", "0000000001", "999999999",
                          " 2024-11-27T15:42:10+08:00",
                          "2024-11-27 15:42:10+07:00", "2024-11-27T15:42:10Z", "2024-02-30T10:00:00+07:00",
                          "2024-11-27T15:42:10.5+07:00", "2024-11-27T15:42:10", "yesterday",
                          "2024-11-27T15:42:10+07:60", "2024-11-27T15:42:10+24:00", "2024-11-27T15:42:10-00:00",
                          "2024-11-27T15:42:10+0٧:00", "2024-11-27T15:42:10+07:00 ", "2024-11-27T15:42:10+07:0\x00",
                          "2024-02-29T10:00:00+07:00", "2023-02-29T10:00:00+07:00", "2100-02-29T10:00:00+07:00",
                          "2000-02-29T10:00:00+07:00", "2024-04-31T10:00:00+07:00", "2024-12-31T23:59:59+07:00",
                          "2024-13-01T10:00:00+07:00", "2024-00-10T10:00:00+07:00", "2024-11-00T10:00:00+07:00",
                          "2024-11-27T24:00:00+07:00", "2024-11-27T15:60:10+07:00", "2024-11-27T15:42:60+07:00",
                          "0000-11-27T15:42:10+07:00", "0001-01-01T00:00:00-01:00", "2024-11-27T15:42:1٣+07:00",
                          "2024/11/27T15:42:10+07:00", "2024-11-27 15:42:10+07:00"])
HEADER = ["submission_id", "station_code", "contest_code", "submitted_at", "source", *COUNT_FIELDS,
          "votes_1", "votes_2", "votes_3"]
CLEAN_ROW = st.tuples(st.sampled_from(["", "s-1", " s-2 "]), LAYOUT_TIMES, st.sampled_from(["", "desk", " sirekap "]),
                      st.lists(CLEAN, min_size=len(HEADER) - 5, max_size=len(HEADER) - 5))


def chunk_of(rows: list[list[str]]) -> CellChunk:
    return CellChunk(bundle.TALLIES, HEADER, list(range(2, 2 + len(rows))), rows)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(CLEAN_ROW, min_size=1, max_size=6),
       spoilt=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, len(HEADER) - 1), SPOILT)))
def test_columns_are_read_only_where_every_row_reads_the_same_on_the_row_road(
        rows: list[tuple[str, str, str, list[str]]], spoilt: tuple[int, int, str] | None) -> None:
    """Clean chunks are read as columns, as the row road reads each row; a chunk with one spoilt
    cell is either read the same or left to the row road, never read differently."""
    cells = [[submission or f"row-{n}", "62.71.01.1001.001", "gub-62", submitted_at, source, *counts]
             for n, (submission, submitted_at, source, counts) in enumerate(rows)]
    if spoilt is not None:
        row, column, text = spoilt
        cells[row % len(cells)][column] = text
    chunk = chunk_of(cells)
    columns = columnar.parse_columns(chunk)
    if spoilt is None:
        assert columns is not None
    if columns is None:
        return  # the row road reads this chunk (whatever it makes of it)
    for i, row in enumerate(chunk.rows()):
        form, _ = parse_tally_row(row)
        assert form is not None, "the columnar road read a row that the row road refuses"
        assert (columns.submission_ids[i], columns.station_codes[i], columns.contest_codes[i], columns.sources[i]) == (
            form.submission_id, form.station_code, form.contest_code, form.source)
        assert (columns.utc[i].item(), columns.offsets[i]) == to_utc_naive(form.submitted_at)
        assert {name: values[i] for name, values in columns.counts.items()} == form.counts
        assert {n: v[i] for n, v in columns.votes.items() if v[i] is not None} == form.votes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.just(""), st.integers(0, 10**11).map(str), st.integers(0, 10**11).map("00{}".format),
                          st.text(alphabet="0123456789٣x", max_size=11)), min_size=1, max_size=8))
def test_a_column_of_counts_is_read_only_when_every_cell_is_empty_or_at_most_nine_plain_digits(
        cells: list[str]) -> None:
    plain = all(cell == "" or cell.isdecimal() for cell in cells)
    short = max(map(len, cells)) <= ingest.SAFE_COUNT_DIGITS
    expected = [int(cell) if cell else None for cell in cells] if plain and short else None
    assert columnar.plain_counts(cells) == expected


@given(st.lists(st.lists(st.one_of(st.none(), st.integers(0, 10**12)), max_size=6), max_size=5))
def test_the_votes_of_many_revisions_are_written_as_each_alone_would_be(rows: list[list[int | None]]) -> None:
    import json

    from pilkada_graph.store import json_int_lists

    assert json_int_lists(rows) == [json.dumps(row, separators=(",", ":")) for row in rows]


#: Times in the layout the columnar road reads, each field's digits drawn from a range a little
#: wider than the valid one (so that days past the month's end, hour 24 and the like come up).
LAYOUT_LIKE = st.builds("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{:02d}:{:02d}".format,
                        st.one_of(st.integers(0, 9999), st.sampled_from([1900, 2000, 2023, 2024, 2100])),
                        st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
                        st.integers(0, 60), st.sampled_from("+-"), st.integers(0, 24), st.integers(0, 60))


@settings(max_examples=500, deadline=None)
@given(st.lists(LAYOUT_LIKE, min_size=1, max_size=3))
@example([f"{year}-02-29T10:00:00+07:00" for year in ("1600", "2000", "2024")])  # leap years, by the 400 rule too
@example(["2100-02-29T10:00:00+07:00"])
@example(["2023-02-29T10:00:00+07:00"])
@example(["2024-04-31T10:00:00+07:00"])
@example(["9999-12-31T23:59:59-00:01"])
def test_times_are_read_as_columns_exactly_as_datetime_reads_each_or_left_to_the_row_road(texts: list[str]) -> None:
    read = columnar.utc_times(texts)
    expected: list[tuple[Any, int] | None] = []
    for text in texts:
        try:
            expected.append(to_utc_naive(ingest.parse_timestamp(text)))
        except ingest.InvalidValue:
            expected.append(None)
    if read is None:
        # left to the row road: fine when the row road refuses one, or reads an hour's offset written :60
        assert None in expected or any(text.endswith(":60") for text in texts)
        return
    utc, offsets = read
    assert [(moment.item(), offset) for moment, offset in zip(utc, offsets, strict=True)] == expected


def same_columns(first: columnar.TallyColumns, second: columnar.TallyColumns) -> bool:
    return all((a == b).all() if isinstance(a, np.ndarray) else a == b for a, b in zip(first, second, strict=True))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(CLEAN_ROW, min_size=1, max_size=6),
       spoilt=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, len(HEADER) - 1), SPOILT)),
       moved=st.one_of(*[st.none()] * 4, st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 3))),
       crlf=st.integers(0, 4).map(lambda k: k == 0))
@example(rows=[("s-1", "2024-11-27T15:42:10+07:00", "desk", ["1"] * (len(HEADER) - 5))] * 2,
         spoilt=(1, 0, ""), moved=None, crlf=False)  # an empty submission id
@example(rows=[("s-1", "2024-11-27T15:42:10+07:00", "desk", ["1"] * (len(HEADER) - 5))] * 2,
         spoilt=None, moved=(0, 1, 1), crlf=False)  # one row a cell short, the next a cell long
def test_plain_lines_are_read_as_their_cells_are_or_left_to_the_cells(
        rows: list[tuple[str, str, str, list[str]]], spoilt: tuple[int, int, str] | None,
        moved: tuple[int, int, int] | None, crlf: bool) -> None:
    """A chunk of plain lines is parsed from its bytes to exactly the columns its cells give, or
    left to the cells (a row of another width, a cell to strip, anything but ASCII digits in a count).
    ``moved`` takes cells off the end of one row and adds as many to another (or the same) row."""
    cells = [[submission.strip() or f"row-{n}", "62.71.01.1001.001", "gub-62", submitted_at, source.strip(), *counts]
             for n, (submission, submitted_at, source, counts) in enumerate(rows)]
    if spoilt is not None:
        row, column, text = spoilt
        cells[row % len(cells)][column] = text
    if moved is not None:
        shorter, longer, count = moved
        del cells[shorter % len(cells)][-count:]
        cells[longer % len(cells)] += ["9"] * count
    lines = [",".join(row) + ("\r\n" if crlf else "\n") for row in cells]
    by_lines = columnar._parse_plain_lines(HEADER, lines)
    by_cells = columnar._parse_cells(CellChunk(bundle.TALLIES, HEADER, list(range(2, 2 + len(lines))),
                                               source_lines=lines))
    if by_lines is not None:
        assert by_cells is not None and same_columns(by_lines, by_cells)
    plain = spoilt is None and moved is None and all(
        cell == cell.strip() for row in cells for cell in row)
    if plain:
        assert by_lines is not None, "clean plain lines were left to the cells"


def test_plain_lines_of_rows_of_other_widths_are_left_to_the_cells_even_when_their_cells_add_up() -> None:
    header = ["submission_id", "station_code", "contest_code", "submitted_at", "dpt", "source"]
    lines = ["s-1,62.71.01.1001.001,gub-62,2024-11-27T15:42:10+07:00,412\n",  # a cell short
             "s-2,62.71.01.1001.002,gub-62,2024-11-27T15:43:10+07:00,300,desk,late\n"]  # a cell long
    assert columnar._parse_plain_lines(header, lines) is None
    by_cells = columnar._parse_cells(CellChunk(bundle.TALLIES, header, [2, 3], source_lines=lines))
    assert by_cells is not None and by_cells.sources == [None, "desk"]
