"""Stored tallies -> :class:`pilkada_graph.forensics.ContestArrays`: the SQL that feeds the forensic tests.

The forensic tests are pure functions over arrays; this module is where the store hands them
the current revision of every station of a contest, in one query, turned into numpy columns
without a Python loop per station (a 95,000-station contest loads in about a second). The
same conversion serves the region detectors, whose :class:`~pilkada_graph.detect_types.RegionTallies`
the runner already loaded (:func:`from_region_tallies`).

A station enters the arrays only when its form has everything the tests read (registered
voters, voters, valid and invalid votes and every candidate's votes): a half-read form would
otherwise count as zeros and bend every statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Text, cast, select

from pilkada_graph.detect_types import RegionTallies, as_floats, parse_json_lists, registered_column, vote_matrix
from pilkada_graph.forensics import ContestArrays
from pilkada_graph.ingest import descendant_range
from pilkada_graph.models import Candidate, Contest, CurrentTally, Region, Station, Tally

FloatArray = npt.NDArray[np.float64]


class UnknownSubject(LookupError):
    """The contest or region asked for is not in the database."""


def current_tally_arrays(engine: Engine, contest_code: str, region_code: str | None = None) -> ContestArrays:
    """The current revision of every complete form of ``contest_code`` at or below ``region_code``.

    Raises :class:`UnknownSubject` when the contest or the region does not exist. Rows are in
    station-code order; candidates are the contest's, by ballot number.
    """
    with engine.connect() as connection:
        contest_id, names = contest_candidates(connection, contest_code)
        if region_code is not None:
            require_region(connection, region_code)
        rows = connection.execute(current_forms_query(contest_id, region_code)).all()
    columns: Sequence[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 9
    codes, station_registered, dpt, dptb, dpk, voters, valid, invalid, votes = columns
    registered = registered_column(as_floats(dpt), as_floats(dptb), as_floats(dpk), as_floats(station_registered))
    return complete_forms(registered, as_floats(voters), as_floats(valid), as_floats(invalid),
                          vote_matrix(parse_json_lists(votes), len(names)), names, codes)


def contest_candidates(connection: Connection, contest_code: str) -> tuple[int, tuple[str, ...]]:
    """The contest's id and its candidates' names in ballot-number order."""
    contest_id = connection.execute(select(Contest.id).where(Contest.code == contest_code)).scalar()
    if contest_id is None:
        known = connection.execute(select(Contest.code).order_by(Contest.code).limit(20)).scalars().all()
        raise UnknownSubject(f"no contest {contest_code!r}; known: {', '.join(known) or 'none'}")
    names = connection.execute(select(Candidate.number, Candidate.name)
                               .where(Candidate.contest_id == contest_id).order_by(Candidate.number)).all()
    return contest_id, numbered_names({number: name for number, name in names})


def numbered_names(candidates: Mapping[int, str]) -> tuple[str, ...]:
    """``"1 Name"`` per candidate: the ballot number keeps two namesakes apart in the output."""
    return tuple(f"{number} {name}" for number, name in sorted(candidates.items()))


def require_region(connection: Connection, region_code: str) -> None:
    if connection.execute(select(Region.id).where(Region.code == region_code)).scalar() is None:
        raise UnknownSubject(f"no region {region_code!r}")


def current_forms_query(contest_id: int, region_code: str | None) -> Any:
    query = (
        select(Station.code, Station.registered, Tally.dpt, Tally.dptb, Tally.dpk, Tally.voters, Tally.valid_votes,
               Tally.invalid_votes, cast(Tally.votes, Text))
        .select_from(CurrentTally)
        .join(Tally, Tally.id == CurrentTally.tally_id)
        .join(Station, Station.id == CurrentTally.station_id)
        .where(CurrentTally.contest_id == contest_id)
        .order_by(Station.code)
    )
    if region_code is not None:
        low, high = descendant_range(region_code)
        query = query.where(Station.code >= low, Station.code < high)
    return query


def complete_forms(registered: FloatArray, voters: FloatArray, valid: FloatArray, invalid: FloatArray,
                   votes: FloatArray, candidate_names: Sequence[str], station_codes: Sequence[str]) -> ContestArrays:
    """ContestArrays of the stations whose every needed count was read."""
    complete = ~np.isnan(np.column_stack([registered, voters, valid, invalid, votes])).any(axis=1)
    keep = np.flatnonzero(complete)
    return ContestArrays(
        registered=registered[keep].astype(np.int64), voters=voters[keep].astype(np.int64),
        valid=valid[keep].astype(np.int64), invalid=invalid[keep].astype(np.int64),
        votes=votes[keep].astype(np.int64).reshape(keep.size, len(candidate_names)),
        candidate_names=tuple(candidate_names), station_codes=tuple(str(station_codes[i]) for i in keep.tolist()),
    )


def from_region_tallies(tallies: RegionTallies, candidates: Mapping[int, str]) -> ContestArrays:
    """The forensic arrays of a region detector's input (complete forms only)."""
    names = numbered_names({n: candidates.get(n, f"candidate {n}") for n in tallies.candidates})
    return complete_forms(tallies.registered, tallies.voters, tallies.valid_votes, tallies.invalid_votes,
                          tallies.votes, names, tallies.station_codes.tolist())
