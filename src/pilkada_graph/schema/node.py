"""Relay's ``node(id)``: any region, station, contest, tally or issue by its global id.

A global id is ``base64("Type:key")``: the code for regions, stations and contests (stable
across databases and exports), the row id for tallies and issues. (A plain resolver rather
than ``relay.node()``, whose field extension cannot be shared by two schemas built from the same
types, as development and production are.)
"""

from __future__ import annotations

import strawberry
from strawberry import relay

from pilkada_graph.schema.context import Info


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; null when it does not exist.")
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        return await id.resolve_node(info, required=False)
