"""A province of two counties on the test county's street grid: areas, posts, addresses."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from factories import county_geojson, grid_centre
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind

#: The test county's two districts, the batches' counties.
COUNTIES = ("T-D1", "T-D2")
POSTS = {"PA": "T-D1-S1-B1-G1", "PB": "T-D2-S2-B2-G2", "PC": "T-D1-S2-B2-G1"}


def populate(engine: Engine, *, addresses: int = 160, seed: int = 5) -> None:
    """The jurisdiction tree, three posts (two in T-D1, one in T-D2) and random addresses."""
    rng = np.random.default_rng(seed)
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        for code, grid in POSTS.items():
            lon, lat = grid_centre(grid)
            dispatch_service.create_post(
                session, code=code, name=f"post {code}", kind=PostKind.STREET_POST, lon=lon,
                lat=lat, actor=SYSTEM,
            )  # fmt: skip
        area_service.import_addresses(
            session,
            rows=[
                area_service.AddressRow(
                    code=f"PV{i:04d}",
                    text_zh=f"省路{i}号",
                    text_en=f"{i} Province Road",
                    lon=float(rng.uniform(120.001, 120.159)),
                    lat=float(rng.uniform(30.001, 30.079)),
                )
                for i in range(addresses)
            ],
            actor=SYSTEM,
        )
        session.commit()
