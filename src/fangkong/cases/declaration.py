"""Case-type declarations: states, transitions, roles, required fields, deadlines, escalation.

A case type is data, validated on load: a declaration that names an unknown state, leaves a
state unreachable or a dead end, or asks a role that does not exist fails with
:class:`DeclarationError`, whose message names the case type and the state, transition or field
at fault. Declarations are Python mappings (see ``fangkong.cases.case_types``) or YAML files of the
same shape (:func:`load_yaml`).
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fangkong.areas.models import AreaLevel
from fangkong.core.models import Role

NAME = r"^[a-z][a-z0-9_]{0,47}$"
FieldKind = Literal["text", "longtext", "choice", "bool", "int", "date", "datetime", "user"]
TEXT_KINDS = ("text", "longtext")
Clock = Literal["business", "calendar"]
ActionKind = Literal["remind", "flag_overdue", "escalate"]


class DeclarationError(ValueError):
    """A case-type declaration that cannot work; the message names what is wrong and where."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldDecl(_Model):
    """One field a form asks for.

    ``personal`` fields (names, agreement texts, free notes about parties) are stored encrypted,
    shown masked, and deleted by the retention purge. ``free_text`` fields (measures taken, a
    reason, a place described in words) are text in which people may write names: stored as
    written, shown to those who may read the case, never exported, and deleted by the purge.
    A long text must be one or the other; both go into the register of personal data
    (:mod:`fangkong.cases.personal`).
    """

    name: str = Field(pattern=NAME)
    kind: FieldKind
    options: tuple[str, ...] = ()
    personal: bool = False
    free_text: bool = False
    max_length: int = Field(default=2000, ge=1, le=20000)
    user_roles: tuple[Role, ...] = Field(default=(), description="A user field: allowed roles")

    @model_validator(mode="after")
    def _options_match_kind(self) -> FieldDecl:
        if self.kind == "choice" and not self.options:
            raise ValueError(f"field {self.name!r}: a choice needs options")
        if self.kind != "choice" and self.options:
            raise ValueError(f"field {self.name!r}: only a choice has options")
        if self.user_roles and self.kind != "user":
            raise ValueError(f"field {self.name!r}: only a user field has user_roles")
        if (self.personal or self.free_text) and self.kind not in TEXT_KINDS:
            raise ValueError(f"field {self.name!r}: only a text field is personal or free_text")
        if self.personal and self.free_text:
            raise ValueError(
                f"field {self.name!r}: personal (encrypted) or free_text (as written), not both"
            )
        if self.kind == "longtext" and not (self.personal or self.free_text):
            raise ValueError(
                f"field {self.name!r}: people write names in a long text: declare it "
                "personal (encrypted) or free_text"
            )
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"field {self.name!r}: options repeat")
        for option in self.options:
            if not re.match(NAME, option):
                raise ValueError(f"field {self.name!r}: option {option!r} is not an identifier")
        return self


class DeadlineAction(_Model):
    """What the tick does around a deadline: ``offset_hours`` from the due time, on its clock."""

    kind: ActionKind
    offset_hours: float = 0.0


DEFAULT_ACTIONS = (
    DeadlineAction(kind="remind", offset_hours=-4),
    DeadlineAction(kind="flag_overdue"),
    DeadlineAction(kind="escalate", offset_hours=8),
)


class DeadlineDecl(_Model):
    """How long a case may stay in a state: ``hours`` on ``clock``, or by a choice field's value."""

    hours: float = Field(gt=0, le=24 * 366)
    clock: Clock = "business"
    by_field: str | None = None
    hours_by_value: dict[str, float] = Field(default_factory=dict)
    actions: tuple[DeadlineAction, ...] = DEFAULT_ACTIONS

    @model_validator(mode="after")
    def _actions_once(self) -> DeadlineDecl:
        kinds = [a.kind for a in self.actions]
        if len(set(kinds)) != len(kinds):
            raise ValueError("deadline: each action kind may appear once")
        for hours in self.hours_by_value.values():
            if not 0 < hours <= 24 * 366:
                raise ValueError("deadline: hours_by_value must lie in (0, 8784]")
        return self


