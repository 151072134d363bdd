"""Console pages of accounts: the login's steps (password, one-time code, enrolment of a
second factor), logout, one's own account (password, tokens, second factor) and the
administration of the users of one's areas (deactivate, unlock, reset the second factor,
revoke tokens)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import auth, login, permissions, totp
from fangkong.core.audit import Actor
from fangkong.core.bounds import Id, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput, NotFound, Throttled, Unauthorized
from fangkong.core.i18n import translate
from fangkong.core.models import Role, User
from fangkong.core.scoping import Scope
from fangkong.http import deps, forms
from fangkong.http.deps import (
    PASSWORD_CHANGE_PAGE,
    SESSION_PENDING,
    SESSION_VERSION,
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    begin_session,
    client_address,
    get_cipher,
    get_settings,
    login_policy,
    require_csrf,
    requires,
)
from fangkong.http.templating import render
from fangkong.web.accounts import in_scope, managed_user
from fangkong.web.pages import _safe_next
from fangkong.web.schemas import PasswordResetIn, UserIn

router = APIRouter(include_in_schema=False)
#: How long a login may wait between its password and its second factor.
PENDING_S = 300
CsrfField = Annotated[Text, Form()]


def _refused(request: Request, template: str, error: FangkongError, **context: Any) -> Response:
    """A login step's page again, with ``error`` in the reader's language; 429 says when to
    come back."""
    language = context.pop("language")
    page = render(
        request,
        template,
        language=language,
        error=error.text(language),
        status_code=error.status_code,
        **context,
    )
    if isinstance(error, Throttled) and error.retry_after_s is not None:
        page.headers["Retry-After"] = str(error.retry_after_s)
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, language: Language, next: Text | None = None) -> Response:
    return render(request, "login.html", language=language, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: DbSession,
    language: Language,
    username: Annotated[Text, Form()],
    password: Annotated[Text, Form()],
    csrf_token: CsrfField = "",
    next: Annotated[Text, Form()] = "/",
) -> Response:
    """The password; then the session, or the second factor's step."""
    require_csrf(request, csrf_token or None)
    target = _safe_next(next)
    try:
        outcome = login.check_password(
            db,
            username=username,
            password=password,
            client=client_address(request),
            policy=login_policy(request),
        )
    except (Unauthorized, Throttled) as exc:
        # Returned, not raised: the request's transaction keeps the audit row and the count.
        return _refused(request, "login.html", exc, language=language, next=target)
    if outcome.step is login.Step.DONE:
        begin_session(request, outcome.user)
        return RedirectResponse(_after_login(outcome.user, target), status_code=303)
    csrf = request.session.get("csrf_token")
    request.session.clear()
    if csrf:
        request.session["csrf_token"] = csrf
    request.session[SESSION_PENDING] = {
        "user_id": outcome.user.id,
        "version": outcome.user.session_version,
        "at": int(deps.clock()),
        "next": target,
    }
    step = "/login/code" if outcome.step is login.Step.SECOND_FACTOR else "/login/enrol"
    return RedirectResponse(step, status_code=303)


def _after_login(user: User, target: str) -> str:
    """Where a login goes: its target, or first the change of a password an administrator
    gave."""
    return PASSWORD_CHANGE_PAGE if user.must_change_password else target


def _pending(request: Request, db: Session) -> tuple[User, str] | None:
    """The user whose login waits for its second step, and where it goes next; None when
    none waits (or it waited too long, or the user changed meanwhile)."""
    pending = request.session.get(SESSION_PENDING)
    if not isinstance(pending, dict) or deps.clock() - pending.get("at", 0) > PENDING_S:
        request.session.pop(SESSION_PENDING, None)
        return None
    user = auth.get(db, user_id=pending.get("user_id", -1))
    if user is None or not user.is_active or user.session_version != pending.get("version"):
        request.session.pop(SESSION_PENDING, None)
        return None
    return user, _safe_next(pending.get("next"))


def _to_login() -> Response:
    return RedirectResponse("/login", status_code=303)


@router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request, db: DbSession, language: Language) -> Response:
    if _pending(request, db) is None:
        return _to_login()
    return render(request, "login_code.html", language=language, error=None)


@router.post("/login/code", response_class=HTMLResponse)
def code_submit(
    request: Request,
    db: DbSession,
    language: Language,
    code: Annotated[Text, Form(max_length=16)],
    csrf_token: CsrfField = "",
) -> Response:
    """The one-time code: the session begins."""
    require_csrf(request, csrf_token or None)
    pending = _pending(request, db)
    if pending is None:
        return _to_login()
    user, target = pending
    try:
        login.check_second_factor(
            db,
            user=user,
            code=code,
            client=client_address(request),
            policy=login_policy(request),
            cipher=get_cipher(request),
        )
    except (Unauthorized, Throttled) as exc:
        return _refused(request, "login_code.html", exc, language=language)
    begin_session(request, user)
    return RedirectResponse(_after_login(user, target), status_code=303)


