"""The console's forms for one holder and one site: a submitted form as the API's input
(:class:`~fangkong.materials.schemas.HolderIn`, :class:`~fangkong.materials.schemas.SiteIn`),
a record as the form shows it, and the form checked with :func:`fangkong.http.forms.validate`
and saved through the register's services (the routes in :mod:`fangkong.materials.pages`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate
from fangkong.http import forms
from fangkong.http.deps import get_cipher
from fangkong.http.templating import render
from fangkong.materials import register
from fangkong.materials.models import (
    BaseUnit,
    Holder,
    HolderKind,
    MaterialClass,
    Site,
    SiteCapacity,
    SiteKind,
)
from fangkong.materials.personal import masked_contact
from fangkong.materials.schemas import HolderIn, SiteIn
from fangkong.materials.units import from_milli

HOLDER_FIELDS = (
    "code",
    "name",
    "kind",
    "licence_no",
    "licence_classes",
    "licence_from",
    "licence_until",
    "address",
    "lon",
    "lat",
    "contact_name",
    "contact_phone",
)
SITE_FIELDS = ("code", "holder_code", "name", "kind", "lon", "lat", "capacities")
#: Rows of capacities a site's form offers: its own and a few empty ones, at most the schema's.
MAX_CAPACITY_ROWS = 16
EMPTY_CAPACITY_ROWS = 3
CAPACITY_PARTS = ("material_class", "unit", "capacity")


def class_field(material_class: MaterialClass) -> str:
    """The checkbox of a licensed class."""
    return f"licence_classes.{material_class.value}"


def holder_input(values: Mapping[str, str], holder: Holder | None) -> tuple[dict[str, Any], bool]:
    """The form's holder as the schema's input, and whether the contact stays as it is (an
    edit whose contact fields are left empty, the box to clear it unticked)."""
    data: dict[str, Any] = forms.text(
        values,
        "code",
        "name",
        "kind",
        "licence_no",
        "licence_from",
        "licence_until",
        "address",
        "lon",
        "lat",
        "contact_name",
        "contact_phone",
    )
    if holder is not None:
        data["code"] = holder.code  # a holder's code does not change
    data["licence_classes"] = [c.value for c in MaterialClass if class_field(c) in values]
    keep = (
        holder is not None
        and "contact_name" not in data
        and "contact_phone" not in data
        and not forms.flag(values, "clear_contact")
    )
    return data, keep


def holder_values(holder: Holder) -> dict[str, str]:
    """A holder's record as the form shows it; never its contact (masked on its page)."""
    values = {
        "code": holder.code,
        "name": holder.name,
        "kind": holder.kind.value,
        "licence_no": holder.licence_no,
        "licence_from": holder.licence_from.isoformat() if holder.licence_from else "",
        "licence_until": holder.licence_until.isoformat() if holder.licence_until else "",
        "address": holder.address,
        "lon": f"{holder.lon:.6f}",
        "lat": f"{holder.lat:.6f}",
    }
    values |= {f"licence_classes.{c}": "1" for c in holder.licence_classes}
    return values


def capacity_rows(values: Mapping[str, str]) -> int:
    """How many rows of capacities the form shows: those filled in and a few empty ones."""
    filled = [
        i
        for i in range(MAX_CAPACITY_ROWS)
        if any(values.get(f"capacities.{i}.{part}", "").strip() for part in CAPACITY_PARTS)
    ]
    return min(MAX_CAPACITY_ROWS, (max(filled) + 1 if filled else 0) + EMPTY_CAPACITY_ROWS)


def site_input(
    values: Mapping[str, str], holder: Holder, site: Site | None
) -> tuple[dict[str, Any], list[int]]:
    """The form's site as the schema's input and, for each capacity it holds, the form's row
    it came from (an empty row is left out)."""
    data: dict[str, Any] = forms.text(values, "code", "name", "kind", "lon", "lat")
    if site is not None:
        data["code"] = site.code  # a site's code does not change
    data["holder_code"] = holder.code
    capacities: list[dict[str, str]] = []
    rows: list[int] = []
    for i in range(MAX_CAPACITY_ROWS):
        row = forms.text(values, *(f"capacities.{i}.{part}" for part in CAPACITY_PARTS))
        if row:
            capacities.append({name.rsplit(".", 1)[1]: value for name, value in row.items()})
            rows.append(i)
    data["capacities"] = capacities
    return data, rows


