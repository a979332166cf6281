"""Recaps on the region: what the district, regency or province recapitulation says (``Region.recaps``).

The numbers a recap states are shown as they came; comparing them with the stations below is
the recap detector's job (its issues are on the region).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from pilkada_graph.recaps import RecapView
from pilkada_graph.schema.context import Info


@strawberry.type(description="A recapitulation of a region for one contest (Model D.Hasil, or Sirekap's aggregate).")
class Recap:
    contest_code: str = strawberry.field(description="The contest recapitulated.")
    level: str = strawberry.field(description="The region's level: district, regency or province.")
    submitted_at: datetime = strawberry.field(description="When it was made, in the sender's UTC offset.")
    source: str | None = strawberry.field(description="Who sent it: `sirekap`, `ppk`, `kpu`, `desk`...")
    votes: list[int | None] = strawberry.field(
        description="Votes per candidate in ballot order (index 0 = number 1); null where the recap gives none."
    )
    valid_votes: int | None = strawberry.field(description="Valid votes, when the recap states them.")
    invalid_votes: int | None = strawberry.field(description="Invalid votes, when the recap states them.")
    total_votes: int | None = strawberry.field(description="Valid and invalid votes, when stated.")
    voters: int | None = strawberry.field(description="Voters who used their right, when stated.")
    stations_reported: int | None = strawberry.field(description="Stations counted in it, when known.")
    stations_total: int | None = strawberry.field(description="Stations it should cover, when known.")
    current: bool = strawberry.field(description="Whether it is the region's latest recap for the contest.")
    extra: JSON | None = strawberry.field(description="What the feed sent beside the numbers (psu, file...).")

    @classmethod
    def from_view(cls, view: RecapView, current: bool) -> Recap:
        return cls(
            contest_code=view.contest_code, level=view.level, submitted_at=view.submitted_at, source=view.source,
            votes=view.votes, current=current, extra=None if view.extra is None else JSON(view.extra), **view.counts,
        )


async def recaps_of_region(info: Info, region_id: int, contest: str | None) -> list[Recap]:
    """The region's recaps (of one contest, or all), newest first; batched across regions."""
    views: list[RecapView] = await info.context.loaders.recaps.load(region_id)
    seen: set[str] = set()
    recaps = []
    for view in views:
        if contest is None or view.contest_code == contest:
            recaps.append(Recap.from_view(view, current=view.contest_code not in seen))
            seen.add(view.contest_code)
    return recaps
