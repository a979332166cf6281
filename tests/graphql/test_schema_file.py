"""schema.graphql is the code's SDL; every type and field says what it is; production hides the IDE."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from strawberry.printer import print_schema

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType
from pilkada_graph.schema import build_schema, schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_file_equals_the_code() -> None:
    assert (ROOT / "schema.graphql").read_text() == print_schema(schema) + "\n", (
        "schema.graphql is stale: run .venv/bin/python -m pilkada_graph.schema > schema.graphql"
    )


def test_module_prints_the_sdl() -> None:
    printed = subprocess.run([sys.executable, "-m", "pilkada_graph.schema"], capture_output=True, text=True,
                             check=True).stdout
    assert printed == print_schema(schema) + "\n"


def test_every_type_and_field_has_a_description() -> None:
    missing = []
    for name, kind in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(
            kind, GraphQLObjectType | GraphQLInputObjectType | GraphQLEnumType | GraphQLInterfaceType
        ):
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLEnumType):
            continue
        missing += [f"{name}.{field}" for field, definition in kind.fields.items() if not definition.description]
    assert missing == []


async def test_production_schema_refuses_introspection() -> None:
    result = await build_schema(production=True).execute("{ __schema { types { name } } }")
    assert result.errors and "introspection" in result.errors[0].message.lower()
    assert (await schema.execute("{ __schema { queryType { name } } }")).errors is None
