"""Driving profiles: speed by road class, urban or rural, ``maxspeed`` tags, emergency driving.

A :class:`Profile` turns what an importer knows about a road (its class, whether it lies in a
built-up area, a posted limit) into the speed a unit drives on it, and so into each edge's
travel time ``length_m / (speed_kmh / 3.6)``. :data:`DEFAULT_PROFILE` is the one every import
uses unless a profile file (:func:`load_profile`) overrides part of it.

Road classes
------------
The OSM ``highway=*`` values a car may use, stored per edge as the small integer
:class:`RoadClass` (``int8`` in ``RoadGraph.road_class``). GIS layers name their classes in their
own words; :attr:`Profile.class_aliases` maps them (the defaults cover the Chinese
administrative and technical road grades, see :data:`DEFAULT_CLASS_ALIASES`). Code 0
(``other``) is a road of unknown class, e.g. a GIS layer without a class field.

Default speeds (km/h, normal driving, before the emergency factor)
------------------------------------------------------------------
Chinese roads without a posted limit are bounded by the implementation regulation of the Road
Traffic Safety Law (《中华人民共和国道路交通安全法实施条例》, 2004): Art. 45 -- on a road
without a centre line 30 km/h in a city and 40 on a highway (公路); on a road with one motor
lane per direction 50 in a city and 70 on a highway; Art. 78 -- at most 120 on an expressway.
Within those limits the class speeds follow the design speeds of the Chinese standards, taking
the middle of each range as a typical free-flow speed: for urban streets CJJ 37-2012 (《城市道路
工程设计规范》: expressway 快速路 100/80/60, arterial 主干路 60/50/40, collector 次干路 50/40/30,
branch 支路 40/30/20) and for rural roads JTG B01-2014 (《公路工程技术标准》: expressway 高速公路
120/100/80, grade I 100/80/60, grade II 80/60, grade III 40/30, grade IV 30/20). OSM classes
are matched to Chinese grades as the OSM China tagging guideline does (motorway = 高速公路 or
urban 快速路, trunk = 国道 / 城市快速路, primary = 省道 / 主干路, secondary = 县道 / 次干路,
tertiary = 乡道 / 支路, unclassified = 村道). The same table serves roads elsewhere as a
conservative default; a ``maxspeed`` tag, where present, replaces it (below).

==============  =====  =====  ===============================================================
class           urban  rural  basis
==============  =====  =====  ===============================================================
motorway           80    100  CJJ 37 expressway 80 (middle); JTG expressway 100 (middle)
motorway_link      40     50  ramps: about half the main line's design speed
trunk              60     80  CJJ 37 expressway 60 (lowest); JTG grade I 80 (middle)
trunk_link         40     40  ramps
primary            50     70  CJJ 37 arterial 50; Art. 45 one lane per direction, highway 70
primary_link       30     40  ramps
secondary          40     60  CJJ 37 collector 40; JTG grade II 60
secondary_link     30     40  ramps
tertiary           30     40  CJJ 37 branch 30; Art. 45 no centre line, highway 40
tertiary_link      25     30  ramps
unclassified       30     30  Art. 45 no centre line, city 30; JTG grade IV 30
residential        30     30  Art. 45 no centre line, city 30
living_street      10     10  shared surface, walking pace
service            15     20  yards, car parks, compound roads: manoeuvring speed
other              30     40  unknown class: Art. 45 no centre line (city 30, highway 40)
==============  =====  =====  ===============================================================

Urban or rural
--------------
An edge is *urban* when the density of drivable road around it reaches
:attr:`Profile.urban_density_km_per_km2` (default 5 km of road per km²). The density is
measured on a fixed grid of ``urban_cell_m`` (500 m) cells: each piece of road (two consecutive
shape points) adds its length, counting a two-way road once, to the cell holding its midpoint;
a cell's density is the road length in its 3 x 3 block of cells divided by the block's area;
an edge's density is the length-weighted mean over its pieces. The rule uses only geometry,
so it is deterministic and works alike for OSM and GIS data; an OSM ``maxspeed`` of the form
``XX:urban`` or ``XX:rural`` overrides it for that way.

Why 5: a square street grid 400 m apart has 5 km/km²; open country seldom exceeds 2. China's
target for built-up urban areas is 8 (the State Council's 2016 opinions on urban planning,
《关于进一步加强城市规划建设管理工作的若干意见》), but extracts, OSM in Chinese county towns
especially, often lack the minor streets, so the threshold sits below it. Measured on the
Liechtenstein demo extract: village centres 7-13, farmland and mountain roads below 2, 69 % of
the road length urban.

Posted limits
-------------
:func:`parse_maxspeed` reads OSM ``maxspeed`` values: numbers in km/h (``"50"``), with units
(``"30 mph"``, ``"60 km/h"``, ``"5 knots"``), ``"walk"`` (6 km/h), several values separated by
``;`` (the lowest wins: it is the limit that applies somewhere), ``XX:zoneNN``/``XX:zone:NN``
(NN km/h), and ``XX:urban``/``XX:rural`` (no number, only the urban/rural flag). ``"none"``,
``"signals"``, ``"variable"``, ``XX:motorway`` and the like carry no usable number: the class
speed applies. What a parsed limit does is :attr:`Profile.maxspeed_mode`:

- ``"set"`` (default): speed = limit x ``maxspeed_factor`` (0.8, as the OSRM car profile's
  ``speed_reduction``: drivers average below the posted limit);
- ``"cap"``: speed = min(class speed, limit);
- ``"ignore"``: the class speed, always.

Emergency driving
-----------------
With ``emergency = true`` (the default: the graph answers "how fast can a unit get there")
every speed is multiplied by ``emergency_factor`` (1.3, an assumption to calibrate against
vehicle GPS logs; Art. 53 of the Road Traffic Safety Law lets police, fire and ambulance
vehicles on an emergency task exceed limits, in safety). Every speed, emergency or not, is
finally capped at ``max_speed_kmh`` (120 km/h, the expressway limit of Art. 78).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fangkong.core.errors import InvalidInput

__all__ = [
    "CLASS_LABELS",
    "DEFAULT_CLASS_ALIASES",
    "DEFAULT_PROFILE",
    "EXCLUDE",
    "PROFILES_DIR",
    "RULES_VERSION",
    "WALK_KMH",
    "ClassSpeed",
    "MaxSpeed",
    "Profile",
    "RoadClass",
    "edge_speeds_kmh",
    "load_profile",
    "parse_maxspeed",
    "profile_hash",
]

#: Bump when the import rules change in a way that changes graphs built from the same file and
#: profile (it is part of :func:`profile_hash`, so such caches are rebuilt).
RULES_VERSION = 1

#: Speed of ``maxspeed=walk``, km/h.
WALK_KMH = 6.0

#: The alias target that drops a GIS feature of that class instead of importing it.
EXCLUDE = "exclude"

#: Packaged profile files, loadable by name (``load_profile("patrol")``).
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


class RoadClass(IntEnum):
    """Road class codes stored per edge (``int8``); the name is the OSM ``highway`` value."""

    OTHER = 0
    MOTORWAY = 1
    MOTORWAY_LINK = 2
    TRUNK = 3
    TRUNK_LINK = 4
    PRIMARY = 5
    PRIMARY_LINK = 6
    SECONDARY = 7
    SECONDARY_LINK = 8
    TERTIARY = 9
    TERTIARY_LINK = 10
    UNCLASSIFIED = 11
    RESIDENTIAL = 12
    LIVING_STREET = 13
    SERVICE = 14

    @property
    def label(self) -> str:
        """The lower-case name, equal to the OSM ``highway`` value (``"motorway_link"``)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> RoadClass:
        """The class named ``label`` (case-insensitive); KeyError when there is none."""
        return cls[label.strip().upper()]


