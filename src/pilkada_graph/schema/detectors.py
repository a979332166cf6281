"""The detectors the desk runs, with the settings in force (declared defaults + the config file)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from pilkada_graph.plugins import DetectorConfig, LoadedPlugin, PluginHost
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.errors import NotAllowed


@strawberry.type(description="A loaded detector plugin.")
class DetectorPlugin:
    name: str = strawberry.field(description="The plugin's name (module or entry point name).")
    source: str = strawberry.field(description="Where it came from: `built-in`, `folder PATH`, `entry point of PKG`.")
    version: str | None = strawberry.field(description="Its version, when it declares one.")


@strawberry.type(description="A detector and the settings in force.")
class Detector:
    name: str = strawberry.field(description="Its name: the key of `[detectors.NAME]` and its issues' `detector`.")
    description: str = strawberry.field(description="What it flags and why that matters.")
    enabled: bool = strawberry.field(description="Whether it runs (`enabled` in the config file).")
    checks: str = strawberry.field(description="`tally`: each revision as it arrives; `region`: a region at once.")
    reference: str | None = strawberry.field(description="Where its method comes from.")
    next_step: str | None = strawberry.field(description="What a reviewer should usually do about its issues.")
    defaults: JSON = strawberry.field(description="The settings it declares by default.")
    plugin: DetectorPlugin = strawberry.field(description="The plugin that provides it.")
    settings_in_force: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="The settings in force: the config file's over the defaults. Private (the "
                      "thresholds one would calibrate a fraud against): needs a reviewer's or an admin's token.")
    def settings(self, info: Info) -> JSON | None:
        if not info.context.viewer.can_read_settings():
            raise NotAllowed("the settings in force need a reviewer's or an admin's token")
        return JSON(self.settings_in_force)

    @classmethod
    def of(cls, name: str, detector: DetectorConfig, plugin: LoadedPlugin) -> Detector:
        info = detector.info
        return cls(name=name, description=info.description, enabled=detector.enabled, checks=info.checks,
                   reference=info.reference, next_step=info.next_step, defaults=JSON(dict(info.defaults)),
                   settings_in_force=dict(detector.settings),
                   plugin=DetectorPlugin(name=plugin.name, source=plugin.source, version=plugin.version))


def plugin_host(info: Info) -> PluginHost:
    """The host the desk's runner uses; one built from the settings when the desk runs no detection."""
    desk: Any = info.context.desk
    host = getattr(desk.detection, "host", None)
    if host is None:
        host = getattr(desk, "_plugin_host", None) or PluginHost.from_settings(desk.settings)
        desk._plugin_host = host
    return host


@strawberry.type
class DetectorQuery:
    @strawberry.field(description="Every loaded detector, enabled or not, with its settings in force.")
    def detectors(self, info: Info) -> list[Detector]:
        host = plugin_host(info)
        plugins = {p.name: p for p in host.plugins()}
        return [Detector.of(name, d, plugins[d.plugin]) for name, d in sorted(host.detectors().items())]
