"""``pilkada-graph export FOLDER``: write the stored election back as a bundle.

Every column is written, every revision of every tally is kept (oldest stored first), and
times come back with the offset their sender used, so that import -> export round-trips
row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import aliased

from pilkada_graph import bundle
from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.ingest import from_utc_naive
from pilkada_graph.models import Candidate, Contest, Region, Station, Tally


def export_bundle(engine: Engine, folder: Path) -> dict[str, int]:
    """Write the five bundle files (and recaps.csv when there are recaps) into ``folder``."""
    with engine.connect() as connection:
        max_candidates = connection.execute(select(func.max(Candidate.number))).scalar() or 0
        written = bundle.write_bundle(
            folder, regions=_regions(connection), contests=_contests(connection),
            candidates=_candidates(connection), stations=_stations(connection), tallies=_tallies(connection),
            max_candidates=max_candidates,
        )
        return {**written, **_recaps_file(connection, folder, max_candidates)}


def _recaps_file(connection: Connection, folder: Path, max_candidates: int) -> dict[str, int]:
    """recaps.csv, the optional sixth file: written only when there are recaps."""
    from pilkada_graph.recaps import all_recaps, recap_export_row

    recaps = all_recaps(connection)
    if not recaps:
        return {}
    rows = (recap_export_row(recap) for recap in recaps)
    return {bundle.RECAPS: bundle.write_rows(folder / bundle.RECAPS, bundle.recap_columns(max_candidates), rows)}


def _regions(connection: Connection) -> list[dict[str, Any]]:
    """Regions in code order (byte order, whatever the database's collation): parents first,
    and the order in which the Kemendagri list, and so the demo bundle, is written."""
    parent = aliased(Region)
    query = select(Region.code, Region.name, Region.level, parent.code.label("parent_code")).outerjoin(
        parent, parent.id == Region.parent_id
    )
    return sorted((row._asdict() for row in connection.execute(query)), key=lambda r: r["code"].encode())


def _contests(connection: Connection) -> Iterator[dict[str, Any]]:
    query = (
        select(Contest.code, Contest.name, Region.code.label("region_code"))
        .outerjoin(Region, Region.id == Contest.region_id)
        .order_by(Contest.id)
    )
    for row in connection.execute(query):
        yield row._asdict()


def _candidates(connection: Connection) -> Iterator[dict[str, Any]]:
    query = (
        select(Contest.code.label("contest_code"), Candidate.number, Candidate.name)
        .join(Contest, Contest.id == Candidate.contest_id)
        .order_by(Contest.id, Candidate.number)
    )
    for row in connection.execute(query):
        yield row._asdict()


def _stations(connection: Connection) -> Iterator[dict[str, Any]]:
    query = (
        select(Station.code, Region.code.label("village_code"), Station.number, Station.registered)
        .join(Region, Region.id == Station.village_id)
        .order_by(Station.id)
    )
    for row in connection.execute(query):
        yield {**row._asdict(), "number": f"{row.number}" if row.number is not None else None}


def _tallies(connection: Connection) -> Iterator[dict[str, Any]]:
    query = (
        select(Tally, Station.code.label("station_code"), Contest.code.label("contest_code"))
        .join(Station, Station.id == Tally.station_id)
        .join(Contest, Contest.id == Tally.contest_id)
        .order_by(Tally.id)
        .execution_options(yield_per=5000)
    )
    for tally, station_code, contest_code in _orm_rows(connection, query):
        row: dict[str, Any] = {
            "submission_id": tally.submission_id,
            "station_code": station_code,
            "contest_code": contest_code,
            "submitted_at": bundle.format_timestamp(from_utc_naive(tally.submitted_at, tally.submitted_offset)),
            "source": tally.source,
            **{name: getattr(tally, name) for name in COUNT_FIELDS},
        }
        for number, votes in enumerate(tally.votes or [], start=1):
            row[bundle.votes_column(number)] = votes
        yield row


def _orm_rows(connection: Connection, query: Any) -> Iterator[Any]:
    from sqlalchemy.orm import Session

    with Session(bind=connection) as session:
        yield from session.execute(query)
