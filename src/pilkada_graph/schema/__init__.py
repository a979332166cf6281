"""The GraphQL schema, organised by feature (one module per part of the domain).

``schema`` is the development schema (introspection on); :func:`build_schema` builds the one the
server runs, with introspection off in production. ``python -m pilkada_graph.schema`` prints
the SDL that ``schema.graphql`` at the repository root must equal.

Adding a root field (for example ``detectors``, in ``schema/detectors.py``): write a
``@strawberry.type class DetectorQuery`` holding the field, import it here and append it to
:data:`QUERY_TYPES` (likewise :data:`MUTATION_TYPES`, :data:`SUBSCRIPTION_TYPES`); the root
types are merged from these lists, so no other module changes. Then regenerate
``schema.graphql``.

Limits every request passes (see :func:`extensions`): depth, aliases, tokens, page size (in
:mod:`~pilkada_graph.schema.pagination`), a price per operation and a budget per minute
(:mod:`~pilkada_graph.schema.cost`), parser and validation caches, and masked errors except the
API's own (:mod:`~pilkada_graph.schema.errors`); in production, no introspection and no
"Did you mean" hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types

from pilkada_graph.schema.check_tally import CheckTallyQuery
from pilkada_graph.schema.contests import ContestQuery
from pilkada_graph.schema.cost import QueryCost
from pilkada_graph.schema.detectors import DetectorQuery
from pilkada_graph.schema.errors import HideSuggestions, should_mask_error
from pilkada_graph.schema.issues import IssueQuery
from pilkada_graph.schema.me import MeQuery
from pilkada_graph.schema.mutations.review_issue import ReviewIssueMutation
from pilkada_graph.schema.mutations.submit_tally import SubmitTallyMutation
from pilkada_graph.schema.node import NodeQuery
from pilkada_graph.schema.regions import RegionQuery
from pilkada_graph.schema.stations import StationQuery
from pilkada_graph.schema.subscriptions import LiveSubscription

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
CACHE_SIZE = 512

QUERY_TYPES: list[type] = [RegionQuery, ContestQuery, StationQuery, IssueQuery, NodeQuery, DetectorQuery,
                           MeQuery, CheckTallyQuery]
MUTATION_TYPES: list[type] = [SubmitTallyMutation, ReviewIssueMutation]
SUBSCRIPTION_TYPES: list[type] = [LiveSubscription]


#: The depth and alias rules, built once: strawberry's limiters build a new rule class per instance,
#: and the validation cache is keyed by the rule classes, so per-request limiters made every
#: request a cache miss (validation was a third of the issues page's time).
LIMIT_RULES = (*QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
               *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules)


def extensions(*, production: bool) -> list[Callable[[], SchemaExtension]]:
    """Fresh extension instances per request (factories), so no request sees another's state.

    The parser and validation caches live at module level (shared by every request), keyed by the
    query text and by the document and :data:`LIMIT_RULES`.
    """
    chosen: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(ParserCache, maxsize=CACHE_SIZE),
        partial(AddValidationRules, list(LIMIT_RULES)),
        partial(ValidationCache, maxsize=CACHE_SIZE),
        partial(MaskErrors, should_mask_error=should_mask_error),
        QueryCost,
    ]
    if production:
        chosen.extend([DisableIntrospection, HideSuggestions])
    return chosen


def _root(name: str, types: Sequence[type], description: str) -> type | None:
    if not types:
        return None
    merged = merge_types(name, tuple(types))
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """The schema with the limits for development or production."""
    return strawberry.Schema(
        query=_root("Query", QUERY_TYPES, "Everything that can be read."),  # type: ignore[arg-type]
        mutation=_root("Mutation", MUTATION_TYPES, "Everything that can be written."),
        subscription=_root("Subscription", SUBSCRIPTION_TYPES, "Live updates, over WebSocket."),
        extensions=extensions(production=production),
    )


schema = build_schema()

__all__ = ["MUTATION_TYPES", "QUERY_TYPES", "SUBSCRIPTION_TYPES", "build_schema", "schema"]
