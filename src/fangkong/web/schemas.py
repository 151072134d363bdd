"""API shapes of login, users and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fangkong.core.bounds import Text
from fangkong.core.models import Role


class TokenIn(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    password: Text = Field(min_length=1, max_length=256)
    name: Text = Field(default="api", max_length=64, description="A label for this token")
    ttl_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 366,
        description="Hours until it expires: every token expires, at most after the "
        "installation's token_max_ttl_hours (30 days by default)",
    )
    totp_code: Text | None = Field(
        default=None,
        max_length=16,
        description="The one-time code of your second factor, where your account has one",
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class TokenInfoOut(BaseModel):
    """A token as listed: never the token itself."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime
    revoked: bool
    revoked_at: datetime | None


class PasswordChangeIn(BaseModel):
    current_password: Text = Field(min_length=1, max_length=256)
    new_password: Text = Field(min_length=1, max_length=256)


class PasswordResetIn(BaseModel):
    password: Text = Field(
        min_length=1, max_length=256, description="The temporary password (policy-checked)"
    )


class RoleIn(BaseModel):
    role: Role


class TotpEnrolmentOut(BaseModel):
    """A second factor's secret, shown once: type it, or open the URI in an authenticator."""

    secret: str
    otpauth_uri: str


class TotpCodeIn(BaseModel):
    code: Text = Field(min_length=1, max_length=16)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    area_codes: list[str]
    phone_masked: str | None = Field(description="Work phone, masked; unmask via /phone")
    permissions: list[str]
    locked: bool = Field(
        default=False, description="Locked after too many failed logins (unlock via /unlock)"
    )
    second_factor: bool = Field(default=False, description="Has enrolled a TOTP second factor")
    must_change_password: bool = Field(
        default=False,
        description="Must change the password an administrator gave before anything else",
    )


class UserIn(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    display_name: Text = Field(min_length=1, max_length=128)
    password: Text = Field(
        min_length=1, max_length=256, description="At least 10 characters, not a common one"
    )
    role: Role
    area_codes: list[Text] = Field(min_length=1)
    phone: Text | None = Field(default=None, max_length=32)


class PhoneOut(BaseModel):
    user_id: int
    phone: str | None


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    entity: str
    entity_id: str | None
    client: str | None
    detail: dict[str, Any] | None
    #: The materialised path of the area the event concerns (None: the whole system).
    area_path: str | None = None


class AuditFaultOut(BaseModel):
    """A fault of the audit chain: its kind, the event it concerns, what it means."""

    code: str
    event_id: int | None
    message: str


class AuditVerifyOut(BaseModel):
    """The audit chain checked end to end: ``ok`` when no fault was found."""

    ok: bool
    checked: int
    anchor_id: int | None
    last_id: int | None
    head_file_id: int | None
    faults: list[AuditFaultOut]
