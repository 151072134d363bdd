"""The monthly bulletin and the annual evaluation, on both backends: the XLSX read back (one
sheet per section, numbers as numbers), the PDF rendered by poppler (pdftoppm) and its text
read (pdftotext) in Chinese, with every glyph in the shipped font; templates edited."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import area
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.indicators import reports, tasks
from fangkong.indicators.periods import Period
from indicators.indicator_helpers import NOW, PERIOD, ZONE, a_month

OFFICE = Actor(user_id=None, username="office", client="test")
POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")


def _bulletin(db: Session, language: str = "zh-CN") -> reports.Report:
    a_month(db, seed=21, incidents=10, hazards=6)
    tasks.create(
        db,
        code="RT-1",
        title="智慧安防小区建设",
        responsible_unit="县综治中心",
        area=area(db, "T-D1"),
        deadline=date(2026, 5, 1),
        progress=40,
        indicator_ids=[],
        actor=OFFICE,
    )
    return reports.build(
        db,
        kind="bulletin",
        period=PERIOD,
        area=area(db, "T"),
        scope=SYSTEM_SCOPE,
        language=language,
        now=NOW,
        zone=ZONE,
    )


def test_the_bulletin_as_xlsx_reads_back(db: Session) -> None:
    report = _bulletin(db)
    book = load_workbook(io.BytesIO(reports.to_xlsx(report)))
    assert book.sheetnames[0].startswith("0 ")
    assert [name.split(" ", 1)[1] for name in book.sheetnames[1:]] == [
        s.heading[:29] for s in report.sections
    ]
    summary = book[book.sheetnames[1]]
    assert summary["A1"].value == "区域"
    values = [[c.value for c in row] for row in summary.iter_rows(min_row=2, max_col=5)]
    assert [v[0] for v in values] == [s[0] for s in report.sections[0].rows]
    for row in summary.iter_rows(min_row=2, max_col=5):
        assert all(c.data_type == "n" for c in row[1:4])
        assert row[4].value is None or (row[4].data_type == "n" and row[4].number_format == "0.0%")
    assert summary._charts, "the summary has its chart"
    response = book[next(n for n in book.sheetnames if "快速反应" in n)]
    names = [r[0].value for r in response.iter_rows(min_row=2)]
    assert "3分钟到达率" in names
    row = next(r for r in response.iter_rows(min_row=2) if r[0].value == "接报警情数")
    assert row[2].value == 10 and row[2].data_type == "n"
    ledger = book[book.sheetnames[-1]]
    assert [c.value for c in ledger[2]][:2] == ["RT-1", "智慧安防小区建设"]


@pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) not installed")
@pytest.mark.parametrize("kind", ["bulletin", "annual"])
def test_the_pdf_renders_in_chinese_with_every_glyph(
    db: Session, tmp_path: Path, kind: str
) -> None:
    report = _bulletin(db)
    if kind == "annual":
        report = reports.build(
            db,
            kind="annual",
            period=Period(2026),
            area=area(db, "T"),
            scope=SYSTEM_SCOPE,
            language="zh-CN",
            now=NOW,
            zone=ZONE,
        )
        assert any(s.chart is not None and s.chart.kind == "line" for s in report.sections)
    assert reports.missing_glyphs(report.text()) == set()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(reports.to_pdf(report))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert report.title.replace(" ", "") in text.replace(" ", "").replace("\n", "")
    for needed in ("总体达标情况", "隐患化解率", "重点任务", "达标"):
        assert needed in text, needed
    assert "\ufffd" not in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    lines = fonts.stdout.splitlines()[2:]
    assert lines and all(" yes " in line for line in lines), fonts.stdout  # embedded
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.stat().st_size > 1000 for p in pages)


def test_a_missing_glyph_is_found() -> None:
    assert reports.missing_glyphs("月度通报 ABC 88.7%") == set()
    assert reports.missing_glyphs("𠀀") == {"𠀀"}


def test_templates_are_edited_and_checked(db: Session) -> None:
    edited = reports.save_template(
        db,
        kind="bulletin",
        language="zh-CN",
        data={
            "title": "{area}平安建设通报（{period}）",
            "intro": "县防控办编。",
            "sections": [
                {"heading": "设备", "kind": "indicators", "indicators": ["devices.online_rate"]},
                {"heading": "任务", "kind": "tasks"},
            ],
        },
        username="office",
    )
    assert [s.heading for s in edited.sections] == ["设备", "任务"]
    report = _bulletin(db)
    assert report.title.endswith("平安建设通报（2026-05）")
    assert [s.heading for s in report.sections] == ["设备", "任务"]
    assert [r[0] for r in report.sections[0].rows] == ["联网设备在线率"]
    for bad, where in (
        ({"title": "x", "sections": []}, "sections"),
        ({"title": "x", "sections": [{"heading": "h", "kind": "pie"}]}, "sections.0.kind"),
        (
            {
                "title": "x",
                "sections": [{"heading": "h", "kind": "indicators", "indicators": ["no"]}],
            },
            "sections.0.indicators",
        ),
    ):
        with pytest.raises(InvalidInput) as raised:
            reports.parse_template(bad)
        assert raised.value.field == where
    english = reports.build(
        db,
        kind="bulletin",
        period=PERIOD,
        area=area(db, "T"),
        scope=SYSTEM_SCOPE,
        language="en",
        now=NOW,
        zone=ZONE,
    )
    assert english.title.endswith("monthly bulletin (2026-05)")
