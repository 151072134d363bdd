"""Exports of Planning II's analyses: GeoJSON (cells, segments, density bands; beats) and XLSX
(summary and the tables), headers in the reader's language."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from fangkong.core.i18n import translate
from fangkong.planning import analyses, hotspot_runs
from fangkong.planning.analysis_models import Analysis, AnalysisKind


def geojson(analysis: Analysis) -> dict[str, Any]:
    """The analysis's features as one FeatureCollection."""
    result = analyses.result_of(analysis)
    if analysis.kind == AnalysisKind.HOTSPOT:
        return hotspot_runs.geojson(result)
    collection = result.get("geojson")
    if isinstance(collection, dict):
        return collection
    return {"type": "FeatureCollection", "features": []}


def _middle(coordinates: list[list[float]]) -> list[float | None]:
    """The middle vertex of a line (lon, lat), for a spreadsheet's reader."""
    if not coordinates:
        return [None, None]
    lon, lat = coordinates[len(coordinates) // 2]
    return [lon, lat]


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list[Any]]) -> Worksheet:
    sheet: Worksheet = book.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    return sheet


def xlsx(analysis: Analysis, *, language: str) -> bytes:
    """A workbook: the summary, then the analysis's tables."""
    result = analyses.result_of(analysis)

    def t(key: str) -> str:
        return translate(key, language)

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = t("planning2.xlsx.summary")[:31]
    summary.append([t("planning2.xlsx.kind"), analysis.kind.value])
    summary.append([t("planning2.xlsx.title"), analysis.title])
    for key, value in result.items():
        if isinstance(value, str | int | float | bool) or value is None:
            summary.append([key, value])
    if analysis.kind == AnalysisKind.HOTSPOT:
        _sheet(
            book,
            t("planning2.hotspot.cells"),
            ["cell", "lon", "lat", t("planning2.count"), "Gi*", "z", "p_norm", "p_sim",
             t("planning2.class"), t("planning2.trend"), t("planning2.before_count")],
            [
                [r["cell"], r["lon"], r["lat"], r["count"], r["gs"], r["z"], r["p_norm"],
                 r["p_sim"], r["class"], r["trend"], r["before_count"]]
                for r in result.get("cells", [])
            ],
        )  # fmt: skip
        _sheet(
            book,
            t("planning2.hotspot.segments"),
            [t("planning2.segment"), t("planning2.count"), t("planning2.per_km"), "length_m",
             "z", "p_norm", "p_sim", t("planning2.class"), t("planning2.trend"),
             t("planning2.before_count"), "lon", "lat"],
            [
                [s["segment"], s["count"], s["per_km"], s["length_m"], s.get("z"),
                 s.get("p_norm"), s.get("p_sim"), s.get("class"), s.get("trend"),
                 s.get("before_count"), *_middle(s.get("coordinates") or [])]
                for s in result.get("segments", [])
            ],
        )  # fmt: skip
        segment_gi = result.get("segment_gi") or {}
        for key in ("segments_in_region", "snapped", "hot", "cold", "fdr_cut", "weights"):
            if key in segment_gi:
                summary.append([f"segment_gi.{key}", segment_gi[key]])
        for key, value in (segment_gi.get("compare") or {}).items():
            summary.append([f"segment_gi.compare.{key}", value])
        _sheet(
            book,
            t("planning2.hour_of_week"),
            [t("planning2.hour_of_week"), t("planning2.count")],
            [[h, c] for h, c in enumerate(result.get("hour_of_week", []))],
        )
    for name, table in (result.get("tables") or {}).items():
        header = table.get("header", [])
        _sheet(book, t(f"planning2.table.{name}"), [str(h) for h in header], table.get("rows", []))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
