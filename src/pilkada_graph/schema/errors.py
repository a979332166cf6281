"""The API's own errors: the only exceptions whose message reaches the client.

Everything else a resolver raises is masked as "Unexpected error." (see :func:`should_mask_error`),
so a bug or a database failure never leaks a traceback, a SQL statement or a file path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from graphql import GraphQLError


class ApiError(Exception):
    """A request the API understood and refuses, with a message meant for the person asking.

    ``code`` reaches the client as ``extensions.code`` (graphql-core copies ``extensions``).
    """

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code}


class NotFound(ApiError):
    """A code or id that names nothing stored (``region(code: "99")``)."""

    code = "NOT_FOUND"


class BadArgument(ApiError):
    """An argument outside what the API accepts (``first: 100000``, a malformed cursor)."""

    code = "BAD_ARGUMENT"


class NotAllowed(ApiError):
    """The viewer may not see or do this."""

    code = "FORBIDDEN"


class QueryTimeout(ApiError):
    """A read ran past the statement time limit and was interrupted by the database."""

    code = "TIMEOUT"


def should_mask_error(error: GraphQLError) -> bool:
    """Mask unexpected failures; keep syntax/validation errors and our own :class:`ApiError`.

    Errors raised by graphql-core while parsing or validating carry no original error; strawberry
    wraps argument coercion failures the same way. Those describe the query, not the server.
    """
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, ApiError | GraphQLError)


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class HideSuggestions(SchemaExtension):
    """In production, drop graphql-core's "Did you mean 'x'?" hints from validation errors.

    With introspection off, those hints would still let a client map the schema one typo at a time.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_without_suggestion(error) for error in result.errors]


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    message = SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=error.original_error, extensions=error.extensions)
