"""The public's way in (no login): a page and an API to send a tip about a hazard or a
concern at a place, and to follow it by its receipt code.

Under ``/api/v1/public/tips`` (``GET token``, ``POST``, ``GET {receipt}``) and the pages
``/tip`` and ``/tip/status``. No credential is read or written here: no session, no cookie
but the language's, no CSRF token — there is no one's authority to forge, since every request
acts as the anonymous public. The abuse guard stands in its place (a signed, short-lived,
single-use form token with a proof of work, a rate per client address, size limits:
:mod:`fangkong.community.tips`). Nothing internal is answered: a receipt, a stage, a reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fangkong.cases.web import get_calendar, get_storage
from fangkong.community import tips
from fangkong.community.schemas import (
    FormTokenOut,
    PublicReceiptOut,
    PublicStatusOut,
    PublicTipIn,
)
from fangkong.core.bounds import Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.http.dates import format_moment
from fangkong.http.deps import DbSession, Language, client_address, get_cipher

api_router = APIRouter(prefix="/public/tips", tags=["public"])
pages_router = APIRouter(include_in_schema=False)
Receipt = Annotated[Text, Path(min_length=1, max_length=20)]
#: What a form with its fields (besides the photo) may add to a request's body (bytes).
FORM_BYTES = 64 * 1024
#: The largest request the tip routes take: a photo and the form around it.
MAX_BODY_BYTES = tips.PHOTO_MAX_BYTES + FORM_BYTES


def _limits(request: Request) -> tuple[tips.ClientLimit, tips.ClientLimit, tips.ClientLimit]:
    """This app's limits per client: tips sent, receipts looked up, tokens issued."""
    found = getattr(request.app.state, "tip_limits", None)
    if found is None:
        found = (
            tips.ClientLimit(request.app.state.settings.public_tips_per_window),
            tips.ClientLimit(tips.LOOKUPS_PER_WINDOW),
            tips.ClientLimit(tips.LOOKUPS_PER_WINDOW * 4),
        )
        request.app.state.tip_limits = found
    return found  # type: ignore[no-any-return,unused-ignore]


def _client(request: Request) -> str:
    return client_address(request) or "unknown"


def _message(taken: tips.Taken, language: str) -> str:
    if taken.receipt is not None:
        return translate("community.public.accepted", language)
    return translate(f"community.reject.{taken.tip.reject_reason}", language)


def _read_photo(photo: UploadFile | None) -> tips.Photo | None:
    if photo is None or not photo.filename:
        return None
    data = photo.file.read(tips.PHOTO_MAX_BYTES + 1)
    if not data:
        return None
    return tips.Photo(filename=photo.filename[:200], data=data)


def _take(request: Request, db: Session, data: PublicTipIn, photo: tips.Photo | None) -> tips.Taken:
    tips.limit_or_raise(_limits(request)[0], _client(request))
    return tips.take_tip(
        db,
        data=data,
        photo=photo,
        cipher=get_cipher(request),
        storage=get_storage(request),
        calendar=get_calendar(request),
        now=utcnow(),
        difficulty=_difficulty(request),
    )


def _difficulty(request: Request) -> int:
    return int(getattr(request.app.state, "tip_difficulty", tips.DIFFICULTY_BITS))


def _token(request: Request) -> FormTokenOut:
    tips.limit_or_raise(_limits(request)[2], _client(request))
    return FormTokenOut(
        token=tips.issue_token(get_cipher(request)),
        difficulty=_difficulty(request),
        expires_in_s=tips.TOKEN_MAX_AGE_S,
    )


# --- the API ------------------------------------------------------------------------------------


@api_router.get("/token", response_model=FormTokenOut)
def form_token(request: Request) -> FormTokenOut:
    """A form token for one tip: send it back with a ``nonce`` such that SHA-256 of
    ``token:nonce`` (hex nonce) starts with ``difficulty`` zero bits, between 3 s and 30 min
    after it was issued. No login."""
    return _token(request)


