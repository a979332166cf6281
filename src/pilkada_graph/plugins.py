"""The plugin manager: which detector plugins are loaded, from where, and with which settings.

Plugins come from three places, registered in this order:

1. **Built-ins**: the modules named in :data:`DEFAULT_PLUGINS`, loaded by path from the
   repository's top-level ``plugins/`` folder (:data:`BUILTIN_PLUGINS_DIR`; the environment
   variable ``PILKADA_BUILTIN_PLUGINS`` names another folder). They are loaded by path rather
   than shipped as a package because the project runs from its checkout (``make demo``,
   editable install), where ``src/pilkada_graph/../../plugins`` is always the folder; a
   package mapping would need a reinstall whenever a built-in is added.
2. **Folders**: every ``*.py`` file not starting with ``_`` in each ``--plugins-dir`` /
   ``plugins_dir`` folder (``Settings.plugins_dirs``), for an analyst's one-file detector.
3. **Installed packages** exposing the setuptools entry point group ``pilkada_graph``
   (``[project.entry-points.pilkada_graph]`` in their ``pyproject.toml``), via pluggy's
   ``load_setuptools_entrypoints``.

Detector settings in force are the declared defaults with ``[detectors.NAME]`` of the config
file merged over them; ``enabled`` there switches a detector on or off.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pluggy

from pilkada_graph import hookspecs
from pilkada_graph.config import Settings
from pilkada_graph.detect_types import DetectorInfo, DetectorSettings

log = logging.getLogger(__name__)

#: The built-in detector modules, by file name (without ``.py``) in :data:`BUILTIN_PLUGINS_DIR`.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "form_arithmetic", "recap", "turnout_rules", "extreme_results", "revisions", "peer_outliers",
    "multivariate_outliers", "cross_contest", "copied_forms", "round_numbers", "forensics",
)
BUILTIN_PLUGINS_ENV = "PILKADA_BUILTIN_PLUGINS"
BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


class PluginError(Exception):
    """A plugin cannot be loaded, or two plugins declare the same detector."""


@dataclass(frozen=True)
class LoadedPlugin:
    """One registered plugin, as ``pilkada-graph plugins`` lists it."""

    name: str
    source: str
    version: str | None
    detectors: tuple[str, ...]


@dataclass(frozen=True)
class DetectorConfig:
    """A declared detector with the settings in force and who provides it."""

    info: DetectorInfo
    plugin: str
    enabled: bool
    settings: Mapping[str, Any]


@dataclass
class PluginHost:
    """The pluggy manager plus what it loaded; built once per process by :meth:`from_settings`."""

    manager: pluggy.PluginManager
    detector_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: :meth:`detectors`, kept until a plugin is registered or unregistered (asked for per check).
    _declared: dict[str, DetectorConfig] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, builtins: Sequence[str] | None = None,
                      entry_points: bool = True, extra: Iterable[object] = ()) -> PluginHost:
        """Load built-ins, folder plugins and entry points; ``extra`` registers objects (tests)."""
        host = cls(new_manager(), settings.detectors)
        for name in DEFAULT_PLUGINS if builtins is None else builtins:
            host.register(load_module(builtin_plugins_dir() / f"{name}.py", f"pilkada_plugins.{name}"),
                          name, "built-in")
        for folder in settings.plugins_dirs:
            for path, module in load_folder(Path(folder)):
                host.register(module, path.stem, f"folder {path.parent}")
        if entry_points:
            host.load_entry_points()
        for plugin in extra:
            host.register(plugin, getattr(plugin, "__name__", type(plugin).__name__), "registered")
        host.manager.check_pending()
        host.detectors()  # fail now, not mid-import, on duplicate or malformed declarations
        return host

    def register(self, plugin: object, name: str, source: str) -> None:
        if self.manager.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r} ({self.sources[name][0]} and {source})")
        self.manager.register(plugin, name=name)
        self.sources[name] = (source, getattr(plugin, "__version__", None))
        self._declared = None

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.sources.pop(name, None)
        self._declared = None

    def load_entry_points(self) -> None:
        self._declared = None
        self.manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
        for plugin, dist in self.manager.list_plugin_distinfo():
            name = self.manager.get_name(plugin)
            if name is not None and name not in self.sources:
                self.sources[name] = (f"entry point of {dist.project_name}", dist.version)

    def detectors(self) -> dict[str, DetectorConfig]:
        """Every declared detector with its settings in force, by name."""
        if self._declared is None:
            self._declared = self._declare()
        return dict(self._declared)

    def _declare(self) -> dict[str, DetectorConfig]:
        found: dict[str, DetectorConfig] = {}
        for impl in self.manager.hook.pilkada_detectors.get_hookimpls():
            declared = cast("Iterable[object] | None", impl.function())
            for info in declared or ():
                if not isinstance(info, DetectorInfo):
                    raise PluginError(f"plugin {impl.plugin_name} declared {info!r}, not a DetectorInfo")
                if info.name in found:
                    raise PluginError(f"detector {info.name!r} is declared by both "
                                      f"{found[info.name].plugin} and {impl.plugin_name}")
                found[info.name] = self._configured(info, impl.plugin_name)
        return found

    def _configured(self, info: DetectorInfo, plugin: str) -> DetectorConfig:
        values = {**info.defaults, **self.detector_settings.get(info.name, {})}
        enabled = bool(values.pop("enabled", info.enabled))
        return DetectorConfig(info, plugin, enabled, values)

    def enabled_settings(self) -> DetectorSettings:
        """What the check hooks receive: the settings of the enabled detectors."""
        return DetectorSettings({name: d.settings for name, d in self.detectors().items() if d.enabled})

    def unknown_configured(self) -> list[str]:
        """``[detectors.NAME]`` sections of the config file that name no loaded detector."""
        return sorted(set(self.detector_settings) - set(self.detectors()))

    def plugins(self) -> list[LoadedPlugin]:
        by_plugin: dict[str, list[str]] = {}
        for name, detector in self.detectors().items():
            by_plugin.setdefault(detector.plugin, []).append(name)
        listed = []
        for name, (source, version) in self.sources.items():
            listed.append(LoadedPlugin(name, source, version, tuple(by_plugin.get(name, ()))))
        return listed


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def builtin_plugins_dir() -> Path:
    folder = Path(os.environ.get(BUILTIN_PLUGINS_ENV) or BUILTIN_PLUGINS_DIR)
    if not folder.is_dir():
        raise PluginError(f"the built-in plugins folder {folder} is missing (set {BUILTIN_PLUGINS_ENV})")
    return folder


def load_folder(folder: Path) -> list[tuple[Path, ModuleType]]:
    """Import every ``*.py`` of an analyst's folder (``_private.py`` files are left alone)."""
    if not folder.is_dir():
        raise PluginError(f"plugins folder {folder} does not exist")
    modules = []
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            modules.append((path, load_module(path, f"pilkada_user_plugins.{_module_key(path)}")))
    return modules


def _module_key(path: Path) -> str:
    # Two folders may both hold a ``turnout.py``: the module name must tell them apart.
    return f"{path.stem}_{abs(hash(str(path.resolve()))):x}"


def load_module(path: Path, module_name: str) -> ModuleType:
    """Import a Python file by path under ``module_name``, reusing it when already imported."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise PluginError(f"plugin {path} failed to import: {error!r}") from error
    return module


def describe(host: PluginHost) -> dict[str, Any]:
    """Plugins and detectors as plain data (``pilkada-graph plugins --json``, GraphQL ``detectors``)."""
    return {
        "plugins": [
            {"name": p.name, "source": p.source, "version": p.version, "detectors": list(p.detectors)}
            for p in host.plugins()
        ],
        "detectors": [
            {"name": name, "plugin": d.plugin, "enabled": d.enabled, "checks": d.info.checks,
             "description": d.info.description, "reference": d.info.reference, "next_step": d.info.next_step,
             "defaults": dict(d.info.defaults), "settings": dict(d.settings)}
            for name, d in sorted(host.detectors().items())
        ],
    }
