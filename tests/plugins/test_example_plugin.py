"""The worked example: a packaged plugin, installed through its entry point, seen through GraphQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilkada_graph.config import Settings
from pilkada_graph.service import Desk
from tests.graphql.conftest import Server, start_uvicorn
from tests.plugins.conftest import OUTLIER

QUERY = """
query {
  issues(where: { detector: { _eq: "invalid-votes-share" } }, first: 10) {
    totalCount
    edges { node { detector severity status message station { code } contest { code } } }
  }
  detectors { name enabled checks settings plugin { name source version } }
}
"""


@pytest.fixture
def server(sqlite_url: str, election: Path, installed_example: str) -> Server:
    # The desk loads entry points, as a server does; 16 stations are enough for this region check.
    desk = Desk.open(Settings(database_url=sqlite_url, detection={"region_min_reported": 5, "region_min_stations": 5}))
    assert desk.import_bundle(election).committed
    desk.engine.dispose()
    url, process = start_uvicorn(sqlite_url)
    yield Server(url, election, sqlite_url)  # type: ignore[misc]
    process.stop()


def test_the_installed_example_plugin_flags_the_outlier_and_graphql_shows_it(server: Server) -> None:
    data = server.query(QUERY)
    [edge] = data["issues"]["edges"]
    issue = edge["node"]
    assert (issue["station"]["code"], issue["contest"]["code"], issue["severity"], issue["status"]) == (
        OUTLIER, "gub-62", "WARNING", "OPEN")
    assert "invalid" in issue["message"]
    [detector] = [d for d in data["detectors"] if d["name"] == "invalid-votes-share"]
    assert detector["plugin"] == {"name": "invalid_votes", "source": "entry point of pilkada-invalid-votes",
                                  "version": "0.1.0"}
    assert (detector["enabled"], detector["checks"], detector["settings"]["ratio"]) == (True, "region", 3.0)