class StateDecl(_Model):
    name: str = Field(pattern=NAME)
    closing: bool = False
    resolved: bool = False
    deadline: DeadlineDecl | None = None

    @model_validator(mode="after")
    def _resolved_closes(self) -> StateDecl:
        if self.resolved and not self.closing:
            raise ValueError(f"state {self.name!r}: resolved needs closing: true")
        if self.closing and self.deadline is not None:
            raise ValueError(f"state {self.name!r}: a closing state has no deadline")
        return self


class TransitionDecl(_Model):
    """A move from one of ``sources`` to ``target``, allowed to ``roles``, asking ``fields``.

    A transition with ``stay: true`` records facts (a mediation session, new risk facts) and
    leaves the case in its state with its running deadline; it names no target.

    ``not_by`` separates duties: the transition may not be taken by a user who took one of the
    named transitions on the case, nor by the user a named user field of the case holds (a
    re-inspection is not passed by whoever handled the hazard: ``not_by: [report_handled,
    handler]``). The system itself (jobs, imports) is not bound by it.
    """

    name: str = Field(pattern=NAME)
    sources: tuple[str, ...] = Field(min_length=1)
    target: str | None = None
    stay: bool = False
    roles: tuple[Role, ...] = Field(min_length=1)
    fields: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()
    note_required: bool = False
    reopen: bool = False
    assigns_user: str | None = None
    assigns_org: str | None = None
    style: Literal["primary", "normal", "danger"] = "normal"
    not_by: tuple[str, ...] = ()


class RepeatedDecl(_Model):
    """A fact repeated in the case's own timeline: ``at_least`` events of ``transition`` whose
    ``field`` had ``value``."""

    transition: str
    field: str
    value: str
    at_least: int = Field(ge=1)


class RiskDecl(_Model):
    """The escalation-risk flag of a CASE, computed from that case's own recorded facts.

    It never scores a person: it reads the case's category, the facts recorded on it and its
    own timeline. When it turns on, running and later deadlines shrink by ``deadline_factor``
    and users of ``alert_roles`` bound to the case's ``alert_level`` area are alerted.
    """

    any_true: tuple[str, ...] = ()
    field_in: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    repeated: tuple[RepeatedDecl, ...] = ()
    deadline_factor: float = Field(default=0.5, gt=0, le=1)
    alert_roles: tuple[Role, ...] = (Role.STATION_OFFICER,)
    alert_level: AreaLevel = AreaLevel.STATION


class RateDecl(_Model):
    """A rate of the type's indicators, counted on its cases' own timelines.

    Of the cohort's cases that took one of ``of`` (by ``now``), the share that also took one
    of ``hit``. With ``due_days``, a case counts in the denominator once its first ``of`` lies
    ``due_days`` or more before ``now``, or once it took a ``hit`` (e.g. a follow-up is due 30
    days after the agreement). ``source`` says where the rate is defined.
    """

    name: str = Field(pattern=NAME)
    of: tuple[str, ...] = Field(min_length=1)
    hit: tuple[str, ...] = Field(min_length=1)
    due_days: float | None = Field(default=None, gt=0)
    source: str = ""


class PartiesDecl(_Model):
    """Parties of a case (e.g. of a dispute): names and contacts are personal data."""

    minimum: int = Field(default=1, ge=0, le=20)
    maximum: int = Field(default=10, ge=1, le=50)
    roles: tuple[str, ...] = ("applicant", "respondent", "other")


