"""Settings: one TOML file (``--config`` or ``PILKADA_CONFIG``), the environment, the CLI.

Precedence, highest first: command-line options, environment variables, the TOML file,
defaults. The file looks like::

    database_url = "postgresql://desk@127.0.0.1:5432/pilkada"
    event_bus = "redis://127.0.0.1:6379/0"
    plugins_dir = ["./detectors"]
    production = true
    anonymous = false           # anonymous read access

    [limits]                    # the API's, see docs/security.md
    max_cost = 50000

    [detection]                 # the runner, see ``pilkada_graph.detect.RunnerOptions``
    tally_budget = 2.0

    [detectors.turnout]         # per-detector settings, see ``pilkada-graph plugins``
    enabled = true
    near_full = 0.97
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilkada_graph.db import database_url

CONFIG_ENV = "PILKADA_CONFIG"


@dataclass
class Settings:
    database_url: str = field(default_factory=database_url)
    event_bus: str = "memory"
    plugins_dirs: list[Path] = field(default_factory=list)
    production: bool = False
    anonymous: bool = True
    #: detector name -> its settings (``enabled`` and thresholds), as written in the file.
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the detection runner's own settings (``[detection]``: time budgets, region thresholds).
    detection: dict[str, Any] = field(default_factory=dict)
    #: the API's limits (``[limits]``: max_cost, budget_per_minute, anonymous_budget_per_minute,
    #: statement_timeout), see :mod:`pilkada_graph.schema.cost` and ``docs/security.md``.
    limits: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None


def load_settings(
    config: str | Path | None = None,
    *,
    database_url_option: str | None = None,
    plugins_dirs: list[str] | None = None,
    event_bus: str | None = None,
    production: bool | None = None,
) -> Settings:
    """Settings from the config file, the environment and the given command-line values."""
    path = Path(config) if config else (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    raw: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    settings = Settings(
        database_url=database_url(database_url_option) if database_url_option or os.environ.get(
            "PILKADA_DATABASE_URL") else raw.get("database_url", database_url()),
        event_bus=event_bus or os.environ.get("PILKADA_EVENT_BUS") or raw.get("event_bus", "memory"),
        plugins_dirs=[Path(p) for p in plugins_dirs or []] + _relative_to(path, _as_list(raw.get("plugins_dir"))),
        production=production if production is not None else bool(raw.get("production", False)),
        anonymous=bool(raw.get("anonymous", True)),
        detectors={name: dict(values) for name, values in raw.get("detectors", {}).items()},
        detection=dict(raw.get("detection", {})),
        limits=dict(raw.get("limits", {})),
        config_path=path,
    )
    return settings


def _relative_to(config_path: Path | None, folders: list[str]) -> list[Path]:
    """Folders named in the config file are relative to the file, not to the working directory."""
    base = config_path.parent if config_path else Path()
    return [Path(f) if Path(f).is_absolute() else base / f for f in folders]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
