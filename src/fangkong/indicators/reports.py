"""The reports a prevention office files: the monthly bulletin (月度通报) and the annual
evaluation (年度考评), from templates the county edits, as XLSX (one sheet per section,
numbers as numbers) and PDF (Chinese text in the font shipped with fangkong, charts drawn).

A template is a title, an introduction and sections; a section is ``summary`` (each area's
share of guideline items met, with a bar chart), ``indicators`` (the figures of a group or of
listed indicators in the area and the areas below it, against their targets), ``trend`` (the
area's figures month by month over the year, with a line chart) or ``tasks`` (the task
ledger's open and overdue tasks). The shipped templates are :data:`DEFAULTS`; a county's
version is a :class:`~fangkong.indicators.models.ReportTemplate` row per kind and language.
Nothing personal is in a report: figures, areas and the tasks' responsible units.
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.indicators import catalogue, dashboard, tasks
from fangkong.indicators.catalogue import GROUPS, IndicatorDecl
from fangkong.indicators.models import ReportTemplate
from fangkong.indicators.periods import Period

FONT = Path(__file__).resolve().parent / "fonts" / "NotoSansCJK-GB2312.otf"
Kind = Literal["bulletin", "annual"]
KINDS: tuple[Kind, ...] = ("bulletin", "annual")
#: The most areas a report's tables show side by side (the area and those just below it).
MAX_COLUMNS = 8


class SectionDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heading: str = Field(min_length=1, max_length=100)
    kind: Literal["summary", "indicators", "trend", "tasks"]
    group: str | None = None
    indicators: list[str] = Field(default_factory=list, max_length=60)
    text: str = Field(default="", max_length=2000)


class TemplateDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    intro: str = Field(default="", max_length=4000)
    sections: list[SectionDecl] = Field(min_length=1, max_length=20)


def _sections(language: str, annual: bool) -> list[dict[str, Any]]:
    zh = language != "en"
    out: list[dict[str, Any]] = [
        {"heading": "总体达标情况" if zh else "Guideline items met", "kind": "summary"}
    ]
    for group in GROUPS:
        if any(d.group == group for d in catalogue.all_indicators()):
            out.append(
                {
                    "heading": translate(f"indicators.group.{group}", language),
                    "kind": "indicators",
                    "group": group,
                }
            )
    if annual:
        out.append(
            {
                "heading": "逐月趋势" if zh else "Month by month",
                "kind": "trend",
                "indicators": [
                    "response.ring_3min",
                    "cases.hazard.resolution_rate",
                    "devices.online_rate",
                ],
            }
        )
    out.append({"heading": "重点任务" if zh else "Task ledger", "kind": "tasks"})
    return out


def default_template(kind: Kind, language: str) -> TemplateDecl:
    zh = language != "en"
    annual = kind == "annual"
    if zh:
        title = "{area}社会治安防控体系建设" + (
            "年度考评（{period}）" if annual else "月度通报（{period}）"
        )
        intro = (
            "本{what}根据平台记录自动计算各项指标，对照建设标准目标值通报达标情况。"
            "比率类指标以百分数表示；人工填报指标取当期最新填报值。"
        ).format(what="考评" if annual else "通报")
    else:
        title = "{area} prevention system: " + (
            "annual evaluation ({period})" if annual else "monthly bulletin ({period})"
        )
        intro = (
            "Every figure is computed from fangkong's records and set against the targets of the "
            "construction standard; shares are in percent; manual inputs are the latest entered."
        )
    return TemplateDecl.model_validate(
        {"title": title, "intro": intro, "sections": _sections(language, annual)}
    )


def get_template(session: Session, *, kind: Kind, language: str) -> TemplateDecl:
    """The county's template of ``kind`` in ``language``, or the shipped one."""
    row = session.scalar(
        select(ReportTemplate).where(
            ReportTemplate.kind == kind, ReportTemplate.language == language
        )
    )
    if row is None:
        return default_template(kind, language)
    return TemplateDecl.model_validate(row.definition)


def parse_template(data: Any) -> TemplateDecl:
    """A template from its mapping, its indicators and groups checked; a fault names the
    field."""
    try:
        decl = TemplateDecl.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "template"
        raise InvalidInput(
            key="error.indicators.template",
            params={"where": where, "why": first["msg"]},
            field=where,
        ) from None
    for i, section in enumerate(decl.sections):
        if section.group is not None and section.group not in GROUPS:
            raise InvalidInput(
                key="error.indicators.template",
                params={"where": f"sections.{i}.group", "why": section.group},
                field=f"sections.{i}.group",
            )
        for indicator in section.indicators:
            if catalogue.get(indicator) is None:
                raise InvalidInput(
                    key="error.indicators.template",
                    params={"where": f"sections.{i}.indicators", "why": indicator[:64]},
                    field=f"sections.{i}.indicators",
                )
    return decl