@api_router.post(
    "",
    response_model=PublicReceiptOut,
    status_code=201,
    responses={200: {"model": PublicReceiptOut, "description": "The tip was rejected"}},
)
def send_tip(
    request: Request,
    db: DbSession,
    category: Annotated[Text, Form(max_length=16)],
    text: Annotated[Text, Form(max_length=2000)],
    lon: Annotated[Text, Form(max_length=32)],
    lat: Annotated[Text, Form(max_length=32)],
    token: Annotated[Text, Form(max_length=200)],
    nonce: Annotated[Text, Form(max_length=32)],
    place: Annotated[Text, Form(max_length=200)] = "",
    contact: Annotated[Text, Form(max_length=64)] = "",
    language: Annotated[Text, Form(max_length=8)] = "zh-CN",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send a tip (multipart form; ``photo``: a JPEG or PNG of at most 3 MiB). Taken: 201
    with the receipt code to follow it; rejected: 200 with the reason. No login; at most 5
    tips per client address in 15 minutes."""
    data = _parse(
        category=category,
        text=text,
        lon=lon,
        lat=lat,
        token=token,
        nonce=nonce,
        place=place,
        contact=contact,
        language=language,
    )
    taken = _take(request, db, data, _read_photo(photo))
    lang = data.language if data.language in ("zh-CN", "en") else "zh-CN"
    body = PublicReceiptOut(
        receipt=taken.receipt,
        status=taken.tip.status,
        reason=taken.tip.reject_reason,
        message=_message(taken, lang),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if taken.receipt else 200)


def _parse(**values: Any) -> PublicTipIn:
    try:
        return PublicTipIn.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "form"
        raise InvalidInput(
            key="error.community.tip_field", params={"field": field}, field=field
        ) from None


def _status(request: Request, db: Session, receipt: str, language: str) -> PublicStatusOut:
    tips.limit_or_raise(_limits(request)[1], _client(request))
    tip, stage = tips.follow(db, receipt=receipt, cipher=get_cipher(request))
    zone = request.app.state.settings.zone
    return PublicStatusOut(
        received_on=format_moment(tip.received_at, language=language, zone=zone, style="date"),
        status=tip.status,
        stage=stage,
        stage_label=translate(f"community.public.stage.{stage}", language),
    )


@api_router.get("/{receipt}", response_model=PublicStatusOut)
def follow_tip(
    request: Request, receipt: Receipt, db: DbSession, language: Language
) -> PublicStatusOut:
    """Where a tip stands, by its receipt code: the day it came and its stage (received,
    assessed, handling, resolved, no action, closed). No login."""
    return _status(request, db, receipt, language)


# --- the pages ----------------------------------------------------------------------------------


def _page(
    request: Request, name: str, language: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A public page: the console's frame with no user, no session and no CSRF token (so no
    session cookie is set)."""
    zone = request.app.state.settings.zone

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    def when(moment: Any, style: Any = "datetime") -> str:
        return format_moment(moment, language=language, zone=zone, style=style)

    templates = request.app.state.templates
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        name,
        {
            "t": t,
            "when": when,
            "lang": language,
            "user": None,
            "nav": [],
            "csrf_token": "",
            "zone": zone,
            "session_clock": None,
            **context,
        },
        status_code=status_code,
    )


def _form(
    request: Request,
    language: str,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    form = _token(request)
    return _page(
        request,
        "community/tip.html",
        language,
        status_code=status_code,
        token=form.token,
        difficulty=form.difficulty,
        categories=tips.categories(),
        error=error,
        values=values or {},
        photo_mib=tips.PHOTO_MAX_BYTES // (1024 * 1024),
    )


@pages_router.get("/tip", response_class=HTMLResponse)
def tip_page(request: Request, language: Language) -> Response:
    """群众举报: the public's form (no login), at phone width first."""
    try:
        return _form(request, language)
    except FangkongError as exc:
        return _page(
            request, "community/tip_done.html", language, exc.status_code, error=exc.text(language)
        )


@pages_router.post("/tip", response_class=HTMLResponse)
def tip_send_page(
    request: Request,
    db: DbSession,
    language: Language,
    category: Annotated[Text, Form(max_length=16)] = "",
    text: Annotated[Text, Form(max_length=2000)] = "",
    lon: Annotated[Text, Form(max_length=32)] = "",
    lat: Annotated[Text, Form(max_length=32)] = "",
    token: Annotated[Text, Form(max_length=200)] = "",
    nonce: Annotated[Text, Form(max_length=32)] = "",
    place: Annotated[Text, Form(max_length=200)] = "",
    contact: Annotated[Text, Form(max_length=64)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The form sent: the receipt code, or the reason it was rejected."""
    values = {"category": category, "text": text, "lon": lon, "lat": lat, "place": place}
    try:
        data = _parse(
            category=category,
            text=text,
            lon=lon,
            lat=lat,
            token=token,
            nonce=nonce,
            place=place,
            contact=contact,
            language=language,
        )
        taken = _take(request, db, data, _read_photo(photo))
    except FangkongError as exc:
        try:
            return _form(
                request,
                language,
                error=exc.text(language),
                values=values,
                status_code=exc.status_code,
            )
        except FangkongError as again:
            return _page(
                request,
                "community/tip_done.html",
                language,
                again.status_code,
                error=again.text(language),
            )
    return _page(
        request,
        "community/tip_done.html",
        language,
        201 if taken.receipt else 200,
        receipt=taken.receipt,
        message=_message(taken, language),
        rejected=taken.receipt is None,
    )


@pages_router.get("/tip/status", response_class=HTMLResponse)
def tip_status_page(
    request: Request,
    db: DbSession,
    language: Language,
) -> Response:
    """Follow a tip by its receipt code."""
    code = request.query_params.get("receipt", "")[:20]
    if not code:
        return _page(
            request, "community/tip_status.html", language, found=None, error=None, receipt=""
        )
    try:
        found = _status(request, db, code, language)
    except FangkongError as exc:
        return _page(
            request,
            "community/tip_status.html",
            language,
            exc.status_code,
            found=None,
            error=exc.text(language),
            receipt=code,
        )
    return _page(
        request, "community/tip_status.html", language, found=found, error=None, receipt=code
    )
