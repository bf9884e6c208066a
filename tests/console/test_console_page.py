"""The console in a real browser: a person reproducing an incident with the page alone.

Each check waits on what the page shows (Playwright's ``expect``, with a generous bound for a
loaded machine); nothing sleeps and nothing is judged by wall time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mock_backend.media.samples import make_song

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says the same, or fails under $NEMO_REQUIRE_BROWSER
    if os.environ.get("NEMO_REQUIRE_BROWSER"):
        raise
    pytest.skip("needs playwright (pip install -e '.[dev]')", allow_module_level=True)

from .conftest import DESKTOP, PHONE, Live

expect.set_options(timeout=60_000)

ROWS = "#journal tbody tr[data-id]"


def stream_rows(page: Any) -> Any:
    """Journal rows of finished agent runs that sent at least one event."""
    return page.locator(ROWS).filter(has_text="runSse").filter(has_text=" events,")


def test_an_incident_is_reproduced_from_the_page(page: Any, live: Live, tmp_path: Path) -> None:
    song = make_song(tmp_path / "song.mp3", 3.0)
    # the page was loaded before: everything below comes to it live
    client = live.start("convert", str(song), "--out", str(tmp_path / "song.mp4"))
    try:
        for operation in ("createAnonymousToken", "createSession", "uploadFiles", "getRender"):
            expect(page.locator(ROWS).filter(has_text=operation).first).to_be_visible()
        expect(stream_rows(page).first).to_be_visible()
        output, _ = client.communicate(timeout=240)
    finally:
        client.kill()
    assert client.returncode == 0, output
    expect(page.locator(ROWS).filter(has_text="GET /cdn/renders/").first).to_be_visible()
    # the token never shows: only its fingerprint, in the row's detail
    page.locator(ROWS).filter(has_text="createAnonymousToken").first.click()
    detail = page.locator("#detail-json")
    expect(detail).to_contain_text('"token": "nmv_usr_…')
    assert "nmv_usr_" not in detail.inner_text().replace("nmv_usr_…", "")
    # the session's timeline: the report's picture, with its stream drawn
    expect(page.locator("#timeline svg .tl-stream").first).to_be_attached()

    # the edge case: the next run closes without a word
    page.select_option("#scenario-name", "silent-close")
    expect(page.locator("#scenario-description")).to_contain_text("closes with no text")
    page.click("#scenario-apply")
    expect(page.locator("#active-rules li")).to_contain_text("silent-close")
    expect(page.locator(ROWS).filter(has_text="POST /__mock/scenarios").first).to_be_visible()
    live.client("chat", "add a title that says hello")
    silent = page.locator(ROWS).filter(has_text="runSse").filter(has_text="silent-close")
    expect(silent).to_have_count(1)
    silent.click()
    expect(page.locator("#detail-json")).to_contain_text('"rule": "silent-close:')
    assert live.control.journal(operation="runSse")[-1]["rule"].startswith("silent-close:")

    # a week later the client's token has expired: the mock answers 1001
    before = float(page.locator("#clock").get_attribute("data-now") or 0)
    page.click("button[data-advance='604800']")
    expect(page.locator("#result")).to_contain_text("clock now")
    after = float(page.locator("#clock").get_attribute("data-now") or 0)
    assert after - before >= 604800
    expect(page.locator(ROWS).filter(has_text="POST /__mock/clock").first).to_be_visible()
    live.client("credits")  # it re-authenticates after the 1001
    page.fill("#filters input[name=code]", "1001")
    expired = page.locator(f"{ROWS}:visible")
    expect(expired.first).to_contain_text("code 1001")
    expect(expired.first).to_contain_text("getCredits")
    page.fill("#filters input[name=code]", "")

    shots = os.environ.get("NEMO_CONSOLE_SCREENSHOTS")  # the README's come from here
    if shots:
        page.click("#detail-close")
        expect(page.locator("#timeline svg .tl-rule").first).to_be_attached()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(shots) / "console-desktop.png"))
        page.set_viewport_size(PHONE)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(shots) / "console-phone.png"))


def test_every_named_scenario_is_listed_and_applies_to_one_client(page: Any, live: Live) -> None:
    listed = live.http.get("/__mock/scenarios").json()["data"]["catalogue"]
    options = page.locator("#scenario-name option")
    expect(options).to_have_count(len(listed))
    shown = options.evaluate_all("os => os.map(o => [o.value, o.dataset.description])")
    assert shown == [[s["name"], s["description"]] for s in listed]
    assert len(shown) == 27

    for scenario in listed:  # each one applies from the page, as the API knows it
        page.select_option("#scenario-name", scenario["name"])
        expect(page.locator("#scenario-description")).to_have_text(scenario["description"])
        page.fill("#scenario-session", "ses_console")
        page.click("#scenario-apply")
        expect(page.locator("#result")).to_contain_text(f"applied {scenario['name']}:")
        expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    active = live.http.get("/__mock/scenarios").json()["data"]["active"]
    assert {r["name"] for r in active} == {s["name"] for s in listed}
    assert all(r["match"]["session_id"] == "ses_console" for r in active)
    expect(page.locator(ROWS).filter(has_text="POST /__mock/scenarios")).to_have_count(27)
    page.click("#rules-remove-all")
    expect(page.locator("#active-rules li")).to_have_count(0)
    page.fill("#scenario-session", "")

    page.select_option("#scenario-name", "rate-limited")
    page.fill("#scenario-client", "c-console")
    page.click("#scenario-apply")
    expect(page.locator("#result")).to_contain_text("applied rate-limited")
    active = live.http.get("/__mock/scenarios").json()["data"]["active"]
    assert {r["name"] for r in active} == {"rate-limited"}
    assert all(r["match"]["client_id"] == "c-console" for r in active)
    applied = page.locator(ROWS).filter(has_text="POST /__mock/scenarios")
    expect(applied).to_have_count(28)
    applied.first.click()
    expect(page.locator("#detail-json")).to_contain_text('"client_id": "c-console"')

    page.click("#rules-remove-all")
    expect(page.locator("#active-rules li")).to_have_count(0)
    assert live.http.get("/__mock/scenarios").json()["data"]["active"] == []


def test_a_rule_a_token_and_a_reset_from_the_keyboard(page: Any, live: Live) -> None:
    page.fill("#rule-json", '{"match": {"operation": "getCredits"}, "respond": {"code": 2001}}')
    page.fill("#rule-session", "s-1")
    page.focus("#rule-apply")
    page.keyboard.press("Enter")
    expect(page.locator("#active-rules li")).to_contain_text("session_id s-1")
    rule_id = page.locator("#active-rules li").first.get_attribute("data-rule")
    page.focus(f"#active-rules li[data-rule='{rule_id}'] button")
    page.keyboard.press("Enter")
    expect(page.locator("#active-rules li")).to_have_count(0)

    page.fill("#token-credits", "250")
    page.select_option("#token-plan", "free")
    page.focus("#token-mint")
    page.keyboard.press("Enter")
    expect(page.locator("#token-out")).to_contain_text("NEMO_TOKEN=nmv_usr_")
    token = page.locator("#token-out").inner_text().removeprefix("NEMO_TOKEN=")
    answer = live.http.get(
        "/api/credits/balance/simple", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.json()["data"]["available"] == 250
    minted = page.locator(ROWS).filter(has_text="POST /__mock/tokens")
    minted.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-json")).to_contain_text('"plan": "free"')
    assert token not in page.locator("#journal").inner_text()
    assert token not in page.locator("#detail-json").inner_text()

    token = live.http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "c-k"})
    bearer = {"Authorization": f"Bearer {token.json()['data']['token']}"}
    created = live.http.post(
        "/api/tasks/me/with-session/nemo_agent",
        json={"task_name": "project", "language": "en"},
        headers=bearer,
    )
    session = created.json()["data"]["session_id"]
    page.fill("#faults-session", session)
    page.fill("#faults-json", '{"cut_at_event": 1}')
    page.focus("#faults-apply")
    page.keyboard.press("Enter")
    expect(page.locator("#result")).to_contain_text(f"the next run of {session}")
    scripted = page.locator(ROWS).filter(has_text=f"POST /__mock/sessions/{session}/faults")
    expect(scripted).to_have_count(1)

    page.focus("#reset")
    page.keyboard.press("Enter")
    expect(page.locator("#journal tbody")).to_contain_text("the journal was reset")
    expect(page.locator(ROWS)).to_have_count(0)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x800", "phone"])
def test_the_page_fits_the_screen(page: Any, live: Live, size: dict[str, int]) -> None:
    """Nothing runs off the side: wide things (the table, the timeline) scroll in their box."""
    live.client("credits")
    page.set_viewport_size(size)
    expect(page.locator(ROWS).filter(has_text="createAnonymousToken").first).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= size["width"], f"the page is {wide} px wide on a {size['width']} px screen"


def test_the_page_opened_in_a_namespace_drives_that_namespace(browser: Any, live: Live) -> None:
    """``/__ns/NAME/__mock/ui`` shows NAME's journal and acts on NAME: a CI run's own view of
    a shared mock."""
    import httpx

    context = browser.new_context(viewport=DESKTOP)
    try:
        tab = context.new_page()
        tab.goto(f"{live.url}/__ns/ci-console/__mock/ui")
        tab.locator("#feed-status[data-state=live]").wait_for()
        httpx.post(
            f"{live.url}/api/auth/anonymous-token",
            headers={"X-Client-Id": "outside", "X-Mock-Namespace": "other"},
        )
        httpx.post(
            f"{live.url}/__ns/ci-console/api/auth/anonymous-token",
            headers={"X-Client-Id": "inside"},
        )
        expect(tab.locator(ROWS).filter(has_text="createAnonymousToken")).to_have_count(1)
        tab.locator(ROWS).filter(has_text="createAnonymousToken").first.click()
        expect(tab.locator("#detail-json")).to_contain_text('"client_id": "inside"')
    finally:
        context.close()


def test_a_mock_with_an_admin_token_asks_the_browser_to_sign_in(browser: Any) -> None:
    """A browser cannot send X-Mock-Admin-Token: it is sent to a sign-in form, and the right
    token opens the console (kept in an HttpOnly cookie, never in the page or the address)."""
    from mock_backend.settings import Settings
    from mock_backend.web.app import create_app
    from mock_backend.web.server import LiveServer

    app = create_app(Settings(clock="manual", admin_token="s3cret-admin"))
    with LiveServer(app) as server:
        context = browser.new_context(viewport=DESKTOP)
        try:
            tab = context.new_page()
            tab.goto(f"{server.url}/__mock/ui")
            expect(tab.locator("#token")).to_be_visible()
            assert tab.url.endswith("/__mock/ui/login")
            tab.fill("#token", "s3cret-admin")
            tab.press("#token", "Enter")
            expect(tab.locator("#feed-status[data-state=live]")).to_be_attached()
            assert "s3cret" not in tab.url
            assert "s3cret" not in tab.content()
            cookie = next(c for c in context.cookies() if c["name"] == "nemo_mock_admin")
            assert cookie["httpOnly"]
            assert cookie["sameSite"] == "Strict"
        finally:
            context.close()
