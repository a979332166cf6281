"""Idempotent submissions: a retried submission id must say the same thing as the stored one.

A client that lost the answer to ``submitTally`` sends it again with the same ``submissionId``
and must get the first answer back; nothing is stored twice. A *different* form under an id
already used is not a retry: it is refused as a conflict (rule ``submission-conflict``) rather
than silently answered with the old revision, because the sender would otherwise believe its
new numbers were stored. A correction is a new submission with a new id (a new revision).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.ingest import Problem, TallyForm, to_utc_naive
from pilkada_graph.models import Contest, Station, Tally


def differing_fields(connection: Connection, form: TallyForm, tally_id: int) -> list[str]:
    """The fields (tallies.csv names) in which ``form`` differs from the stored revision ``tally_id``."""
    stored = connection.execute(
        select(Tally.__table__, Station.code.label("station_code"), Contest.code.label("contest_code"))
        .join(Station, Station.id == Tally.station_id)
        .join(Contest, Contest.id == Tally.contest_id)
        .where(Tally.id == tally_id)
    ).one()
    tally = stored
    submitted_at, offset = to_utc_naive(form.submitted_at)
    sent: dict[str, Any] = {
        "station_code": form.station_code, "contest_code": form.contest_code,
        "submitted_at": (submitted_at, offset), "source": form.source,
        **{name: form.counts.get(name) for name in COUNT_FIELDS},
    }
    kept: dict[str, Any] = {
        "station_code": stored.station_code, "contest_code": stored.contest_code,
        "submitted_at": (tally.submitted_at, tally.submitted_offset), "source": tally.source,
        **{name: getattr(tally, name) for name in COUNT_FIELDS},
    }
    differing = [name for name in sent if sent[name] != kept[name]]
    stored_votes = list(tally.votes or [])
    if any(number < 1 or number > len(stored_votes) for number in form.votes) or \
            form.votes_list(len(stored_votes)) != stored_votes:
        differing.append("votes")
    return differing


def conflict(form: TallyForm, fields: list[str]) -> Problem:
    return Problem(
        "submission-conflict",
        f"submission id {form.submission_id!r} is already stored with different {', '.join(fields)}; "
        "a correction is a new submission with its own id",
        "submission_id",
    )
