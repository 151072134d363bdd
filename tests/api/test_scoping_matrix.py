"""Role x area x endpoint: every read is scoped to the user's areas, every write to the role.

Users of each role are bound to the city, a station and a grid of the test county; each asks
every endpoint over HTTP, and the answer is compared with what the rules allow. Every list
route of the API (a GET without a path parameter) is in :data:`LIST_ROUTES`, with the check
of what it answers in and out of the caller's areas or the reason it lists nothing of an
area: a route added without an entry fails :func:`test_every_list_route_is_in_the_matrix`.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, running_server
from factories import county_geojson, grid_centre
from fangkong.areas import permissions as area_perms
from fangkong.cases import permissions as case_perms
from fangkong.community import permissions as community_perms
from fangkong.core import auth, permissions
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.custody import permissions as custody_perms
from fangkong.devices import permissions as device_perms
from fangkong.dispatch import permissions as dispatch_perms
from fangkong.events import permissions as event_perms
from fangkong.facilities import permissions as facility_perms
from fangkong.indicators import permissions as indicator_perms
from fangkong.materials import permissions as material_perms
from fangkong.planning import permissions as planning_perms

BINDINGS = {"city": "T", "station": "T-D1-S1", "grid": "T-D1-S1-B1-G1"}
ALL_CODES = {f["properties"]["code"] for f in county_geojson()["features"]}


def visible(bound: str) -> set[str]:
    return {code for code in ALL_CODES if code == bound or code.startswith(bound + "-")}


@pytest.fixture(scope="module", params=["as_owner", "row_security"])
def live_server(
    request: pytest.FixtureRequest,
    live_server: LiveServer,
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """The matrix runs twice on PostgreSQL: against the shared server (connected as the
    tables' owner, a superuser), and against a server connected as the application's role,
    under row-level security: the second wall must answer as the services do."""
    if request.param == "as_owner":
        yield live_server
        return
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    with running_server(
        backend, tmp_path_factory.mktemp("live-rls"), "_api_rls", app_role=True
    ) as server:
        yield server


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
            # An administrator's reset of a password (the target must change it; flagged).
            temporary = client.put(
                f"/api/v1/users/{target}/password", json={"password": "Matrix-Reset-2026"}
            )
            assert temporary.status_code == expected["write"], case
            # Another's token: revoked by who manages its user; to anyone else it is not there.
            revoked = client.delete(f"/api/v1/tokens/{token_id}")
            assert revoked.status_code == (204 if manages and seen else 404), case


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

        audit_log = client.get("/api/v1/audit", params={"limit": 5})
        assert audit_log.status_code == (200 if permissions.READ_AUDIT in held else 403)

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

        checkpoint = client.post(
            "/api/v1/planning/checkpoints",
            json={"code": f"MK-{role.value}-{label}", "name": "matrix", "lon": lon, "lat": lat},
        )
        assert checkpoint.status_code == (201 if planning_perms.WRITE in held else 403)
        # Permission before the body: an empty placement is refused (p missing) only to planners.
        placement = client.post("/api/v1/planning/placements", json={})
        assert placement.status_code == (422 if planning_perms.WRITE in held else 403)


# --- Every list route -----------------------------------------------------------------------

#: Where the seeded records lie: a grid inside the station and the grid binding, and one of
#: another district that only the city sees.
IN_GRID, OUT_GRID = "T-D1-S1-B1-G1", "T-D2-S2-B2-G2"
SEED_GRIDS = (IN_GRID, OUT_GRID)
#: A name that is no user's: its failed login concerns no area.
NOBODY = "m_nobody"


@dataclass
class Seeded:
    """What the matrix seeds in each grid of :data:`SEED_GRIDS`, by kind, then grid code."""

    ids: dict[str, dict[str, int]]
    #: The user bound to :data:`OUT_GRID` (created and logged in by the seeding).
    outsider_id: int
    area_ids: dict[str, int]


def _seed_post(admin: httpx.Client, kind: str, body: dict[str, Any], **kw: Any) -> int:
    answer = admin.post(f"/api/v1/{kind}", json=body, **kw)
    assert answer.status_code in (200, 201), answer.text
    return int(answer.json()["id"])


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Seeded:
    """An incident, a case, a post, a unit and an address in each seed grid, made by the
    city's administrator over the API (so audited as any write); a user of the other grid
    who logs in; a failed login of a name that is no user's."""
    ids: dict[str, dict[str, int]] = {kind: {} for kind in ("incidents", "cases", "posts")}
    ids |= {"units": {}, "addresses": {}, "checkpoints": {}, "scenarios": {}}
    ids |= {"analyses": {}}
    ids |= {kind: {} for kind in ("facilities", "devices", "holders", "movements", "counts")}
    ids |= {kind: {} for kind in ("events", "plans", "activations")}
    ids |= {kind: {} for kind in ("teams", "shifts", "items")}
    with live_server.client(live_server.admin_token()) as admin:
        areas = {a["code"]: a["id"] for a in admin.get("/api/v1/areas").json()}
        for grid in SEED_GRIDS:
            lon, lat = grid_centre(grid)
            ids["incidents"][grid] = _seed_post(
                admin,
                "incidents",
                {
                    "category": "public_order",
                    "subtype": "fight",
                    "priority": "P3",
                    "source": "call",
                    "lon": lon,
                    "lat": lat,
                },
                headers={"Idempotency-Key": f"matrix-{grid}"},
            )
            ids["cases"][grid] = _seed_post(
                admin,
                "cases",
                {
                    "type": "hazard",
                    "title": f"matrix {grid}",
                    "area_code": grid,
                    "lon": lon,
                    "lat": lat,
                    "fields": {"finding_route": "on_foot", "category": "fire"},
                },
            )
            ids["posts"][grid] = _seed_post(
                admin,
                "posts",
                {
                    "code": f"MP-{grid}",
                    "name": "matrix",
                    "kind": "police_post",
                    "lon": lon,
                    "lat": lat,
                },
            )
            ids["units"][grid] = _seed_post(
                admin, "units", {"call_sign": f"MU-{grid}", "type": "car", "home_area_code": grid}
            )
            ids["addresses"][grid] = _seed_post(
                admin,
                "addresses",
                {"code": f"MA-{grid}", "text_zh": "矩阵路2号", "lon": lon + 1e-4, "lat": lat},
            )
            ids["checkpoints"][grid] = _seed_post(
                admin,
                "planning/checkpoints",
                {"code": f"MK-{grid}", "name": "matrix", "lon": lon, "lat": lat + 1e-4},
            )
            ids["scenarios"][grid] = _seed_post(
                admin, "planning/scenarios", {"name": f"matrix {grid}", "area_code": grid}
            )
            ids["analyses"][grid] = _seed_post(
                admin, "planning/hotspots", {"area_code": grid, "segments": False}
            )
            _seed_registers(admin, ids, grid)
            _seed_events(admin, ids, grid)
            _seed_community_custody(admin, ids, grid)
        made = admin.post(
            "/api/v1/users",
            json={
                "username": "m_outsider",
                "display_name": "outsider",
                "password": TEST_PASSWORD,
                "role": "viewer",
                "area_codes": [OUT_GRID],
            },
        )
        assert made.status_code in (201, 409), made.text
    with Session(live_server.engine) as session:
        # The API's new user would change the administrator's password first (migration 0021).
        made_user = auth.get_by_username(session, username="m_outsider")
        assert made_user is not None
        made_user.must_change_password = False
        session.commit()
    outsider = live_server.token("m_outsider")
    with live_server.client(outsider) as client:
        outsider_id = int(client.get("/api/v1/users/me").json()["id"])
    with live_server.client() as client:
        failed = client.post("/api/v1/auth/token", json={"username": NOBODY, "password": "x" * 12})
        assert failed.status_code in (401, 422)
    return Seeded(ids=ids, outsider_id=outsider_id, area_ids=areas)


def _seed_community_custody(admin: httpx.Client, ids: dict[str, dict[str, int]], grid: str) -> None:
    """A safety team serving ``grid`` and a seized item held there (issue 22)."""
    ids["teams"][grid] = _seed_post(
        admin,
        "community/teams",
        {"code": f"MT-{grid}", "name": "matrix", "kind": "volunteer_patrol", "area": grid},
    )
    ids["shifts"][grid] = _seed_post(
        admin,
        f"community/teams/{ids['teams'][grid]}/shifts",
        {"starts_at": "2026-11-23T19:00:00+08:00", "ends_at": "2026-11-23T22:00:00+08:00"},
    )
    ids["items"][grid] = _seed_post(
        admin,
        "custody",
        {
            "code": f"MI-{grid}",
            "category": "other",
            "ref_kind": "incident",
            "ref_number": f"JQ-{grid}",
            "area": grid,
            "received_at": "2026-11-23T09:00:00+08:00",
            "handled_by": "matrix",
        },
    )


def _seed_events(admin: httpx.Client, ids: dict[str, dict[str, int]], grid: str) -> None:
    """A large-event application under way now and approved, with a post (on the live map's
    layer), and an emergency plan for ``grid`` (issue 22)."""
    from datetime import UTC, datetime, timedelta

    lon, lat = grid_centre(grid)
    start = datetime.now(UTC) - timedelta(hours=1)
    corners = [[lon - 1e-3, lat - 1e-3], [lon + 1e-3, lat - 1e-3], [lon, lat + 1e-3]]
    answer = admin.post(
        "/api/v1/events",
        json={
            "code": f"MEV-{grid}",
            "name": "matrix",
            "organiser": "matrix",
            "venue_polygon": corners,
            "venue_kind": "square",
            "capacity": 2000,
            "expected_attendance": 1500,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(days=1)).isoformat(),
        },
    )
    assert answer.status_code == 201, answer.text
    event = answer.json()
    ids["events"][grid] = int(event["id"])
    posted = admin.post(
        f"/api/v1/events/{event['id']}/posts", json={"name": "matrix", "lon": lon, "lat": lat}
    )
    assert posted.status_code == 201, posted.text
    moved = admin.post(
        f"/api/v1/cases/{event['case_id']}/transitions",
        json={"transition": "approve", "fields": {"conditions": "matrix"}},
    )
    assert moved.status_code == 200, moved.text
    ids["plans"][grid] = _seed_post(
        admin,
        "emergency-plans",
        {
            "code": f"MEP-{grid}",
            "name": "matrix",
            "category": "public_order",
            "level": 3,
            "area_code": grid,
            "tiers": [{"unit_types": ["car"], "count": 1}],
            "target_first_s": 300,
            "target_full_s": 600,
        },
    )


