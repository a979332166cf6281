"""What a query may cost: a calculated price per operation, a maximum, and a budget per minute.

The price is counted before anything runs, from the operation's syntax tree and its variables,
the way GitHub's GraphQL API counts nodes: a connection asked for with ``first: n`` brings ``n``
nodes, and everything selected inside it is multiplied by ``n``, so
``regions(first: 100) { nodes { stations(first: 100) { nodes { code } } } }`` costs
100 + 100 * 100 = 10,100. Plain lists (``children``, ``revisions``, ``history``...) have no
``first``; they are priced at an estimate of their usual length (:data:`LIST_ESTIMATES`). Every
other object counts 1; scalars are free; each alias counts on its own (asking for the same field
twice costs twice).

An operation above :data:`MAX_COST` is refused before it runs (``extensions.code ==
"MAX_COST_EXCEEDED"``). What runs is charged to a budget per token (per client IP address for
anonymous requests) that refills every minute; an empty budget refuses with ``RATE_LIMITED``.
Every answer says where the budget stands, in ``extensions.cost``::

    {"cost": {"requested": 10100, "remaining": 189900, "resetAt": "2024-11-27T15:43:00Z"}}

Budgets are kept in each server process: with several workers, a client can spend up to one
budget per worker (see ``docs/security.md``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strawberry.extensions import SchemaExtension

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    value_from_ast_untyped,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from pilkada_graph.schema.pagination import DEFAULT_PAGE, MAX_PAGE

MAX_COST = 50_000
BUDGET_PER_MINUTE = 500_000
ANONYMOUS_BUDGET_PER_MINUTE = 100_000
WINDOW_SECONDS = 60
#: The usual length of lists that take no ``first``: (type, field) -> items.
LIST_ESTIMATES: dict[tuple[str, str], int] = {
    ("Region", "children"): 50,
    ("Region", "recaps"): 5,
    ("Station", "revisions"): 3,
    ("Station", "issues"): 5,
    ("Tally", "issues"): 3,
    ("Issue", "history"): 5,
    ("Query", "contests"): 50,
    ("Query", "detectors"): 30,
}
DEFAULT_LIST_ESTIMATE = 10


# --------------------------------------------------------------------------- the price


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]

    def selection_cost(self, parent: GraphQLNamedType, selections: SelectionSetNode | None, multiplier: int,
                       seen: frozenset[str] = frozenset()) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = self._type(selection.type_condition.name.value) if selection.type_condition else parent
                total += self.selection_cost(condition or parent, selection.selection_set, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    condition = self._type(fragment.type_condition.name.value) or parent
                    total += self.selection_cost(condition, fragment.selection_set, multiplier, seen | {name})
        return total

    def field_cost(self, parent: GraphQLNamedType, node: FieldNode, multiplier: int, seen: frozenset[str]) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, introspection: nothing stored is read
            return 1 if node.name.value.startswith("__") and node.selection_set else 0
        returned = get_named_type(definition.type)
        if not is_composite_type(returned):
            return 0
        if _is_page_part(parent):
            # edges / nodes / pageInfo of a page, node of an edge: already counted by the connection
            return self.selection_cost(returned, node.selection_set, multiplier, seen)
        own = multiplier * self.size_of(parent, node, definition.type, returned)
        return own + self.selection_cost(returned, node.selection_set, own, seen)

    def size_of(self, parent: GraphQLNamedType, node: FieldNode, field_type: Any, returned: GraphQLNamedType) -> int:
        if returned.name.endswith("Connection"):
            return max(self.first_argument(node), 1)
        if not isinstance(get_nullable_type(field_type), GraphQLList):
            return 1
        return LIST_ESTIMATES.get((parent.name, node.name.value), DEFAULT_LIST_ESTIMATE)

    def first_argument(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value: Any = None
            if isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            elif isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            # Outside 0..MAX_PAGE the resolver refuses with a clearer message than a cost would give.
            return min(value, MAX_PAGE) if isinstance(value, int) and value >= 0 else DEFAULT_PAGE
        return DEFAULT_PAGE

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self.schema.get_type(name)


def _is_page_part(parent: GraphQLNamedType) -> bool:
    return parent.name.endswith(("Connection", "Edge"))


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                   variables: Mapping[str, Any] | None) -> int:
    """The price of the operation that would run (at least 1)."""
    operation = _chosen_operation(document, operation_name)
    if operation is None:
        return 1
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return 1
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Walk(schema, fragments, _with_defaults(operation, variables or {}))
    return max(walk.selection_cost(root, operation.selection_set, 1), 1)


def _chosen_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if name is None or (operation.name and operation.name.value == name):
            return operation
    return None


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


# --------------------------------------------------------------------------- the budget


@dataclass
class Window:
    started: float
    spent: int = 0


class Budgets:
    """Nodes spent per key (token or IP) in the current minute; one per desk and process."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}

    def charge(self, key: str, cost: int, allowance: int, now: float | None = None) -> tuple[bool, int, float]:
        """Charge ``cost`` if the minute's ``allowance`` has room: (charged, remaining, reset time)."""
        now = time.time() if now is None else now
        window = self.windows.get(key)
        if window is None or now - window.started >= WINDOW_SECONDS:
            self._forget_stale(now)
            window = self.windows[key] = Window(started=now)
        reset_at = window.started + WINDOW_SECONDS
        if window.spent + cost > allowance:
            return False, max(allowance - window.spent, 0), reset_at
        window.spent += cost
        return True, allowance - window.spent, reset_at

    def _forget_stale(self, now: float) -> None:
        if len(self.windows) > 10_000:
            for key in [k for k, w in self.windows.items() if now - w.started >= WINDOW_SECONDS]:
                del self.windows[key]


