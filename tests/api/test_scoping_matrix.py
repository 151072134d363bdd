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
# --- Accounts (issue 16): every endpoint of tokens, passwords, second factor, user admin ------

#: Users the account endpoints act on: one in a grid every binding covers, one in another
#: district that only the city's users see.
ACCOUNT_TARGETS = {"near": "T-D1-S1-B1-G1", "far": "T-D2-S2"}


def _account_target(live_server: LiveServer, label: str) -> tuple[int, int]:
    """The id of the ``label`` target (created once, a viewer) and of a fresh token of theirs."""
    from datetime import timedelta

    username = f"m_target_{label}"
    with Session(live_server.engine) as session:
        user = auth.get_by_username(session, username=username)
        if user is None:
            user = auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=Role.VIEWER,
                area_codes=[ACCOUNT_TARGETS[label]],
                actor=SYSTEM,
            )
        token, _ = auth.issue_token(
            session, user=user, name="matrix", ttl=timedelta(hours=1), actor=SYSTEM
        )
        session.commit()
        return user.id, token.id


def _own_token_id(live_server: LiveServer, username: str) -> int:
    from datetime import timedelta

    with Session(live_server.engine) as session:
        user = auth.get_by_username(session, username=username)
        assert user is not None
        token, _ = auth.issue_token(
            session, user=user, name="throwaway", ttl=timedelta(hours=1), actor=SYSTEM
        )
        session.commit()
        return token.id


@pytest.mark.parametrize(("role", "label"), CASES, ids=[f"{r.value}-{b}" for r, b in CASES])
def test_account_endpoints_follow_the_role_and_the_areas(
    live_server: LiveServer, tokens: dict[tuple[Role, str], str], role: Role, label: str
) -> None:
    manages = permissions.MANAGE_USERS in permissions.of_role(role)
    with live_server.client(tokens[(role, label)]) as client:
        # One's own: tokens, password, second factor.
        mine = client.get("/api/v1/tokens")
        assert mine.status_code == 200 and mine.json()
        own = _own_token_id(live_server, f"m_{role.value}_{label}")
        assert client.delete(f"/api/v1/tokens/{own}").status_code == 204
        wrong = client.post(
            "/api/v1/users/me/password",
            json={"current_password": "not-the-password", "new_password": "x" * 12},
        )
        assert wrong.status_code == 401
        begun = client.post("/api/v1/users/me/totp")
        assert begun.status_code == 200 and begun.json()["secret"]
        unconfirmed = client.post("/api/v1/users/me/totp/confirm", json={"code": "000000"})
        assert unconfirmed.status_code == 422

        # Others': only who manages users, and only in their areas (404 outside, as any record).
        for where, area in ACCOUNT_TARGETS.items():
            target, token_id = _account_target(live_server, where)
            seen = area == BINDINGS[label] or area.startswith(BINDINGS[label] + "-")
            if not manages:
                expected = {"read": 403, "write": 403, "role": 403}
            elif seen:
                expected = {"read": 200, "write": 204, "role": 200}
            else:
                expected = {"read": 404, "write": 404, "role": 404}
            case = (role.value, label, where)
            listed = client.get(f"/api/v1/users/{target}/tokens")
            assert listed.status_code == expected["read"], case
            for action in ("unlock", "deactivate", "activate"):
                answer = client.post(f"/api/v1/users/{target}/{action}")
                assert answer.status_code == expected["write"], (*case, action)
            set_role = client.put(f"/api/v1/users/{target}/role", json={"role": "viewer"})
            assert set_role.status_code == expected["role"], case
            reset = client.delete(f"/api/v1/users/{target}/totp")
            assert reset.status_code == expected["write"], case
            # Another's token: revoked by who manages its user; to anyone else it is not there.
            revoked = client.delete(f"/api/v1/tokens/{token_id}")
            assert revoked.status_code == (204 if manages and seen else 404), case

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