def _seed_registers(admin: httpx.Client, ids: dict[str, dict[str, int]], grid: str) -> None:
    """A key facility, a camera of it, a hazardous-material holder with a site, a ledger row
    and a count in ``grid`` (issue 19)."""
    lon, lat = grid_centre(grid)
    ids["facilities"][grid] = _seed_post(
        admin,
        "facilities",
        {"code": f"MF-{grid}", "name": "matrix", "facility_type": "bank", "lon": lon, "lat": lat},
    )
    ids["devices"][grid] = _seed_post(
        admin,
        "devices",
        {
            "code": f"MD-{grid}",
            "device_type": "camera",
            "owner_kind": "social",
            "facility_code": f"MF-{grid}",
            "lon": lon,
            "lat": lat,
        },
    )
    catalogue = admin.post(
        "/api/v1/materials",
        json={
            "code": "MX-EMX",
            "name_zh": "乳化炸药",
            "material_class": "civil_explosive",
            "base_unit": "kg",
        },
    )
    assert catalogue.status_code in (201, 409), catalogue.text
    ids["holders"][grid] = _seed_post(
        admin,
        "materials/holders",
        {
            "code": f"MH-{grid}",
            "name": "matrix",
            "kind": "blasting",
            "lon": lon,
            "lat": lat,
            "licence_classes": ["civil_explosive"],
            "contact_phone": "13700001111",
        },
    )
    _seed_post(
        admin,
        "materials/sites",
        {
            "code": f"MS-{grid}",
            "holder_code": f"MH-{grid}",
            "name": "matrix",
            "kind": "magazine",
            "lon": lon,
            "lat": lat,
        },
    )
    ids["movements"][grid] = _seed_post(
        admin,
        "materials/movements",
        {
            "site_code": f"MS-{grid}",
            "material_code": "MX-EMX",
            "kind": "produce",
            "quantity": 10,
            "unit": "kg",
            "occurred_at": "2026-03-01T08:00:00+08:00",
            "document_no": f"MX-{grid}",
        },
    )
    ids["counts"][grid] = _seed_post(
        admin,
        "materials/counts",
        {
            "site_code": f"MS-{grid}",
            "material_code": "MX-EMX",
            "quantity": 9,
            "unit": "kg",
            "counted_at": "2026-03-02T08:00:00+08:00",
        },
    )


