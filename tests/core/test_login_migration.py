"""Revision 0005 over rows the version before wrote: tokens made without an expiry get one
(30 days from the upgrade), users get session version 0 and no second factor; and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, text

from conftest import fresh_database
from fangkong.core.migrate import downgrade, upgrade


def _utc(value: object) -> datetime:
    """A stored time as an aware UTC datetime (SQLite answers text without a zone)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def test_tokens_without_expiry_get_thirty_days(backend: str, tmp_path: Path) -> None:
    engine = fresh_database(backend, tmp_path, suffix="_login0005")
    downgrade(engine, "0004")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (username, display_name, password_hash, role, "
                "is_active, created_at, updated_at) VALUES ('old', 'Old', 'x', 'viewer', "
                ":t, :now, :now)"
            ),
            {"t": True, "now": now},
        )
        user_id = conn.execute(text("SELECT id FROM user_account")).scalar_one()
        for name, expires in (("forever", None), ("dated", now + timedelta(hours=2))):
            conn.execute(
                text(
                    "INSERT INTO api_token (user_id, name, token_hash, created_at, expires_at, "
                    "revoked) VALUES (:u, :n, :h, :now, :e, :f)"
                ),
                {"u": user_id, "n": name, "h": name * 4, "now": now, "e": expires, "f": False},
            )
    upgrade(engine, "0005")
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, expires_at FROM api_token")).all())
        user = conn.execute(
            text("SELECT session_version, totp_secret_encrypted FROM user_account")
        ).one()
    as_utc = {name: _utc(value) for name, value in rows.items()}
    assert abs(as_utc["forever"] - (now + timedelta(days=30))) < timedelta(minutes=5)
    assert abs(as_utc["dated"] - (now + timedelta(hours=2))) < timedelta(seconds=1)
    assert tuple(user) == (0, None)
    assert not next(
        c for c in inspect(engine).get_columns("api_token") if c["name"] == "expires_at"
    )["nullable"]
    downgrade(engine, "0004")
    assert "login_throttle" not in inspect(engine).get_table_names()
    upgrade(engine)
    engine.dispose()
