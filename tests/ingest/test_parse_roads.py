"""The short road for clean tally rows and the general road agree on every row."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pilkada_graph.bundle import COUNT_FIELDS, Row
from pilkada_graph.ingest import _parse_tally_row_generally, parse_tally_row

CELLS = st.one_of(st.just(""), st.integers(0, 5000).map(str), st.sampled_from([" 12", "7 ", "-3", "1.5", "x", "٣"]))
REQUIRED = st.one_of(st.just(""), st.sampled_from(["s-1", "62.71.01.1001.001", "gub-62"]))
TIMES = st.sampled_from(["2024-11-27T15:42:10+07:00", "2024-11-27 15:42", "", "yesterday"])


@given(counts=st.lists(CELLS, min_size=len(COUNT_FIELDS), max_size=len(COUNT_FIELDS)),
       votes=st.lists(CELLS, min_size=1, max_size=4), submission=REQUIRED, submitted_at=TIMES)
def test_the_short_road_gives_what_the_general_road_gives(counts: list[str], votes: list[str], submission: str,
                                                          submitted_at: str) -> None:
    values = {"submission_id": submission, "station_code": "62.71.01.1001.001", "contest_code": "gub-62",
              "submitted_at": submitted_at, "source": "desk", **dict(zip(COUNT_FIELDS, counts, strict=True)),
              **{f"votes_{k}": v for k, v in enumerate(votes, start=1)}}
    row = Row("tallies.csv", 7, values)
    assert parse_tally_row(row) == _parse_tally_row_generally(row)
