"""Compliance rules of key facilities: declarations, each citing its source, editable per county.

A rule applies to facilities of some types (all, when none are named) that meet its
conditions (e.g. fewer than 200 staff), and requires values of their protection: a flag set
(a school-gate post), a count at least a number, or at least a share of another count (5 ‰
of the staff, rounded up). The defaults below are the source documents' numbers
(TARGETS.md); a county changes one by saving a rule of the same code, switches one off, or
adds its own (:class:`~fangkong.facilities.models.FacilityRule`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.facilities.models import Facility, FacilityRule, FacilityType

NumericField = Literal["staff_count", "guards_full_time", "guards_part_time"]
FlagField = Literal[
    "physical_barriers",
    "alarm_networked",
    "video_networked",
    "school_gate_post",
    "closed_management",
]
NUMERIC_FIELDS: tuple[str, ...] = NumericField.__args__  # type: ignore[attr-defined]
FLAG_FIELDS: tuple[str, ...] = FlagField.__args__  # type: ignore[attr-defined]
CODE = r"^[a-z][a-z0-9_]{0,47}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Model):
    """When the rule applies: ``field`` compared with ``value``."""

    field: NumericField
    op: Literal["<", "<=", ">=", ">", "=="]
    value: int = Field(ge=0, le=10_000_000)

    def holds(self, facility: Facility) -> bool:
        actual = int(getattr(facility, self.field))
        return {
            "<": actual < self.value,
            "<=": actual <= self.value,
            ">=": actual >= self.value,
            ">": actual > self.value,
            "==": actual == self.value,
        }[self.op]


class Requirement(_Model):
    """What the rule asks: a flag set (``field`` a flag), or a count of at least
    ``at_least`` and of at least ``per_mille`` ‰ of ``of`` (rounded up), whichever is more."""

    field: NumericField | FlagField
    at_least: int | None = Field(default=None, ge=0, le=1_000_000)
    per_mille: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    of: NumericField | None = None

    @model_validator(mode="after")
    def _shape(self) -> Requirement:
        flag = self.field in FLAG_FIELDS
        if flag and (self.at_least is not None or self.per_mille is not None or self.of):
            raise ValueError(f"{self.field}: a flag is required set; it takes no number")
        if not flag and self.at_least is None and self.per_mille is None:
            raise ValueError(f"{self.field}: give at_least or per_mille")
        if (self.per_mille is None) != (self.of is None):
            raise ValueError(f"{self.field}: per_mille and of go together")
        return self

    def required(self, facility: Facility) -> int:
        """The least count ``facility`` must have (1 for a flag: set)."""
        if self.field in FLAG_FIELDS:
            return 1
        need = self.at_least or 0
        if self.per_mille is not None and self.of is not None:
            base = int(getattr(facility, self.of))
            need = max(need, math.ceil(base * self.per_mille / 1000 - 1e-9))
        return need

    def actual(self, facility: Facility) -> int:
        return int(getattr(facility, self.field))


class RuleDecl(_Model):
    """One compliance rule and the source it cites."""

    code: str = Field(pattern=CODE)
    name_zh: str = Field(min_length=1, max_length=128)
    name_en: str = Field(min_length=1, max_length=128)
    types: tuple[FacilityType, ...] = Field(default=(), max_length=len(FacilityType))
    when: tuple[Condition, ...] = Field(default=(), max_length=8)
    require: tuple[Requirement, ...] = Field(min_length=1, max_length=16)
    source: str = Field(min_length=1, max_length=300)

    def applies(self, facility: Facility) -> bool:
        return (not self.types or facility.facility_type in self.types) and all(
            c.holds(facility) for c in self.when
        )


#: The sources' keys, as TARGETS.md cites them.
SOURCE_C = (
    'C: Chizhou "three-three-three" programme (2015): security staff in key units, fewer than '
    "200 employees at least 1 full-time and 1 part-time, 200 or more each at least 5 ‰"
)
SOURCE_Y = (
    "Y: Yuncheng government report (2021): schools with closed management, guards, alarm "
    "button, alarm networked to the police and a school-gate post (100 %)"
)
SOURCE_R_INTERNAL = (
    "R: Rugao demonstration-city plan (2021): internal security (智慧内保) 100 % at fuel "
    "stations, banks, schools and hospitals"
)
SOURCE_R_PORT = (
    "R: Rugao demonstration-city plan (2021): ports and wharves, physical barriers, video "
    "coverage and connectivity 100 %"
)

DEFAULT_RULES: tuple[RuleDecl, ...] = (
    RuleDecl(
        code="guards_under_200",
        name_zh="人防：200人以下至少专职、兼职保卫各1人",
        name_en="Guards: under 200 staff, at least 1 full-time and 1 part-time",
        when=(Condition(field="staff_count", op="<", value=200),),
        require=(
            Requirement(field="guards_full_time", at_least=1),
            Requirement(field="guards_part_time", at_least=1),
        ),
        source=SOURCE_C,
    ),
    RuleDecl(
        code="guards_200_plus",
        name_zh="人防：200人以上专职、兼职保卫各不少于职工数5‰",
        name_en="Guards: 200 staff or more, full-time and part-time each at least 5 ‰ of staff",
        when=(Condition(field="staff_count", op=">=", value=200),),
        require=(
            Requirement(field="guards_full_time", per_mille=5, of="staff_count"),
            Requirement(field="guards_part_time", per_mille=5, of="staff_count"),
        ),
        source=SOURCE_C,
    ),
    RuleDecl(
        code="school_protection",
        name_zh="校园：护学岗、一键报警联网、封闭化管理",
        name_en="Schools: school-gate post, alarm networked to the police, closed management",
        types=(FacilityType.SCHOOL, FacilityType.KINDERGARTEN),
        require=(
            Requirement(field="school_gate_post"),
            Requirement(field="alarm_networked"),
            Requirement(field="closed_management"),
        ),
        source=SOURCE_Y,
    ),
    RuleDecl(
        code="internal_security_video",
        name_zh="智慧内保：视频联网",
        name_en="Internal security: video networked to the police",
        types=(
            FacilityType.FUEL_STATION,
            FacilityType.BANK,
            FacilityType.SCHOOL,
            FacilityType.KINDERGARTEN,
            FacilityType.HOSPITAL,
        ),
        require=(Requirement(field="video_networked"),),
        source=SOURCE_R_INTERNAL,
    ),
    RuleDecl(
        code="port_protection",
        name_zh="港口码头：物防设施、视频联网",
        name_en="Ports and wharves: physical barriers, video networked",
        types=(FacilityType.PORT,),
        require=(
            Requirement(field="physical_barriers"),
            Requirement(field="video_networked"),
        ),
        source=SOURCE_R_PORT,
    ),
)
DEFAULTS_BY_CODE = {rule.code: rule for rule in DEFAULT_RULES}


@dataclass(frozen=True)
class Rule:
    """A rule as the county has it: its declaration, whether on, whether the default."""

    decl: RuleDecl
    enabled: bool
    default: bool
    changed: bool


def parse(data: dict[str, Any]) -> RuleDecl:
    """A rule from its JSON shape; a fault is invalid input naming where it is."""
    try:
        return RuleDecl.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "rule"
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        raise InvalidInput(
            key="error.facilities.rule_invalid",
            params={"where": where, "message": message},
            field=f"rule.{where}",
        ) from None


def get_rules(session: Session) -> list[Rule]:
    """The county's rules: each default (or its county version), then the county's own."""
    rows = {row.code: row for row in session.scalars(select(FacilityRule))}
    found: list[Rule] = []
    for default in DEFAULT_RULES:
        row = rows.pop(default.code, None)
        if row is None:
            found.append(Rule(default, True, True, False))
        else:
            decl = parse(row.definition) if row.definition else default
            found.append(Rule(decl, row.enabled, True, decl != default))
    for code in sorted(rows):
        row = rows[code]
        found.append(Rule(parse(row.definition), row.enabled, False, True))
    return found


def active_rules(session: Session) -> list[RuleDecl]:
    return [rule.decl for rule in get_rules(session) if rule.enabled]


def save_rule(session: Session, *, decl: RuleDecl, enabled: bool, actor: Actor) -> Rule:
    """Save the county's version of rule ``decl.code`` (a default changed, or its own)."""
    row = session.scalars(select(FacilityRule).where(FacilityRule.code == decl.code)).one_or_none()
    if row is None:
        row = FacilityRule(code=decl.code)
        session.add(row)
    row.enabled = enabled
    row.definition = decl.model_dump(mode="json")
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="save_rule",
        entity="facility_rule",
        entity_id=decl.code,
        detail={"enabled": enabled},
    )
    return next(r for r in get_rules(session) if r.decl.code == decl.code)


