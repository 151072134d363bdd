"""Exports of runs: GeoJSON of sites, demand and service areas; XLSX of coverage per area and
of the chosen sites. Nothing personal is exported: demand points are places with weights."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from fangkong.dispatch.models import UnitType
from fangkong.network.service import Network
from fangkong.planning import coverage
from fangkong.planning.coverage import Site
from fangkong.planning.models import Run, RunKind
from fangkong.planning.runs import params_of, result_of


def _point(lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def ring_of(time_s: float | None, rings: list[float]) -> str:
    """The smallest ring a time meets (``"60"``, ``"180"``…) or ``"beyond"``."""
    if time_s is not None:
        for r in rings:
            if time_s <= r:
                return f"{r:g}"
    return "beyond"


def demand_features(result: dict[str, Any]) -> list[dict[str, Any]]:
    points = result.get("points")
    if not points:
        return []
    rings = [float(r) for r in result.get("rings_s", coverage.DEFAULT_RINGS_S)]
    return [
        _point(x, y, {"layer": "demand", "ring": ring_of(t, rings), "time_s": t, "site": s,
                      "weight": w})
        for x, y, t, s, w in zip(points["lon"], points["lat"], points["time_s"], points["site"],
                                 points["weight"], strict=True)
    ]  # fmt: skip


def sites_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    if "sites" in result:
        return list(result["sites"])
    if "planned" in result:
        return list(result["planned"].get("sites", []))
    return []


def geojson(run: Run, network: Network | None = None) -> dict[str, Any]:
    """The run's layers as one FeatureCollection: sites (``layer: site``), demand points
    (``layer: demand``, with the ring each meets), service areas (``layer: service_area``, when
    the network is at hand) and, for a control ring, crossings and next checkpoints."""
    result = result_of(run)
    params = params_of(run)
    features: list[dict[str, Any]] = []
    sites = sites_of(result)
    for s in sites:
        props = {k: v for k, v in s.items() if k not in ("lon", "lat")}
        features.append(_point(s["lon"], s["lat"], {"layer": "site", **props}))
    if run.kind == RunKind.COMPARE:
        features += demand_features(result["planned"] | {"rings_s": result["rings_s"]})
    else:
        features += demand_features(result)
    if run.kind == RunKind.RING:
        for c in result.get("crossings", []):
            features.append(
                _point(c["lon"], c["lat"], {"layer": "crossing", **{k: v for k, v in c.items()
                                                                     if k not in ("lon", "lat")}})
            )  # fmt: skip
        for i, n in enumerate(result.get("next", []), start=1):
            rest = {k: v for k, v in n.items() if k not in ("lon", "lat")}
            features.append(
                _point(n["lon"], n["lat"], {"layer": "next_checkpoint", "rank": i, **rest})
            )
    if network is not None and sites and run.kind != RunKind.RING:
        ring_s = float(result.get("ring_s") or max(result.get("rings_s") or [300.0]))
        areas = coverage.service_areas(
            network,
            sites=[Site(s["code"], s.get("name", ""), s["lon"], s["lat"], s.get("kind", "post"))
                   for s in sites],
            ring_s=ring_s,
            unit_type=UnitType(params.get("unit_type", "car")),
        )  # fmt: skip
        for f in areas["features"]:
            f["properties"] = {"layer": "service_area", **f["properties"]}
            features.append(f)
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"run": run.id, "kind": run.kind.value, "title": run.title},
    }


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list[Any]]) -> Worksheet:
    sheet: Worksheet = book.create_sheet(title)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    return sheet


def xlsx(run: Run, *, language: str = "zh-CN") -> bytes:
    """The run as a workbook: a summary, coverage per area (every level), the sites and, for a
    control ring, its crossings."""
    result = result_of(run)
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "summary"
    summary.append(["run", run.id])
    summary.append(["kind", run.kind.value])
    summary.append(["title", run.title])
    for key in ("method", "p", "ring_s", "status", "objective", "bound", "gap",
                "heuristic_objective", "solve_s", "share_count", "share_weighted", "target",
                "count", "closed"):  # fmt: skip
        if key in result:
            summary.append([key, result[key]])
    for label in ("totals", "before", "after"):
        part = result.get(label)
        if isinstance(part, dict):
            for ring, share in (part.get("share") or {}).items():
                summary.append([f"{label} share within {ring} s", share])
    name_key = "name_en" if language == "en" else "name_zh"
    areas = result.get("areas") or []
    if areas:
        rings = sorted({r for a in areas for r in (a.get("share") or a.get("today") or {})},
                       key=float)  # fmt: skip
        if "today" in areas[0]:
            header = ["code", "name", "level", "weight"]
            header += [f"today {r} s" for r in rings] + [f"scenario {r} s" for r in rings]
            header += [f"gain {r} s" for r in rings]
            rows = [
                [a["code"], a[name_key], a["level"], a["weight"]]
                + [a["today"].get(r) for r in rings]
                + [a["scenario"].get(r) for r in rings]
                + [a["gain"].get(r) for r in rings]
                for a in areas
            ]
        else:
            header = ["code", "name", "level", "points", "weight"]
            header += [f"covered {r} s" for r in rings] + [f"share {r} s" for r in rings]
            rows = [
                [a["code"], a[name_key], a["level"], a["points"], a["weight"]]
                + [a["covered"].get(r) for r in rings]
                + [a["share"].get(r) for r in rings]
                for a in areas
            ]
        _sheet(book, "areas", header, rows)
    sites = sites_of(result)
    if sites:
        _sheet(
            book,
            "sites",
            ["code", "name", "kind", "lon", "lat"],
            [[s["code"], s.get("name", ""), s.get("kind", ""), s["lon"], s["lat"]] for s in sites],
        )
    if run.kind == RunKind.RING:
        _sheet(
            book,
            "crossings",
            ["id", "class", "weight", "lon", "lat", "checkpoint", "distance_m"],
            [[c["id"], c["class"], c["weight"], c["lon"], c["lat"], c["checkpoint"],
              c["distance_m"]] for c in result.get("crossings", [])],
        )  # fmt: skip
        _sheet(
            book,
            "next",
            ["rank", "lon", "lat", "gain_weight", "share_weighted_after"],
            [[i, n["lon"], n["lat"], n["gain_weight"], n["share_weighted_after"]]
             for i, n in enumerate(result.get("next", []), start=1)],
        )  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
