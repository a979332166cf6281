"""Live answers rendered once per group of alike subscribers, and written straight to their sockets.

strawberry (through graphql-core's ``subscribe``) executes a subscriber's selection set for every
event and encodes the answer as JSON, once per subscriber: ten thousand dashboards watching
``tallySubmitted`` cost ten thousand executions per form. Here, subscribers whose answers must be
byte for byte the same (the same document, operation and variables, and the same rights: private
fields such as ``Tally.actor`` depend on the viewer's role and regions) form a
:class:`RenderGroup`. The broadcaster calls each group once per event; the group executes the
document with the event as root value (graphql-core's own per-event executor, so the answer is what
strawberry would have sent), masks errors like :func:`~pilkada_graph.schema.extensions`' MaskErrors
and encodes the payload once. Each subscriber's task then wraps that JSON in its own message,
``{"id": …, "type": "next", "payload": …}``, by string concatenation, and sends it.

How a subscription resolver learns where to write: the WebSocket handlers below put a :class:`Sink`
(the socket, the message prefix of the operation, the operation's text) in a context variable of
the operation's task before strawberry runs it. Strawberry still parses, validates, prices and
authorizes every subscription, and calls the resolver; a resolver that finds a sink serves its
subscriber from the broadcaster and never yields to graphql-core. Without a sink (``schema.subscribe``
called directly) the resolvers yield objects as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import weakref
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from strawberry.extensions.mask_errors import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from graphql import DocumentNode, ExecutionResult, GraphQLError, execute_subscription_event, parse
from pilkada_graph.broadcast import MISSED, Subscriber
from pilkada_graph.schema.context import Context, Viewer
from pilkada_graph.schema.errors import should_mask_error
from pilkada_graph.schema.loaders import Loaders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """An object for every matching subscriber, and the rows its fields will ask loaders for."""

    item: Any
    primes: tuple[tuple[str, Any, Any], ...] = ()

    def prime(self, loaders: Loaders) -> None:
        for name, key, row in self.primes:
            loader = getattr(loaders, name)
            loader.prime(key, row, force=True)


@dataclass(frozen=True)
class Request:
    """A subscription as the client sent it: what decides, with the viewer's rights, its answers' bytes."""

    query: str
    operation_name: str | None
    variables: Mapping[str, Any] | None

    @property
    def variables_key(self) -> str:
        return json.dumps(self.variables or {}, sort_keys=True, separators=(",", ":"), default=str)


def rights_of(viewer: Viewer) -> Hashable:
    """What of the viewer can change an answer: its roles and regions (never its name or token)."""
    return viewer.roles, viewer.regions


@functools.lru_cache(maxsize=512)
def parsed(query: str) -> DocumentNode:
    """The document of a query text (strawberry validated it already; parsed once per text)."""
    return parse(query)


def encode(result: ExecutionResult) -> str:
    """The ``payload`` of a next/data message, as JSON (strawberry's shape: data, then errors)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    return json.dumps(payload, separators=(",", ":"))


_masker = MaskErrors(should_mask_error=should_mask_error)


def masked(result: ExecutionResult) -> ExecutionResult:
    """``result`` with unexpected errors anonymised, as every other answer of the API."""
    if not result.errors:
        return result
    for error in result.errors:
        if should_mask_error(error):
            log.error("live: error while rendering an event", exc_info=error.original_error or error)
    errors = [_masker.anonymise_error(e) if should_mask_error(e) else e for e in result.errors]
    return ExecutionResult(data=result.data, errors=errors)


class RenderGroup:
    """Subscribers whose answers are the same bytes; renders an event once for all of them."""

    def __init__(self, key: Hashable, schema: Any, context: Context, request: Request) -> None:
        self.key = key
        self.schema = schema
        self.desk = context.desk
        self.viewer = context.viewer
        self.request = request
        self.renders = 0
        self._missed: str | None = None

    async def __call__(self, item: Any) -> str:
        """The JSON payload of ``item`` (a :class:`Rendered`, or any root value) for this group."""
        self.renders += 1
        context = Context(desk=self.desk, viewer=self.viewer)  # fresh loaders: no stale rows between events
        if isinstance(item, Rendered):
            item.prime(context.loaders)
            item = item.item
        executor = self.schema.execution_context_class.build(
            self.schema._schema, parsed(self.request.query), context_value=context,
            raw_variable_values=dict(self.request.variables or {}), operation_name=self.request.operation_name,
        )
        if isinstance(executor, list):  # the variables no longer coerce: cannot happen after validation
            return encode(ExecutionResult(data=None, errors=executor))
        result = execute_subscription_event(executor.build_per_event_executor(item))
        if isawaitable(result):
            result = await result
        return encode(masked(result))

    async def missed(self) -> str:
        """The payload telling a subscriber it missed events (the same error the resolvers raise)."""
        if self._missed is None:
            self._missed = await self(missed_events())
        return self._missed


def missed_events() -> GraphQLError:
    return GraphQLError(
        "events were missed (the subscriber fell behind or the event bus reconnected): re-query",
        extensions={"code": "MISSED_EVENTS"},
    )


class RenderGroups:
    """The groups alive in one broadcaster; a group goes when its last subscriber does."""

    def __init__(self) -> None:
        self._groups: weakref.WeakValueDictionary[Hashable, RenderGroup] = weakref.WeakValueDictionary()

    def group_for(self, schema: Any, context: Context, request: Request) -> RenderGroup:
        key = (request.query, request.operation_name, request.variables_key, rights_of(context.viewer))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = RenderGroup(key, schema, context, request)
        return group

    def groups(self) -> list[RenderGroup]:
        return list(self._groups.values())


# --------------------------------------------------------------------------- where answers go


@dataclass(frozen=True)
class Sink:
    """One subscription's socket: the operation's text and the start of each of its messages."""

    websocket: Any
    prefix: str
    request: Request

    async def send(self, payload: str) -> None:
        await self.websocket.ws.send_text(self.prefix + payload + "}")

    async def serve(self, subscriber: Subscriber, group: RenderGroup, first: str | None = None) -> None:
        """Send ``first`` (if given), then what the broadcaster queues for ``subscriber``, until the
        operation is cancelled."""
        try:
            if first is not None:
                await self.send(first)
            async for payload in subscriber:
                await self.send(await group.missed() if payload is MISSED else payload)
        except Exception:  # noqa: BLE001 - the socket went away: the handler's reader ends the operation
            await asyncio.Event().wait()


SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("pilkada_live_sink", default=None)


def current_sink() -> Sink | None:
    """The sink of the operation being run, when it arrived over one of our WebSocket handlers."""
    return SINK.get()


def _prefix(message_type: str, operation_id: str) -> str:
    return '{"id":' + json.dumps(operation_id) + ',"type":"' + message_type + '","payload":'


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with each operation's sink set for the resolvers."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        request = Request(operation.query, operation.operation_name, operation.variables)
        SINK.set(Sink(self.websocket, _prefix("next", operation.id), request))
        await super().run_operation(operation)


class LiveWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws, with each operation's sink set for the resolvers."""

    async def handle_async_results(self, operation_id: str, query: str, operation_name: str | None,
                                   variables: dict[str, object] | None) -> None:
        SINK.set(Sink(self.websocket, _prefix("data", operation_id), Request(query, operation_name, variables)))
        await super().handle_async_results(operation_id, query, operation_name, variables)
