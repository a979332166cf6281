"""Recaps in GraphQL: ``region.recaps(contest)`` shows what Sirekap's region file said, newest first."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from pilkada_graph.ingest import import_bundle
from pilkada_graph.schema import schema
from pilkada_graph.schema.context import Context
from pilkada_graph.service import Desk
from pilkada_graph.sirekap import import_sirekap
from tests.sirekap.helpers import PILKADA, pilkada_bundle

QUERY = """
query ($code: String!) {
  region(code: $code) {
    recaps(contest: "gub-62") { contestCode level source votes stationsReported stationsTotal current submittedAt }
    children { code recaps { votes current } }
  }
}
"""


async def test_region_recaps_show_the_sirekap_aggregate(engine: Engine, tmp_path: Path) -> None:
    assert import_bundle(engine, pilkada_bundle(tmp_path / "bundle")).committed
    report = import_sirekap(engine, PILKADA / "pkwkp" / "6271.json", paslon=PILKADA / "paslon-pkwkp.json",
                            contest_code="gub-62")
    assert report.ok
    result = await schema.execute(QUERY, variable_values={"code": "62.71"}, context_value=Context(Desk(engine)))
    assert result.errors is None, result.errors
    region = result.data["region"]  # type: ignore[index]
    assert region["recaps"] == [{
        "contestCode": "gub-62", "level": "regency", "source": "sirekap", "votes": [39268, 31018, 39801, 16384],
        "stationsReported": 411, "stationsTotal": 415, "current": True, "submittedAt": "2024-11-28T10:00:05+07:00",
    }]
    pahandut = next(child for child in region["children"] if child["code"] == "62.71.01")
    assert pahandut["recaps"] == [{"votes": [9676, 12363, 15625, 5503], "current": True}]
