"""Declarations are validated on load; a fault names the case type and the state, transition or
field where it is."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fangkong.cases import registry
from fangkong.cases.case_types import BUILTIN
from fangkong.cases.case_types.dispute import DISPUTE
from fangkong.cases.case_types.hazard import HAZARD
from fangkong.cases.declaration import DeclarationError, load_yaml, parse
from fangkong.cases.models import EventKind
from fangkong.cases.present import label_keys
from fangkong.cases.service import LINK_KINDS
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import catalogue

Mutation = Callable[[dict[str, Any]], None]


def _transition(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in d["transitions"] if t["name"] == name)


def _field(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in d["fields"] if f["name"] == name)


def _state(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in d["states"] if s["name"] == name)


BROKEN: list[tuple[str, Mutation, str]] = [
    (
        "unknown target",
        lambda d: _transition(d, "assess").update(target="checked"),
        "transition 'assess': target state 'checked' is not declared",
    ),
    (
        "unknown source",
        lambda d: _transition(d, "assess").update(sources=["lost"]),
        "transition 'assess': source state 'lost' is not declared",
    ),
    (
        "unknown field",
        lambda d: _transition(d, "assess").update(fields=["colour"]),
        "transition 'assess': field 'colour' is not declared",
    ),
    (
        "unknown role",
        lambda d: _transition(d, "assess").update(roles=["sheriff"]),
        "transitions.0.roles.0",
    ),
    ("no roles", lambda d: _transition(d, "assess").update(roles=[]), "transitions.0.roles"),
    (
        "dead end",
        lambda d: d["transitions"].remove(_transition(d, "report_handled")),
        "state 'handling' is a dead end",
    ),
    (
        "unreachable",
        lambda d: (
            d["states"].append({"name": "limbo", "deadline": None})
            or d["transitions"].append(
                {"name": "out", "sources": ["limbo"], "target": "closed", "roles": ["admin"]}
            )
        ),
        "state 'limbo' cannot be reached",
    ),
    (
        "leaves closed",
        lambda d: _transition(d, "reopen").update(reopen=False),
        "transition 'reopen': leaves closing state 'closed' without reopen: true",
    ),
    ("twice", lambda d: d["states"].append({"name": "found"}), "state 'found' is declared twice"),
    (
        "transition twice",
        lambda d: d["transitions"].append(copy.deepcopy(_transition(d, "assess"))),
        "transition 'assess' is declared twice",
    ),
    ("initial", lambda d: d.update(initial="nowhere"), "initial state 'nowhere'"),
    (
        "closing initial",
        lambda d: _state(d, "found").update(closing=True, deadline=None),
        "initial state 'found' must not be closing",
    ),
    (
        "resolved open",
        lambda d: _state(d, "handling").update(resolved=True),
        "state 'handling': resolved needs closing",
    ),
    (
        "closing deadline",
        lambda d: _state(d, "closed").update(deadline={"hours": 2}),
        "state 'closed': a closing state has no deadline",
    ),
    (
        "by_field",
        lambda d: _state(d, "handling")["deadline"].update(by_field="place"),
        "state 'handling': deadline by_field 'place' is not a declared choice field",
    ),
    (
        "by value",
        lambda d: _state(d, "handling")["deadline"]["hours_by_value"].update(huge=1),
        "names ['huge'], not options of 'risk_grade'",
    ),
    (
        "choice without options",
        lambda d: d["fields"][0].update(options=[]),
        "field 'finding_route': a choice needs options",
    ),
    (
        "assigns unknown",
        lambda d: _transition(d, "route_external").update(assigns_user="handler"),
        "transition 'route_external': assigns from field 'handler'",
    ),
    (
        "not_by unknown",
        lambda d: _transition(d, "pass_reinspection").update(not_by=["handle"]),
        "transition 'pass_reinspection': not_by 'handle' is neither a declared transition nor "
        "a declared user field",
    ),
    (
        "not_by a field of another kind",
        lambda d: _transition(d, "pass_reinspection").update(not_by=["department"]),
        "not_by 'department' is neither a declared transition nor a declared user field",
    ),
    (
        "stay with target",
        lambda d: _transition(d, "assess").update(stay=True),
        "transition 'assess': a stay transition names no target",
    ),
    (
        "bad action",
        lambda d: _state(d, "found").update(
            deadline={"hours": 1, "actions": [{"kind": "remind"}, {"kind": "remind"}]}
        ),
        "each action kind may appear once",
    ),
    ("extra key", lambda d: _state(d, "found").update(colour="red"), "states.0.colour"),
    (
        "no closing",
        lambda d: d.update(
            states=[{"name": "found"}, {"name": "handling"}],
            transitions=[
                {"name": "go", "sources": ["found"], "target": "handling", "roles": ["admin"]},
                {"name": "back", "sources": ["handling"], "target": "found", "roles": ["admin"]},
            ],
        ),
        "no closing state can be reached",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [(m, msg) for _, m, msg in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_broken_hazard_declarations_fail_naming_the_fault(mutate: Mutation, message: str) -> None:
    data = copy.deepcopy(HAZARD)
    mutate(data)
    with pytest.raises(DeclarationError) as info:
        parse(data, source="test")
    assert "test: case type 'hazard'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["risk"].update(any_true=["category"]),
            "risk: any_true field 'category' is not a declared bool field",
        ),
        (
            lambda d: d["risk"]["repeated"][0].update(transition="hold_hearing"),
            "risk: repeated transition 'hold_hearing' is not declared",
        ),
        (lambda d: d["risk"]["field_in"].update(category=["war"]), "names values that are not"),
        (lambda d: d["parties"].update(minimum=5, maximum=2), "parties: minimum exceeds maximum"),
        (
            lambda d: d["rates"][0].update(hit=["record_consent"]),
            "rate 'agreement_rate': transition 'record_consent' is not declared",
        ),
        (
            lambda d: d["rates"].append(copy.deepcopy(d["rates"][0])),
            "rate 'agreement_rate' is declared twice",
        ),
        (
            lambda d: _field(d, "reason").pop("free_text"),
            "field 'reason': people write names in a long text",
        ),
        (
            lambda d: _field(d, "agreement_text").update(free_text=True),
            "field 'agreement_text': personal (encrypted) or free_text (as written), not both",
        ),
        (
            lambda d: _field(d, "category").update(free_text=True),
            "field 'category': only a text field is personal or free_text",
        ),
        (lambda d: d.pop("retention_days"), "retention_days"),
        (
            lambda d: _transition(d, "assign_mediator").update(
                assigns_user="reason", fields=["reason"]
            ),
            "assigns_user field 'reason' must be of kind user",
        ),
    ],
)
def test_broken_dispute_declarations(mutate: Mutation, message: str) -> None:
    data = copy.deepcopy(DISPUTE)
    mutate(data)
    with pytest.raises(DeclarationError, match="case type 'dispute'") as info:
        parse(data)
    assert message in str(info.value)


def test_builtin_types_are_valid_and_registered() -> None:
    # custody_overdue is registered by fangkong.custody at its import (issue 22).
    assert registry.names() == [
        "custody_overdue",
        "dispute",
        "drill_finding",
        "event_approval",
        "hazard",
        "inspection",
        "material_discrepancy",
        "task_supervision",
    ]
    hazard = registry.get("hazard")
    assert hazard.closing_states == ("closed", "dismissed")
    assert hazard.resolved_states == ("closed",)
    assert {f.options for f in hazard.fields if f.name == "finding_route"} == {
        ("rolling_special", "on_foot", "data", "inter_department", "public_tip")
    }
    # Separation of duties: whoever handled a hazard does not pass its re-inspection.
    assert hazard.transition("pass_reinspection").not_by == ("report_handled", "handler")  # type: ignore[union-attr]
    dispute = registry.get("dispute")
    assert dispute.personal_fields == {"session_note", "agreement_text"}
    assert dispute.target_of(dispute.transition("hold_session"), "mediating") == "mediating"  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="case type 'parking' is not declared") as info:
        registry.get("parking")
    assert info.value.field == "type"


def test_yaml_declarations(tmp_path: Path) -> None:
    data = copy.deepcopy(HAZARD)
    data.update(name="inspection_finding", prefix="IF")
    path = tmp_path / "finding.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    decl = load_yaml(path)
    assert decl.name == "inspection_finding" and decl.initial == "found"
    registry.register(decl)
    try:
        assert "inspection_finding" in registry.names()
        clash = parse({**data, "name": "other_finding"})
        with pytest.raises(DeclarationError, match="prefix 'IF' is taken"):
            registry.register(clash)
        with pytest.raises(DeclarationError, match="already declared differently"):
            registry.register(parse({**HAZARD, "prefix": "HX"}))
    finally:
        registry._TYPES.pop("inspection_finding")
    _transition(data, "assess")["target"] = "nowhere"
    path.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(
        DeclarationError,
        match=f"{path}: case type 'inspection_finding': "
        "transitions: Value error|transition 'assess'",
    ):
        load_yaml(path)
    path.write_text("- just\n- a list\n", "utf-8")
    with pytest.raises(DeclarationError, match="a declaration is a mapping"):
        load_yaml(path)
    path.write_text("a: [\n", "utf-8")
    with pytest.raises(DeclarationError, match="not YAML"):
        load_yaml(path)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_label_is_translated(language: str) -> None:
    strings = catalogue(language)
    keys = [key for decl in BUILTIN for key in label_keys(decl)]
    keys += [f"cases.event.{kind.value}" for kind in EventKind]
    keys += [f"cases.link.{kind}" for kind in LINK_KINDS]
    assert [key for key in keys if key not in strings] == []
