"""The case types declared on the engine; validated when this module is imported."""

from __future__ import annotations

from fangkong.cases.case_types.dispute import DISPUTE
from fangkong.cases.case_types.drill_finding import DRILL_FINDING
from fangkong.cases.case_types.event_approval import EVENT_APPROVAL
from fangkong.cases.case_types.hazard import HAZARD
from fangkong.cases.case_types.inspection import INSPECTION
from fangkong.cases.case_types.material_discrepancy import MATERIAL_DISCREPANCY
from fangkong.cases.case_types.task_supervision import TASK_SUPERVISION
from fangkong.cases.declaration import CaseTypeDecl, parse

HAZARD_TYPE = parse(HAZARD, source="fangkong.cases.case_types.hazard")
DISPUTE_TYPE = parse(DISPUTE, source="fangkong.cases.case_types.dispute")
INSPECTION_TYPE = parse(INSPECTION, source="fangkong.cases.case_types.inspection")
MATERIAL_DISCREPANCY_TYPE = parse(
    MATERIAL_DISCREPANCY, source="fangkong.cases.case_types.material_discrepancy"
)
EVENT_APPROVAL_TYPE = parse(EVENT_APPROVAL, source="fangkong.cases.case_types.event_approval")
DRILL_FINDING_TYPE = parse(DRILL_FINDING, source="fangkong.cases.case_types.drill_finding")
TASK_SUPERVISION_TYPE = parse(TASK_SUPERVISION, source="fangkong.cases.case_types.task_supervision")
BUILTIN: tuple[CaseTypeDecl, ...] = (
    HAZARD_TYPE,
    DISPUTE_TYPE,
    INSPECTION_TYPE,
    MATERIAL_DISCREPANCY_TYPE,
    TASK_SUPERVISION_TYPE,
    EVENT_APPROVAL_TYPE,
    DRILL_FINDING_TYPE,
)
