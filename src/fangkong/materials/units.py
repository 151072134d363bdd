"""Units of the ledger: every quantity is converted to thousandths of its material's base
unit (an exact integer), whatever unit it was recorded in.

A material in kilograms is also recorded in grams and tonnes, one in litres in millilitres
and cubic metres, one in metres in kilometres; a material may declare units of its own
(``{"box": 24}``: a box of 24 pieces, ``{"drum": 200}``: a drum of 200 litres).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from fangkong.core.errors import InvalidInput
from fangkong.materials.models import BaseUnit, Material

#: The units of each base unit's dimension: name -> base units per unit.
STANDARD_UNITS: dict[BaseUnit, dict[str, Decimal]] = {
    BaseUnit.KG: {"g": Decimal("0.001"), "kg": Decimal(1), "t": Decimal(1000)},
    BaseUnit.LITRE: {"ml": Decimal("0.001"), "l": Decimal(1), "m3": Decimal(1000)},
    BaseUnit.PIECE: {"piece": Decimal(1)},
    BaseUnit.METRE: {"m": Decimal(1), "km": Decimal(1000)},
}
UNIT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
#: The largest quantity one row records, in base units (a thousand thousand tonnes of an
#: explosive is beyond any licence): a million rows of it still sum within 64 bits.
MAX_BASE = Decimal(10) ** 9
MAX_MILLI = int(MAX_BASE * 1000)
#: Base units per unit of a material's own units: more than a millionth, at most a million.
MIN_FACTOR, MAX_FACTOR = 1e-6, 1e6


def check_units(base: BaseUnit, units: dict[str, Any]) -> dict[str, float]:
    """A material's own units, checked: names not taken by its dimension's standard units,
    finite positive factors in range."""
    checked: dict[str, float] = {}
    if len(units) > 20:
        raise InvalidInput(key="error.materials.too_many_units", field="units")
    for name, factor in units.items():
        if not isinstance(name, str) or not UNIT_NAME.match(name):
            raise InvalidInput(
                key="error.materials.unit_name", params={"unit": str(name)[:32]}, field="units"
            )
        if name in STANDARD_UNITS[base] or any(name in u for u in STANDARD_UNITS.values()):
            raise InvalidInput(
                key="error.materials.unit_standard", params={"unit": name}, field="units"
            )
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float)
            or not math.isfinite(factor)
            or not MIN_FACTOR < factor <= MAX_FACTOR
        ):
            raise InvalidInput(
                key="error.materials.unit_factor", params={"unit": name}, field="units"
            )
        checked[name] = float(factor)
    return checked


def factor_of(material: Material, unit: str) -> Decimal:
    """Base units per ``unit`` of ``material``; an unknown unit is invalid input."""
    standard = STANDARD_UNITS[material.base_unit]
    if unit in standard:
        return standard[unit]
    own = (material.units or {}).get(unit)
    if own is None:
        known = ", ".join([*standard, *(material.units or {})])
        raise InvalidInput(
            key="error.materials.unit_unknown",
            params={"unit": unit[:32], "material": material.code, "known": known},
            field="unit",
        )
    return Decimal(repr(float(own)))


def to_milli(
    material: Material, quantity: float | Decimal, unit: str, *, allow_zero: bool = False
) -> int:
    """``quantity`` ``unit`` of ``material`` in thousandths of its base unit, rounded to the
    nearest (half to even). A quantity that is not finite, is negative, rounds to nothing
    (unless ``allow_zero``: a count of an empty store) or passes :data:`MAX_BASE` base units
    is refused."""
    factor = factor_of(material, unit)
    try:
        value = quantity if isinstance(quantity, Decimal) else Decimal(repr(float(quantity)))
    except (InvalidOperation, ValueError, OverflowError):
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise InvalidInput(key="error.materials.quantity_range", field="quantity")
    base = value * factor
    if base > MAX_BASE:
        raise InvalidInput(
            key="error.materials.quantity_max",
            params={"max": f"{MAX_BASE:,.0f}", "unit": material.base_unit.value},
            field="quantity",
        )
    milli = int((base * 1000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    if milli == 0 and not allow_zero:
        raise InvalidInput(
            key="error.materials.quantity_zero",
            params={"unit": material.base_unit.value},
            field="quantity",
        )
    return milli


def from_milli(milli: int) -> float:
    """Thousandths of a base unit as base units (for display and JSON)."""
    return milli / 1000
