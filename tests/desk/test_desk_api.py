"""What the console needs from the API besides the contract: ``checkTally``, ``me``, and ``/desk`` itself."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import httpx

from tests.desk.conftest import DeskServer
from tests.desk.test_desk_console import SUBMIT, bad_form

CHECK = """query Check($input: SubmitTallyInput!) {
  checkTally(input: $input) { failedChecks { rule fields expected actual difference } errors { field rule } }
}"""

REVISIONS = """query Revisions($code: String!) {
  station(code: $code) { revisions(contest: "gub-62") { submissionId } }
}"""


def test_check_tally_names_the_rules_an_unsaved_form_breaks_and_stores_nothing(desk_server: DeskServer) -> None:
    station = desk_server.reported[1]
    before = desk_server.query(REVISIONS, {"code": station})["station"]["revisions"]
    checked = desk_server.query(CHECK, {"input": bad_form(station)}, role="clerk")["checkTally"]
    assert checked == {"errors": [], "failedChecks": [{
        "rule": "votes-sum", "fields": ["votes_1", "votes_2", "votes_3", "votes_4", "valid_votes"],
        "expected": 190, "actual": 208, "difference": 18,
    }]}
    assert desk_server.query(REVISIONS, {"code": station})["station"]["revisions"] == before


def test_check_tally_judges_exactly_as_the_stored_tally_is_judged(desk_server: DeskServer) -> None:
    form = bad_form(desk_server.reported[2]) | {"ballotsReceived": 300, "voters": 250}
    checked = desk_server.query(CHECK, {"input": form}, role="clerk")["checkTally"]["failedChecks"]
    stored = desk_server.query(SUBMIT.replace("tally { submissionId }",
                                              "tally { failedChecks { rule fields expected actual difference } }"),
                               {"input": form}, role="clerk")["submitTally"]["tally"]["failedChecks"]
    assert {c["rule"] for c in checked} == {"votes-sum", "votes-total", "ballots-balance", "ballots-reserve"}
    assert checked == stored


def test_check_tally_reports_fields_it_cannot_read_instead_of_judging(desk_server: DeskServer) -> None:
    form = bad_form(desk_server.reported[3]) | {"dpt": -4}
    checked = desk_server.query(CHECK, {"input": form}, role="clerk")["checkTally"]
    assert checked == {"failedChecks": [], "errors": [{"field": "dpt", "rule": "negative-count"}]}


def test_me_tells_each_token_its_role_and_rights(desk_server: DeskServer) -> None:
    query = "{ me { anonymous role canSubmit canReview canReadPrivate } }"
    seen = {role: desk_server.query(query, role=role)["me"] for role in (None, "viewer", "clerk", "reviewer", "admin")}
    assert seen == {
        None: {"anonymous": True, "role": None, "canSubmit": False, "canReview": False, "canReadPrivate": False},
        "viewer": {"anonymous": False, "role": "viewer", "canSubmit": False, "canReview": False,
                   "canReadPrivate": True},
        "clerk": {"anonymous": False, "role": "clerk", "canSubmit": True, "canReview": False, "canReadPrivate": True},
        "reviewer": {"anonymous": False, "role": "reviewer", "canSubmit": False, "canReview": True,
                     "canReadPrivate": True},
        "admin": {"anonymous": False, "role": "admin", "canSubmit": True, "canReview": True, "canReadPrivate": True},
    }


def test_desk_is_served_by_the_app_from_the_package_data(desk_server: DeskServer) -> None:
    assert files("pilkada_graph").joinpath("static/desk/index.html").is_file()
    redirect = httpx.get(f"{desk_server.url}/desk")
    assert redirect.status_code == 307 and redirect.headers["location"].endswith("/desk/")
    page = httpx.get(f"{desk_server.url}/desk/")
    assert page.status_code == 200 and '<script type="module" src="js/main.js">' in page.text
    script = httpx.get(f"{desk_server.url}/desk/js/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_desk_loads_nothing_from_another_server() -> None:
    """No CDN, no downloaded font or script: every URL in the console's files is relative."""
    remote = re.compile(r"""(?:src|href)\s*=\s*["']https?:|from\s+["']https?:"""
                        r"""|import\(\s*["']https?:|url\(\s*["']?https?:""")
    desk = Path(str(files("pilkada_graph").joinpath("static/desk")))
    found = [f"{path.name}: {match.group(0)}" for path in desk.rglob("*.*") if path.suffix in {".html", ".js", ".css"}
             for match in remote.finditer(path.read_text())]
    assert found == []
