"""Bundles the Sirekap tests import first: the real Kalteng region tree and the contests Sirekap reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SHARED
from tests.ingest.helpers import write_csv

KALTENG = SHARED / "data" / "kalteng"
PILPRES = KALTENG / "sirekap-tps-pilpres2024"
PILKADA = KALTENG / "sirekap-pilkada2024"
PPWP = "ppwp-2024"


def pilpres_bundle(folder: Path) -> Path:
    """Regions of Kalteng and the 2024 presidential race (nationwide: no region) with its 3 pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(KALTENG / "regions.csv", folder / "regions.csv")
    write_csv(folder / "contests.csv", ["code", "name", "region_code"], [[PPWP, "Pemilihan Presiden 2024", ""]])
    paslon = json.loads((PILPRES / "paslon-ppwp.json").read_text())
    write_csv(folder / "candidates.csv", ["contest_code", "number", "name"],
              [[PPWP, p["nomor_urut"], p["nama"]] for p in paslon.values()])
    return folder


def dotted(code: str) -> str:
    return code if len(code) == 2 else f"{code[:2]}.{code[2:]}"


def pilkada_contest_code(region_key: str) -> str:
    return ("gub-" if len(region_key) == 2 else "bup-") + dotted(region_key)


def pilkada_bundle(folder: Path) -> Path:
    """Regions of Kalteng, the governor race and the 14 regent/mayor races, candidates from the paslon files."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(KALTENG / "regions.csv", folder / "regions.csv")
    contests, candidates = [], []
    for name in ("paslon-pkwkp.json", "paslon-pkwkk.json"):
        for region_key, paslon in json.loads((PILKADA / name).read_text()).items():
            code = pilkada_contest_code(region_key)
            contests.append([code, f"Pilkada 2024 {region_key}", dotted(region_key)])
            candidates += [[code, p["nomor_urut"], p["nama"]] for p in paslon.values()]
    write_csv(folder / "contests.csv", ["code", "name", "region_code"], contests)
    write_csv(folder / "candidates.csv", ["contest_code", "number", "name"], candidates)
    return folder
