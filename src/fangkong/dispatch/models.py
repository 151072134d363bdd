"""Tables of the dispatch domain: incidents and their timeline, units, dispatch records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, String, Text, and_, text
from sqlalchemy.orm import Mapped, Session, foreign, mapped_column, relationship

from fangkong.areas.models import LocatedMixin
from fangkong.core.county import (
    county_from_parent,
    county_from_path,
    partition_key,
    partition_reference,
)
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column
from fangkong.core.scoping import in_partition_of


class Priority(StrEnum):
    """警情等级: P1 is the most urgent."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Source(StrEnum):
    """How the incident came in. ``simulated``: made by a simulation (the demo's live feed, a
    drill), not reported; the response KPIs leave it out (``kpis.area_kpis``)."""

    CALL = "call"
    PATROL = "patrol"
    ALARM = "alarm"
    PUBLIC_TIP = "public_tip"
    SIMULATED = "simulated"


class IncidentStatus(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    CLEARED = "cleared"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MERGED = "merged"


class UnitType(StrEnum):
    CAR = "car"
    MOTORCYCLE = "motorcycle"
    FOOT = "foot"
    BOAT = "boat"
    DRONE_TEAM = "drone_team"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OUT_OF_SERVICE = "out_of_service"


class PostKind(StrEnum):
    """The fixed sites units start from (GLOSSARY: 警务工作站 / 街面警务站 / 警务室 / 护学岗)."""

    POLICE_POST = "police_post"
    STREET_POST = "street_post"
    COMMUNITY_OFFICE = "community_office"
    SCHOOL_GATE = "school_gate"


#: Set in ``session.info`` by a session that wrote dispatch rows: its commit wakes the live
#: streams (``live.py``). The ORM's flushes set it by themselves; a Core write calls
#: :func:`mark_changed`.
CHANGED = "fangkong.dispatch.changed"


def mark_changed(session: Session) -> None:
    session.info[CHANGED] = True


class Post(LocatedMixin, TimestampMixin, Base):
    """A police post: a fixed site, placed in its areas, that units are based at."""

    __tablename__ = "police_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[PostKind] = mapped_column(enum_column(PostKind, 24))


#: The incidents that still hold personal data (the register's entries of incidents,
#: :mod:`fangkong.dispatch.personal`): the retention purge's partial index.
PERSONAL_HELD = (
    "caller_contact_encrypted IS NOT NULL OR request_hash IS NOT NULL OR description <> ''"
)


class Incident(LocatedMixin, TimestampMixin, Base):
    """警情: one reported event, placed in its areas; the caller's contact is encrypted."""

    __tablename__ = "incident"
    # updated_at: the live map's change feed reads what changed since its last look.
    __table_args__ = (
        Index("ix_incident_status_received", "status", "received_at"),
        Index("ix_incident_updated_at", "updated_at"),
        # an area's incidents of a period (the indicators' reads by area id)
        Index("ix_incident_area_received", "area_id", "received_at"),
        # the retention purge's rows due: the ended incidents that still hold personal data
        # (dispatch.retention; migration 0025)
        Index(
            "ix_incident_personal_received",
            "received_at",
            postgresql_where=text(PERSONAL_HELD),
            sqlite_where=text(PERSONAL_HELD),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The partition key (PostgreSQL partitions the incidents by county, migration 0026; its
    #: primary key there is ``(id, partition_county)``).
    partition_county: Mapped[int] = partition_key()

    # The ORM's UPDATE and DELETE of an incident name its partition beside its id (the value
    # loaded; a move sets the new one), so that PostgreSQL plans them on that partition alone:
    # the mapper's version check, with the application keeping the value.
    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's mapping
        "version_id_col": partition_county,
        "version_id_generator": False,
    }
    # Client-supplied: a retried create with the same key returns this incident. Unique in
    # the province through its claim (IncidentKey); on PostgreSQL the table's own unique key
    # includes the partition key, as a partitioned table's must.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Keyed digest (HMAC-SHA256, key derived from the secret) of the create request's fields:
    # the same key with another body is a conflict. Made from the caller's contact and the
    # description, it is deleted with them (NULL: a create sent again is then a conflict).
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    category: Mapped[str] = mapped_column(String(32), index=True)
    subtype: Mapped[str] = mapped_column(String(32))
    priority: Mapped[Priority] = mapped_column(enum_column(Priority, 4))
    source: Mapped[Source] = mapped_column(enum_column(Source, 16))
    description: Mapped[str] = mapped_column(Text, default="")
    # Fernet ciphertext of the caller's phone; shown masked, unmasked only with an audit event.
    caller_contact_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    status: Mapped[IncidentStatus] = mapped_column(enum_column(IncidentStatus, 16))
    received_at: Mapped[datetime] = mapped_column(index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    en_route_at: Mapped[datetime | None] = mapped_column(default=None)
    on_scene_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), default=None
    )
    #: The partition key of the incident merged into (set with ``merged_into_id``).
    merged_into_county: Mapped[int | None] = partition_reference("incident", "merged_into_id")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )

    #: The timeline; on PostgreSQL read from the incident's county's partition alone
    #: (``partition_county``, see :mod:`fangkong.core.partitions`).
    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        order_by="IncidentEvent.id",
        passive_deletes=True,
        primaryjoin=lambda: and_(
            Incident.id == foreign(IncidentEvent.incident_id),
            in_partition_of(IncidentEvent.partition_county, Incident.county_id),
        ),
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        order_by="Assignment.id",
        passive_deletes=True,
    )


