"""The application factory: API routers, console pages, static files, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlparse

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match

from fangkong import (
    __version__,
    areas,
    cases,
    community,
    custody,
    devices,
    dispatch,
    events,
    facilities,
    materials,
    planning,
    province,
)
from fangkong.core import audit, partitions
from fangkong.core import personal as personal_data
from fangkong.core.config import Settings
from fangkong.core.db import make_engine, make_session_factory
from fangkong.core.errors import (
    FangkongError,
    MethodNotAllowed,
    NotFound,
    PasswordChangeRequired,
    Unauthorized,
)
from fangkong.core.jobs import CollectorSetAside, Ticker, set_aside_from_collector
from fangkong.core.leader import leadership
from fangkong.core.models import User
from fangkong.core.permissions import MANAGE_USERS, READ_AUDIT
from fangkong.core.security import FieldCipher
from fangkong.http import errors
from fangkong.http.deps import PASSWORD_CHANGE_PAGE, console_language, language_of
from fangkong.http.headers import SecurityHeaders
from fangkong.http.limits import FORM_OVERHEAD_BYTES, BodyLimit, InFlightLimit, RouteLimit
from fangkong.http.templating import NavEntry, render
from fangkong.indicators import NAV as INDICATORS_NAV

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The console's main navigation: the map, each domain's pages, the audit log last.
NAVIGATION: list[NavEntry] = [
    (None, "nav.map", "/"),
    *areas.NAV,
    *cases.NAV,
    *dispatch.NAV,
    *planning.NAV,
    *province.NAV,
    *facilities.NAV,
    *devices.NAV,
    *materials.NAV,
    *INDICATORS_NAV,
    *events.NAV,
    *community.NAV,
    *custody.NAV,
    (MANAGE_USERS, "nav.users", "/users"),
    (READ_AUDIT, "nav.audit", "/audit"),
]

API_PREFIX = "/api/v1"
#: In the data folder: held by the one server process that runs the background jobs.
JOBS_LOCK = "jobs.lock"


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route whose path matches the request's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        found = getattr(route, "methods", None)
        if found and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(found)
    return sorted(methods)


def body_limits() -> list[RouteLimit]:
    """The routes that take files, each with its larger body limit (README, Configuration):
    what the file may hold, and a form's overhead around it where it comes as a form."""
    from fangkong.areas.api import MAX_IMPORT_BYTES as AREA_FILE
    from fangkong.cases.storage import MAX_BYTES as ATTACHMENT
    from fangkong.community.public import MAX_BODY_BYTES as PUBLIC_TIP
    from fangkong.custody._common import MAX_IMPORT_BYTES as CUSTODY_FILE
    from fangkong.dispatch.api import MAX_IMPORT_BYTES as INCIDENT_FILE
    from fangkong.materials._common import MAX_IMPORT_BYTES as REGISTER_FILE

    form = FORM_OVERHEAD_BYTES
    # The registers' spreadsheets (facilities, devices and their statuses, materials), by the
    # API and the console; and a batch of up to 10,000 device status reports.
    registers = [
        RouteLimit("POST", path, REGISTER_FILE + form)
        for path in (
            f"{API_PREFIX}/facilities/import",
            f"{API_PREFIX}/devices/import",
            f"{API_PREFIX}/devices/status/import",
            f"{API_PREFIX}/materials/import/{{kind}}",
            "/facilities/import",
            "/devices/import",
            "/devices/status/import",
            "/materials/import",
            f"{API_PREFIX}/events/import",
            f"{API_PREFIX}/emergency-plans/import",
            "/events/import",
            "/emergency-plans/import",
        )
    ]
    return [
        *registers,
        RouteLimit("POST", f"{API_PREFIX}/devices/status/bulk", 4 << 20),
        RouteLimit("POST", f"{API_PREFIX}/areas/import", AREA_FILE),
        RouteLimit("POST", f"{API_PREFIX}/incidents/import", INCIDENT_FILE + form),
        RouteLimit("POST", f"{API_PREFIX}/cases/{{case_id}}/attachments", ATTACHMENT + form),
        RouteLimit("POST", "/cases/{case_id}/attachments", ATTACHMENT + form),
        # The public's tips: a photo and the form around it (no login: the tightest limit).
        RouteLimit("POST", f"{API_PREFIX}/public/tips", PUBLIC_TIP),
        RouteLimit("POST", "/tip", PUBLIC_TIP),
        RouteLimit("POST", f"{API_PREFIX}/custody/import", CUSTODY_FILE + form),
        RouteLimit("POST", "/custody/import", CUSTODY_FILE + form),
        RouteLimit("POST", f"{API_PREFIX}/community/teams/import", CUSTODY_FILE + form),
        RouteLimit("POST", "/community/import", CUSTODY_FILE + form),
    ]


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """Build the web app for ``settings``; nothing connects before the first request."""
    from fangkong.areas import api as areas_api
    from fangkong.areas import pages as areas_pages
    from fangkong.cases import api as cases_api
    from fangkong.cases import jobs as case_jobs
    from fangkong.cases import pages as cases_pages
    from fangkong.cases import web as case_web
    from fangkong.community import api as community_api
    from fangkong.community import pages as community_pages
    from fangkong.community import public as community_public
    from fangkong.custody import api as custody_api
    from fangkong.custody import jobs as custody_jobs
    from fangkong.custody import pages as custody_pages
    from fangkong.devices import api as devices_api
    from fangkong.devices import pages as devices_pages
    from fangkong.dispatch import api as dispatch_api
    from fangkong.dispatch import fastpath as dispatch_fastpath
    from fangkong.dispatch import pages as dispatch_pages
    from fangkong.events import api as events_api
    from fangkong.events import pages as events_pages
    from fangkong.facilities import api as facilities_api
    from fangkong.facilities import pages as facilities_pages
    from fangkong.indicators import api as indicators_api
    from fangkong.indicators import jobs as indicator_jobs
    from fangkong.indicators import pages as indicators_pages
    from fangkong.materials import api as materials_api
    from fangkong.materials import pages as materials_pages
    from fangkong.network import api as network_api
    from fangkong.planning import analysis_api as planning_analysis_api
    from fangkong.planning import analysis_pages as planning_analysis_pages
    from fangkong.planning import api as planning_api
    from fangkong.planning import pages as planning_pages
    from fangkong.province import pages as province_pages
    from fangkong.web import account_pages, accounts
    from fangkong.web import api as core_api
    from fangkong.web import pages as core_pages

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What the server holds for its life (modules, routes, mappers, caches) is built by
        # now: put it out of the collector's way. A full collection scanned it all, about
        # 100 ms here, and stalled every request in flight while it ran.
        set_aside_from_collector()
        # And what its first requests build and keep, a few times early in its life.
        set_aside = CollectorSetAside().start()
        dispatch_fastpath.start_intake(app)
        try:
            async with jobs(app):
                yield
        finally:
            set_aside.stop()
            # Intakes still queued are written before the server stops.
            committer = getattr(app.state, "intake_committer", None)
            if committer is not None:
                committer.close()

    @asynccontextmanager
    async def jobs(app: FastAPI) -> AsyncIterator[None]:
        with leadership(app.state.settings.data_dir / JOBS_LOCK) as leader:
            if not leader:  # another worker of this data folder runs the jobs
                yield
                return
            # Case deadlines are checked inside the server (and by `fangkong cases tick`).
            ticker = case_jobs.start_ticker(
                app.state.session_factory, calendar=case_web.calendar_of(app)
            )
            # Personal data is deleted on schedule inside the server too (SCOPE): every
            # domain's purge of the register (callers' contacts, case data, staff phones).
            purge = Ticker(
                lambda: personal_data.run_purges(
                    app.state.session_factory, settings=app.state.settings, cipher=app.state.cipher
                ),
                personal_data.PURGE_INTERVAL_S,
                name="personal-data-purge",
            ).start()
            # The audit log past its retention (at least six months), daily, chain kept.
            audit_purge = Ticker(
                lambda: audit.purge_past_retention(
                    app.state.session_factory,
                    retention_days=app.state.settings.audit_retention_days,
                ),
                audit.PURGE_INTERVAL_S,
                name="audit-purge",
            ).start()
            # The coming months' partitions of the large tables (PostgreSQL), at start and
            # daily: a month's partitions exist weeks before its first row.
            month_partitions = Ticker(
                lambda: partitions.run_months(app.state.session_factory),
                partitions.INTERVAL_S,
                name="month-partitions",
            ).start()
            # Items of custody past their stage's deadline: alerts on the supervision board.
            custody_alerts = custody_jobs.start_ticker(
                app.state.session_factory, calendar=case_web.calendar_of(app)
            )
            # Tasks of the indicator ledger past their deadline: supervised (board).
            indicator_tasks = indicator_jobs.start_ticker(
                app.state.session_factory,
                zone=app.state.settings.zone,
                calendar=case_web.calendar_of(app),
            )
            try:
                yield
            finally:
                indicator_tasks.stop()
                custody_alerts.stop()
                month_partitions.stop()
                audit_purge.stop()
                purge.stop()
                ticker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="fangkong",
        version=__version__,
        description="REST API of the fangkong public-safety prevention system. "
        "Authenticate with `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        # Every operation's refusals, in the one shape all errors take.
        responses=errors.ERROR_RESPONSES,
        # Nothing is exported (no collector, no internet): without this FastAPI asks
        # OpenTelemetry on every request whether anyone listens.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    secret = settings.ensure_secret_key()
    engine = engine or make_engine(settings.resolved_database_url)
    audit.keep_head(engine, audit.head_file_of(settings.data_dir))
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.cipher = FieldCipher(secret)
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["version"] = __version__
    app.state.templates = templates
    app.state.navigation = NAVIGATION

    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="fangkong_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    # Added last, so outside the session middleware: it takes API intakes before it.
    app.add_middleware(dispatch_fastpath.IntakeFastPath, path=f"{API_PREFIX}/incidents")
    # Outside the fast path too: no route reads a body past its limit.
    app.add_middleware(BodyLimit, default_bytes=settings.max_body_bytes, routes=body_limits())
    # Outermost: a request past the process's work in flight is refused before anything else.
    app.add_middleware(
        InFlightLimit,
        max_in_flight=settings.max_requests_in_flight,
        retry_after_s=settings.retry_after_s,
        exempt=(f"{API_PREFIX}/dispatch/stream", "/static/", "/healthz"),
    )
    # Outside all: every answer, refusals included, carries the security headers (the CSP).
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Intake first: routes are matched in order, and it is the busiest.
    app.include_router(dispatch_api.intake_router, prefix=API_PREFIX)
    app.include_router(core_api.router, prefix=API_PREFIX)
    app.include_router(accounts.router, prefix=API_PREFIX)
    app.include_router(areas_api.router, prefix=API_PREFIX)
    app.include_router(network_api.router, prefix=API_PREFIX)
    app.include_router(cases_api.router, prefix=API_PREFIX)
    app.include_router(dispatch_api.router, prefix=API_PREFIX)
    app.include_router(planning_api.router, prefix=API_PREFIX)
    app.include_router(planning_analysis_api.router, prefix=API_PREFIX)
    app.include_router(facilities_api.router, prefix=API_PREFIX)
    app.include_router(devices_api.router, prefix=API_PREFIX)
    app.include_router(materials_api.router, prefix=API_PREFIX)
    app.include_router(indicators_api.router, prefix=API_PREFIX)
    app.include_router(events_api.router, prefix=API_PREFIX)
    app.include_router(community_api.router, prefix=API_PREFIX)
    app.include_router(community_public.api_router, prefix=API_PREFIX)
    app.include_router(custody_api.router, prefix=API_PREFIX)
    app.include_router(core_pages.router)
    app.include_router(account_pages.router)
    app.include_router(areas_pages.router)
    app.include_router(cases_pages.router)
    app.include_router(dispatch_pages.router)
    app.include_router(planning_pages.router)
    app.include_router(planning_analysis_pages.router)
    app.include_router(province_pages.router)
    app.include_router(facilities_pages.router)
    app.include_router(devices_pages.router)
    app.include_router(materials_pages.router)
    app.include_router(indicators_pages.router)
    app.include_router(events_pages.router)
    app.include_router(community_pages.router)
    app.include_router(community_public.pages_router)
    app.include_router(custody_pages.router)

    @app.exception_handler(FangkongError)
    async def domain_error(request: Request, exc: FangkongError) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return errors.domain_error(exc, language=console_language(request))
        if isinstance(exc, Unauthorized):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            if "HX-Request" in request.headers:
                # A fragment asked by htmx (a board's refresh): the whole page goes to the login,
                # not the login page into the fragment.
                page = urlparse(request.headers.get("HX-Current-URL", "/")).path or "/"
                return Response(status_code=401, headers={"HX-Redirect": f"/login?next={page}"})
            return RedirectResponse(f"/login?next={target}", status_code=303)
        if isinstance(exc, PasswordChangeRequired):
            # Every console page leads to the change of password until it is done.
            if "HX-Request" in request.headers:
                return Response(status_code=403, headers={"HX-Redirect": PASSWORD_CHANGE_PAGE})
            return RedirectResponse(PASSWORD_CHANGE_PAGE, status_code=303)
        return error_page(request, exc)

    def error_page(request: Request, error: FangkongError) -> Response:
        language = language_of(request)
        # The request's session was rolled back and closed with the error; read the user
        # again in a short session of its own so that the page can show who is logged in.
        user_id = getattr(request.state, "user_id", None)
        if user_id is None and "session" in request.scope:
            user_id = request.session.get("user_id")
        with request.app.state.session_factory() as session:
            user = session.get(User, user_id) if isinstance(user_id, int) else None
            if user is not None and not user.is_active:
                user = None
            return render(
                request,
                "error.html",
                language=language,
                user=user,
                status_code=error.status_code,
                error=error,
            )

    @app.exception_handler(StarletteHTTPException)
    async def routing_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The router's own answers (no such path, a method the path does not take) in the
        # shapes of the domain errors: a page for a browser, the API's JSON for a program.
        # A page says it as a sentence of its own ("No page at this address.").
        error: FangkongError
        wants_page = "text/html" in request.headers.get("accept", "")
        as_page = wants_page and not request.url.path.startswith(API_PREFIX)
        if exc.status_code == 404:
            error = (
                NotFound(key="error.not_found_page")
                if as_page
                else NotFound(key="error.page_not_found")
            )
        elif exc.status_code == 405:
            error = (
                MethodNotAllowed(key="error.method_not_allowed_page")
                if as_page
                else MethodNotAllowed(key="error.method_not_allowed")
            )
        else:
            error = FangkongError(key="error.http_status", params={"detail": str(exc.detail)})
            error.status_code = exc.status_code
        answer = (
            error_page(request, error)
            if as_page
            else errors.domain_error(error, language=console_language(request))
        )
        # The router's headers too: a 405 names the methods the path takes (Allow), those
        # of every route of the path (the router names only the first route's).
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:
            answer.headers["Allow"] = ", ".join(allowed_methods(request))
        return answer

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return errors.invalid_request(exc, language=console_language(request))

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        # Swagger UI from the vendored copy (FastAPI's default page loads it from a CDN and
        # starts it with an inline script), under a bar that leads back to the console.
        return render(
            request,
            "docs.html",
            language=language_of(request),
            openapi_url=f"{API_PREFIX}/openapi.json",
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def app_from_environment() -> FastAPI:
    """The app of the settings in the environment: what each ``fangkong serve --workers``
    process builds (uvicorn's factory)."""
    from fangkong.core.config import load_settings

    return create_app(load_settings())
