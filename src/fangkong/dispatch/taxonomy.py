"""The two-level incident taxonomy: a category and one of its sub-types.

Labels live in the locale catalogues under ``dispatch.category.<category>`` and
``dispatch.subtype.<category>.<subtype>`` (zh-CN and en).

=============  ==========================================================================
category       sub-types
=============  ==========================================================================
criminal       theft, robbery, burglary, assault, fraud, vandalism, other
public_order   fight, disturbance, noise, gathering, suspicious, other
traffic        collision, injury_collision, obstruction, signal_fault, other
fire           building, vehicle, outdoor, other
rescue         water, trapped, medical, missing_child, other
dispute        neighbour, family, commercial, labour, other
assistance     lost_property, locked_out, directions, welfare_check, other
other          other
=============  ==========================================================================
"""

from __future__ import annotations

from fangkong.core.errors import InvalidInput

TAXONOMY: dict[str, tuple[str, ...]] = {
    "criminal": ("theft", "robbery", "burglary", "assault", "fraud", "vandalism", "other"),
    "public_order": ("fight", "disturbance", "noise", "gathering", "suspicious", "other"),
    "traffic": ("collision", "injury_collision", "obstruction", "signal_fault", "other"),
    "fire": ("building", "vehicle", "outdoor", "other"),
    "rescue": ("water", "trapped", "medical", "missing_child", "other"),
    "dispute": ("neighbour", "family", "commercial", "labour", "other"),
    "assistance": ("lost_property", "locked_out", "directions", "welfare_check", "other"),
    "other": ("other",),
}


def check(category: str, subtype: str) -> None:
    """Refuse a category or sub-type that the taxonomy does not declare."""
    if category not in TAXONOMY:
        raise InvalidInput(
            key="error.dispatch.category_unknown",
            params={"category": category, "categories": ", ".join(TAXONOMY)},
            field="category",
        )
    if subtype not in TAXONOMY[category]:
        raise InvalidInput(
            key="error.dispatch.subtype_unknown",
            params={
                "subtype": subtype,
                "category": category,
                "subtypes": ", ".join(TAXONOMY[category]),
            },
            field="subtype",
        )