@dataclass(frozen=True)
class Ask:
    """One caller of the matrix: an HTTP client, their role and the area they are bound to."""

    client: httpx.Client
    role: Role
    bound: str
    seeded: Seeded

    @property
    def visible(self) -> set[str]:
        return visible(self.bound)

    def expect_seeded(self, kind: str, listed: set[int]) -> None:
        """The seeded ``kind`` records listed are exactly those of grids in the caller's areas."""
        wanted = {i for grid, i in self.seeded.ids[kind].items() if grid in self.visible}
        assert listed & set(self.seeded.ids[kind].values()) == wanted, (kind, self.bound)


Check = Callable[[Ask, httpx.Response], None]


@dataclass(frozen=True)
class Listed:
    """A list route: the permission its readers need (None: any user) and the check of what
    it answers; ``params`` are sent with the GET."""

    permission: str | None
    check: Check
    params: dict[str, Any] | Callable[[Ask], dict[str, Any]] | None = None
    #: Only for a caller whose areas are the whole tree (403 to others who hold the permission).
    whole_tree: bool = False


def _codes_within(ask: Ask, codes: Any) -> None:
    assert {c for c in codes if c in ALL_CODES} <= ask.visible, ask.bound


def _check_incidents(ask: Ask, answer: httpx.Response) -> None:
    items = answer.json()["items"]
    _codes_within(ask, (i["area_code"] for i in items))
    ask.expect_seeded("incidents", {i["id"] for i in items})


