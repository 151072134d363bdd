"""An address the app does not know: a page in the user's language for a browser, the API's
error shape for a program."""

from __future__ import annotations

from conftest import LiveServer


def test_unknown_page_is_a_page_in_the_users_language(live_server: LiveServer) -> None:
    with live_server.client() as browser:
        browser.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
        answer = browser.get("/no/such/page")
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "页面不存在" in answer.text and '"detail"' not in answer.text
        browser.cookies.set("fangkong_lang", "en")
        english = browser.get("/no/such/page")
        assert english.status_code == 404 and "no page at this address" in english.text.lower()


def test_unknown_api_route_answers_the_api_error_shape(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as client:
        answer = client.get("/api/v1/no/such/route", headers={"Accept": "text/html"})
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"
        wrong_method = client.delete("/api/v1/incidents")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"] == "method_not_allowed"


def test_unknown_page_keeps_the_logged_in_users_navigation(live_server: LiveServer) -> None:
    live_server.admin_token()
    console = live_server.console_client("api_admin")
    answer = console.get("/no/such/page", headers={"Accept": "text/html"})
    console.close()
    assert answer.status_code == 404
    assert ": api_admin · " in answer.text and 'href="/audit"' in answer.text
