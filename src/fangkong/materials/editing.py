"""The console's forms for one holder and one site: a submitted form as the API's input
(:class:`~fangkong.materials.schemas.HolderIn`, :class:`~fangkong.materials.schemas.SiteIn`)
and a record as the form shows it. The pages check the input with
:func:`fangkong.http.forms.validate` and save it through the register's services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fangkong.http import forms
from fangkong.materials.models import Holder, MaterialClass, Site, SiteCapacity
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