#: Class names in code order: ``CLASS_LABELS[code]``.
CLASS_LABELS: tuple[str, ...] = tuple(c.label for c in RoadClass)

# (urban, rural) km/h; the module docstring's table is this table (a test keeps them equal).
_DEFAULT_SPEEDS: dict[str, tuple[float, float]] = {
    "other": (30, 40),
    "motorway": (80, 100),
    "motorway_link": (40, 50),
    "trunk": (60, 80),
    "trunk_link": (40, 40),
    "primary": (50, 70),
    "primary_link": (30, 40),
    "secondary": (40, 60),
    "secondary_link": (30, 40),
    "tertiary": (30, 40),
    "tertiary_link": (25, 30),
    "unclassified": (30, 30),
    "residential": (30, 30),
    "living_street": (10, 10),
    "service": (15, 20),
}

#: GIS class values understood without a profile entry (matched after trimming, case-insensitive
#: for Latin letters). Chinese administrative grades and urban street grades follow the OSM
#: China guideline; the technical grades (一级..四级公路) follow their JTG B01 design speeds.
DEFAULT_CLASS_ALIASES: dict[str, str] = {
    "高速公路": "motorway",
    "高速": "motorway",
    "城市快速路": "trunk",
    "快速路": "trunk",
    "国道": "trunk",
    "省道": "primary",
    "主干路": "primary",
    "主干道": "primary",
    "县道": "secondary",
    "次干路": "secondary",
    "次干道": "secondary",
    "乡道": "tertiary",
    "乡镇道路": "tertiary",
    "支路": "tertiary",
    "村道": "unclassified",
    "一级公路": "trunk",
    "二级公路": "primary",
    "三级公路": "tertiary",
    "四级公路": "unclassified",
    "匝道": "motorway_link",
    "街巷": "residential",
    "小区道路": "service",
    "内部道路": "service",
    "等外公路": "unclassified",
}