class CaseTypeDecl(_Model):
    """One case type on the closed-loop engine."""

    name: str = Field(pattern=NAME)
    prefix: str = Field(pattern=r"^[A-Z]{2,4}$")
    fields: tuple[FieldDecl, ...]
    create_fields: tuple[str, ...] = ()
    create_optional: tuple[str, ...] = ()
    create_roles: tuple[Role, ...] = Field(min_length=1)
    initial: str
    states: tuple[StateDecl, ...] = Field(min_length=2)
    transitions: tuple[TransitionDecl, ...] = Field(min_length=1)
    supervising_roles: tuple[Role, ...] = (Role.STATION_OFFICER, Role.COMMANDER)
    parties: PartiesDecl | None = None
    #: Days after a case closes before its personal data and free text are deleted: every
    #: case has a title, a description and notes, in which people may write names.
    retention_days: int = Field(ge=1, le=100 * 366)
    risk: RiskDecl | None = None
    #: Rates of the type's own loop, beside the indicators every type has.
    rates: tuple[RateDecl, ...] = ()

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, fields: tuple[FieldDecl, ...]) -> tuple[FieldDecl, ...]:
        seen: set[str] = set()
        for f in fields:
            if f.name in seen:
                raise ValueError(f"field {f.name!r} is declared twice")
            seen.add(f.name)
        return fields

    @model_validator(mode="after")
    def _consistent(self) -> CaseTypeDecl:
        _check(self)
        return self

    # --- lookups ---------------------------------------------------------------------------

    def state(self, name: str) -> StateDecl:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def transition(self, name: str) -> TransitionDecl | None:
        return next((t for t in self.transitions if t.name == name), None)

    def field(self, name: str) -> FieldDecl:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def leaving(self, state: str) -> list[TransitionDecl]:
        """Transitions that may start from ``state`` (stays included)."""
        return [t for t in self.transitions if state in t.sources]

    def target_of(self, transition: TransitionDecl, state: str) -> str:
        return state if transition.stay or transition.target is None else transition.target

    @property
    def closing_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.closing)

    @property
    def resolved_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.resolved)

    @property
    def personal_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.personal)

    @property
    def free_text_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.free_text)

    @property
    def holds_personal_data(self) -> bool:
        """Whether its cases hold personal data (parties or personal fields), beyond the free
        text every case has: reading their attachments needs the unmask permission."""
        return self.parties is not None or bool(self.personal_fields)