def save_template(
    session: Session, *, kind: Kind, language: str, data: Any, username: str
) -> TemplateDecl:
    decl = parse_template(data)
    row = session.scalar(
        select(ReportTemplate).where(
            ReportTemplate.kind == kind, ReportTemplate.language == language
        )
    )
    if row is None:
        row = ReportTemplate(kind=kind, language=language)
        session.add(row)
    row.definition = decl.model_dump()
    row.updated_by = username
    session.flush()
    return decl


# --- the report's content ---------------------------------------------------------------------

Cell = str | float | int | None


@dataclass
class Chart:
    kind: Literal["bar", "line"]
    categories: list[str]
    series: list[tuple[str, list[float | None]]]
    percent: bool = True


@dataclass
class Section:
    heading: str
    text: str
    header: list[str]
    rows: list[list[Cell]]
    #: Per column: how a number is shown (``percent``, ``number``, ``count``) or None (text).
    formats: list[str | None]
    chart: Chart | None = None
    #: Per row, where a column's format is ``mixed`` (an indicator's own unit).
    row_formats: list[str] | None = None


@dataclass
class Report:
    kind: Kind
    title: str
    intro: str
    language: str
    period: str
    area_code: str
    sections: list[Section] = field(default_factory=list)

    def text(self) -> str:
        """Every string the report shows (what the font must hold)."""
        parts = [self.title, self.intro]
        for s in self.sections:
            parts += [s.heading, s.text, *s.header]
            parts += [str(c) for row in s.rows for c in row if isinstance(c, str)]
            if s.chart is not None:
                parts += s.chart.categories + [name for name, _ in s.chart.series]
        return "".join(parts)


def _format_of(decl: IndicatorDecl) -> str:
    return {"percent": "percent", "count": "count"}.get(decl.unit, "number")


def build(
    session: Session,
    *,
    kind: Kind,
    period: Period,
    area: Area,
    scope: Scope,
    language: str,
    now: datetime,
    zone: ZoneInfo,
) -> Report:
    """The report of ``kind`` for ``area`` (in ``scope``) and ``period`` (a month for the
    bulletin, a year for the evaluation) from its template."""
    if kind == "annual" and period.month is not None:
        period = Period(period.year)
    template = get_template(session, kind=kind, language=language)

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    rows = dashboard.grid(session, period=period, scope=scope, now=now, zone=zone, root=area)
    rows = rows[:MAX_COLUMNS]
    names = {
        a.id: a.name(language)
        for a in session.scalars(select(Area).where(Area.id.in_([r.area_id for r in rows])))
    }
    area_name = area.name(language)
    report = Report(
        kind=kind,
        title=template.title.format(area=area_name, period=period.key),
        intro=template.intro,
        language=language,
        period=period.key,
        area_code=area.code,
    )
    for sdecl in template.sections:
        if sdecl.kind == "summary":
            header = [
                t("indicators.field.area"),
                t("indicators.status.met"),
                t("indicators.status.near"),
                t("indicators.status.missed"),
                t("indicators.share_met"),
            ]
            body: list[list[Cell]] = []
            for r in rows:
                c = r.counts()
                body.append(
                    [names.get(r.area_id, r.code), c["met"], c["near"], c["missed"], r.share_met]
                )
            chart = Chart(
                "bar",
                [str(b[0]) for b in body],
                [
                    (
                        t("indicators.share_met"),
                        [b[4] if isinstance(b[4], float) else None for b in body],
                    )
                ],
            )
            report.sections.append(
                Section(
                    sdecl.heading,
                    sdecl.text,
                    header,
                    body,
                    [None, "count", "count", "count", "percent"],
                    chart,
                )
            )
        elif sdecl.kind == "indicators":
            decls = [
                d
                for d in catalogue.all_indicators()
                if (sdecl.group is not None and d.group == sdecl.group) or d.id in sdecl.indicators
            ]
            header = [t("indicators.field.indicator"), t("indicators.field.target")]
            header += [names.get(r.area_id, r.code) for r in rows]
            body = []
            formats: list[str | None] = [None, "mixed"] + ["mixed"] * len(rows)
            for d in decls:
                if not any(d.id in r.cells for r in rows):
                    continue
                top = rows[0].cells.get(d.id) if rows else None
                line: list[Cell] = [d.name(language), top.target.value if top else d.target.value]
                line += [r.cells[d.id].value if d.id in r.cells else None for r in rows]
                body.append(line)
            section = Section(sdecl.heading, sdecl.text, header, body, formats)
            section.row_formats = [
                _format_of(d) for d in decls if any(d.id in r.cells for r in rows)
            ]
            report.sections.append(section)
        elif sdecl.kind == "trend":
            decls = [d for d in (catalogue.get(i) for i in sdecl.indicators) if d is not None]
            months = Period(period.year).months()
            header = [t("indicators.field.period"), *(d.name(language) for d in decls)]
            columns = [
                dashboard.trend(
                    session,
                    decl=d,
                    area=area,
                    end=months[-1],
                    months=12,
                    scope=scope,
                    now=now,
                    zone=zone,
                )
                for d in decls
            ]
            body = [[m.key, *(col[i].value for col in columns)] for i, m in enumerate(months)]
            chart = Chart(
                "line",
                [m.key[5:] for m in months],
                [
                    (d.name(language), [p.value for p in col])
                    for d, col in zip(decls, columns, strict=True)
                ],
                percent=all(d.unit == "percent" for d in decls),
            )
            report.sections.append(
                Section(
                    sdecl.heading,
                    sdecl.text,
                    header,
                    body,
                    [None, *(_format_of(d) for d in decls)],
                    chart,
                )
            )
        else:
            on = tasks.today(now, zone)
            header = [
                t("indicators.field.code"),
                t("indicators.tasks.title"),
                t("indicators.tasks.unit"),
                t("indicators.tasks.deadline"),
                t("indicators.tasks.progress"),
                t("indicators.tasks.late"),
            ]
            body = [
                [
                    task.code,
                    task.title,
                    task.responsible_unit,
                    task.deadline.isoformat(),
                    task.progress / 100,
                    t("indicators.yes") if tasks.is_overdue(task, on=on) else t("indicators.no"),
                ]
                for task in tasks.get_all(session, scope=scope)
                if task.area_path.startswith(area.path) and task.status.value == "open"
            ]
            report.sections.append(
                Section(
                    sdecl.heading,
                    sdecl.text,
                    header,
                    body,
                    [None, None, None, None, "percent", None],
                )
            )
    return report


