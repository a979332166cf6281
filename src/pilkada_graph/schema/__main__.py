"""``python -m pilkada_graph.schema`` prints the schema's SDL (what ``schema.graphql`` holds)."""

from strawberry.printer import print_schema

from pilkada_graph.schema import schema

print(print_schema(schema))
