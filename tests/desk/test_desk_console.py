"""The desk console at /desk, end to end: a real uvicorn, a real browser, only the public API.

Each test ends with a screenshot of its screen under ``test-artifacts/desk/`` (the README shows
copies from ``docs/img/``).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.desk.conftest import CONTEST, DeskServer, screenshot

pytestmark = pytest.mark.browser

SUBMIT = """mutation Submit($input: SubmitTallyInput!) {
  submitTally(input: $input) {
    __typename
    ... on TallyAccepted { tally { submissionId } issues { id detector severity } }
    ... on TallyRejected { errors { field message } }
  }
}"""

_submission_numbers = itertools.count(1)


def bad_form(station: str) -> dict[str, Any]:
    """A form whose candidates' votes (208) do not add up to its valid votes (190)."""
    return {
        "submissionId": f"desk-test-{next(_submission_numbers):04d}-{station}", "stationCode": station,
        "contestCode": CONTEST, "submittedAt": "2024-11-28T10:05:00+07:00", "source": "desk",
        "dpt": 300, "dptb": 0, "dpk": 0, "voters": 200, "ballotsReceived": 308, "ballotsSpoiled": 0,
        "ballotsUnused": 108, "ballotsUsed": 200,
        "votes": [{"number": 1, "votes": 50}, {"number": 2, "votes": 50}, {"number": 3, "votes": 50},
                  {"number": 4, "votes": 58}],
        "validVotes": 190, "invalidVotes": 10, "totalVotes": 200,
    }


def submit(server: DeskServer, form: dict[str, Any]) -> dict[str, Any]:
    result = server.query(SUBMIT, {"input": form}, role="clerk")["submitTally"]
    assert result["__typename"] == "TallyAccepted", result
    return dict(result)


def station_without_issues(server: DeskServer) -> str:
    """A reported station that no detector has flagged yet (so the new issue is new)."""
    data = server.query("""query { stations(first: 100) { nodes { code issues { id } } } }""")
    flagged = {s["code"] for s in data["stations"]["nodes"] if s["issues"]}
    return next(code for code in server.reported if code not in flagged)


def test_a_bad_form_appears_in_the_queue_live_and_is_resolved_with_a_note(open_desk: Any,
                                                                          desk_server: DeskServer) -> None:
    page = open_desk(None, "#/queue")
    page.fill("input[name=token]", desk_server.tokens["reviewer"])
    page.click("form.login button")
    expect(page.get_by_test_id("role")).to_have_text("Peninjau")
    expect(page.get_by_test_id("live")).to_have_text("Langsung")
    page.wait_for_selector(".queue-table, .empty")

    accepted = submit(desk_server, bad_form(station_without_issues(desk_server)))
    [issue] = [i for i in accepted["issues"] if i["detector"] == "form-arithmetic"]
    row = page.locator(f'.queue-table tr[data-id="{issue["id"]}"]')
    expect(row).to_be_visible(timeout=15_000)  # no reload: it came over issueFlagged
    expect(row.locator(".severity")).to_have_text("Kritis")
    screenshot(page, "queue")

    row.click()
    expect(page.locator("table.form tr.failed[data-column=valid_votes]")).to_be_visible()
    expect(page.locator("figure.chart svg circle.station").first).to_be_visible()
    expect(page.get_by_test_id("evidence-words")).to_contain_text("TPS ini")
    expect(page.locator("table.revisions ul.diff")).to_contain_text("Suara sah")
    screenshot(page, "issue")

    page.fill("textarea[name=note]", "foto C.Hasil dicek, entri diperbaiki")
    page.click("button[data-action=RESOLVE]")
    expect(page.get_by_test_id("status")).to_have_text("Selesai")
    expect(page.get_by_test_id("history")).to_contain_text("foto C.Hasil dicek, entri diperbaiki")
    stored = desk_server.query("query($id: ID!) { node(id: $id) { ... on Issue { status history { actor note } } } }",
                               {"id": issue["id"]})["node"]
    assert stored["status"] == "RESOLVED"
    assert stored["history"][-1] == {"actor": "desk reviewer", "note": "foto C.Hasil dicek, entri diperbaiki"}


def test_progress_counts_a_new_station_without_a_reload(open_desk: Any, desk_server: DeskServer) -> None:
    page = open_desk(None, "#/progress")  # results are public: no token needed
    reported = page.locator(".headline [data-testid=reported]")
    expect(reported).not_to_have_text("")
    before = int(reported.inner_text().replace(".", ""))
    station = desk_server.unreported.pop()
    form = bad_form(station) | {"votes": [{"number": n, "votes": 40 + n} for n in range(1, 5)], "validVotes": 170,
                                "invalidVotes": 30}
    submit(desk_server, form)
    expect(reported).to_have_text(f"{before + 1:,}".replace(",", "."), timeout=15_000)
    regency = station.rsplit(".", 3)[0]
    expect(page.locator(f'.progress-table tr[data-code="{regency}"]')).to_be_visible()
    screenshot(page, "progress")