def _check_incident_export(ask: Ask, answer: httpx.Response) -> None:
    """The export holds the incidents of the caller's areas (first column: the number, the
    area's code among the others), and an area outside them answers 404."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    ask.expect_seeded("incidents", {int(r[0]) for r in rows[1:]})
    _codes_within(ask, (cell for r in rows[1:] for cell in r if cell in ALL_CODES))
    outside = ask.client.get(answer.request.url.copy_merge_params({"area": "T-D2-S2"}))
    assert outside.status_code == (200 if "T-D2-S2" in ask.visible else 404), ask.bound


def _check_cases(ask: Ask, answer: httpx.Response) -> None:
    items = answer.json()["items"]
    _codes_within(ask, (i["area_code"] for i in items))
    ask.expect_seeded("cases", {i["id"] for i in items})


def _check_case_map(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("cases", {f["properties"]["id"] for f in answer.json()["features"]})


def _check_units(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("units", {u["id"] for u in answer.json()})


def _check_posts(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("posts", {p["id"] for p in answer.json()})


def _check_addresses(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("addresses", {a["id"] for a in answer.json()["items"]})


def _check_address_search(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("addresses", {a["id"] for a in answer.json()})


def _check_live(ask: Ask, answer: httpx.Response) -> None:
    body = answer.json()
    ask.expect_seeded("incidents", {i["id"] for i in body["incidents"]})
    ask.expect_seeded("units", {u["id"] for u in body["units"]})
    ask.expect_seeded("posts", {p["id"] for p in body["posts"]})


def _check_alerts(ask: Ask, answer: httpx.Response) -> None:
    outside = {i for g, i in ask.seeded.ids["incidents"].items() if g not in ask.visible}
    assert not {a["incident_id"] for a in answer.json()} & outside


def _check_replays(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (r["area_code"] for r in answer.json()))


def _check_audit(ask: Ask, answer: httpx.Response) -> None:
    events = answer.json()
    whole = ask.bound == BINDINGS["city"]
    for kind, entity in (
        ("incidents", "incident"),
        ("cases", "case"),
        ("units", "unit"),
        ("posts", "police_post"),
        ("addresses", "standard_address"),
    ):
        about = {int(e["entity_id"]) for e in events if e["entity"] == entity and e["entity_id"]}
        ask.expect_seeded(kind, about)
    # The other grid's user: their creation and their logins are theirs and their areas'.
    outsider = [
        e for e in events if e["entity"] == "user" and e["entity_id"] == str(ask.seeded.outsider_id)
    ]
    assert bool(outsider) == (OUT_GRID in ask.visible), ask.bound
    assert {e["action"] for e in outsider} <= {"create", "login"}
    # A failed login of a name that is no user's concerns no area: the whole tree's readers.
    nobody = [e for e in events if e["action"] == "login_failed" and e["username"] == NOBODY]
    assert bool(nobody) == whole, ask.bound
    assert all(e["area_path"] is None for e in nobody)


def _check_verify(ask: Ask, answer: httpx.Response) -> None:
    report = answer.json()
    assert report["ok"], report["faults"]
    assert report["checked"] > 0


def _check_area_list(ask: Ask, answer: httpx.Response) -> None:
    assert {a["code"] for a in answer.json()} & ALL_CODES == ask.visible


def _check_area_tree(ask: Ask, answer: httpx.Response) -> None:
    assert [root["code"] for root in answer.json()] == [ask.bound]


def _check_geojson(ask: Ask, answer: httpx.Response) -> None:
    codes = {f["properties"]["code"] for f in answer.json()["features"]}
    assert codes & ALL_CODES == ask.visible


def _check_users(ask: Ask, answer: httpx.Response) -> None:
    for user in answer.json():
        assert set(user["area_codes"]) & ask.visible, user


def _check_locate(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (a["code"] for a in answer.json()["areas"]))


def _check_fusion(ask: Ask, answer: httpx.Response) -> None:
    assert answer.json()["checked_stations"] == len([c for c in ask.visible if c.count("-") == 2])


def _area_param(check: Check | None = None) -> Check:
    """An aggregate of an area given by ``area``: the other district's station answers 404
    to those who do not see it."""

    def run(ask: Ask, answer: httpx.Response) -> None:
        if check is not None:
            check(ask, answer)
        outside = ask.client.get(answer.request.url.copy_merge_params({"area": "T-D2-S2"}))
        assert outside.status_code == (200 if "T-D2-S2" in ask.visible else 404), ask.bound

    return run


def _check_board(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (r["area_code"] for r in answer.json()["rows"]))


def _check_indicators(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (r["area_code"] for r in answer.json()))


def _check_checkpoints(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("checkpoints", {c["id"] for c in answer.json()})


def _check_scenarios(ask: Ask, answer: httpx.Response) -> None:
    ask.expect_seeded("scenarios", {s["id"] for s in answer.json()})


def _check_runs(ask: Ask, answer: httpx.Response) -> None:
    # a run is filed under an area: the deepest id of its path is one the caller sees
    seen = {str(i) for code, i in ask.seeded.area_ids.items() if code in ask.visible}
    for run in answer.json():
        assert run["area_path"].strip("/").split("/")[-1] in seen, (run, ask.bound)


lon, lat = grid_centre(IN_GRID)
PERIOD = {"start": "2020-01-01T00:00:00+08:00", "end": "2029-01-01T00:00:00+08:00"}
#: Every GET route of the API without a path parameter: how the matrix checks it, or why it
#: lists nothing of an area.
LIST_ROUTES: dict[str, Listed | str] = {
    "/api/v1/audit": Listed(permissions.READ_AUDIT, _check_audit, {"limit": 1000}),
    "/api/v1/audit/verify": Listed(permissions.VERIFY_AUDIT, _check_verify, whole_tree=True),
    "/api/v1/tokens": "the caller's own tokens",
    "/api/v1/users": Listed(permissions.MANAGE_USERS, _check_users),
    "/api/v1/users/me": "the caller's own record",
    "/api/v1/map/roads": "the road network under the map, no record of an area",
    "/api/v1/areas": Listed(area_perms.READ, _check_area_list),
    "/api/v1/areas/tree": Listed(area_perms.READ, _check_area_tree),
    "/api/v1/areas/geojson": Listed(area_perms.READ, _check_geojson),
    "/api/v1/areas/fusion-check": Listed(area_perms.READ, _check_fusion),
    "/api/v1/areas/locate": Listed(area_perms.READ, _check_locate, {"lon": lon, "lat": lat}),
    "/api/v1/addresses": Listed(area_perms.READ, _check_addresses, {"limit": 1000}),
    "/api/v1/addresses/search": Listed(
        area_perms.READ, _check_address_search, {"q": "MA-", "limit": 20}
    ),
    "/api/v1/network": "the road network's size and profile",
    "/api/v1/network/isochrone": "travel times over the roads, no record of an area",
    "/api/v1/network/route": "a route over the roads, no record of an area",
    "/api/v1/cases/types": "the declared case types",
    "/api/v1/cases": Listed(case_perms.READ, _check_cases, {"limit": 500}),
    "/api/v1/cases/map": Listed(case_perms.READ, _check_case_map),
    "/api/v1/cases/board": Listed(case_perms.READ, _area_param(_check_board)),
    "/api/v1/cases/indicators": Listed(
        case_perms.READ,
        _area_param(_check_indicators),
        lambda ask: {"type": "hazard", "area": ask.bound, **PERIOD},
    ),
    "/api/v1/cases/notices": "the caller's own notices",
    "/api/v1/incidents": Listed(dispatch_perms.READ, _check_incidents, {"limit": 500}),
    "/api/v1/incidents/export": Listed(dispatch_perms.READ, _check_incident_export),
    "/api/v1/incidents/categories": "the incident taxonomy",
    "/api/v1/units": Listed(dispatch_perms.READ, _check_units),
    "/api/v1/posts": Listed(dispatch_perms.READ, _check_posts),
    "/api/v1/dispatch/live": Listed(dispatch_perms.READ, _check_live),
    "/api/v1/dispatch/alerts": Listed(dispatch_perms.READ, _check_alerts),
    "/api/v1/dispatch/stream": "Server-Sent Events, scoped per stream (test_live.py)",
    "/api/v1/dispatch/kpis": Listed(dispatch_perms.READ, _area_param(), PERIOD),
    "/api/v1/dispatch/replays": Listed(dispatch_perms.READ, _check_replays),
    "/api/v1/planning/runs": Listed(planning_perms.READ, _check_runs),
    # hotspot, deployment and beats analyses: filed under an area, as runs are
    "/api/v1/planning/analyses": Listed(planning_perms.READ, _check_runs),
    "/api/v1/planning/scenarios": Listed(planning_perms.READ, _check_scenarios),
    "/api/v1/planning/checkpoints": Listed(planning_perms.READ, _check_checkpoints),
    "/api/v1/planning/ring/settings": "the control ring's road-class weights and target",
    "/api/v1/planning/weight-columns": "the names of the address weight columns",
}


def _items(kind: str, key: str = "items") -> Check:
    def run(ask: Ask, answer: httpx.Response) -> None:
        body = answer.json()
        items = body[key] if isinstance(body, dict) else body
        ask.expect_seeded(kind, {int(i["id"]) for i in items})

    return run


def _features(kind: str, layer: str | None = None) -> Check:
    def run(ask: Ask, answer: httpx.Response) -> None:
        found = {
            int(f["properties"]["id"])
            for f in answer.json()["features"]
            if layer is None or f["properties"].get("layer") == layer
        }
        ask.expect_seeded(kind, found)

    return run


def _export_codes(prefix: str) -> Check:
    """An export holds the seeded records (by code) of the caller's areas only."""

    def run(ask: Ask, answer: httpx.Response) -> None:
        text = answer.content.decode("utf-8-sig")
        for grid in SEED_GRIDS:
            assert (f"{prefix}-{grid}" in text) == (grid in ask.visible), (prefix, ask.bound)

    return run


