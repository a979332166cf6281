"""Reading a bundle file gives the rows and line numbers the ``csv`` module gives, however it is cut."""

from __future__ import annotations

import csv
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pilkada_graph import bundle

#: Cells and what makes CSV hard: separators, line ends of three kinds, quotes, NUL.
TEXT = st.lists(st.sampled_from(["a", "7", " ", ",", "\n", "\r", "\r\n", '"', "\x00", "é"]), max_size=60).map("".join)


def rows_by_the_csv_module(path: Path) -> list[tuple[int, list[str]]]:
    """What ``read_chunks`` must give: every non-blank data row, padded to the header's width, with
    the line number ``csv`` gives it."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        width = len(next(reader, []))
        return [(reader.line_num, row + [""] * (width - len(row))) for row in reader if row]


@settings(max_examples=300, deadline=None)
@given(body=TEXT, size=st.integers(1, 4), bom=st.booleans())
def test_every_chunking_reads_the_rows_and_line_numbers_the_csv_module_reads(
        tmp_path_factory: object, body: str, size: int, bom: bool) -> None:
    path = Path(tmp_path_factory.mktemp("csv")) / bundle.STATIONS  # type: ignore[attr-defined]
    path.write_bytes(("\ufeff" if bom else "").encode() + f"code,name,village_code\n{body}".encode())
    try:
        expected = rows_by_the_csv_module(path)
    except csv.Error:
        return  # e.g. a quote left open at the end: the csv module's own error, raised on both roads
    chunks = list(bundle.read_chunks(path, size))
    assert [(line, row) for chunk in chunks for line, row in zip(chunk.lines, chunk.cells, strict=True)] == expected
    assert all(chunk.cells for chunk in chunks)


def test_a_file_with_quotes_after_plain_lines_is_read_by_the_csv_module_from_that_chunk_on(tmp_path: Path) -> None:
    path = tmp_path / bundle.STATIONS
    path.write_text('code,name,village_code\n62.1,A,62.1.1\n\n62.2,"B, the second\nline",62.1.1\n62.3,C\n')
    chunks = list(bundle.read_chunks(path, 2))
    assert [(chunk.lines, chunk.cells) for chunk in chunks] == [
        ([2], [["62.1", "A", "62.1.1"]]),
        ([5, 6], [["62.2", "B, the second\nline", "62.1.1"], ["62.3", "C", ""]]),
    ]
