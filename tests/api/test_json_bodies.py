"""Free JSON in a request (a GeoJSON import, a report template, a case's fields, the keys of a
mapping) is bounded at its schema, over HTTP on SQLite and PostgreSQL: a NUL in any string or
key (PostgreSQL's text and jsonb refuse ``\\u0000``), nesting past
:data:`~fangkong.core.bounds.MAX_JSON_DEPTH` (64) and a number jsonb cannot hold (NaN, Infinity)
are the schema's 422, naming the body's field, in the user's language; never a 5xx, and never
left to a service to notice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import LiveServer

GRID = "T-D1-S1-B1-G1"


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": [value]}
    return value


def _feature(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[120, 30], [120.01, 30], [120.01, 30.01], [120, 30]]],
                },
            }
        ],
    }


#: (method, path, body with ``BAD`` where the bad value goes, the field the 422 names).
ROUTES: list[tuple[str, str, Any, str]] = [
    (
        "POST",
        "/api/v1/areas/import",
        _feature({"code": "T-X", "name_zh": "BAD", "level": "grid", "parent_code": GRID}),
        "body",
    ),
    (
        "POST",
        "/api/v1/cases",
        {"type": "hazard", "title": "x", "area_code": GRID, "fields": {"finding_route": "BAD"}},
        "body.fields",
    ),
    (
        "POST",
        "/api/v1/cases/1/transitions",
        {"transition": "assign", "fields": {"note": ["BAD"]}},
        "body.fields",
    ),
    (
        "PUT",
        "/api/v1/indicators/report-templates/bulletin",
        {"title": "BAD", "intro": "", "sections": [{"kind": "summary", "heading": "h"}]},
        "body",
    ),
]


def _body(template: Any, bad: Any) -> str:
    def put(value: Any) -> Any:
        if value == "BAD":
            return bad
        if isinstance(value, dict):
            return {k: put(v) for k, v in value.items()}
        if isinstance(value, list):
            return [put(v) for v in value]
        return value

    return json.dumps(put(template), allow_nan=True)


BAD_VALUES: dict[str, Any] = {
    "nul": "a\x00b",
    "deep": _deep(100),
    "nan": float("nan"),
    "infinity": float("inf"),
}


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
@pytest.mark.parametrize(("method", "path", "template", "field"), ROUTES)
def test_free_json_is_bounded_at_the_schema(
    live_server: LiveServer, method: str, path: str, template: Any, field: str, kind: str
) -> None:
    with live_server.client(live_server.admin_token()) as client:
        client.cookies.set("fangkong_lang", "zh-CN")  # a language chosen: the text in it
        answer = client.request(
            method,
            path,
            content=_body(template, BAD_VALUES[kind]),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    found = answer.json()
    assert found["field"].startswith(field), found
    assert any("\u4e00" <= ch <= "\u9fff" for ch in found["text"]), found


#: A mapping's keys are text too: (path, body with the key ``BAD``).
KEYED: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "POST",
        "/api/v1/materials",
        {
            "code": "M-NUL",
            "name_zh": "测试",
            "material_class": "civil_explosive",
            "base_unit": "kg",
            "units": {"a\x00b": 2},
        },
        "body.units",
    ),
    ("POST", "/api/v1/planning/ring", {"area_code": "T", "weights": {"a\x00b": 1}}, "body.weights"),
    (
        "PUT",
        "/api/v1/planning/ring/settings",
        {"weights": {"a\x00b": 1}, "target": 0.5},
        "body.weights",
    ),
    (
        "POST",
        "/api/v1/areas/import",
        _feature(
            {"code": "T-X", "name_zh": "x", "a\x00b": "x", "level": "grid", "parent_code": GRID}
        ),
        "body",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), KEYED)
def test_a_key_with_nul_is_refused_at_the_schema(
    live_server: LiveServer, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    with live_server.client(live_server.admin_token()) as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"].startswith(field), answer.json()


def test_a_bounded_document_still_passes(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as client:
        template = client.get("/api/v1/indicators/report-templates/bulletin").json()
        saved = client.put(
            "/api/v1/indicators/report-templates/bulletin",
            json=template | {"title": "简报 {area} {period} 50%"},
        )
    assert saved.status_code == 200, saved.text