def reset_rule(session: Session, *, code: str, actor: Actor) -> None:
    """Drop the county's version: a default comes back, a rule of its own goes."""
    row = session.scalars(select(FacilityRule).where(FacilityRule.code == code)).one_or_none()
    if row is None:
        raise NotFound(
            key="error.facilities.rule_unknown", params={"code": code[:48]}, field="code"
        )
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="reset_rule", entity="facility_rule", entity_id=code)


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """A requirement not met: the field, the least it must be, what it is."""

    field: str
    required: int
    actual: int


@dataclass(frozen=True)
class RuleResult:
    code: str
    passed: bool
    shortfalls: tuple[Shortfall, ...]
    source: str


def evaluate(facility: Facility, rules: list[RuleDecl]) -> list[RuleResult]:
    """The rules that apply to ``facility``, each passed or with its shortfalls."""
    results = []
    for rule in rules:
        if not rule.applies(facility):
            continue
        shortfalls = tuple(
            Shortfall(req.field, req.required(facility), req.actual(facility))
            for req in rule.require
            if req.actual(facility) < req.required(facility)
        )
        results.append(RuleResult(rule.code, not shortfalls, shortfalls, rule.source))
    return results


def compliant(facility: Facility, rules: list[RuleDecl]) -> bool:
    """Whether every rule that applies to ``facility`` passes."""
    return all(r.passed for r in evaluate(facility, rules))
