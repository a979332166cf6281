"""The closed vocabularies of the API. Values are what the database stores."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="A region's place in the tree: province > regency > district > village.")
class Level(Enum):
    PROVINCE = "province"
    REGENCY = "regency"
    DISTRICT = "district"
    VILLAGE = "village"


@strawberry.enum(description="How much an issue matters to the desk.")
class Severity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@strawberry.enum(description="Where an issue is in its review: open until a reviewer acts on it.")
class IssueStatus(Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


@strawberry.enum(description="What a reviewer does with an issue.")
class ReviewAction(Enum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    REOPEN = "reopen"


@strawberry.enum(description="Orders of a station list (by code: the region tree's order).")
class StationOrderBy(Enum):
    CODE_ASC = "code_asc"
    CODE_DESC = "code_desc"


@strawberry.enum(description="Orders of an issue list; the id breaks ties, so pages never skip or repeat.")
class IssueOrderBy(Enum):
    CREATED_AT_DESC = "created_at_desc"
    CREATED_AT_ASC = "created_at_asc"
    UPDATED_AT_DESC = "updated_at_desc"
    UPDATED_AT_ASC = "updated_at_asc"