def _area_codes(key: str = "area_code") -> Check:
    def run(ask: Ask, answer: httpx.Response) -> None:
        _codes_within(ask, (r[key] for r in answer.json()))

    return run


def _check_sites(ask: Ask, answer: httpx.Response) -> None:
    codes = {s["holder_code"] for s in answer.json()}
    for grid in SEED_GRIDS:
        assert (f"MH-{grid}" in codes) == (grid in ask.visible), ask.bound


def _check_reconciliation(ask: Ask, answer: httpx.Response) -> None:
    body = answer.json()
    holders = {b["holder_code"] for b in body["balances"]} | {
        d["holder_code"] for d in body["discrepancies"]
    }
    for grid in SEED_GRIDS:
        assert (f"MH-{grid}" in holders) == (grid in ask.visible), ask.bound


REGISTER_PERIOD = {"start": "2026-01-01T00:00:00+08:00", "end": "2026-06-01T00:00:00+08:00"}
#: The registers of issue 19: key facilities, devices, hazardous materials.
LIST_ROUTES |= {
    "/api/v1/facilities": Listed(facility_perms.READ, _items("facilities"), {"limit": 500}),
    "/api/v1/facilities/export": Listed(facility_perms.READ, _export_codes("MF")),
    "/api/v1/facilities/geojson": Listed(facility_perms.READ, _features("facilities")),
    "/api/v1/facilities/rates": Listed(facility_perms.READ, _area_param(_area_codes())),
    "/api/v1/facilities/rules": "the county's compliance rules, no record of an area",
    "/api/v1/devices": Listed(device_perms.READ, _items("devices"), {"limit": 500}),
    "/api/v1/devices/export": Listed(device_perms.READ, _export_codes("MD")),
    "/api/v1/devices/geojson": Listed(device_perms.READ, _features("devices")),
    "/api/v1/devices/figures": Listed(device_perms.READ, _area_param(_area_codes())),
    "/api/v1/devices/zones": Listed(device_perms.READ, _area_codes()),
    "/api/v1/materials": "the catalogue of regulated materials, no record of an area",
    "/api/v1/materials/holders": Listed(material_perms.READ, _items("holders"), {"limit": 500}),
    "/api/v1/materials/holders/export": Listed(material_perms.READ, _export_codes("MH")),
    "/api/v1/materials/sites": Listed(material_perms.READ, _check_sites),
    "/api/v1/materials/movements": Listed(material_perms.READ, _items("movements"), {"limit": 500}),
    "/api/v1/materials/movements/export": Listed(material_perms.READ, _export_codes("MH")),
    "/api/v1/materials/counts": Listed(material_perms.READ, _items("counts", key="")),
    "/api/v1/materials/tolerances": "the county's tolerances per material class",
    "/api/v1/materials/reconciliation": Listed(
        material_perms.READ, _check_reconciliation, REGISTER_PERIOD
    ),
    "/api/v1/materials/geojson": Listed(material_perms.READ, _features("holders", "holder")),
}


