"""Settings from the environment (``FANGKONG_*``) and an optional TOML settings file.

Precedence, highest first: explicit keyword arguments, environment variables, the settings file
(``$FANGKONG_SETTINGS_FILE``, else ``fangkong.toml`` in the data folder), then the defaults.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
DEFAULT_DATA_DIR = Path("fangkong-data")
_SECRET_FILE_NAME = "secret_key"
#: The shortest retention of the audit log, in days: six months of any length (the
#: Cybersecurity Law of the PRC, art. 21: network logs are kept for no less than six months).
MIN_AUDIT_RETENTION_DAYS = 184
#: The roles of ``core.models.Role`` by value (config is read before the models are).
ROLE_NAMES = (
    "admin",
    "commander",
    "station_officer",
    "grid_worker",
    "mediator",
    "inspector",
    "evaluator",
    "viewer",
)
#: Two factors for administrators (GB/T 22239-2019 level 3, 8.1.4.1) and for commanders, who
#: may unmask personal data.
DEFAULT_SECOND_FACTOR_ROLES = ("admin", "commander")


def _settings_file() -> Path:
    explicit = os.environ.get("FANGKONG_SETTINGS_FILE")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get("FANGKONG_DATA_DIR", str(DEFAULT_DATA_DIR)))
    return data_dir / "fangkong.toml"


class Settings(BaseSettings):
    """Runtime configuration of one fangkong installation."""

    model_config = SettingsConfigDict(env_prefix="FANGKONG_", extra="forbid")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR, description="Folder for the SQLite file and caches"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/fangkong.db. "
        "For PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs sessions and derives the field-encryption key"
    )
    environment: Literal["development", "demo", "production", "test"] = "development"
    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh-CN"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_max_age_s: int = Field(
        default=8 * 3600, ge=60, description="A console session ends this long after login"
    )
    session_idle_timeout_s: int = Field(
        default=30 * 60,
        ge=60,
        description="A console session ends after this long without a request of its user "
        "(CJIS AC-11, session lock)",
    )
    session_warning_s: int = Field(
        default=300,
        ge=10,
        description="The console warns this long before a session ends (idle timeout or "
        "absolute end; at most half of the shorter), with a button to stay signed in",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Consecutive failed logins (password or second factor) that lock a "
        "username (CJIS AC-7)",
    )
    login_lockout_s: int = Field(
        default=600,
        ge=0,
        description="How long a locked username stays locked (an administrator may unlock it "
        "sooner); 0: until an administrator unlocks it",
    )
    login_client_max_failures: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one client address, any usernames, that make it wait "
        "until its window ends",
    )
    login_client_window_s: int = Field(
        default=600, ge=1, description="The window over which a client's failures are counted"
    )
    token_max_ttl_hours: int = Field(
        default=30 * 24, ge=1, le=366 * 24, description="The longest life of an API token"
    )
    password_min_length: int = Field(
        default=10, ge=8, le=128, description="Fewest characters of a new password"
    )
    second_factor_roles: list[str] | None = Field(
        default=None,
        description="Roles that must log in with a one-time code (TOTP) besides the password. "
        "Unset: admin and commander, except in the demo and test environments (none); "
        "an empty list turns the requirement off",
    )
    caller_contact_retention_days: int = Field(
        default=90,
        ge=1,
        description="Days after an incident ends (closed, cancelled or merged) before its "
        "caller's contact is deleted",
    )
    incident_text_retention_days: int = Field(
        default=365,
        ge=1,
        description="Days after an incident ends before its description and the handlers' "
        "notes (free text, where people write names) are deleted",
    )
    audit_retention_days: int = Field(
        default=365,
        description="Days the audit log keeps an event before the purge deletes it (at least "
        f"{MIN_AUDIT_RETENTION_DAYS}: six months, as the Cybersecurity Law asks of network logs)",
    )
    intake_writer: Literal["process", "thread"] = Field(
        default="process",
        description="Where API intake is written: a process of its own beside each server "
        "process (its own interpreter and GIL), or a thread of the server's process (one "
        "process less; used anyway for an in-memory database)",
    )
    max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="The largest request body any route takes, in bytes (413 past it, refused "
        "while it is read); the routes that take files have larger limits of their own "
        "(README, Configuration)",
    )
    public_tips_per_window: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="Tips the public tip form takes from one client address per 15 minutes "
        "(429 past it); raise it where many people share one address",
    )
    max_requests_in_flight: int = Field(
        default=64,
        ge=1,
        description="Requests a server process works on at once (the live streams and static "
        "files aside); one more is answered 503 with Retry-After at once, before any of its "
        "work",
    )
    intake_max_pending: int = Field(
        default=32,
        ge=1,
        description="API intakes a server process has waiting for its writer; one more is "
        "answered 503 with Retry-After at once, its body unread (the client sends it again "
        "with the same idempotency key)",
    )
    retry_after_s: int = Field(
        default=1, ge=1, le=3600, description="The Retry-After of an answer refused for load"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_settings_file())
        return (init_settings, env_settings, toml)

    @field_validator("audit_retention_days")
    @classmethod
    def _audit_kept_six_months(cls, value: int) -> int:
        if value < MIN_AUDIT_RETENTION_DAYS:
            from fangkong.core.i18n import translate  # i18n reads this module's languages

            raise ValueError(
                translate(
                    "settings.audit_retention_too_short",
                    "en",
                    days=value,
                    minimum=MIN_AUDIT_RETENTION_DAYS,
                )
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {value!r} is not an IANA time zone name") from exc
        return value

    @model_validator(mode="after")
    def _secret_outside_development(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key) < 32 or key in {"changeme", "secret", "dev"}:
                raise ValueError(
                    "secret_key: production needs FANGKONG_SECRET_KEY of at least 32 characters"
                )
        return self

    @field_validator("second_factor_roles")
    @classmethod
    def _known_roles(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(ROLE_NAMES))
        if unknown:
            raise ValueError(f"second_factor_roles: unknown roles {', '.join(unknown)}")
        return value

    @property
    def required_second_factor_roles(self) -> frozenset[str]:
        """The roles that need a second factor: as set, else by environment (see the field)."""
        if self.second_factor_roles is not None:
            return frozenset(self.second_factor_roles)
        if self.environment in ("demo", "test"):
            return frozenset()
        return frozenset(DEFAULT_SECOND_FACTOR_ROLES)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fangkong.db').resolve()}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ensure_secret_key(self) -> str:
        """Return the secret key, creating and keeping one in the data folder when none is set.

        Outside production a missing key is generated once and stored (mode 0600) so that
        sessions and encrypted fields survive restarts.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / _SECRET_FILE_NAME
        try:
            # Created with mode 0600 in one step: the key is never readable by others.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
        key = path.read_text(encoding="utf-8").strip()
        self.secret_key = SecretStr(key)
        return key


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the settings file and explicit overrides."""
    return Settings(**overrides)
