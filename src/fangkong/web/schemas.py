"""API shapes of login, users and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fangkong.core.models import Role


class TokenIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(default="api", max_length=64, description="A label for this token")
    ttl_hours: int | None = Field(
        default=24, ge=1, le=24 * 365, description="Hours until it expires; null for no expiry"
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    area_codes: list[str]
    phone_masked: str | None = Field(description="Work phone, masked; unmask via /phone")
    permissions: list[str]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    area_codes: list[str] = Field(min_length=1)
    phone: str | None = Field(default=None, max_length=32)


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
