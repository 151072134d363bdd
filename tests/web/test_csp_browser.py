"""The console under its Content-Security-Policy in a real Chromium: every page of the
navigation, an incident's page, the API docs and the account pages load and work with no
violation of the policy reported (issue 16, item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LiveServer

pytestmark = pytest.mark.browser

#: Collects what the policy refused, as the page reports it, before any script of the page.
_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


def test_the_console_works_under_its_policy_with_no_violation(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, ConsoleMessage, expect

    assert isinstance(browser, Browser)
    token = live_server.admin_token()
    with live_server.client(token) as api:
        made = api.post(
            "/api/v1/incidents",
            json={
                "category": "public_order",
                "subtype": "fight",
                "priority": "P1",
                "source": "call",
                "lon": 120.02,
                "lat": 30.01,
            },
            headers={"Idempotency-Key": "csp-browser-1"},
        )
        assert made.status_code in (200, 201), made.text
        incident_id = made.json()["id"]
    context = browser.new_context(locale="zh-CN")
    context.add_init_script(_WATCH)
    page = context.new_page()
    reported: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            reported.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: reported.append(f"page error: {exc}"))
    live_server.log_in(page, "api_admin")

    # The map: drawn (MapLibre's worker comes from a blob: URL the policy allows).
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    policy = page.request.get(f"{live_server.base_url}/").headers["content-security-policy"]
    assert "script-src 'self'" in policy

    visited = {"/"}
    links = page.locator("nav a[href^='/']").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    for path in [*links, f"/incidents/{incident_id}", "/account", "/docs"]:
        if path in visited or path.startswith(("/logout", "/lang/")):
            continue
        visited.add(path)
        page.goto(f"{live_server.base_url}{path}")
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__cspViolations")
        assert not found, f"{path}: {found}"

    # What the pages' scripts do still works: the incident board's rows refresh by htmx and
    # the case board's type filter submits itself (no inline handler).
    page.goto(f"{live_server.base_url}/incidents")
    expect(page.locator("#incident-rows tr").first).to_be_visible()
    with page.expect_response(lambda r: "/incidents/rows" in r.url, timeout=20_000):
        page.evaluate("document.body.dispatchEvent(new CustomEvent('incidents-changed'))")
    page.goto(f"{live_server.base_url}/cases/board")
    choices = page.locator("select[name=type] option").evaluate_all("os => os.map(o => o.value)")
    chosen = next(v for v in choices if v)
    with page.expect_navigation():
        page.select_option("select[name=type]", chosen)
    assert f"type={chosen}" in page.url
    page.goto(f"{live_server.base_url}/docs")
    expect(page.locator(".swagger-ui .info")).to_be_visible(timeout=20_000)
    assert not page.evaluate("window.__cspViolations")
    assert not reported, reported
    assert len(visited) >= 8
    context.close()
