"""Role x area x endpoint: every read is scoped to the user's areas, every write to the role.

Users of each role are bound to the city, a station and a grid of the test county; each asks
every endpoint over HTTP, and the answer is compared with what the rules allow.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import county_geojson, grid_centre
from fangkong.areas import permissions as area_perms
from fangkong.core import auth, permissions
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

BINDINGS = {"city": "T", "station": "T-D1-S1", "grid": "T-D1-S1-B1-G1"}
ALL_CODES = {f["properties"]["code"] for f in county_geojson()["features"]}


def visible(bound: str) -> set[str]:
    return {code for code in ALL_CODES if code == bound or code.startswith(bound + "-")}


@pytest.fixture(scope="module")
def tokens(live_server: LiveServer) -> Iterator[dict[tuple[Role, str], str]]:
    with Session(live_server.engine) as session:
        for role, (label, code) in itertools.product(Role, BINDINGS.items()):
            username = f"m_{role.value}_{label}"
            if auth.get_by_username(session, username=username) is None:
                auth.create(
                    session,
                    username=username,
                    display_name=username,
                    password=TEST_PASSWORD,
                    role=role,
                    area_codes=[code],
                    actor=SYSTEM,
                )
        session.commit()
    yield {
        (role, label): live_server.token(f"m_{role.value}_{label}")
        for role, label in itertools.product(Role, BINDINGS)
    }


CASES = list(itertools.product(Role, BINDINGS))


@pytest.mark.parametrize(("role", "label"), CASES, ids=[f"{r.value}-{b}" for r, b in CASES])
def test_reads_are_scoped(
    live_server: LiveServer, tokens: dict[tuple[Role, str], str], role: Role, label: str
) -> None:
    bound = BINDINGS[label]
    expected = visible(bound)
    with live_server.client(tokens[(role, label)]) as client:
        listed = client.get("/api/v1/areas")
        assert listed.status_code == 200
        # Other API tests add areas of their own; the matrix judges the test county's.
        assert {a["code"] for a in listed.json()} & ALL_CODES == expected

        geo = client.get("/api/v1/areas/geojson", params={"level": "grid"})
        assert {f["properties"]["code"] for f in geo.json()["features"]} & ALL_CODES == {
            c for c in expected if c.count("-") == 4
        }

        tree = client.get("/api/v1/areas/tree").json()
        assert [root["code"] for root in tree] == [bound]

        for code in ("T", "T-D1-S1", "T-D2-S2-B2-G2"):
            answer = client.get(f"/api/v1/areas/{code}")
            assert answer.status_code == (200 if code in expected else 404), code

        lon, lat = grid_centre("T-D1-S1-B1-G1")
        chain = client.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat}).json()
        assert {a["code"] for a in chain["areas"]} == {
            "T",
            "T-D1",
            "T-D1-S1",
            "T-D1-S1-B1",
            "T-D1-S1-B1-G1",
        } & expected
        far_lon, far_lat = grid_centre("T-D2-S2-B2-G2")
        batch = client.post(
            "/api/v1/areas/locate", json={"lons": [lon, far_lon], "lats": [lat, far_lat]}
        ).json()
        assert batch["area_codes"] == [
            "T-D1-S1-B1-G1" if "T-D1-S1-B1-G1" in expected else None,
            "T-D2-S2-B2-G2" if "T-D2-S2-B2-G2" in expected else None,
        ]

        fusion = client.get("/api/v1/areas/fusion-check").json()
        assert fusion["checked_stations"] == len([c for c in expected if c.count("-") == 2])


@pytest.mark.parametrize(("role", "label"), CASES, ids=[f"{r.value}-{b}" for r, b in CASES])
def test_writes_and_admin_reads_follow_the_role(
    live_server: LiveServer, tokens: dict[tuple[Role, str], str], role: Role, label: str
) -> None:
    held = permissions.of_role(role)
    with live_server.client(tokens[(role, label)]) as client:
        users = client.get("/api/v1/users")
        assert users.status_code == (200 if permissions.MANAGE_USERS in held else 403)
        if users.status_code == 200:
            for user in users.json():
                assert set(user["area_codes"]) & visible(BINDINGS[label])

        audit = client.get("/api/v1/audit", params={"limit": 5})
        assert audit.status_code == (200 if permissions.READ_AUDIT in held else 403)

        empty_import = client.post(
            "/api/v1/areas/import", json={"type": "FeatureCollection", "features": []}
        )
        # Permission is checked before the body: a viewer learns nothing about the rules.
        assert empty_import.status_code == (422 if area_perms.WRITE in held else 403)

        lon, lat = grid_centre("T-D1-S1-B1-G1")
        code = f"M-{role.value}-{label}"
        created = client.post(
            "/api/v1/addresses", json={"code": code, "text_zh": "矩阵路1号", "lon": lon, "lat": lat}
        )
        assert created.status_code == (201 if area_perms.WRITE in held else 403)

        me = client.get("/api/v1/users/me").json()
        phone = client.get(f"/api/v1/users/{me['id']}/phone")
        assert phone.status_code == (200 if permissions.UNMASK_PERSONAL in held else 403)