def rows_renamed(errors: forms.FormErrors, rows: list[int]) -> forms.FormErrors:
    """The faults of the schema's capacities named by the form's rows they came from."""
    renamed = forms.FormErrors(form=errors.form)
    for name, message in errors.fields.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "capacities" and parts[1].isdigit():
            index = int(parts[1])
            if index < len(rows):
                name = f"capacities.{rows[index]}.{parts[2]}"
        renamed.add(name, message)
    return renamed


def site_values(site: Site, holder: Holder, capacities: list[SiteCapacity]) -> dict[str, str]:
    """A site's record as the form shows it, its capacities row by row."""
    values = {
        "code": site.code,
        "holder_code": holder.code,
        "name": site.name,
        "kind": site.kind.value,
        "lon": f"{site.lon:.6f}",
        "lat": f"{site.lat:.6f}",
    }
    for i, cap in enumerate(capacities[:MAX_CAPACITY_ROWS]):
        values[f"capacities.{i}.material_class"] = cap.material_class.value
        values[f"capacities.{i}.unit"] = cap.unit.value
        shown = f"{from_milli(cap.capacity_milli):.3f}".rstrip("0").rstrip(".")
        values[f"capacities.{i}.capacity"] = shown
    return values


# --- the pages' forms ---------------------------------------------------------------------------


def _options(prefix: str, members: Any, language: str) -> list[tuple[str, str]]:
    return [(m.value, translate(f"{prefix}{m.value}", language)) for m in members]


def holder_form(
    request: Request,
    user: Any,
    language: str,
    *,
    holder: Holder | None,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
) -> Response:
    return render(
        request,
        "materials/holder_form.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        holder=holder,
        contact=masked_contact(holder, get_cipher(request)) if holder else None,
        values=values,
        errors=errors or forms.FormErrors(),
        kinds=_options("materials.holder_kind.", HolderKind, language),
        classes=[(class_field(c), c) for c in MaterialClass],
    )


def save_holder(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    actor: Any,
    values: dict[str, str],
    holder: Holder | None,
) -> Response:
    """Check the form by the API's schema and save it in a savepoint; a refusal is shown
    beside its field, the form filled in as sent (the contact never sent back)."""
    data, keep_contact = holder_input(values, holder)
    checked, errors = forms.validate(HolderIn, data, language=language)
    if checked is not None:
        cipher = get_cipher(request)
        try:
            with db.begin_nested():  # a refused save leaves nothing behind in the request
                if holder is None:
                    holder = register.create_holder(
                        db, data=checked, actor=actor, cipher=cipher, scope=scope
                    )
                else:
                    register.update_holder(
                        db,
                        holder=holder,
                        data=checked,
                        actor=actor,
                        cipher=cipher,
                        scope=scope,
                        keep_contact=keep_contact,
                    )
            return RedirectResponse(f"/materials/holders/{holder.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=HOLDER_FIELDS)
    shown = {k: v for k, v in values.items() if k not in ("contact_name", "contact_phone")}
    if holder is not None:
        shown["code"] = holder.code
    return holder_form(request, user, language, holder=holder, values=shown, errors=errors)


def site_form(
    request: Request,
    user: Any,
    language: str,
    *,
    holder: Holder,
    site: Site | None,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
) -> Response:
    return render(
        request,
        "materials/site_form.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        holder=holder,
        site=site,
        values=values,
        errors=errors or forms.FormErrors(),
        kinds=_options("materials.site_kind.", SiteKind, language),
        classes=_options("materials.class.", MaterialClass, language),
        units=_options("materials.unit.", BaseUnit, language),
        rows=capacity_rows(values),
    )


def save_site(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    actor: Any,
    values: dict[str, str],
    holder: Holder,
    site: Site | None,
) -> Response:
    """Check the form by the API's schema and save it in a savepoint; a refusal is shown
    beside its field (a capacity's beside its row), the form filled in as sent."""
    data, rows = site_input(values, holder, site)
    checked, errors = forms.validate(SiteIn, data, language=language)
    errors = rows_renamed(errors, rows)
    if checked is not None:
        try:
            with db.begin_nested():  # a refused save leaves nothing behind in the request
                if site is None:
                    register.create_site(db, data=checked, actor=actor, scope=scope)
                else:
                    register.update_site(db, site=site, data=checked, actor=actor, scope=scope)
            return RedirectResponse(f"/materials/holders/{holder.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=SITE_FIELDS)
    shown = dict(values) | ({"code": site.code} if site is not None else {})
    return site_form(request, user, language, holder=holder, site=site, values=shown, errors=errors)
