"""A team's ``active`` is a strict boolean at the schema: JSON's true or false, never a string
("yes", "false") or a number that pydantic would coerce; over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from conftest import LiveServer
from fangkong.community.schemas import TeamIn

GRID = "T-D1-S1-B1-G1"


def _team(code: str, **values: Any) -> dict[str, Any]:
    return {"code": code, "name": "测试队", "kind": "volunteer_patrol", "area": GRID} | values


@pytest.mark.parametrize("value", ["yes", "false", "1", 1, 0, "on"])
def test_a_non_boolean_active_is_refused_by_the_schema(value: object) -> None:
    with pytest.raises(ValidationError):
        TeamIn.model_validate(_team("SA-0", active=value))


def test_active_over_http(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as client:
        refused = client.post("/api/v1/community/teams", json=_team("SA-1", active="yes"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "body.active"
        made = client.post("/api/v1/community/teams", json=_team("SA-2", active=False))
        assert made.status_code == 201, made.text
        assert made.json()["active"] is False
        team = made.json()["id"]
        changed = client.put(f"/api/v1/community/teams/{team}", json=_team("SA-2", active="true"))
        assert changed.status_code == 422, changed.text