def _enrolment_page(
    request: Request,
    db: Session,
    *,
    user: User,
    language: str,
    action: Text,
    error: FangkongError | None = None,
    **context: Any,
) -> Response:
    """The enrolment's page: a new secret, or (after a wrong code) the same one again."""
    cipher = get_cipher(request)
    if error is None or user.totp_pending_encrypted is None:
        enrolment = login.begin_enrolment(db, user=user, cipher=cipher)
        secret, uri = enrolment.secret, enrolment.uri
    else:
        secret = cipher.decrypt(user.totp_pending_encrypted)
        uri = totp.provisioning_uri(secret, account=user.username, issuer=login.ISSUER)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "totp_enrol.html",
        language=language,
        secret=secret,
        grouped=grouped,
        uri=uri,
        action=action,
        error=None if error is None else error.text(language),
        status_code=200 if error is None else error.status_code,
        **context,
    )


@router.get("/login/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, db: DbSession, language: Language) -> Response:
    pending = _pending(request, db)
    if pending is None:
        return _to_login()
    return _enrolment_page(request, db, user=pending[0], language=language, action="/login/enrol")


@router.post("/login/enrol", response_class=HTMLResponse)
def enrol_submit(
    request: Request,
    db: DbSession,
    language: Language,
    code: Annotated[Text, Form(max_length=16)],
    csrf_token: CsrfField = "",
) -> Response:
    """A code of the new secret: the second factor is enrolled and the session begins."""
    require_csrf(request, csrf_token or None)
    pending = _pending(request, db)
    if pending is None:
        return _to_login()
    user, target = pending
    actor = Actor(user_id=user.id, username=user.username, client=client_address(request))
    try:
        login.confirm_enrolment(db, user=user, code=code, cipher=get_cipher(request), actor=actor)
    except InvalidInput as exc:
        return _enrolment_page(
            request, db, user=user, language=language, action="/login/enrol", error=exc
        )
    login.complete(db, user=user, client=client_address(request))
    begin_session(request, user)
    return RedirectResponse(_after_login(user, target), status_code=303)


@router.post("/logout")
def logout(request: Request, db: DbSession, user: CurrentUser) -> Response:
    """Log out: every session of the user ends (this browser's and any other)."""
    auth.end_sessions(db, user=user)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- One's own account --------------------------------------------------------------------


def _account_page(
    request: Request,
    db: Session,
    user: User,
    language: str,
    *,
    notice: str | None = None,
    error: FangkongError | None = None,
) -> Response:
    return render(
        request,
        "account.html",
        language=language,
        user=user,
        tokens=auth.get_tokens(db, user_id=user.id),
        second_factor=user.totp_secret_encrypted is not None,
        required=login.needs_second_factor(user, login_policy(request)),
        notice=notice,
        now=utcnow(),
        min_length=get_settings(request).password_min_length,
        max_token_hours=get_settings(request).token_max_ttl_hours,
        error=None if error is None else error.text(language),
        status_code=200 if error is None else error.status_code,
    )


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, db: DbSession, user: CurrentUser, language: Language) -> Response:
    return _account_page(request, db, user, language)


def _password_change_page(
    request: Request, user: User, language: str, *, error: FangkongError | None = None
) -> Response:
    """The page a user who must change their password reaches (nothing else until done)."""
    return render(
        request,
        "password_change.html",
        language=language,
        user=user,
        min_length=get_settings(request).password_min_length,
        error=None if error is None else error.text(language),
        status_code=200 if error is None else error.status_code,
    )


@router.get(PASSWORD_CHANGE_PAGE, response_class=HTMLResponse)
def account_password_form(request: Request, user: CurrentUser, language: Language) -> Response:
    """The change of password alone: the first page of a user whose password an administrator
    gave; for anyone else, the account page has it."""
    if not user.must_change_password:
        return RedirectResponse("/account", status_code=303)
    return _password_change_page(request, user, language)


