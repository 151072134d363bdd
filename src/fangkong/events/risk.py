"""The risk grade of a large event, by a documented rule: four factors, each scored 0 to 3,
summed, and the sum banded into a grade. Every factor is kept with the application, with
its value, its points and the band it fell in, so the grade can be read and checked.

=================  ======================================================  ===============
factor             bands (points 0 / 1 / 2 / 3)                            source
=================  ======================================================  ===============
attendance         < 1,000 / 1,000–4,999 / 5,000–19,999 / ≥ 20,000          [1] art. 2, 11
occupancy          attendance ÷ capacity ≤ 0.7 / ≤ 0.9 / ≤ 1.0 / > 1.0      [1] art. 7
venue_kind         closed hall, theatre, exhibition 1; stadium 2;           county rule
                   square, park 2; street (parade, race) 3; other 1
incident_history   incidents within 500 m in the last 365 days (drills      county rule
                   and simulations left out): 0 / 1–9 / 10–49 / ≥ 50
=================  ======================================================  ===============

Grade by the sum (0–12): ≤ 3 ``low``, 4–6 ``medium``, 7–9 ``high``, ≥ 10 ``very_high``;
an attendance of 20,000 or more, or more people than the venue holds, is at least ``high``.

[1] 大型群众性活动安全管理条例 (Regulations on the Safety Management of Large-scale Mass
Activities, State Council, 2007): art. 2 applies them to gatherings of 1,000 or more;
art. 11 puts 1,000–5,000 with the county's police and more than 5,000 with the city's;
art. 7 forbids admitting more people than the venue's approved capacity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core.scoping import as_system
from fangkong.dispatch.models import Incident, Source
from fangkong.events.models import RiskGrade, VenueKind

ATTENDANCE_BANDS = (1_000, 5_000, 20_000)
OCCUPANCY_BANDS = (0.7, 0.9, 1.0)
HISTORY_BANDS = (1, 10, 50)
HISTORY_RADIUS_M = 500.0
HISTORY_DAYS = 365
VENUE_POINTS: dict[VenueKind, int] = {
    VenueKind.INDOOR_HALL: 1,
    VenueKind.THEATRE: 1,
    VenueKind.EXHIBITION: 1,
    VenueKind.STADIUM: 2,
    VenueKind.SQUARE: 2,
    VenueKind.PARK: 2,
    VenueKind.STREET: 3,
    VenueKind.OTHER: 1,
}
GRADE_BANDS: tuple[tuple[int, RiskGrade], ...] = (
    (3, RiskGrade.LOW),
    (6, RiskGrade.MEDIUM),
    (9, RiskGrade.HIGH),
)
EARTH_M = 6_371_008.8


@dataclass(frozen=True)
class Factor:
    """One factor of the rule: its value, the points it scored and the band (as text)."""

    factor: str
    value: float
    points: int
    band: str


@dataclass(frozen=True)
class Assessment:
    grade: RiskGrade
    score: int
    factors: list[Factor]

    def factors_json(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.factors]


def _banded(value: float, bands: tuple[float, ...], *, upper: bool) -> tuple[int, str]:
    """Points 0..len(bands) and the band as text: with ``upper`` band i holds the values
    ≤ bands[i] (above the band before), otherwise the values < bands[i]."""
    for i, limit in enumerate(bands):
        if (value <= limit) if upper else (value < limit):
            if i == 0:
                return 0, f"{'≤' if upper else '<'} {limit:g}"
            return i, f"{bands[i - 1]:g}–{limit:g}"
    return len(bands), f"{'>' if upper else '≥'} {bands[-1]:g}"


def assess(*, attendance: int, capacity: int, venue_kind: VenueKind, incidents: int) -> Assessment:
    """The grade of an event by the rule of this module (pure: the incident count given)."""
    a_points, a_band = _banded(attendance, ATTENDANCE_BANDS, upper=False)
    occupancy = attendance / capacity if capacity > 0 else math.inf
    o_points, o_band = _banded(occupancy, OCCUPANCY_BANDS, upper=True)
    h_points, h_band = _banded(incidents, HISTORY_BANDS, upper=False)
    v_points = VENUE_POINTS[venue_kind]
    factors = [
        Factor("attendance", float(attendance), a_points, a_band),
        Factor(
            "occupancy",
            round(occupancy, 3) if math.isfinite(occupancy) else -1.0,
            o_points,
            o_band,
        ),
        Factor("venue_kind", float(v_points), v_points, venue_kind.value),
        Factor("incident_history", float(incidents), h_points, h_band),
    ]
    score = sum(f.points for f in factors)
    grade = next((g for limit, g in GRADE_BANDS if score <= limit), RiskGrade.VERY_HIGH)
    floor = a_points == 3 or o_points == 3
    if floor and grade in (RiskGrade.LOW, RiskGrade.MEDIUM):
        grade = RiskGrade.HIGH
    return Assessment(grade=grade, score=score, factors=factors)


def metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p0, p1 = math.radians(lat0), math.radians(lat1)
    dp, dl = p1 - p0, math.radians(lon1 - lon0)
    h = math.sin(dp / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def incident_history(
    session: Session,
    *,
    points: list[tuple[float, float]],
    now: datetime,
    radius_m: float = HISTORY_RADIUS_M,
    days: int = HISTORY_DAYS,
) -> int:
    """Incidents received in the ``days`` before ``now`` within ``radius_m`` of any of the
    venue's ``points`` (simulated ones, drills included, left out). A count of the place, so
    read as the system whatever the reader's areas: no incident is shown.

    Complexity: one query on a bounding box (the ``received_at`` index), then a haversine
    test per candidate and point."""
    dlat = math.degrees(radius_m / EARTH_M)
    mid = sum(p[1] for p in points) / len(points)
    dlon = dlat / max(math.cos(math.radians(mid)), 0.01)
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    with as_system(session):
        rows = session.execute(
            select(Incident.lon, Incident.lat).where(
                Incident.received_at >= now - timedelta(days=days),
                Incident.received_at <= now,
                Incident.source != Source.SIMULATED,
                Incident.lon.between(min(lons) - dlon, max(lons) + dlon),
                Incident.lat.between(min(lats) - dlat, max(lats) + dlat),
            )
        ).all()
    return sum(1 for lon, lat in rows if any(metres(lon, lat, x, y) <= radius_m for x, y in points))
