"""``fangkong users ...``: accounts from the command line (the server's host), each change
audited under ``cli:<the operating-system user>``."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from fangkong.core import auth, login
from fangkong.core.audit import Actor
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.config import Settings
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError, NotFound
from fangkong.core.models import Role, User

users_app = typer.Typer(
    help="Users: create, list, unlock, deactivate, passwords, roles, second factor, tokens.",
    no_args_is_help=True,
)

NewPassword = Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)]


def _actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(user_id=None, username=f"cli:{who}"[:64], client="local")


def _user(session: Session, username: str) -> User:
    user = auth.get_by_username(session, username=username)
    if user is None:
        raise NotFound(
            key="error.user.no_such_name", params={"username": username}, field="username"
        )
    return user


def _settings(data_dir: DataDir) -> Settings:
    settings = settings_for(data_dir)
    upgrade(settings)
    return settings


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option()],
    area: Annotated[list[str], typer.Option(help="Area code the user is bound to (repeat)")],
    display_name: Annotated[str | None, typer.Option()] = None,
    password: NewPassword = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user bound to one or more areas (the password policy applies); they change
    the password at their first login."""
    settings = _settings(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            auth.create(
                session,
                username=username,
                display_name=display_name or username,
                password=password,
                role=role,
                area_codes=area,
                actor=_actor(),
                min_length=settings.password_min_length,
                must_change_password=True,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"created {username} ({role.value}); they change the password at login")


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """Every user with their role and state (active, deactivated, locked; second factor)."""
    settings = _settings(data_dir)
    policy = login.LoginPolicy.of(settings)
    with session_scope(session_factory(settings)) as session:
        users = auth.get_all(session)
        locked = login.locked_usernames(session, [u.username for u in users], policy=policy)
        table = Table("id", "username", "name", "role", "state", "second factor")
        for u in users:
            state = "deactivated" if not u.is_active else "locked" if u.username in locked else ""
            table.add_row(
                str(u.id),
                u.username,
                u.display_name,
                u.role.value,
                state or "active",
                "yes" if u.totp_secret_encrypted else "no",
            )
    console.print(table)


@users_app.command("unlock")
def users_unlock(username: str, data_dir: DataDir = None) -> None:
    """Lift the lock of a user locked after failed logins."""
    try:
        with session_scope(session_factory(_settings(data_dir))) as session:
            login.unlock(session, username=_user(session, username).username, actor=_actor())
    except FangkongError as exc:
        fail(exc)
    console.print(f"unlocked {username}")


def _set_active(username: str, active: bool, data_dir: DataDir) -> None:
    try:
        with session_scope(session_factory(_settings(data_dir))) as session:
            auth.set_active(session, user=_user(session, username), active=active, actor=_actor())
    except FangkongError as exc:
        fail(exc)
    console.print(f"{'activated' if active else 'deactivated'} {username}")


@users_app.command("deactivate")
def users_deactivate(username: str, data_dir: DataDir = None) -> None:
    """Deactivate a user: their sessions end and their tokens are revoked."""
    _set_active(username, False, data_dir)


@users_app.command("activate")
def users_activate(username: str, data_dir: DataDir = None) -> None:
    """Let a deactivated user log in again."""
    _set_active(username, True, data_dir)


@users_app.command("set-password")
def users_set_password(username: str, password: NewPassword = "", data_dir: DataDir = None) -> None:
    """Give a user a new password (the policy applies); their sessions end, and they change
    it at their next login."""
    settings = _settings(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            auth.set_password(
                session,
                user=_user(session, username),
                password=password,
                actor=_actor(),
                min_length=settings.password_min_length,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(
        f"new password for {username}; their sessions have ended and they change it at login"
    )


@users_app.command("set-role")
def users_set_role(
    username: str, role: Annotated[Role, typer.Option()], data_dir: DataDir = None
) -> None:
    """Give a user another role; their sessions end."""
    try:
        with session_scope(session_factory(_settings(data_dir))) as session:
            auth.set_role(session, user=_user(session, username), role=role, actor=_actor())
    except FangkongError as exc:
        fail(exc)
    console.print(f"{username} is now {role.value}")


@users_app.command("reset-totp")
def users_reset_totp(username: str, data_dir: DataDir = None) -> None:
    """Forget a user's second factor (a lost phone): they enrol again at their next login."""
    try:
        with session_scope(session_factory(_settings(data_dir))) as session:
            login.reset_second_factor(session, user=_user(session, username), actor=_actor())
    except FangkongError as exc:
        fail(exc)
    console.print(f"second factor of {username} reset: they enrol again at their next login")


@users_app.command("tokens")
def users_tokens(username: str, data_dir: DataDir = None) -> None:
    """A user's API tokens (never the tokens themselves)."""
    settings = _settings(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            tokens = auth.get_tokens(session, user_id=_user(session, username).id)
            now = utcnow()
            table = Table("id", "name", "created", "expires", "state")
            for t in tokens:
                state = "revoked" if t.revoked else "expired" if t.expires_at <= now else "live"
                table.add_row(
                    str(t.id),
                    t.name,
                    t.created_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
                    t.expires_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
                    state,
                )
    except FangkongError as exc:
        fail(exc)
    console.print(table)


@users_app.command("revoke-token")
def users_revoke_token(token_id: int, data_dir: DataDir = None) -> None:
    """Revoke an API token by its id (see ``fangkong users tokens``)."""
    try:
        with session_scope(session_factory(_settings(data_dir))) as session:
            token = auth.get_token(session, token_id=token_id)
            if token is None:
                raise NotFound(
                    key="error.token.not_found", params={"token_id": token_id}, field="token_id"
                )
            auth.revoke_token(session, token=token, actor=_actor())
    except FangkongError as exc:
        fail(exc)
    console.print(f"revoked token {token_id}")