@router.post(PASSWORD_CHANGE_PAGE, response_class=HTMLResponse)
def account_password(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    actor: RequestActor,
    language: Language,
    current_password: Annotated[Text, Form(max_length=256)],
    new_password: Annotated[Text, Form(max_length=256)],
) -> Response:
    """A new password: the user's other sessions end, this one goes on. A user who had to
    change it may now reach every page (the first of the console next)."""
    required = user.must_change_password
    try:
        auth.change_password(
            db,
            user=user,
            current=current_password,
            new=new_password,
            actor=actor,
            min_length=get_settings(request).password_min_length,
        )
    except (InvalidInput, Unauthorized) as exc:
        if required:
            return _password_change_page(request, user, language, error=exc)
        return _account_page(request, db, user, language, error=exc)
    request.session[SESSION_VERSION] = user.session_version
    if required:
        return RedirectResponse("/", status_code=303)
    return _account_page(request, db, user, language, notice="account.password_changed")


@router.post("/account/tokens/{token_id:int}/revoke")
def account_revoke(token_id: Id, db: DbSession, user: CurrentUser, actor: RequestActor) -> Response:
    token = auth.get_token(db, token_id=token_id)
    if token is not None and token.user_id == user.id:
        auth.revoke_token(db, token=token, actor=actor)
    return RedirectResponse("/account", status_code=303)


@router.get("/account/totp", response_class=HTMLResponse)
def account_totp_form(
    request: Request, db: DbSession, user: CurrentUser, language: Language
) -> Response:
    return _enrolment_page(request, db, user=user, language=language, action="/account/totp")


@router.post("/account/totp", response_class=HTMLResponse)
def account_totp_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    actor: RequestActor,
    language: Language,
    code: Annotated[Text, Form(max_length=16)],
) -> Response:
    try:
        login.confirm_enrolment(db, user=user, code=code, cipher=get_cipher(request), actor=actor)
    except InvalidInput as exc:
        return _enrolment_page(
            request, db, user=user, language=language, action="/account/totp", error=exc
        )
    return _account_page(request, db, user, language, notice="account.totp_enrolled")


# --- The users of one's areas -------------------------------------------------------------

_MANAGE = [requires(permissions.MANAGE_USERS)]


@router.get("/users", response_class=HTMLResponse, dependencies=_MANAGE)
def users_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    users = [u for u in auth.get_all(db) if in_scope(db, u, scope)]
    locked = login.locked_usernames(db, [u.username for u in users], policy=login_policy(request))
    return render(request, "users.html", language=language, user=user, users=users, locked=locked)


@router.get("/users/{user_id:int}", response_class=HTMLResponse, dependencies=_MANAGE)
def user_page(
    user_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    target = managed_user(db, user_id, scope)
    return _user_page(request, db, user, target, language)


def _user_page(
    request: Request,
    db: Session,
    user: User,
    target: User,
    language: str,
    *,
    password_error: str | None = None,
) -> Response:
    locked = login.locked_usernames(db, [target.username], policy=login_policy(request))
    return render(
        request,
        "user.html",
        language=language,
        user=user,
        target=target,
        locked=bool(locked),
        tokens=auth.get_tokens(db, user_id=target.id),
        now=utcnow(),
        roles=list(Role),
        password_error=password_error,
        status_code=422 if password_error else 200,
    )


# --- A new user -------------------------------------------------------------------------------

#: The fields of the new user's form, in the order of the schema the API checks.
NEW_USER_FIELDS = ("username", "display_name", "password", "role", "area_codes")
#: At most this many areas are offered, and read from a submitted form.
MAX_AREAS = 500
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]


async def _picked_areas(request: Request) -> list[str]:
    """The area codes ticked on the form (a repeated field, which :func:`forms.form_values`
    reads once)."""
    form = await request.form()
    picked = [v.strip()[:64] for v in form.getlist("area_codes") if isinstance(v, str)]
    return [code for code in dict.fromkeys(picked) if code][:MAX_AREAS]


PickedAreas = Annotated[list[str], Depends(_picked_areas)]


def _own_areas(db: Session, scope: Scope) -> list[Area]:
    """The areas an administrator may bind a new user to: those in their own scope."""
    return list(
        db.scalars(select(Area).where(scope.clause(Area.path)).order_by(Area.code).limit(MAX_AREAS))
    )


def _new_user_form(
    request: Request,
    db: Session,
    user: User,
    scope: Scope,
    language: str,
    *,
    values: dict[str, str],
    picked: list[str],
    errors: forms.FormErrors | None = None,
) -> Response:
    shown = {k: v for k, v in values.items() if k != "password"}  # never sent back
    return render(
        request,
        "user_new.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        values=shown,
        picked=set(picked),
        errors=errors or forms.FormErrors(),
        roles=[(r.value, translate(f"role.{r.value}", language)) for r in Role],
        areas=_own_areas(db, scope),
    )