# --- XLSX ----------------------------------------------------------------------------------------

_SHEET = re.compile(r"[\[\]:*?/\\]")


def _cell_format(section: Section, row: int, col: int) -> str | None:
    fmt = section.formats[col] if col < len(section.formats) else None
    if fmt == "mixed":
        return section.row_formats[row] if section.row_formats else "number"
    return fmt


def to_xlsx(report: Report) -> bytes:
    """One sheet per section (named by its heading), the title and introduction on a first
    sheet; numbers as numbers (shares formatted as percent), a chart where the section has
    one."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "0 " + ("概况" if report.language != "en" else "Report")
    cover.append([report.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([report.intro])
    cover.append([report.period, report.area_code])
    used = {cover.title}
    for n, section in enumerate(report.sections, start=1):
        name = f"{n} {_SHEET.sub(' ', section.heading)}"[:31]
        while name in used:
            name = name[:29] + f"~{n}"
        used.add(name)
        sheet = book.create_sheet(name)
        sheet.append(section.header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(section.rows):
            sheet.append(list(row))
            for c, value in enumerate(row):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    fmt = _cell_format(section, r, c)
                    target = sheet.cell(row=r + 2, column=c + 1)
                    target.number_format = {"percent": "0.0%", "count": "0"}.get(fmt or "", "0.00")
        if section.text:
            sheet.append([])
            sheet.append([section.text])
        if section.chart is not None and section.rows:
            chart: Any = BarChart() if section.chart.kind == "bar" else LineChart()
            chart.title = section.heading
            first = 5 if section.chart.kind == "bar" else 2
            last = first if section.chart.kind == "bar" else len(section.header)
            data = Reference(
                sheet, min_col=first, max_col=last, min_row=1, max_row=len(section.rows) + 1
            )
            cats = Reference(sheet, min_col=1, min_row=2, max_row=len(section.rows) + 1)
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(cats)
            sheet.add_chart(chart, f"{chr(ord('A') + len(section.header) + 1)}2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- PDF ------------------------------------------------------------------------------------------


def missing_glyphs(text: str) -> set[str]:
    """The characters of ``text`` the shipped font has no glyph for (a report shows none)."""
    cmap = _cmap()
    return {ch for ch in set(text) if ord(ch) not in cmap and ch not in "\n\r\t"}


_CMAP: set[int] = set()


def _cmap() -> set[int]:
    if not _CMAP:
        from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

        with TTFont(str(FONT)) as font:
            _CMAP.update(font.getBestCmap().keys())
    return _CMAP


def _show(value: Cell, fmt: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if fmt == "percent":
        return f"{value * 100:.1f}%"
    if fmt == "count":
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def to_pdf(report: Report) -> bytes:
    """The report as PDF, A4, its text in the shipped Noto Sans CJK subset (embedded), the
    sections' tables and their charts drawn as vectors."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("noto", "", str(FONT))
    pdf.set_title(report.title)
    pdf.add_page()
    pdf.set_font("noto", size=16)
    pdf.multi_cell(0, 9, report.title, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("noto", size=10)
    pdf.multi_cell(0, 6, report.intro, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for n, section in enumerate(report.sections, start=1):
        pdf.set_font("noto", size=13)
        pdf.multi_cell(0, 8, f"{n}. {section.heading}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("noto", size=8)
        if section.text:
            pdf.multi_cell(0, 5, section.text, new_x="LMARGIN", new_y="NEXT")
        columns = len(section.header)
        first = min(60.0, width * 0.36) if columns > 2 else width / 2
        rest = (width - first) / max(1, columns - 1)
        widths = [first] + [rest] * (columns - 1)
        with pdf.table(
            col_widths=widths,
            text_align="LEFT",
            line_height=5,
            first_row_as_headings=True,
            headings_style=FontFace(emphasis="", fill_color=(230, 236, 242)),
        ) as table:
            head = table.row()
            for label in section.header:
                head.cell(str(label))
            for r, row in enumerate(section.rows):
                line = table.row()
                for c, value in enumerate(row):
                    line.cell(_show(value, _cell_format(section, r, c)))
        if section.chart is not None and section.rows:
            _draw_chart(pdf, section.chart, width)
        pdf.ln(4)
    return bytes(pdf.output())


_COLOURS = [(42, 157, 143), (231, 111, 81), (38, 70, 83), (233, 196, 106)]


def _draw_chart(pdf: Any, chart: Chart, width: float) -> None:
    height = 55.0
    if pdf.get_y() + height + 12 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    x0, y0 = pdf.l_margin + 12, pdf.get_y()
    w, h = width - 14, height
    values = [v for _, s in chart.series for v in s if v is not None]
    top = 1.0 if chart.percent else max([*values, 1.0]) * 1.1
    pdf.set_draw_color(150, 150, 150)
    pdf.line(x0, y0 + h, x0 + w, y0 + h)
    pdf.line(x0, y0, x0, y0 + h)
    pdf.set_font("noto", size=7)
    for k in range(5):
        y = y0 + h - h * k / 4
        label = f"{top * k / 4 * 100:.0f}%" if chart.percent else f"{top * k / 4:.3g}"
        pdf.set_xy(x0 - 12, y - 2)
        pdf.cell(11, 4, label, align="R")
    count = max(1, len(chart.categories))
    slot = w / count
    for i, category in enumerate(chart.categories):
        pdf.set_xy(x0 + i * slot, y0 + h + 1)
        pdf.cell(slot, 4, category[:10], align="C")
    for s, (name, series) in enumerate(chart.series):
        colour = _COLOURS[s % len(_COLOURS)]
        pdf.set_fill_color(*colour)
        pdf.set_draw_color(*colour)
        if chart.kind == "bar":
            bar = slot * 0.6 / len(chart.series)
            for i, v in enumerate(series):
                if v is None:
                    continue
                bh = h * min(v, top) / top
                pdf.rect(x0 + i * slot + slot * 0.2 + s * bar, y0 + h - bh, bar, bh, style="F")
        else:
            points = [
                (x0 + (i + 0.5) * slot, y0 + h - h * min(v, top) / top)
                for i, v in enumerate(series)
                if v is not None
            ]
            for a, b in itertools.pairwise(points):
                pdf.line(a[0], a[1], b[0], b[1])
            for px, py in points:
                pdf.rect(px - 0.8, py - 0.8, 1.6, 1.6, style="F")
        pdf.set_xy(x0 + 2 + s * 50, y0 - 5)
        pdf.rect(pdf.get_x(), y0 - 3.5, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(45, 4, name[:24])
    pdf.set_draw_color(0, 0, 0)
    pdf.set_y(y0 + h + 7)


MEDIA = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(report: Report, fmt: str) -> tuple[bytes, str, str]:
    """The report's file in ``fmt`` (``pdf`` or ``xlsx``): its bytes, media type and name."""
    if fmt not in MEDIA:
        raise InvalidInput(
            key="error.table.format",
            params={"value": fmt[:16], "allowed": ", ".join(MEDIA)},
            field="format",
        )
    data = to_pdf(report) if fmt == "pdf" else to_xlsx(report)
    name = f"{report.kind}-{report.area_code}-{report.period}.{fmt}"
    return data, MEDIA[fmt], re.sub(r"[^A-Za-z0-9_.-]", "_", name)