class IncidentEvent(Base):
    """One status change of an incident: from, to, when (server time) and who."""

    __tablename__ = "incident_event"
    __table_args__ = (
        # the retention purge's notes due (dispatch.retention; migration 0025)
        Index(
            "ix_incident_event_note_held",
            "incident_id",
            postgresql_where=text("note IS NOT NULL"),
            sqlite_where=text("note IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("incident", "incident_id")
    #: The partition key (PostgreSQL partitions the timelines by county and month).
    partition_county: Mapped[int] = partition_key()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)

    incident: Mapped[Incident] = relationship(back_populates="events")


class IncidentKey(Base):
    """The claim of an idempotency key in the whole province, and the partition of the
    incident that holds it. PostgreSQL keeps a partitioned table's keys unique within a
    partition only, so the incidents' keys are claimed here first (``dispatch.incidents``):
    a key stays one incident's whatever county a retry, or another request, is placed in."""

    __tablename__ = "incident_key"

    # Deferred: the key is claimed before its incident goes in, in the same transaction.
    # On PostgreSQL the reference is ``(idempotency_key, incident_county)`` (migration 0026).
    idempotency_key: Mapped[str] = mapped_column(
        String(64),
        ForeignKey(
            "incident.idempotency_key",
            ondelete="CASCADE",
            onupdate="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        primary_key=True,
    )
    incident_county: Mapped[int | None] = partition_reference(
        "incident", "idempotency_key", parent_column="idempotency_key"
    )


class Unit(TimestampMixin, Base):
    """警力: a dispatchable unit with its latest position only (no history is kept)."""

    __tablename__ = "unit"
    __table_args__ = (Index("ix_unit_updated_at", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(32), unique=True)
    unit_type: Mapped[UnitType] = mapped_column(enum_column(UnitType, 16))
    home_area_id: Mapped[int] = mapped_column(
        ForeignKey("area.id", ondelete="RESTRICT"), index=True
    )
    # The home area's path, so that scoping needs no join.
    home_area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path("home_area_path")
    status: Mapped[UnitStatus] = mapped_column(enum_column(UnitStatus, 16), index=True)
    staged: Mapped[bool] = mapped_column(default=False)
    home_post_id: Mapped[int | None] = mapped_column(
        ForeignKey("police_post.id", ondelete="SET NULL"), default=None, index=True
    )
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    position_at: Mapped[datetime | None] = mapped_column(default=None)


class Assignment(Base):
    """派警记录: one unit sent to one incident, with its times."""

    __tablename__ = "dispatch_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("incident", "incident_id")
    #: The incident's partition key: on PostgreSQL the reference to it is
    #: ``(incident_id, partition_county)`` (migration 0026).
    partition_county: Mapped[int] = partition_key()
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    dispatched_at: Mapped[datetime]
    # Road time predicted at dispatch (seconds), when the network gave one.
    predicted_s: Mapped[float | None] = mapped_column(Float, default=None)
    arrived_at: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    dispatched_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )

    incident: Mapped[Incident] = relationship(back_populates="assignments")
    unit: Mapped[Unit] = relationship(lazy="selectin")


class ReplayRun(Base):
    """One replay of a recorded day against the units of the time it ran, and its KPIs.

    Kept so that a planner can compare deployments; ``result`` holds the report as JSON.
    """

    __tablename__ = "dispatch_replay"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    result: Mapped[str] = mapped_column(Text)