def _check_activation_kpis(ask: Ask, answer: httpx.Response) -> None:
    body = answer.json()
    assert body["drill"] is False and body["activations"] >= 0, ask.bound


#: Large-event security, emergency plans and drills (issue 22).
LIST_ROUTES |= {
    "/api/v1/events": Listed(event_perms.READ, _items("events"), {"limit": 500}),
    "/api/v1/events/export": Listed(event_perms.READ, _export_codes("MEV")),
    "/api/v1/events/posts/geojson": Listed(event_perms.READ, _features("events")),
    "/api/v1/emergency-plans": Listed(event_perms.READ, _items("plans"), {"limit": 500}),
    "/api/v1/emergency-plans/export": Listed(event_perms.READ, _export_codes("MEP")),
    "/api/v1/emergency-activations": Listed(
        event_perms.READ, _items("activations"), {"limit": 500}
    ),
    "/api/v1/emergency-activations/kpis": Listed(event_perms.READ, _check_activation_kpis),
}


#: The community safety forces, the public's tips and the custody of seized property (issue 22).
LIST_ROUTES |= {
    "/api/v1/community/teams": Listed(community_perms.READ, _items("teams"), {"limit": 500}),
    "/api/v1/community/teams/export": Listed(community_perms.READ, _export_codes("MT")),
    "/api/v1/community/shifts": Listed(community_perms.READ, _items("shifts"), {"limit": 500}),
    "/api/v1/community/figures": Listed(community_perms.READ, _area_param(_area_codes())),
    "/api/v1/community/tips": Listed(
        community_perms.READ,
        lambda ask, answer: _codes_within(ask, (t["area_code"] for t in answer.json()["items"])),
    ),
    "/api/v1/public/tips/token": "the public's form token (no login), no record of an area",
    "/api/v1/custody": Listed(custody_perms.READ, _items("items"), {"limit": 500}),
    "/api/v1/custody/export": Listed(custody_perms.READ, _export_codes("MI")),
}


