"""What the demo's tests share: the test county's street grid as a road network, and
standard addresses spread over the county."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from factories import EAST, NORTH, SOUTH, WEST, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate


def street_grid_network(data_dir: Path) -> Network:
    """The test county's street grid (primary and residential roads) imported into
    ``data_dir`` with the default profile."""
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(data_dir)


def add_addresses(db: Session, n: int = 300) -> None:
    """Standard addresses spread over the test county (denser in its south-west)."""
    rng = np.random.default_rng(11)
    lon = np.concatenate(
        [
            rng.uniform(WEST + 0.001, EAST - 0.001, n // 2),
            rng.uniform(WEST + 0.005, WEST + 0.03, n - n // 2),
        ]
    )
    lat = np.concatenate(
        [
            rng.uniform(SOUTH + 0.001, NORTH - 0.001, n // 2),
            rng.uniform(SOUTH + 0.005, SOUTH + 0.02, n - n // 2),
        ]
    )
    rows = [
        area_service.AddressRow(
            code=f"GA-{i:04d}",
            text_zh=f"测试路{i}号",
            text_en=f"Test Road {i}",
            lon=float(x),
            lat=float(y),
        )
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    area_service.import_addresses(db, rows=rows, actor=SYSTEM, source="generated")
