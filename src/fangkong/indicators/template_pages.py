"""The console page that edits the report templates (the monthly bulletin, the annual
evaluation) per language: the title, the introduction and each section (heading, kind, group
or indicators, text), checked by the schema the API checks, each fault beside its field in the
reader's language (:mod:`fangkong.http.forms`). The prevention office's permission
(``indicators.write``), as ``PUT /api/v1/indicators/report-templates/{kind}``."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.core import audit
from fangkong.core.config import LANGUAGES
from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate
from fangkong.http import forms
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, requires
from fangkong.http.templating import render
from fangkong.indicators import catalogue, reports
from fangkong.indicators import permissions as perms
from fangkong.indicators.catalogue import GROUPS

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.WRITE)])
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]
KindPath = Literal["bulletin", "annual"]
LanguagePath = Literal["zh-CN", "en"]
SECTION_KINDS = ("summary", "indicators", "trend", "tasks")
SECTION_FIELDS = ("heading", "kind", "group", "indicators", "text")
#: The most sections a submitted form is read for (the schema allows 20; one more row shows
#: that the limit is reached).
MAX_ROWS = 21
_SPLIT = re.compile(r"[\s,，、;；]+")


def _values_of(template: reports.TemplateDecl) -> dict[str, str]:
    """A template as the form shows it: ``sections.{i}.{field}``."""
    values = {"title": template.title, "intro": template.intro}
    for i, section in enumerate(template.sections):
        values[f"sections.{i}.heading"] = section.heading
        values[f"sections.{i}.kind"] = section.kind
        values[f"sections.{i}.group"] = section.group or ""
        values[f"sections.{i}.indicators"] = ", ".join(section.indicators)
        values[f"sections.{i}.text"] = section.text
    return values


def _rows(values: dict[str, str]) -> int:
    """How many section rows the form shows: those sent (or stored) and a blank one."""
    found = [
        int(m.group(1))
        for name in values
        if (m := re.fullmatch(r"sections\.(\d{1,2})\.\w+", name)) is not None
    ]
    return min(MAX_ROWS, max(found, default=-1) + 2)


def _form(
    request: Request,
    user: Any,
    language: str,
    *,
    kind: str,
    template_language: str,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
    saved: bool = False,
) -> Response:
    return render(
        request,
        "indicators/report_template.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        kind=kind,
        template_language=template_language,
        tabs=[
            (
                f"/indicators/report-templates/{k}/{lang}",
                translate(
                    "indicators.templates.editing",
                    language,
                    kind=translate(f"indicators.report.{k}", language),
                    language=translate(f"indicators.templates.language.{lang}", language),
                ),
                k == kind and lang == template_language,
            )
            for k in reports.KINDS
            for lang in LANGUAGES
        ],
        values=values,
        errors=errors or forms.FormErrors(),
        rows=_rows(values),
        saved=saved,
        section_kinds=[
            (k, translate(f"indicators.templates.kind.{k}", language)) for k in SECTION_KINDS
        ],
        groups=[(g, translate(f"indicators.group.{g}", language)) for g in GROUPS],
        indicator_ids=[d.id for d in catalogue.all_indicators()],
    )


def _submitted(values: dict[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The template the form describes, and for each section kept the row it came from (a
    row with nothing in it, or one ticked to be removed, is left out)."""
    data: dict[str, Any] = forms.text(values, "title", "intro")
    sections: list[dict[str, Any]] = []
    origin: list[int] = []
    for i in range(MAX_ROWS):
        row = forms.text(values, *(f"sections.{i}.{name}" for name in SECTION_FIELDS))
        if forms.flag(values, f"sections.{i}.remove"):
            continue
        if not any(k != f"sections.{i}.kind" for k in row):
            continue  # a blank row (its kind alone chosen, or nothing)
        section: dict[str, Any] = {
            name: row[f"sections.{i}.{name}"]
            for name in ("heading", "kind", "group", "text")
            if f"sections.{i}.{name}" in row
        }
        listed = row.get(f"sections.{i}.indicators", "")
        section["indicators"] = [x for x in _SPLIT.split(listed) if x]
        sections.append(section)
        origin.append(i)
    data["sections"] = sections
    return data, origin


def _to_row(field: str | None, origin: list[int]) -> str | None:
    """A fault's field named by the schema (``sections.2.heading``) as the form's field (the
    row the section came from)."""
    if field is None:
        return None
    m = re.fullmatch(r"sections\.(\d+)(\..+)?", field)
    if m is None:
        return field
    index = int(m.group(1))
    if index >= len(origin):
        return "sections"
    return f"sections.{origin[index]}{m.group(2) or ''}"


@router.get("/indicators/report-templates", response_class=HTMLResponse)
def templates_index() -> Response:
    """The monthly bulletin's template in Chinese, the first one to edit."""
    return RedirectResponse("/indicators/report-templates/bulletin/zh-CN", status_code=303)


@router.get("/indicators/report-templates/{kind}/{template_language}", response_class=HTMLResponse)
def template_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    language: Language,
    kind: KindPath,
    template_language: LanguagePath,
    saved: Annotated[bool, Query()] = False,
) -> Response:
    """Edit a report's template in one language (the county's, else the shipped one)."""
    template = reports.get_template(db, kind=kind, language=template_language)
    return _form(
        request,
        user,
        language,
        kind=kind,
        template_language=template_language,
        values=_values_of(template),
        saved=saved,
    )


@router.post("/indicators/report-templates/{kind}/{template_language}", response_class=HTMLResponse)
def save_template_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    language: Language,
    actor: RequestActor,
    kind: KindPath,
    template_language: LanguagePath,
    values: FormValues,
) -> Response:
    """Check the form by the API's schema and save it; a fault is shown beside its field in
    the reader's language, the form filled in as sent."""
    data, origin = _submitted(values)
    checked, found = forms.validate(reports.TemplateDecl, data, language=language)
    errors = forms.FormErrors(form=found.form)
    for name, message in found.fields.items():
        errors.add(_to_row(name, origin) or "sections", message)
    for section, row in zip(data["sections"], origin, strict=True):
        unknown = [x for x in section["indicators"] if catalogue.get(x) is None]
        if unknown:
            shown = ", ".join(x[:64] for x in unknown[:5])
            errors.add(
                f"sections.{row}.indicators",
                translate("indicators.templates.unknown", language, ids=shown),
            )
    if errors:
        checked = None
    if checked is not None:
        try:
            with db.begin_nested():  # a refused save leaves nothing behind in the request
                reports.save_template(
                    db,
                    kind=kind,
                    language=template_language,
                    data=checked.model_dump(),
                    username=actor.username or "system",
                )
                audit.record(
                    db,
                    actor=actor,
                    action="update",
                    entity="indicator_report_template",
                    detail={"kind": kind, "language": template_language},
                )
            return RedirectResponse(
                f"/indicators/report-templates/{kind}/{template_language}?saved=1",
                status_code=303,
            )
        except FangkongError as exc:
            if exc.status_code != 422:
                raise
            field = _to_row(exc.field, origin)
            if field is None:
                errors.form = exc.text(language)
            else:
                errors.add(field, exc.text(language))
    return _form(
        request,
        user,
        language,
        kind=kind,
        template_language=template_language,
        values=values,
        errors=errors,
    )