def test_region_drills_down_from_province_to_station(open_desk: Any, desk_server: DeskServer) -> None:
    station = desk_server.reported[0]
    regency, district, village = (station.rsplit(".", n)[0] for n in (3, 2, 1))
    page = open_desk("viewer", "#/region")
    for code in (regency, district):
        page.locator(f'[data-testid=below] tr[data-code="{code}"] td:first-child a').click()
        expect(page.locator("section.card h2 .code")).to_have_text(code)
    screenshot(page, "region")
    page.locator(f'[data-testid=below] tr[data-code="{village}"] td:first-child a').click()
    expect(page.locator("section.card h2 .code")).to_have_text(village)
    page.locator(f'[data-testid=below] tr[data-code="{station}"] td:first-child a').click()
    expect(page.locator("section.card h2 .code")).to_have_text(station)
    expect(page.locator("table.form").first).to_be_visible()
    expect(page.locator("nav.crumbs a")).to_have_count(4)  # province > regency > district > village


def test_entry_checks_the_form_as_it_is_typed_and_shows_the_issues_raised(open_desk: Any,
                                                                          desk_server: DeskServer) -> None:
    station = desk_server.unreported.pop()
    page = open_desk("clerk", f"#/entry?station={station}")
    expect(page.locator(".station-info")).to_contain_text("TPS")
    form = bad_form(station)
    typed = {"dpt": form["dpt"], "voters": form["voters"], "valid_votes": form["validVotes"],
             "invalid_votes": form["invalidVotes"], "total_votes": form["totalVotes"],
             **{f"votes_{v['number']}": v["votes"] for v in form["votes"]}}
    for column, value in typed.items():
        page.fill(f"input[name={column}]", str(value))
    checks = page.get_by_test_id("entry-checks")
    expect(checks).to_contain_text("Jumlah suara paslon ≠ suara sah")
    expect(page.locator(".entry-field.failed input[name=valid_votes]")).to_be_visible()

    page.fill("input[name=votes_4]", "40")  # 50 + 50 + 50 + 40 = 190: every rule holds
    expect(checks).to_contain_text("Semua aturan formulir terpenuhi")
    expect(page.locator(".entry-field.failed")).to_have_count(0)

    page.fill("input[name=votes_4]", "58")
    expect(page.locator(".entry-field.failed input[name=valid_votes]")).to_be_visible()
    page.click("form.entry button[type=submit]")
    result = page.get_by_test_id("entry-result")
    expect(result).to_contain_text("Formulir tersimpan")
    expect(result).to_contain_text("form-arithmetic")
    screenshot(page, "entry")


def test_a_viewer_sees_no_review_buttons_and_no_entry_screen(open_desk: Any, desk_server: DeskServer) -> None:
    issue_id = desk_server.query("query { issues(first: 1) { nodes { id } } }")["issues"]["nodes"][0]["id"]
    viewer = open_desk("viewer", f"#/issue/{issue_id}")
    expect(viewer.get_by_test_id("role")).to_have_text("Pemantau")
    expect(viewer.locator(".issue-head h2")).to_be_visible()
    expect(viewer.get_by_test_id("review")).to_have_count(0)
    expect(viewer.locator("#topbar nav a[href='#/entry']")).to_have_count(0)

    clerk = open_desk("clerk", "#/progress")
    expect(clerk.locator("#topbar nav a[href='#/entry']")).to_be_visible()
    reviewer = open_desk("reviewer", f"#/issue/{issue_id}")
    expect(reviewer.get_by_test_id("review")).to_be_visible()


def test_english_labels_cover_every_indonesian_one(open_desk: Any) -> None:
    page = open_desk(None, "#/progress")
    missing = page.evaluate("""async () => {
      const { DICTIONARIES } = await import('./js/i18n.js');
      const keys = (lang) => new Set(Object.keys(DICTIONARIES[lang]));
      const only = (a, b) => [...keys(a)].filter((k) => !keys(b).has(k));
      return only('id', 'en').concat(only('en', 'id'));
    }""")
    assert missing == []
    page.select_option("#topbar select", "en")
    expect(page.locator("#topbar nav a.active")).to_have_text("Progress")
    expect(page.locator(".headline")).to_contain_text("stations reported")