def _check_indicator_export(ask: Ask, answer: httpx.Response) -> None:
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) > 1, ask.bound
    _codes_within(ask, (r[0] for r in rows[1:]))


def _check_indicator_records(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (item["area"] for item in answer.json()["items"]))


def _check_indicator_records_export(ask: Ask, answer: httpx.Response) -> None:
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    _codes_within(ask, (r[-1] for r in rows[1:]))


def _check_indicator_report(ask: Ask, answer: httpx.Response) -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    cells = (
        value.strip()
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, str)
    )
    _codes_within(ask, cells)


def _check_indicator_targets(ask: Ask, answer: httpx.Response) -> None:
    _codes_within(ask, (t["area_code"] for t in answer.json() if t["area_code"] is not None))


#: The indicator system of issue 20: figures, grid, trend, drill-down, targets, inputs.
INDICATOR_MONTH = {"period": "2026-03"}
LIST_ROUTES |= {
    "/api/v1/indicators/catalogue": "the indicator catalogue: declarations, no record of an area",
    "/api/v1/indicators/figures": Listed(
        indicator_perms.READ, _area_param(_area_codes()), INDICATOR_MONTH
    ),
    "/api/v1/indicators/figures/export": Listed(
        indicator_perms.READ, _check_indicator_export, INDICATOR_MONTH
    ),
    "/api/v1/indicators/grid": Listed(
        indicator_perms.READ, _area_param(_area_codes()), INDICATOR_MONTH
    ),
    "/api/v1/indicators/trend": Listed(
        indicator_perms.READ,
        _area_param(),
        {"indicator": "incidents.received", "months": 2, **INDICATOR_MONTH},
    ),
    "/api/v1/indicators/records": Listed(
        indicator_perms.READ,
        _area_param(_check_indicator_records),
        {"indicator": "incidents.received", "per_page": 200},
    ),
    "/api/v1/indicators/records/export": Listed(
        indicator_perms.READ, _check_indicator_records_export, {"indicator": "incidents.received"}
    ),
    "/api/v1/indicators/targets": Listed(indicator_perms.READ, _check_indicator_targets),
    "/api/v1/indicators/inputs": Listed(indicator_perms.READ, _area_codes()),
    "/api/v1/indicators/tasks": Listed(indicator_perms.READ, _area_codes()),
    "/api/v1/indicators/report": Listed(
        indicator_perms.READ,
        _area_param(_check_indicator_report),
        {"format": "xlsx", **INDICATOR_MONTH},
    ),
}


