"""REST API of the road network: routes, rings, travel times, nearest targets, sparse
matrices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fangkong.areas.coords import CoordSystem
from fangkong.core.bounds import Latitude, Longitude, Text
from fangkong.core.errors import InvalidInput
from fangkong.http.deps import CurrentUser, get_settings
from fangkong.network import service
from fangkong.network.schemas import (
    MatrixIn,
    MatrixOut,
    NearestIn,
    NearestItem,
    TravelTimesIn,
    TravelTimesOut,
)

router = APIRouter(prefix="/network", tags=["network"])


def _network(request: Request) -> service.Network:
    return service.current(get_settings(request).data_dir)


@router.get("")
def network_info(request: Request, user: CurrentUser) -> dict[str, Any]:
    """The current road graph: node and edge counts, source and profile."""
    return service.info(_network(request))


@router.get("/isochrone")
def isochrone(
    request: Request,
    user: CurrentUser,
    lon: Longitude,
    lat: Latitude,
    thresholds: Annotated[Text, Query(description="Seconds, comma-separated")] = "60,180,300",
    crs: CoordSystem = CoordSystem.WGS84,
) -> dict[str, Any]:
    """Rings reachable by road from a point within each threshold (GeoJSON polygons)."""
    try:
        values = tuple(float(v) for v in thresholds.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(
            key="error.network.thresholds_numbers",
            params={"thresholds": thresholds},
            field="thresholds",
        ) from None
    return service.isochrones(_network(request), lon=lon, lat=lat, thresholds_s=values, crs=crs)


@router.get("/route")
def route(
    request: Request,
    user: CurrentUser,
    from_lon: Longitude,
    from_lat: Latitude,
    to_lon: Longitude,
    to_lat: Latitude,
    crs: CoordSystem = CoordSystem.WGS84,
) -> dict[str, Any]:
    """The fastest road route between two points: a GeoJSON LineString with ``time_s`` and
    ``length_m``; 404 when no road leads there, 422 for a point far from every road."""
    return service.route(
        _network(request), source=(from_lon, from_lat), target=(to_lon, to_lat), crs=crs
    )


@router.post("/travel-times", response_model=TravelTimesOut)
def travel_times(body: TravelTimesIn, request: Request, user: CurrentUser) -> TravelTimesOut:
    """Seconds by road from one point to each target (up to 5,000 targets)."""
    times = service.travel_times(
        _network(request),
        source=body.source.pair(),
        targets=[t.pair() for t in body.targets],
        cutoff_s=body.cutoff_s,
        crs=body.crs,
    )
    return TravelTimesOut(time_s=times)


@router.post("/nearest", response_model=list[NearestItem])
def nearest(body: NearestIn, request: Request, user: CurrentUser) -> list[NearestItem]:
    """The ``k`` targets nearest by road time from a point, nearest first."""
    found = service.nearest(
        _network(request),
        source=body.source.pair(),
        targets=[t.pair() for t in body.targets],
        k=body.k,
        cutoff_s=body.cutoff_s,
        crs=body.crs,
    )
    return [NearestItem(target=i, time_s=t) for i, t in found]


@router.post("/matrix", response_model=MatrixOut)
def matrix(body: MatrixIn, request: Request, user: CurrentUser) -> MatrixOut:
    """Sparse travel-time matrix: the (source, target) pairs within ``cutoff_s``.

    At most 5,000 sources or targets and 1,000,000 pairs per request.
    """
    pairs = service.matrix(
        _network(request),
        sources=[s.pair() for s in body.sources],
        targets=[t.pair() for t in body.targets],
        cutoff_s=body.cutoff_s,
        crs=body.crs,
    )
    return MatrixOut(
        shape=pairs.shape,
        source=pairs.source.tolist(),
        target=pairs.target.tolist(),
        time_s=pairs.time_s.tolist(),
    )
