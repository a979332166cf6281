"""Alembic migrations, run programmatically: ``init_database`` upgrades to head.

To add a migration after changing :mod:`pilkada_graph.models`::

    python -m pilkada_graph.migrations revision "what changed"

which autogenerates a revision against a scratch SQLite database at head. A test
(``tests/test_migrations.py``) fails while the models and the migrations disagree.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
