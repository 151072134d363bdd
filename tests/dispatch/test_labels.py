"""Every value the dispatch domain shows has a label in both catalogues."""

from __future__ import annotations

import pytest

from fangkong.core.config import LANGUAGES
from fangkong.core.i18n import catalogue
from fangkong.dispatch import recommend, taxonomy
from fangkong.dispatch.models import IncidentStatus, UnitType


def _keys() -> list[str]:
    keys = [f"dispatch.category.{c}" for c in taxonomy.TAXONOMY]
    keys += [f"dispatch.subtype.{c}.{s}" for c, subs in taxonomy.TAXONOMY.items() for s in subs]
    keys += [f"dispatch.state.{s.value}" for s in IncidentStatus]
    keys += [f"dispatch.unit_type.{u.value}" for u in UnitType]
    keys += [f"dispatch.ring.{name}" for _, name in recommend.RINGS_S]
    keys += [f"dispatch.ring.{recommend.BEYOND}"]
    keys += [f"dispatch.role.{r}" for r in ("primary", "reinforcement", "alternative")]
    return keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_dispatch_value_has_a_label(language: str) -> None:
    labels = catalogue(language)
    assert [k for k in _keys() if k not in labels] == []


def test_taxonomy_check_names_the_rule() -> None:
    taxonomy.check("rescue", "water")
    assert len(taxonomy.TAXONOMY) == 8
