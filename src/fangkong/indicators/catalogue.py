"""The indicator catalogue: every indicator is one declaration, checked when it is parsed.

A declaration names the indicator (id, names in Chinese and English, its group), its formula
over the metrics fangkong computes from its own records (:mod:`fangkong.indicators.sources`:
a ratio of two metrics, a metric alone) or a manual input (data fangkong does not hold,
entered per area and period), its unit and direction (higher or lower is better), its default
target with the source it comes from (TARGETS.md's keys: R Rugao 2021, H Heping 2020,
S Shengzhou 2021, C Chizhou 2015, Y Yuncheng 2021; none where the number is fangkong's
default for a county to set), and the levels of the jurisdiction tree it applies to.

Adding an indicator is adding a declaration (:mod:`fangkong.indicators.declarations`, or
:func:`register` at start-up). A broken declaration is refused when it is parsed, with an
error that names it and what is wrong (:class:`DeclarationError`), as the case types are:
the built-in ones are parsed when this package is imported, so a broken one stops the start.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fangkong.areas.models import AreaLevel
from fangkong.indicators import sources

#: The documents the default targets come from (TARGETS.md).
SOURCES: dict[str, str] = {
    "R": "Rugao demonstration-city plan (2021)",
    "H": "Heping county implementation plan (2020)",
    "S": "Shengzhou 14th five-year plan (2021)",
    "C": 'Chizhou "three-three-three" programme (2015)',
    "Y": "Yuncheng government report (2021)",
}
GROUPS = ("response", "cases", "sensing", "facilities", "grids", "forces", "programme")
Unit = Literal["percent", "count", "per_km2", "minutes", "per_100k"]
Direction = Literal["higher", "lower"]
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class DeclarationError(Exception):
    """A declaration that cannot be used; the message names the indicator and the fault."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ratio(_Model):
    """``scale × numerator ÷ denominator`` of two metrics (None when the denominator is 0)."""

    kind: Literal["ratio"]
    numerator: str
    denominator: str
    scale: float = 1.0


class Count(_Model):
    """A metric as it is (a count, a sum)."""

    kind: Literal["count"]
    metric: str


class Manual(_Model):
    """Entered per area and period (the data is not in fangkong): who entered it and when is
    kept with each value."""

    kind: Literal["manual"]


Formula = Annotated[Ratio | Count | Manual, Field(discriminator="kind")]


class Target(_Model):
    """The default target: ``value`` in the indicator's unit (a share as a fraction: 0.9 for
    90 %), ``sources`` (TARGETS.md's keys; empty: fangkong's default, for the county to set)
    and ``cite``, the words of the source or why the default is what it is."""

    value: float | None
    sources: tuple[str, ...] = ()
    cite: str = ""


class IndicatorDecl(_Model):
    id: str = Field(max_length=64)
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=96)
    group: str
    formula: Formula
    unit: Unit
    direction: Direction
    target: Target
    levels: tuple[AreaLevel, ...] = tuple(AreaLevel)
    #: Counted in the share of guideline items met (an indicator of activity, such as the
    #: incidents received, is not an item of the standard).
    guideline: bool = True
    #: The formula and what it counts, in words (shown beside the figure and in the reports).
    definition: str = ""

    @model_validator(mode="after")
    def _check(self) -> IndicatorDecl:
        if not _ID.match(self.id):
            raise ValueError("id: lower-case words separated by dots, e.g. 'devices.online_rate'")
        if self.group not in GROUPS:
            raise ValueError(f"group {self.group!r} is none of {', '.join(GROUPS)}")
        known = sources.metric_names()
        for metric in _metrics(self.formula):
            if metric not in known:
                raise ValueError(f"formula: unknown metric {metric!r}")
        if self.unit == "percent" and not isinstance(self.formula, Ratio | Manual):
            raise ValueError("unit percent needs a ratio or a manual input")
        if not self.levels:
            raise ValueError("levels: at least one level of the tree")
        t = self.target
        for key in t.sources:
            if key not in SOURCES:
                raise ValueError(f"target: unknown source {key!r} (known: {', '.join(SOURCES)})")
        if t.value is not None:
            if self.unit == "percent" and not 0 <= t.value <= 1:
                raise ValueError("target: a share is a fraction between 0 and 1")
            if t.value < 0:
                raise ValueError("target: negative")
            if not t.cite:
                raise ValueError("target: cite its source (or say why the default is what it is)")
        return self

    @property
    def manual(self) -> bool:
        return isinstance(self.formula, Manual)

    @property
    def record_kind(self) -> str | None:
        """What a figure's drill-down lists: the records of its denominator's source (or its
        metric's), e.g. ``incidents``, ``cases.hazard``; None for a manual input."""
        metrics = _metrics(self.formula)
        if not metrics:
            return None
        metric = metrics[-1] if isinstance(self.formula, Ratio) else metrics[0]
        return sources.record_kind(metric)

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh


def _metrics(formula: Ratio | Count | Manual) -> list[str]:
    if isinstance(formula, Ratio):
        return [formula.numerator, formula.denominator]
    if isinstance(formula, Count):
        return [formula.metric]
    return []


def parse(data: dict[str, Any], *, source: str = "") -> IndicatorDecl:
    """A declaration from its mapping; a fault is a :class:`DeclarationError` that names the
    indicator (its id, or its place in ``source``) and what is wrong."""
    name = str(data.get("id", "?")) if isinstance(data, dict) else "?"
    try:
        return IndicatorDecl.model_validate(data)
    except ValidationError as exc:
        faults = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'declaration'}: {e['msg']}"
            for e in exc.errors()
        )
        where = f" ({source})" if source else ""
        raise DeclarationError(f"indicator {name!r}{where}: {faults}") from None


_CATALOGUE: dict[str, IndicatorDecl] = {}


def register(decl: IndicatorDecl) -> None:
    """Add a parsed declaration; an id declared differently before is refused."""
    existing = _CATALOGUE.get(decl.id)
    if existing is not None and existing != decl:
        raise DeclarationError(f"indicator {decl.id!r} is already declared differently")
    _CATALOGUE[decl.id] = decl


def load(items: list[dict[str, Any]], *, source: str) -> list[IndicatorDecl]:
    """Parse and register ``items``; ids must be unique among them."""
    decls = [parse(item, source=f"{source}[{i}]") for i, item in enumerate(items)]
    seen: set[str] = set()
    for decl in decls:
        if decl.id in seen:
            raise DeclarationError(f"indicator {decl.id!r} ({source}): declared twice")
        seen.add(decl.id)
    for decl in decls:
        register(decl)
    return decls


def get(indicator_id: str) -> IndicatorDecl | None:
    return _CATALOGUE.get(indicator_id)


def all_indicators() -> list[IndicatorDecl]:
    """Every declaration, in the order declared."""
    return list(_CATALOGUE.values())


def _load_builtin() -> list[IndicatorDecl]:
    from fangkong.indicators.declarations import BUILTIN as ITEMS

    return load(ITEMS, source="fangkong.indicators.declarations")


#: The built-in declarations, parsed (and registered) when the package is imported.
BUILTIN: list[IndicatorDecl] = _load_builtin()
