"""``python -m pilkada_graph.migrations revision "message"``: autogenerate a migration."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from pilkada_graph.db import make_engine
from pilkada_graph.migrations import alembic_config, upgrade


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print('usage: python -m pilkada_graph.migrations revision "message"', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        upgrade(engine)
        command.revision(alembic_config(engine), message=argv[1], autogenerate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
