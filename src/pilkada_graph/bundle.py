"""The election bundle: a folder of five CSV files (see ``shared/spec/bundle.md``).

This module knows the files' names and columns and how to read and write them as plain
dictionaries of strings. It knows nothing about the database: parsing values and checking
rules is :mod:`pilkada_graph.ingest`'s job, so that every feed shares one set of rules.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

REGIONS = "regions.csv"
CONTESTS = "contests.csv"
CANDIDATES = "candidates.csv"
STATIONS = "stations.csv"
TALLIES = "tallies.csv"
#: Optional sixth file: recaps of districts, regencies and provinces (see docs/recaps.md).
RECAPS = "recaps.csv"

#: The files in the order an import must process them (what a row refers to comes first).
#: The five files of the spec; every export writes them.
CORE_FILES: tuple[str, ...] = (REGIONS, CONTESTS, CANDIDATES, STATIONS, TALLIES)
FILES: tuple[str, ...] = (*CORE_FILES, RECAPS)

REGION_COLUMNS = ("code", "name", "level", "parent_code")
CONTEST_COLUMNS = ("code", "name", "region_code")
CANDIDATE_COLUMNS = ("contest_code", "number", "name")
STATION_COLUMNS = ("code", "village_code", "number", "registered")

#: The counts of the result form, in form order, before and after the ``votes_K`` columns.
ADMIN_COUNT_FIELDS = (
    "dpt",
    "dptb",
    "dpk",
    "voters",
    "ballots_received",
    "ballots_spoiled",
    "ballots_unused",
    "ballots_used",
)
TOTAL_COUNT_FIELDS = ("valid_votes", "invalid_votes", "total_votes")
COUNT_FIELDS = ADMIN_COUNT_FIELDS + TOTAL_COUNT_FIELDS
TALLY_HEAD_COLUMNS = ("submission_id", "station_code", "contest_code", "submitted_at", "source")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    REGIONS: REGION_COLUMNS,
    CONTESTS: CONTEST_COLUMNS,
    CANDIDATES: CANDIDATE_COLUMNS,
    STATIONS: ("code", "village_code"),
    TALLIES: ("submission_id", "station_code", "contest_code", "submitted_at"),
    RECAPS: ("region_code", "contest_code", "submitted_at"),
}
RECAP_HEAD_COLUMNS = ("region_code", "contest_code", "submitted_at", "source")
RECAP_TAIL_COLUMNS = ("valid_votes", "invalid_votes", "total_votes", "voters", "stations_reported", "stations_total")


def recap_columns(max_candidates: int) -> tuple[str, ...]:
    """Every recaps.csv column, for a bundle whose largest contest has ``max_candidates``."""
    return RECAP_HEAD_COLUMNS + tuple(votes_column(k) for k in range(1, max_candidates + 1)) + RECAP_TAIL_COLUMNS

LEVELS = ("province", "regency", "district", "village")


def votes_column(number: int) -> str:
    """The tallies.csv column of candidate ``number``'s valid votes."""
    return f"votes_{number}"


def tally_columns(max_candidates: int) -> tuple[str, ...]:
    """Every tallies.csv column, for a bundle whose largest contest has ``max_candidates``."""
    votes = tuple(votes_column(k) for k in range(1, max_candidates + 1))
    return TALLY_HEAD_COLUMNS + ADMIN_COUNT_FIELDS + votes + TOTAL_COUNT_FIELDS


def candidate_number_of(column: str) -> int | None:
    """``votes_3`` -> 3; any other column -> None."""
    prefix, _, number = column.partition("_")
    if prefix != "votes" or not number.isdigit():
        return None
    return int(number)


class Row(NamedTuple):
    """One CSV data row, with where it came from so that errors can name it (a named tuple: one per row)."""

    file: str
    line: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The cell's text, stripped; empty when the column is absent."""
        return (self.values.get(column) or "").strip()


class MissingColumnsError(ValueError):
    """A bundle file lacks a column that the spec requires."""

    def __init__(self, file: str, columns: Sequence[str]) -> None:
        self.file = file
        self.columns = tuple(columns)
        super().__init__(f"{file}: line 1: missing required column(s) {', '.join(columns)}")


def present_files(folder: Path) -> list[str]:
    """The bundle files that exist in ``folder``, in import order."""
    return [name for name in FILES if (folder / name).is_file()]


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file (empty list for an empty file)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def read_rows(path: Path) -> Iterator[Row]:
    """Yield the data rows of one bundle file; line numbers count the header as line 1.

    Raises :class:`MissingColumnsError` before yielding anything when a required column is
    missing.
    """
    for chunk in read_chunks(path):
        yield from chunk.rows()


class CellChunk:
    """Consecutive data rows of one bundle file as lists of cells, each as wide as the header at
    least (a short row is padded with empty cells), with the line number ``csv`` gives each (its
    last line, when a quoted cell spans lines).

    A chunk of plain lines (no quoting, no blank line) also keeps them as read (``source_lines``):
    the columnar road parses those itself, and the cells are only cut from them when asked for.
    """

    __slots__ = ("file", "header", "lines", "source_lines", "_cells")

    def __init__(self, file: str, header: list[str], lines: list[int], cells: list[list[str]] | None = None, *,
                 source_lines: list[str] | None = None) -> None:
        if (cells is None) == (source_lines is None):
            raise ValueError("a chunk is made of its cells or of its plain lines")
        self.file, self.header, self.lines = file, header, lines
        self.source_lines = source_lines
        self._cells = cells

    @property
    def cells(self) -> list[list[str]]:
        if self._cells is None:
            assert self.source_lines is not None
            self._cells = _padded(_cut(self.source_lines), len(self.header))
        return self._cells

    def rows(self, indices: Iterable[int] | None = None) -> list[Row]:
        """The chunk's rows (those at ``indices`` only, when given) as :class:`Row` values."""
        at = range(len(self.lines)) if indices is None else indices
        return [Row(self.file, self.lines[i], dict(zip(self.header, self.cells[i], strict=False))) for i in at]


