"""The security plan's response rings checked against the venue with the network engine.

Each point that stands for the venue (a facility's point; a drawn venue's centre and
corners) is reached from the nearest post of the plan by road: its time and its ring
(1, 3 or 5 minutes, else beyond, as dispatch rings them). The plan passes when every point
of the venue lies within the 3-minute ring of some post (the 1-3-5 response standard: a
unit at the scene of any part of the venue within 3 minutes). Posts farther from a road
than the snapping distance are named and left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fangkong.core.errors import InvalidInput
from fangkong.dispatch.recommend import ring_of
from fangkong.events.models import EventApplication
from fangkong.events.register import venue_of_event
from fangkong.network import service as network_service
from fangkong.network.service import Network

#: The ring every point of the venue must lie in (s).
PASS_S = 180.0
CUTOFF_S = 300.0


@dataclass(frozen=True)
class RingPoint:
    lon: float
    lat: float
    time_s: float | None
    ring: str
    post: str | None


@dataclass(frozen=True)
class RingCheck:
    posts: int
    off_road: list[str]
    points: list[RingPoint]

    def share(self, limit_s: float) -> float:
        if not self.points:
            return 0.0
        hits = sum(1 for p in self.points if p.time_s is not None and p.time_s <= limit_s)
        return hits / len(self.points)

    @property
    def passed(self) -> bool:
        return bool(self.points) and self.share(PASS_S) == 1.0


def check(network: Network, event: EventApplication) -> RingCheck:
    """Road time from the plan's nearest post to each point of the venue.

    Complexity: one bounded search (``CUTOFF_S``) per post that lies near a road, over the
    venue's points (at most 201); posts are few (tens)."""
    venue = venue_of_event(event)
    targets = venue.points
    best = np.full(len(targets), np.inf)
    by = [-1] * len(targets)
    off_road: list[str] = []
    posts = list(event.posts)
    try:
        network_service.snap(
            network, [t[0] for t in targets], [t[1] for t in targets], field="venue"
        )
        venue_on_road = True
    except InvalidInput:
        venue_on_road = False
    for i, post in enumerate(posts):
        try:
            times = (
                network_service.travel_times(
                    network, source=(post.lon, post.lat), targets=targets, cutoff_s=CUTOFF_S
                )
                if venue_on_road
                else [None] * len(targets)
            )
        except InvalidInput:
            off_road.append(post.name)
            continue
        for j, t in enumerate(times):
            if t is not None and t < best[j]:
                best[j], by[j] = t, i
    points = [
        RingPoint(
            lon=lon,
            lat=lat,
            time_s=float(best[j]) if np.isfinite(best[j]) else None,
            ring=ring_of(float(best[j])) if np.isfinite(best[j]) else "beyond",
            post=posts[by[j]].name if by[j] >= 0 else None,
        )
        for j, (lon, lat) in enumerate(targets)
    ]
    return RingCheck(posts=len(posts), off_road=off_road, points=points)