def test_every_list_route_is_in_the_matrix(live_server: LiveServer) -> None:
    with live_server.client() as client:
        spec = client.get("/api/v1/openapi.json").json()
    routes = {path for path, ops in spec["paths"].items() if "get" in ops and "{" not in path}
    missing = routes - LIST_ROUTES.keys()
    assert not missing, f"list routes the scoping matrix does not check: {sorted(missing)}"
    assert not LIST_ROUTES.keys() - routes, "entries of LIST_ROUTES that are no route"


@pytest.mark.parametrize(("role", "label"), CASES, ids=[f"{r.value}-{b}" for r, b in CASES])
def test_list_routes_answer_within_the_callers_areas(
    live_server: LiveServer,
    tokens: dict[tuple[Role, str], str],
    seeded: Seeded,
    role: Role,
    label: str,
) -> None:
    held = permissions.of_role(role)
    with live_server.client(tokens[(role, label)]) as client:
        ask = Ask(client=client, role=role, bound=BINDINGS[label], seeded=seeded)
        for path, entry in LIST_ROUTES.items():
            if isinstance(entry, str):
                continue
            params = entry.params(ask) if callable(entry.params) else entry.params
            answer = client.get(path, params=params)
            allowed = entry.permission is None or entry.permission in held
            if entry.whole_tree and ask.bound != BINDINGS["city"]:
                allowed = False
            assert answer.status_code == (200 if allowed else 403), (path, answer.text)
            if allowed:
                entry.check(ask, answer)