class ClassSpeed(BaseModel):
    """Speeds of one road class, km/h."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urban: float = Field(gt=0, le=250)
    rural: float = Field(gt=0, le=250)


class Profile(BaseModel):
    """Everything that turns a road into a travel time; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    name: str = Field(default="default", min_length=1, max_length=64)
    speeds: dict[str, ClassSpeed] = Field(
        description="km/h per road class (every RoadClass label), urban and rural"
    )
    emergency: bool = Field(default=True, description="Apply emergency_factor to every speed")
    emergency_factor: float = Field(default=1.3, ge=1.0, le=3.0)
    max_speed_kmh: float = Field(
        default=120.0, gt=0, le=250, description="Cap on every speed, emergency or not"
    )
    maxspeed_mode: Literal["set", "cap", "ignore"] = "set"
    maxspeed_factor: float = Field(default=0.8, gt=0, le=1.5)
    urban_cell_m: float = Field(default=500.0, ge=50, le=5000)
    urban_density_km_per_km2: float = Field(default=5.0, gt=0, le=100)
    barred_access: tuple[str, ...] = Field(
        default=("no", "private", "agricultural", "forestry", "delivery", "psv", "bus"),
        description="OSM access values that keep a unit off a way",
    )
    class_aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CLASS_ALIASES))
    direction_aliases: dict[str, Literal["both", "forward", "backward", "closed"]] = Field(
        default_factory=dict,
        description="GIS direction values added to (or replacing) the documented defaults",
    )

    @field_validator("speeds")
    @classmethod
    def _every_class(cls, value: dict[str, ClassSpeed]) -> dict[str, ClassSpeed]:
        unknown = sorted(set(value) - set(CLASS_LABELS))
        if unknown:
            raise ValueError(
                f"unknown road class {unknown[0]!r}; the classes are {', '.join(CLASS_LABELS)}"
            )
        missing = [label for label in CLASS_LABELS if label not in value]
        if missing:
            raise ValueError(f"no speed for road class {missing[0]!r}")
        return {label: value[label] for label in CLASS_LABELS}

    @field_validator("class_aliases")
    @classmethod
    def _aliases_name_classes(cls, value: dict[str, str]) -> dict[str, str]:
        for alias, target in value.items():
            if target != EXCLUDE and target not in CLASS_LABELS:
                raise ValueError(
                    f"alias {alias!r} maps to {target!r}, which is neither a road "
                    f"class ({', '.join(CLASS_LABELS)}) nor {EXCLUDE!r}"
                )
        return value

    @field_validator("barred_access")
    @classmethod
    def _lower_access(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({v.strip().lower() for v in value}))

    def speed_table(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(urban, rural)`` km/h arrays indexed by road class code."""
        urban = np.array([self.speeds[label].urban for label in CLASS_LABELS], dtype=np.float64)
        rural = np.array([self.speeds[label].rural for label in CLASS_LABELS], dtype=np.float64)
        return urban, rural

    def classify(self, value: str) -> RoadClass | None:
        """The road class a GIS class value names; None when the alias excludes it.

        A value is looked up among the aliases first (exactly, then lower-cased), then among
        the class labels. Raises KeyError when it names nothing.
        """
        text = value.strip()
        for key in (text, text.lower()):
            if key in self.class_aliases:
                target = self.class_aliases[key]
                return None if target == EXCLUDE else RoadClass.from_label(target)
        return RoadClass.from_label(text)


DEFAULT_PROFILE = Profile(
    speeds={label: ClassSpeed(urban=u, rural=r) for label, (u, r) in _DEFAULT_SPEEDS.items()}
)


def profile_hash(profile: Profile) -> str:
    """A hex SHA-256 of the profile's content and :data:`RULES_VERSION`, stable across runs.

    Two profiles with the same settings hash alike whatever their key order in a file.
    """
    body = {"rules_version": RULES_VERSION, "profile": profile.model_dump(mode="json")}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(base: dict[str, Any], override: dict[str, Any], *, deep: frozenset[str]) -> None:
    # Tables named in ``deep`` are merged key by key (a file may give one class's urban
    # speed only); every other key is replaced whole.
    for key, value in override.items():
        if key in deep and isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = base[key]
            for sub, sub_value in value.items():
                if isinstance(sub_value, dict) and isinstance(inner.get(sub), dict):
                    inner[sub] = {**inner[sub], **sub_value}
                else:
                    inner[sub] = sub_value
        else:
            base[key] = value


def _describe(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return loc, message


def load_profile(source: Path | str, *, base: Profile = DEFAULT_PROFILE) -> Profile:
    """Read a TOML profile file over ``base``.

    Parameters
    ----------
    source : pathlib.Path or str
        A ``.toml`` file, or the name of a packaged profile in :data:`PROFILES_DIR`
        (``"default"``, ``"patrol"``).
    base : Profile
        The profile the file overrides. Top-level keys replace ``base``'s; the ``speeds``
        table is merged per class and per urban/rural value, and ``class_aliases`` and
        ``direction_aliases`` add to (or change) ``base``'s aliases.

    Returns
    -------
    Profile
        The validated profile.

    Raises
    ------
    InvalidInput
        When the file is missing or not TOML, or a value breaks a rule; ``field`` is the key
        (e.g. ``speeds.primary.urban``) and the message names it and the rule.
    """
    path = Path(source)
    if not path.suffix and not path.exists() and (PROFILES_DIR / f"{path}.toml").is_file():
        path = PROFILES_DIR / f"{path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            key="error.network.profile_missing", params={"path": str(path)}, field="profile"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            key="error.network.profile_unreadable",
            params={"path": str(path), "reason": str(exc)},
            field="profile",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            key="error.network.profile_toml",
            params={"path": str(path), "reason": str(exc)},
            field="profile",
        ) from None
    merged = base.model_dump(mode="python")
    _merge(merged, data, deep=frozenset({"speeds", "class_aliases", "direction_aliases"}))
    try:
        return Profile.model_validate(merged)
    except ValidationError as exc:
        loc, message = _describe(exc)
        raise InvalidInput(
            key="error.network.profile_invalid",
            params={"name": path.name, "where": loc, "reason": message},
            field=loc,
        ) from None


# ----------------------------------------------------------------------------- maxspeed


@dataclass(frozen=True, slots=True)
class MaxSpeed:
    """A parsed ``maxspeed`` value.

    Attributes
    ----------
    kmh : float or None
        The limit in km/h; None when the value has no number (``"none"``, ``"CN:urban"``).
    zone : {"urban", "rural"} or None
        Set by ``XX:urban``/``XX:rural`` (and ``XX:zoneNN``, which is urban).
    """

    kmh: float | None
    zone: Literal["urban", "rural"] | None = None


_KMH_PER_UNIT = {
    "": 1.0,
    "km/h": 1.0,
    "kmh": 1.0,
    "kph": 1.0,
    "mph": 1.609344,
    "knots": 1.852,
    "kn": 1.852,
}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots|kn)?$")
_ZONE = re.compile(r"^[a-z]{2}(?:-[a-z0-9]{1,3})?:zone:?(\d+)$")
_CONTEXT = re.compile(r"^[a-z]{2}(?:-[a-z0-9]{1,3})?:([a-z_]+)$")


def _parse_one(text: str) -> MaxSpeed | None:
    value = text.strip().lower()
    if not value:
        return None
    if value == "walk":
        return MaxSpeed(WALK_KMH)
    number = _NUMBER.match(value)
    if number:
        kmh = float(number.group(1)) * _KMH_PER_UNIT[number.group(2) or ""]
        # 0 means "closed" or a typo; neither is a speed to divide by.
        return MaxSpeed(kmh) if kmh > 0 and math.isfinite(kmh) else None
    zone = _ZONE.match(value)
    if zone:
        kmh = float(zone.group(1))
        return MaxSpeed(kmh, "urban") if kmh > 0 else None
    context = _CONTEXT.match(value)
    if context:
        word = context.group(1)
        if word == "urban":
            return MaxSpeed(None, "urban")
        if word == "rural":
            return MaxSpeed(None, "rural")
        return MaxSpeed(None)  # XX:motorway, XX:trunk, XX:living_street: class speed
    if value in ("none", "signals", "variable", "implicit", "unposted"):
        return MaxSpeed(None)
    return None


def parse_maxspeed(value: str | None) -> MaxSpeed | None:
    """Parse an OSM ``maxspeed`` value.

    Parameters
    ----------
    value : str or None
        The tag's value.

    Returns
    -------
    MaxSpeed or None
        None when the value is absent or not understood (the caller counts those); a
        :class:`MaxSpeed` with ``kmh=None`` when it is understood but carries no number.
        Several values (``"50;30"``) give the lowest number and the first zone.

    Examples
    --------
    >>> parse_maxspeed("30 mph")
    MaxSpeed(kmh=48.28032, zone=None)
    >>> parse_maxspeed("CN:urban")
    MaxSpeed(kmh=None, zone='urban')
    """
    if value is None:
        return None
    parts = [_parse_one(part) for part in value.split(";") if part.strip()]
    if not parts or any(part is None for part in parts):
        return None
    numbers = [p.kmh for p in parts if p is not None and p.kmh is not None]
    zones = [p.zone for p in parts if p is not None and p.zone is not None]
    return MaxSpeed(min(numbers) if numbers else None, zones[0] if zones else None)


def edge_speeds_kmh(
    profile: Profile,
    road_class: ArrayLike,
    urban: ArrayLike,
    *,
    maxspeed_kmh: ArrayLike | None = None,
    explicit_kmh: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Driving speed of each edge under ``profile``, vectorised.

    Parameters
    ----------
    profile : Profile
        The rules.
    road_class : array of int, shape (m,)
        :class:`RoadClass` codes.
    urban : array of bool, shape (m,)
        Whether each edge is urban.
    maxspeed_kmh : array of float, shape (m,), optional
        A parsed posted limit per edge, NaN where there is none; applied per
        :attr:`Profile.maxspeed_mode`.
    explicit_kmh : array of float, shape (m,), optional
        A speed given by the data itself (a GIS layer's speed field), NaN where there is none;
        it replaces the class and limit speeds.

    Returns
    -------
    numpy.ndarray of float64, shape (m,)
        km/h, > 0: after the emergency factor (when ``profile.emergency``) and the cap
        ``profile.max_speed_kmh``. Travel time in seconds is ``length_m * 3.6 / speed``.
    """
    codes = np.asarray(road_class, dtype=np.int64)
    is_urban = np.asarray(urban, dtype=bool)
    table_urban, table_rural = profile.speed_table()
    speed = np.where(is_urban, table_urban[codes], table_rural[codes])
    if maxspeed_kmh is not None and profile.maxspeed_mode != "ignore":
        limit = np.asarray(maxspeed_kmh, dtype=np.float64)
        has = np.isfinite(limit) & (limit > 0)
        if profile.maxspeed_mode == "set":
            speed = np.where(has, limit * profile.maxspeed_factor, speed)
        else:
            speed = np.where(has, np.minimum(speed, np.where(has, limit, np.inf)), speed)
    if explicit_kmh is not None:
        given = np.asarray(explicit_kmh, dtype=np.float64)
        speed = np.where(np.isfinite(given) & (given > 0), given, speed)
    if profile.emergency:
        speed = speed * profile.emergency_factor
    return np.asarray(np.minimum(speed, profile.max_speed_kmh), dtype=np.float64)
