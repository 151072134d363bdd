"""The lists of events, emergency plans and their activations as tables of
:mod:`fangkong.http.tables`: scoped to the reader's areas, searched, sorted, exported as CSV
or XLSX. The organiser's contact is never a column (personal data). The event and plan
tables' keys are their imports', so an export reads back."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.cases.models import Case
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.text_match import contains_text
from fangkong.dispatch.taxonomy import TAXONOMY
from fangkong.events.models import Activation, EmergencyPlan, EventApplication, RiskGrade, VenueKind
from fangkong.http.tables import Column, Filter, Table

#: The columns of an event import (and export).
EVENT_COLUMNS = (
    "code",
    "name",
    "organiser",
    "venue_kind",
    "facility_code",
    "venue_polygon",
    "capacity",
    "expected_attendance",
    "starts_at",
    "ends_at",
)
EVENT_REQUIRED = ("code", "name", "organiser", "venue_kind", "capacity", "expected_attendance")
#: The columns of a plan import (and export); tiers as text (see :mod:`~.importing`).
PLAN_COLUMNS = (
    "code",
    "name",
    "category",
    "level",
    "area_code",
    "tiers",
    "checkpoint_codes",
    "facility_codes",
    "target_first_s",
    "target_full_s",
    "active",
)
PLAN_REQUIRED = ("code", "name", "category", "level", "area_code", "tiers")


def events_select(scope: Scope) -> Select[EventApplication]:
    return select(EventApplication).where(scope.clause(EventApplication.area_path))


def event_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The applications of the reader's areas, latest start first."""

    def t(key: str) -> str:
        return translate(key, language)

    def area(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return EventApplication.area_path.startswith(found.path, autoescape=True)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(
            value, EventApplication.code, EventApplication.name, EventApplication.organiser
        )

    state = select(Case.state).where(Case.id == EventApplication.case_id).scalar_subquery()
    states: dict[int, str] = {}

    def state_of(e: EventApplication) -> str:
        if e.case_id is None:
            return ""
        if e.case_id not in states:
            found = session.get(Case, e.case_id)
            states[e.case_id] = found.state if found else ""
        value = states[e.case_id]
        return t(f"cases.event_approval.state.{value}") if value else ""

    codes: dict[int, str] = {}

    def area_code(e: EventApplication) -> str | None:
        if e.area_id is None:
            return None
        if e.area_id not in codes:
            found = session.get(Area, e.area_id)
            codes[e.area_id] = found.code if found else ""
        return codes[e.area_id] or None

    return Table(
        name="event_application",
        columns=(
            Column("code", t("events.field.code"), lambda e: e.code, sort=EventApplication.code),
            Column(
                "name", t("events.field.name"), lambda e: e.name, sort=pinyin(EventApplication.name)
            ),
            Column(
                "organiser",
                t("events.field.organiser"),
                lambda e: e.organiser,
                sort=EventApplication.organiser,
            ),
            Column(
                "venue_kind",
                t("events.field.venue_kind"),
                lambda e: t(f"events.venue.{e.venue_kind.value}"),
                sort=EventApplication.venue_kind,
            ),
            Column(
                "capacity",
                t("events.field.capacity"),
                lambda e: e.capacity,
                sort=EventApplication.capacity,
                numeric=True,
                show=False,
            ),
            Column(
                "expected_attendance",
                t("events.field.expected_attendance"),
                lambda e: e.expected_attendance,
                sort=EventApplication.expected_attendance,
                numeric=True,
            ),
            Column(
                "starts_at",
                t("events.field.starts_at"),
                lambda e: e.starts_at,
                sort=EventApplication.starts_at,
            ),
            Column(
                "ends_at",
                t("events.field.ends_at"),
                lambda e: e.ends_at,
                sort=EventApplication.ends_at,
                show=False,
            ),
            Column(
                "risk_grade",
                t("events.field.risk_grade"),
                lambda e: t(f"events.grade.{e.risk_grade.value}"),
                sort=EventApplication.risk_score,
            ),
            Column(
                "risk_score",
                t("events.field.risk_score"),
                lambda e: e.risk_score,
                sort=EventApplication.risk_score,
                numeric=True,
                show=False,
            ),
            Column("state", t("events.field.state"), state_of, sort=state),
            Column(
                "area",
                t("events.field.area"),
                area_code,
                sort=EventApplication.area_path,
                show=False,
            ),
        ),
        filters=(
            Filter("q", t("events.search"), where=text, max_length=64),
            Filter(
                "risk_grade",
                t("events.field.risk_grade"),
                "choice",
                where=lambda v: EventApplication.risk_grade == v,
                choices=tuple((g.value, t(f"events.grade.{g.value}")) for g in RiskGrade),
            ),
            Filter(
                "venue_kind",
                t("events.field.venue_kind"),
                "choice",
                where=lambda v: EventApplication.venue_kind == v,
                choices=tuple((v.value, t(f"events.venue.{v.value}")) for v in VenueKind),
            ),
            Filter("area", t("events.field.area"), where=area, max_length=32),
        ),
        default_sort="-starts_at",
        tiebreak=(EventApplication.id,),
    )


def plans_select(scope: Scope) -> Select[EmergencyPlan]:
    return select(EmergencyPlan).where(scope.clause(EmergencyPlan.area_path))


def plan_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The emergency plans of the reader's areas by category, level and code."""

    def t(key: str) -> str:
        return translate(key, language)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, EmergencyPlan.code, EmergencyPlan.name)

    return Table(
        name="emergency_plan",
        columns=(
            Column("code", t("events.field.code"), lambda p: p.code, sort=EmergencyPlan.code),
            Column(
                "name", t("events.field.name"), lambda p: p.name, sort=pinyin(EmergencyPlan.name)
            ),
            Column(
                "category",
                t("events.plan.category"),
                lambda p: t(f"dispatch.category.{p.category}"),
                sort=EmergencyPlan.category,
            ),
            Column(
                "level",
                t("events.plan.level"),
                lambda p: t(f"events.level.{p.level}"),
                sort=EmergencyPlan.level,
            ),
            Column(
                "tiers",
                t("events.plan.tiers"),
                lambda p: len(p.tiers),
                numeric=True,
            ),
            Column(
                "target_first_s",
                t("events.plan.target_first_s"),
                lambda p: p.target_first_s,
                sort=EmergencyPlan.target_first_s,
                numeric=True,
            ),
            Column(
                "target_full_s",
                t("events.plan.target_full_s"),
                lambda p: p.target_full_s,
                sort=EmergencyPlan.target_full_s,
                numeric=True,
            ),
            Column(
                "active",
                t("events.plan.active"),
                lambda p: t("events.yes") if p.active else t("events.no"),
                sort=EmergencyPlan.active,
            ),
        ),
        filters=(
            Filter("q", t("events.search"), where=text, max_length=64),
            Filter(
                "category",
                t("events.plan.category"),
                "choice",
                where=lambda v: EmergencyPlan.category == v,
                choices=tuple((c, t(f"dispatch.category.{c}")) for c in TAXONOMY),
            ),
        ),
        default_sort="category",
        tiebreak=(EmergencyPlan.level, EmergencyPlan.code, EmergencyPlan.id),
    )


