"""Values past every bound, sent to every operation of the API's OpenAPI document: none is a
5xx, and the connection stays usable after each answer.

A fuzzer found 282 requests answered 500 (issue 16): integers past 64 bits in ids, offsets and
id lists, dates at the edge of the calendar, coordinates out of range or NaN, JSON nested
100,000 deep, NUL characters; and after each 500 the next request on the same keep-alive
connection was reset. A random fuzzer finds such values only by chance where the document
states no bound (``test_fuzz.py``); here each parameter and each body field of every
operation gets each edge value of its type in turn, the others valid, for an administrator
and for a station officer of one precinct.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.api_fixtures import populated_server

#: Edge values by the document's type (and format) of a parameter or field. Numbers go as
#: text into JSON bodies too: NaN, Infinity and 1e400 are what a client may send.
#: 2**31 is one past PostgreSQL's ``integer`` (every id and count column there: SQLite's
#: integers are 64-bit, so only PostgreSQL meets it, as a 500 from its ``::INTEGER`` bind).
INTEGER_EDGES = [
    "2147483648",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "0",
]
NUMBER_EDGES = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "true"]
DATE_TIME_EDGES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999",
]
DATE_EDGES = ["0001-01-01", "9999-12-31"]
STRING_EDGES = ["\u0000", "x\u0000y"]
#: Bodies that are no object of the document's at all.
RAW_BODIES = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]


@pytest.fixture(scope="module")
def served(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    with populated_server(tmp_path_factory.mktemp(f"edges-{backend}"), "_edges", backend) as found:
        yield found


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` followed, and a nullable ``anyOf`` read as its type."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    if "anyOf" in schema:
        kept = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if kept:
            return _resolve(document, kept[0])
    return schema


def _edges(schema: dict[str, Any]) -> list[str]:
    kind, form = schema.get("type"), schema.get("format")
    if kind == "integer":
        return INTEGER_EDGES
    if kind == "number":
        return NUMBER_EDGES
    if kind == "string" and form == "date-time":
        return DATE_TIME_EDGES
    if kind == "string" and form == "date":
        return DATE_EDGES
    if kind == "string" and "enum" not in schema:
        return STRING_EDGES
    if kind == "array":
        return [f"[{value}]" for value in _edges(schema.get("items", {}))]
    return []


def _valid(document: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value of ``schema``: its example or default, else one made from its type."""
    schema = _resolve(document, schema)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    kind, form = schema.get("type"), schema.get("format")
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 0.0)) if "minimum" in schema else 120.05
    if kind == "boolean":
        return False
    if kind == "string":
        if form == "date-time":
            return "2026-05-01T08:00:00+08:00"
        if form == "date":
            return "2026-05-01"
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind == "array":
        return [_valid(document, schema.get("items", {}), depth + 1)] if depth < 3 else []
    if kind == "object" and depth < 3:
        return {
            name: _valid(document, prop, depth + 1)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", ())
        }
    return None


def _requests(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(label, method, httpx request arguments) of every edge request of every operation."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [_param(document, p) for p in operation.get("parameters", [])]
            body_schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            body = _resolve(document, body_schema) if body_schema else None
            base_params = {p["name"]: (p["in"], _valid(document, p["schema"])) for p in params}
            base_body = _valid(document, body) if body is not None else None
            for param in params:
                for value in _edges(_resolve(document, param["schema"])):
                    changed = {**base_params, param["name"]: (param["in"], value)}
                    yield (
                        f"{method.upper()} {path} {param['name']}={value[:30]!r}",
                        method,
                        _arguments(path, changed, base_body),
                    )
            if body is None:
                continue
            for name, prop in body.get("properties", {}).items():
                for value in _edges(_resolve(document, prop)):
                    fields = {
                        key: json.dumps(v) for key, v in (base_body or {}).items() if key != name
                    }
                    fields[name] = value if not _is_text(prop, document) else json.dumps(value)
                    raw = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}"
                    yield (
                        f"{method.upper()} {path} body.{name}={value[:30]!r}",
                        method,
                        _arguments(path, base_params, raw.encode("utf-8")),
                    )
            for raw_body in RAW_BODIES:
                yield (
                    f"{method.upper()} {path} body nested {len(raw_body)} bytes",
                    method,
                    _arguments(path, base_params, raw_body),
                )


def _is_text(prop: dict[str, Any], document: dict[str, Any]) -> bool:
    schema = _resolve(document, prop)
    return schema.get("type") == "string" and schema.get("format") not in ("date", "date-time")


def _param(document: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in param:
        name = param["$ref"].rsplit("/", 1)[1]
        param = document["components"]["parameters"][name]
    return param


def _arguments(path: str, params: dict[str, tuple[str, Any]], body: Any) -> dict[str, Any]:
    url = path
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    for name, (where, value) in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if where == "path":
            url = url.replace("{" + name + "}", quote(text, safe=""))
        elif where == "query" and value is not None:
            query[name] = text
        elif where == "header" and value is not None and "\x00" not in text:
            headers[name] = text
    arguments: dict[str, Any] = {"url": url, "params": query, "headers": headers}
    if isinstance(body, bytes):
        arguments["content"] = body
        arguments["headers"] = {**headers, "Content-Type": "application/json"}
    elif body is not None:
        arguments["json"] = body
    return arguments


def _sweep(base_url: str, token: str) -> tuple[int, list[str]]:
    """Every edge request on one keep-alive connection: how many were sent, and those answered
    5xx or after which the connection was lost."""
    failures: list[str] = []
    sent = 0
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "edge"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        document = client.get("/api/v1/openapi.json").json()
        for label, method, arguments in _requests(document):
            if "/stream" in arguments["url"]:
                continue  # the live stream stays open
            sent += 1
            try:
                answer = client.request(method.upper(), **arguments)
            except httpx.TransportError as exc:
                failures.append(f"{label}: connection lost ({exc!r})")
                continue
            if answer.status_code >= 500:
                failures.append(f"{label}: {answer.status_code} {answer.text[:200]}")
            if answer.headers.get("connection", "").lower() == "close":
                failures.append(f"{label}: {answer.status_code} closed the connection")
    return sent, failures


@pytest.mark.parametrize("role", ["admin", "precinct"])
def test_no_value_past_a_bound_is_answered_5xx(
    served: tuple[str, dict[str, str]], role: str
) -> None:
    base_url, tokens = served
    sent, failures = _sweep(base_url, tokens[role])
    assert not failures, "\n".join(failures[:60])
    assert sent > 500  # every operation was reached
