"""Domain errors carry a catalogue key and values: English for the API, the reader's language
for the console."""

from __future__ import annotations

from datetime import date

from fangkong.core.errors import InvalidInput, NotFound


def test_an_error_with_a_key_renders_in_each_language() -> None:
    error = InvalidInput(key="fusion.violations", params={"count": 3}, field="areas")
    assert error.message == "3 faults found" == str(error)
    assert error.text("en") == "3 faults found"
    assert error.text("zh-CN") != error.message and "3" in error.text("zh-CN")


def test_the_api_answer_keeps_a_stable_code_values_and_english() -> None:
    body = InvalidInput(
        key="fusion.violations", params={"count": 3}, field="areas", row=7
    ).to_dict()
    assert body == {
        "error": "invalid_input",
        "code": "fusion.violations",
        "params": {"count": 3},
        "message": "3 faults found",
        "field": "areas",
        "detail": {"row": 7},
    }
    # Values that JSON has no type for are sent as their text.
    dated = NotFound(key="fusion.violations", params={"count": date(2026, 1, 2)}).to_dict()
    assert dated["params"] == {"count": "2026-01-02"} and dated["code"] == "fusion.violations"


def test_the_error_prefix_is_not_part_of_the_code() -> None:
    assert NotFound(key="error.page_not_found").to_dict()["code"] == "page_not_found"


def test_an_error_raised_with_plain_text_is_shown_as_raised() -> None:
    error = NotFound("no incident 7")
    assert error.text("zh-CN") == "no incident 7"
    assert "code" not in error.to_dict()


def test_an_error_among_the_values_renders_in_the_same_language() -> None:
    inner = InvalidInput(key="fusion.violations", params={"count": 3})
    outer = InvalidInput(key="error.user.unknown_areas", params={"codes": inner})
    assert outer.message == "unknown area codes: 3 faults found"
    assert inner.text("zh-CN") in outer.text("zh-CN")
    assert outer.to_dict()["params"] == {"codes": "3 faults found"}
