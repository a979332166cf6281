"""The desk's screens, end to end: a real uvicorn process over an imported bundle, numbers
checked against sums computed here from the bundle's CSV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.graphql.conftest import Server
from tests.graphql.desk_queries import (
    check_critical_issues,
    check_province_results,
    check_station_revisions,
    insert_probe_issues,
    station_with_most_revisions,
)


def test_province_results_with_regency_breakdown_match_the_bundle(small_server: Server) -> None:
    check_province_results(small_server, "gub-62")


def test_regency_contest_counted_at_the_province_uses_the_regency_stations(small_server: Server) -> None:
    region = small_server.query(
        '{ region(code: "62") { results(contest: "bup-62.08") { stationsTotal stationsReported } } }'
    )["region"]
    regency = small_server.query('{ region(code: "62.08") { stationsTotal } }')["region"]
    assert region["results"]["stationsTotal"] == regency["stationsTotal"]
    assert region["results"]["stationsReported"] <= regency["stationsTotal"]


def test_page_of_open_critical_issues_shows_station_tally_and_evidence(small_server: Server) -> None:
    codes = insert_probe_issues(small_server.database_url, 7)
    check_critical_issues(small_server, codes)


def test_station_lists_every_revision_oldest_first_with_sender(small_server: Server) -> None:
    _, _, rows = station_with_most_revisions(small_server.bundle)
    assert len(rows) > 1, "the small demo bundle should hold corrected forms"
    check_station_revisions(small_server)


def test_desk_queries_on_postgresql(serve: Callable[..., Server], postgres_url: str, small_bundle: Path) -> None:
    server = serve(postgres_url, small_bundle)
    check_province_results(server, "gub-62")
    check_critical_issues(server, insert_probe_issues(postgres_url, 6))
    check_station_revisions(server)
