"""Settings: defaults, the environment, the TOML settings file, validation, the secret key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from fangkong.core.config import DEFAULT_DATA_DIR, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No FANGKONG_* variable from the caller's shell, and a working folder of our own."""
    for name in list(os.environ):
        if name.startswith("FANGKONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.value.errors()]


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == DEFAULT_DATA_DIR
    assert settings.database_url is None
    expected = f"sqlite:///{(DEFAULT_DATA_DIR / 'fangkong.db').resolve()}"
    assert settings.resolved_database_url == expected
    assert settings.timezone == "Asia/Shanghai"
    assert settings.zone.key == "Asia/Shanghai"
    assert settings.default_language == "zh-CN"
    assert settings.environment == "development"
    assert settings.secret_key is None


def test_sqlite_url_follows_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "elsewhere")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'fangkong.db'}"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANGKONG_DATABASE_URL", "postgresql+psycopg://u:p@db/fk")
    monkeypatch.setenv("FANGKONG_DEFAULT_LANGUAGE", "en")
    monkeypatch.setenv("FANGKONG_TIMEZONE", "Europe/Vaduz")
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/fk"
    assert settings.default_language == "en"
    assert settings.zone.key == "Europe/Vaduz"


def test_keyword_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANGKONG_DEFAULT_LANGUAGE", "en")
    assert load_settings(default_language="zh-CN").default_language == "zh-CN"


def test_settings_file_is_read_and_the_environment_beats_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'default_language = "en"\ntimezone = "Europe/Vaduz"\nport = 8123\n', encoding="utf-8"
    )
    monkeypatch.setenv("FANGKONG_SETTINGS_FILE", str(path))
    settings = load_settings()
    assert (settings.default_language, settings.timezone, settings.port) == (
        "en",
        "Europe/Vaduz",
        8123,
    )
    monkeypatch.setenv("FANGKONG_DEFAULT_LANGUAGE", "zh-CN")
    monkeypatch.setenv("FANGKONG_PORT", "9000")
    settings = load_settings()
    assert (settings.default_language, settings.timezone, settings.port) == (
        "zh-CN",
        "Europe/Vaduz",
        9000,
    )


def test_settings_file_in_the_data_dir_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "fangkong.toml").write_text('host = "0.0.0.0"\n', encoding="utf-8")
    monkeypatch.setenv("FANGKONG_DATA_DIR", str(data))
    settings = load_settings()
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == data


def test_unknown_key_in_settings_file_is_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text('databse_url = "sqlite://"\n', encoding="utf-8")
    monkeypatch.setenv("FANGKONG_SETTINGS_FILE", str(path))
    with pytest.raises(ValidationError) as exc:
        load_settings()
    assert [loc for loc, _ in _field_errors(exc)] == ["databse_url"]


def test_bad_timezone_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        load_settings(timezone="Mars/Olympus_Mons")
    errors = _field_errors(exc)
    assert [loc for loc, _ in errors] == ["timezone"]
    assert "'Mars/Olympus_Mons' is not an IANA time zone name" in errors[0][1]


def test_bad_timezone_from_the_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANGKONG_TIMEZONE", "../../etc/passwd")
    with pytest.raises(ValidationError) as exc:
        load_settings()
    assert [loc for loc, _ in _field_errors(exc)] == ["timezone"]


def test_bad_language_is_rejected_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANGKONG_DEFAULT_LANGUAGE", "fr")
    with pytest.raises(ValidationError) as exc:
        load_settings()
    errors = _field_errors(exc)
    assert [loc for loc, _ in errors] == ["default_language"]
    assert "'zh-CN'" in errors[0][1] and "'en'" in errors[0][1]


@pytest.mark.parametrize("secret", [None, "", "short", "changeme", "x" * 31])
def test_production_refuses_a_missing_or_short_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(environment="production", secret_key=secret)
    assert "secret_key" in str(exc.value)
    assert "at least 32 characters" in str(exc.value)


def test_production_accepts_a_long_secret() -> None:
    settings = Settings(environment="production", secret_key="k" * 32)
    assert settings.ensure_secret_key() == "k" * 32


@pytest.mark.parametrize("environment", ["development", "demo", "test"])
def test_other_environments_need_no_secret(environment: str) -> None:
    assert Settings(environment=environment).secret_key is None


def test_secret_is_masked_in_repr() -> None:
    settings = Settings(secret_key="very-secret-value-" * 3)
    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in str(settings.model_dump())


def test_ensure_secret_key_creates_a_private_file_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Settings(data_dir=data)
    key = first.ensure_secret_key()
    path = data / "secret_key"
    assert path.read_text(encoding="utf-8") == key
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_key is not None and first.secret_key.get_secret_value() == key
    # A second start (a new Settings object) reuses the stored key rather than making another.
    mtime = path.stat().st_mtime_ns
    assert Settings(data_dir=data).ensure_secret_key() == key
    assert path.stat().st_mtime_ns == mtime


def test_ensure_secret_key_prefers_the_configured_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="c" * 40)
    assert settings.ensure_secret_key() == "c" * 40
    assert not (tmp_path / "data" / "secret_key").exists()


def test_second_factor_roles_by_environment() -> None:
    """Admins and commanders need a second factor (GB/T 22239 level 3) unless the demo or the
    tests relax it; a list set explicitly wins, an empty one turns it off."""
    from fangkong.core.config import ROLE_NAMES
    from fangkong.core.models import Role

    assert tuple(role.value for role in Role) == ROLE_NAMES
    for environment in ("production", "development"):
        settings = Settings(environment=environment, secret_key="k" * 40)
        assert settings.required_second_factor_roles == {"admin", "commander"}
    for environment in ("demo", "test"):
        assert Settings(environment=environment).required_second_factor_roles == frozenset()
    assert Settings(
        environment="demo", second_factor_roles=["admin"]
    ).required_second_factor_roles == {"admin"}
    assert (
        Settings(
            environment="production", secret_key="k" * 40, second_factor_roles=[]
        ).required_second_factor_roles
        == frozenset()
    )
    with pytest.raises(ValueError, match="unknown roles root"):
        Settings(second_factor_roles=["root"])


def test_login_limits_have_secure_defaults() -> None:
    settings = Settings()
    assert (settings.login_max_failures, settings.login_lockout_s) == (5, 600)
    assert settings.session_idle_timeout_s == 1800
    assert settings.token_max_ttl_hours == 720 and settings.password_min_length == 10


def test_audit_retention_is_at_least_six_months(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().audit_retention_days == 365
    assert Settings(audit_retention_days=184).audit_retention_days == 184
    with pytest.raises(ValidationError, match=r"183 days is shorter .*\(184 days, six months\)"):
        Settings(audit_retention_days=183)
    monkeypatch.setenv("FANGKONG_AUDIT_RETENTION_DAYS", "90")
    with pytest.raises(ValidationError, match="audit_retention_days"):
        load_settings()