def activations_select(scope: Scope) -> Select[Activation]:
    return select(Activation).where(scope.clause(Activation.area_path))


def activation_table(session: Session, *, scope: Scope, language: str) -> Table:
    """Activations and drills of the reader's areas, latest first; a drill says so."""

    def t(key: str) -> str:
        return translate(key, language)

    return Table(
        name="emergency_activation",
        columns=(
            Column("id", "#", lambda a: a.id, sort=Activation.id, numeric=True),
            Column("plan", t("events.plan.one"), lambda a: a.plan.code),
            Column(
                "kind",
                t("events.activation.kind"),
                lambda a: t("events.activation.drill" if a.drill else "events.activation.real"),
                sort=Activation.drill,
            ),
            Column(
                "started_at",
                t("events.activation.started_at"),
                lambda a: a.started_at,
                sort=Activation.started_at,
            ),
            Column(
                "confirmed_at",
                t("events.activation.confirmed_at"),
                lambda a: a.confirmed_at,
                sort=Activation.confirmed_at,
            ),
            Column(
                "units",
                t("events.activation.units"),
                lambda a: len(a.confirmed_unit_ids),
                numeric=True,
            ),
        ),
        filters=(
            Filter(
                "kind",
                t("events.activation.kind"),
                "choice",
                where=lambda v: Activation.drill.is_(v == "drill"),
                choices=(
                    ("real", t("events.activation.real")),
                    ("drill", t("events.activation.drill")),
                ),
            ),
        ),
        default_sort="-started_at",
        tiebreak=(Activation.id,),
    )