_budgets: weakref.WeakKeyDictionary[Any, Budgets] = weakref.WeakKeyDictionary()


def budgets_for(desk: Any) -> Budgets:
    budgets = _budgets.get(desk)
    if budgets is None:
        budgets = _budgets[desk] = Budgets()
    return budgets


# --------------------------------------------------------------------------- the extension


def limit(settings: Any, name: str, default: int) -> int:
    return int((getattr(settings, "limits", None) or {}).get(name, default))


def budget_key(context: Any) -> tuple[str, bool]:
    """Whose budget pays: the token's, or the client address's for anonymous requests."""
    viewer = context.viewer
    if viewer.token_id is not None:
        return f"token:{viewer.token_id}", False
    if not viewer.anonymous:
        return f"actor:{viewer.actor_name}", False
    client = getattr(getattr(context, "request", None), "client", None)
    return f"ip:{client.host if client else 'unknown'}", True


def _refusal(message: str, code: str, **details: Any) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code, **details})])


class QueryCost(SchemaExtension):
    """Price the operation, refuse it when too dear or over budget, report the cost in ``extensions``."""

    def __init__(self) -> None:
        self.report: dict[str, Any] | None = None

    def on_execute(self) -> Iterator[None]:
        self._check()
        yield

    def _check(self) -> None:
        execution = self.execution_context
        context = execution.context
        desk = getattr(context, "desk", None)
        if execution.graphql_document is None or desk is None or not hasattr(context, "viewer"):
            return
        cost = operation_cost(execution.schema._schema, execution.graphql_document, execution.operation_name,
                              execution.variables)
        maximum = limit(desk.settings, "max_cost", MAX_COST)
        if cost > maximum:
            self.report = {"requested": cost}
            execution.result = _refusal(f"this query would cost {cost} nodes; the maximum is {maximum}: ask for "
                                        f"smaller pages (first) or fewer nested lists", "MAX_COST_EXCEEDED",
                                        cost=cost, maximum=maximum)
            return
        key, anonymous = budget_key(context)
        allowance = limit(desk.settings, "anonymous_budget_per_minute" if anonymous else "budget_per_minute",
                          ANONYMOUS_BUDGET_PER_MINUTE if anonymous else BUDGET_PER_MINUTE)
        charged, remaining, reset = budgets_for(desk).charge(key, cost, allowance)
        reset_at = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.report = {"requested": cost, "remaining": remaining, "resetAt": reset_at}
        if not charged:
            execution.result = _refusal(f"the budget of {allowance} nodes per minute is spent ({remaining} left, "
                                        f"this query costs {cost}); it refills at {reset_at}", "RATE_LIMITED",
                                        cost=cost, remaining=remaining, resetAt=reset_at)

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report} if self.report is not None else {}