@router.get("/users/new", response_class=HTMLResponse, dependencies=_MANAGE)
def new_user_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """Create a user of one's areas: name, role, areas (one's own) and a first password."""
    return _new_user_form(request, db, user, scope, language, values={}, picked=[])


@router.post("/users/new", response_class=HTMLResponse, dependencies=_MANAGE)
def create_user_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
    picked: PickedAreas,
) -> Response:
    """Check the form by the API's schema; every area must lie in one's scope (a code outside
    it reads as unknown, as in the API); create the user (audited as the API's create, the
    password neither logged nor audited) and show their page. A refusal is shown beside its
    field."""
    data: dict[str, Any] = forms.text(values, "username", "display_name", "role")
    if values.get("password"):
        data["password"] = values["password"]  # as typed: spaces count
    data["area_codes"] = picked
    errors = forms.FormErrors()
    if not picked:
        errors.add("area_codes", translate("error.form.required", language))
    checked, errors = forms.validate(UserIn, data, language=language, errors=errors)
    if checked is not None:
        rows = db.execute(select(Area.code, Area.path).where(Area.code.in_(checked.area_codes)))
        paths: dict[str, str] = {code: path for code, path in rows}
        outside = [code for code in checked.area_codes if not scope.covers(paths.get(code))]
        try:
            if outside:
                raise NotFound(
                    key="error.areas.area_not_found",
                    params={"code": outside[0]},
                    field="area_codes",
                )
            with db.begin_nested():  # a refused create leaves nothing behind in the request
                created = auth.create(
                    db,
                    username=checked.username,
                    display_name=checked.display_name,
                    password=checked.password,
                    role=checked.role,
                    area_codes=checked.area_codes,
                    actor=actor,
                    min_length=get_settings(request).password_min_length,
                    must_change_password=True,
                )
            return RedirectResponse(f"/users/{created.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=NEW_USER_FIELDS)
    return _new_user_form(
        request, db, user, scope, language, values=values, picked=picked, errors=errors
    )


# Before the actions' route, which would take "password" for an action.
@router.post("/users/{user_id:int}/password", response_class=HTMLResponse, dependencies=_MANAGE)
def user_password(
    user_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Give a user of one's areas a temporary password (as typed: spaces count): they must
    change it at their next login; their sessions end. Audited, never the password. A
    password the policy refuses is shown on the user's page."""
    target = managed_user(db, user_id, scope)
    checked, errors = forms.validate(
        PasswordResetIn, {"password": values.get("password", "")}, language=language
    )
    if checked is None:
        fault = errors.fields.get("password") or errors.form or ""
        return _user_page(request, db, user, target, language, password_error=fault)
    try:
        with db.begin_nested():  # a refused reset leaves nothing behind in the request
            auth.reset_password(
                db,
                user=target,
                password=checked.password,
                actor=actor,
                min_length=get_settings(request).password_min_length,
            )
    except FangkongError as exc:
        if exc.status_code != 422:
            raise
        return _user_page(request, db, user, target, language, password_error=exc.text(language))
    return RedirectResponse(f"/users/{user_id}", status_code=303)


# Before the actions' route, which would take "role" for an action.
@router.post("/users/{user_id:int}/role", dependencies=_MANAGE)
def user_role(
    user_id: Id,
    role: Annotated[Role, Form()],
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> Response:
    """Give a user of one's areas another role (their sessions end); audited."""
    target = managed_user(db, user_id, scope)
    auth.set_role(db, user=target, role=role, actor=actor)
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.post("/users/{user_id:int}/{action}", dependencies=_MANAGE)
def user_action(
    user_id: Id, action: Text, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    """deactivate, activate, unlock or reset-totp a user of one's areas."""
    target = managed_user(db, user_id, scope)
    if action == "deactivate":
        auth.set_active(db, user=target, active=False, actor=actor)
    elif action == "activate":
        auth.set_active(db, user=target, active=True, actor=actor)
    elif action == "unlock":
        login.unlock(db, username=target.username, actor=actor)
    elif action == "reset-totp":
        login.reset_second_factor(db, user=target, actor=actor)
    else:
        raise InvalidInput(key="error.user.no_action", params={"action": action}, field="action")
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.post("/users/{user_id:int}/tokens/{token_id:int}/revoke", dependencies=_MANAGE)
def user_token_revoke(
    user_id: Id, token_id: Id, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    target = managed_user(db, user_id, scope)
    token = auth.get_token(db, token_id=token_id)
    if token is not None and token.user_id == target.id:
        auth.revoke_token(db, token=token, actor=actor)
    return RedirectResponse(f"/users/{user_id}", status_code=303)