def _check(decl: CaseTypeDecl) -> None:
    """Every rule a declaration must meet; the first fault raises, naming where it is."""
    states = {s.name: s for s in decl.states}
    if len(states) != len(decl.states):
        dup = next(s.name for s in decl.states if [x.name for x in decl.states].count(s.name) > 1)
        raise ValueError(f"state {dup!r} is declared twice")
    fields = {f.name: f for f in decl.fields}
    names = [t.name for t in decl.transitions]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"transition {name!r} is declared twice")
    if decl.initial not in states:
        raise ValueError(f"initial state {decl.initial!r} is not declared")
    if states[decl.initial].closing:
        raise ValueError(f"initial state {decl.initial!r} must not be closing")
    for group, where in (
        (decl.create_fields, "create_fields"),
        (decl.create_optional, "create_optional"),
    ):
        for name in group:
            if name not in fields:
                raise ValueError(f"{where}: field {name!r} is not declared")
    for t in decl.transitions:
        where = f"transition {t.name!r}"
        for source in t.sources:
            if source not in states:
                raise ValueError(f"{where}: source state {source!r} is not declared")
        if t.stay and t.target is not None:
            raise ValueError(f"{where}: a stay transition names no target")
        if not t.stay and t.target is None:
            raise ValueError(f"{where}: needs a target state or stay: true")
        if t.target is not None and t.target not in states:
            raise ValueError(f"{where}: target state {t.target!r} is not declared")
        for name in (*t.fields, *t.optional_fields):
            if name not in fields:
                raise ValueError(f"{where}: field {name!r} is not declared")
        if set(t.fields) & set(t.optional_fields):
            raise ValueError(f"{where}: a field is both required and optional")
        leaves_closed = [s for s in t.sources if states[s].closing]
        if leaves_closed and not t.reopen:
            raise ValueError(
                f"{where}: leaves closing state {leaves_closed[0]!r} without reopen: true"
            )
        if t.reopen and (
            t.target is None or len(leaves_closed) != len(t.sources) or states[t.target].closing
        ):
            raise ValueError(f"{where}: a reopen leaves closing states for an open one")
        for attr, kind in ((t.assigns_user, "user"), (t.assigns_org, None)):
            if attr is None:
                continue
            if attr not in (*t.fields, *t.optional_fields):
                raise ValueError(f"{where}: assigns from field {attr!r}, which it does not ask")
            if kind == "user" and fields[attr].kind != "user":
                raise ValueError(f"{where}: assigns_user field {attr!r} must be of kind user")
    for s in decl.states:
        if not s.closing and not [t for t in decl.leaving(s.name) if not t.stay]:
            raise ValueError(
                f"state {s.name!r} is a dead end: it is not closing and no transition leaves it"
            )
        if s.deadline is not None and s.deadline.by_field is not None:
            by = s.deadline.by_field
            if by not in fields or fields[by].kind != "choice":
                raise ValueError(
                    f"state {s.name!r}: deadline by_field {by!r} is not a declared choice field"
                )
            unknown = set(s.deadline.hours_by_value) - set(fields[by].options)
            if unknown:
                raise ValueError(
                    f"state {s.name!r}: deadline hours_by_value names "
                    f"{sorted(unknown)}, not options of {by!r}"
                )
    reached = {decl.initial}
    queue = deque([decl.initial])
    while queue:
        current = queue.popleft()
        for t in decl.leaving(current):
            if t.target is not None and t.target not in reached:
                reached.add(t.target)
                queue.append(t.target)
    for s in decl.states:
        if s.name not in reached:
            raise ValueError(
                f"state {s.name!r} cannot be reached from the initial state {decl.initial!r}"
            )
    if not any(states[name].closing for name in reached):
        raise ValueError("no closing state can be reached: every case would stay open")
    if decl.risk is not None:
        for name in decl.risk.any_true:
            if name not in fields or fields[name].kind != "bool":
                raise ValueError(f"risk: any_true field {name!r} is not a declared bool field")
        for name, values in decl.risk.field_in.items():
            if name not in fields or fields[name].kind != "choice":
                raise ValueError(f"risk: field_in field {name!r} is not a declared choice field")
            if set(values) - set(fields[name].options):
                raise ValueError(f"risk: field_in {name!r} names values that are not options")
        for rep in decl.risk.repeated:
            counted = decl.transition(rep.transition)
            if counted is None:
                raise ValueError(f"risk: repeated transition {rep.transition!r} is not declared")
            if rep.field not in (*counted.fields, *counted.optional_fields):
                raise ValueError(f"risk: transition {rep.transition!r} does not ask {rep.field!r}")
    for t in decl.transitions:
        for name in t.not_by:
            where = f"transition {t.name!r}"
            if name not in names and (name not in fields or fields[name].kind != "user"):
                raise ValueError(
                    f"{where}: not_by {name!r} is neither a declared transition nor a "
                    "declared user field"
                )
            if name in names and name in fields:
                raise ValueError(f"{where}: not_by {name!r} names both a transition and a field")
    rate_names = [r.name for r in decl.rates]
    for rate in decl.rates:
        if rate_names.count(rate.name) > 1:
            raise ValueError(f"rate {rate.name!r} is declared twice")
        for name in (*rate.of, *rate.hit):
            if name not in names:
                raise ValueError(f"rate {rate.name!r}: transition {name!r} is not declared")
    if decl.parties is not None and decl.parties.minimum > decl.parties.maximum:
        raise ValueError("parties: minimum exceeds maximum")


def parse(data: dict[str, Any], *, source: str = "declaration") -> CaseTypeDecl:
    """Validate a declaration; faults raise :class:`DeclarationError` naming where they are."""
    name = data.get("name", "?") if isinstance(data, dict) else "?"
    try:
        return CaseTypeDecl.model_validate(data)
    except ValidationError as exc:
        faults = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            message = str(err.get("msg", "")).removeprefix("Value error, ")
            faults.append(f"{loc}: {message}" if loc else message)
        raise DeclarationError(f"{source}: case type {name!r}: " + "; ".join(faults)) from None


def load_yaml(path: Path) -> CaseTypeDecl:
    """A declaration from a YAML file of the same shape as the Python mappings."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DeclarationError(f"{path}: a declaration is a mapping")
    return parse(data, source=str(path))
