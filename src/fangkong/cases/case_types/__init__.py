"""The case types declared on the engine; validated when this module is imported."""

from __future__ import annotations

from fangkong.cases.case_types.dispute import DISPUTE
from fangkong.cases.case_types.hazard import HAZARD
from fangkong.cases.declaration import CaseTypeDecl, parse

HAZARD_TYPE = parse(HAZARD, source="fangkong.cases.case_types.hazard")
DISPUTE_TYPE = parse(DISPUTE, source="fangkong.cases.case_types.dispute")
BUILTIN: tuple[CaseTypeDecl, ...] = (HAZARD_TYPE, DISPUTE_TYPE)