def read_chunks(path: Path, size: int = 10_000) -> Iterator[CellChunk]:
    """The data rows of one bundle file, ``size`` lines at a time (fewer rows where a line is
    blank: blank lines are skipped, as ``csv.DictReader`` does). Raises :class:`MissingColumnsError`
    before yielding anything when a required column is missing.

    Lines without a double quote are cut at commas by ``str.split``, which is what the ``csv``
    module makes of them, at two thirds of its cost; from the first chunk that has a quote (a cell
    may then hold commas or span lines) to the end of the file, the ``csv`` module reads.
    """
    name = path.name
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)  # DictReader's per-row Python costs more than the rest of a row's parsing
        header = next(reader, [])
        missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in header]
        if missing:
            raise MissingColumnsError(name, missing)
        read = reader.line_num
        while lines := list(itertools.islice(handle, size)):
            if not _plain_lines(lines):
                yield from _csv_chunks(name, header, itertools.chain(lines, handle), read, size)
                return
            chunk = _plain_chunk(name, header, lines, read)
            if chunk.lines:
                yield chunk
            read += len(lines)


def _plain_lines(lines: list[str]) -> bool:
    """No quoting, and no line long enough for the ``csv`` module to refuse a cell of it."""
    return '"' not in "".join(lines) and max(map(len, lines)) <= csv.field_size_limit()


def _plain_chunk(name: str, header: list[str], lines: list[str], read: int) -> CellChunk:
    """The rows of ``lines`` (which follow line number ``read``), cut at commas; blank lines skipped
    and short rows padded, as :func:`_csv_chunks` does."""
    numbers = list(range(read + 1, read + 1 + len(lines)))
    if _BLANK_LINES.isdisjoint(lines):
        return CellChunk(name, header, numbers, source_lines=lines)
    cells = _cut(lines)
    kept = [i for i, row in enumerate(cells) if row != [""]]
    return CellChunk(name, header, [numbers[i] for i in kept], _padded([cells[i] for i in kept], len(header)))


def _cut(lines: list[str]) -> list[list[str]]:
    """Plain lines (no quoting) cut at commas, as the ``csv`` module cuts them."""
    return [line.rstrip("\r\n").split(",") for line in lines]


#: A blank line, with each line end it may have (``csv`` skips them).
_BLANK_LINES = frozenset({"\n", "\r\n", "\r"})


def _padded(cells: list[list[str]], width: int) -> list[list[str]]:
    """Rows shorter than ``width`` padded with empty cells (in place)."""
    if cells and min(map(len, cells)) < width:
        for row in cells:
            if len(row) < width:
                row += [""] * (width - len(row))
    return cells


def _csv_chunks(name: str, header: list[str], lines: Iterator[str], read: int, size: int) -> Iterator[CellChunk]:
    """The rows of ``lines`` (which follow line number ``read``) by the ``csv`` module, ``size`` rows
    at a time, each with the line number ``csv`` gives it (its last, when a quoted cell spans lines)."""
    reader = csv.reader(lines)
    numbers: list[int] = []
    cells: list[list[str]] = []
    for row in reader:
        if not row:
            continue
        numbers.append(read + reader.line_num)
        cells.append(row)
        if len(cells) >= size:
            yield CellChunk(name, header, numbers, _padded(cells, len(header)))
            numbers, cells = [], []
    if cells:
        yield CellChunk(name, header, numbers, _padded(cells, len(header)))


def write_rows(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> int:
    """Write a bundle file with exactly ``columns``; ``None`` is written as an empty cell.

    Returns the number of data rows written.
    """
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
            count += 1
    return count


RowWrapper = Callable[[str, Iterable[Mapping[str, object]]], Iterable[Mapping[str, object]]]


def write_bundle(
    folder: Path,
    *,
    regions: Iterable[Mapping[str, object]],
    contests: Iterable[Mapping[str, object]],
    candidates: Iterable[Mapping[str, object]],
    stations: Iterable[Mapping[str, object]],
    tallies: Iterable[Mapping[str, object]],
    max_candidates: int,
    wrap: RowWrapper | None = None,
) -> dict[str, int]:
    """Write the five files of a bundle with every column; returns rows written per file.

    ``wrap(file_name, rows)`` may wrap each file's rows, e.g. to report progress.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Sequence[str], Iterable[Mapping[str, object]]]] = [
        (REGIONS, REGION_COLUMNS, regions),
        (CONTESTS, CONTEST_COLUMNS, contests),
        (CANDIDATES, CANDIDATE_COLUMNS, candidates),
        (STATIONS, STATION_COLUMNS, stations),
        (TALLIES, tally_columns(max_candidates), tallies),
    ]
    return {name: write_rows(folder / name, columns, wrap(name, rows) if wrap else rows)
            for name, columns, rows in files}


def format_timestamp(moment: object) -> str:
    """The bundle's canonical ISO 8601 form: seconds, with the offset (``+07:00``)."""
    from datetime import datetime

    assert isinstance(moment, datetime) and moment.tzinfo is not None
    return moment.isoformat(timespec="seconds")
