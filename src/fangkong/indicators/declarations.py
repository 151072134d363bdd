"""The built-in catalogue: the targets of TARGETS.md that fangkong can measure or take as a
manual input, and the figures the system already computes (response rings, cases, the
registers). Parsed when the package is imported: a broken declaration stops the start with
its id and its fault (:class:`fangkong.indicators.catalogue.DeclarationError`)."""

from __future__ import annotations

from typing import Any

from fangkong.areas.models import AreaLevel

UPPER = [AreaLevel.CITY.value, AreaLevel.DISTRICT.value, AreaLevel.STATION.value]
POLICE = [*UPPER, AreaLevel.BEAT.value]
EVERY = [level.value for level in AreaLevel]
RINGS_CITE = (
    "the 1/3/5-minute rings (post / beat / district) of R, H and S; the share of arrivals "
    "within each ring is fangkong's default for the county to set"
)


def _ratio(numerator: str, denominator: str, scale: float = 1.0) -> dict[str, Any]:
    return {"kind": "ratio", "numerator": numerator, "denominator": denominator, "scale": scale}


def _ring(ring: str, minutes: int, target: float) -> dict[str, Any]:
    return {
        "id": f"response.ring_{ring}",
        "name_zh": f"{minutes}分钟到达率",
        "name_en": f"Arrivals within {minutes} min",
        "group": "response",
        "formula": _ratio(f"incidents.within_{ring}", "incidents.responded"),
        "unit": "percent",
        "direction": "higher",
        "target": {"value": target, "sources": ["R", "H", "S"], "cite": RINGS_CITE},
        "levels": POLICE,
        "definition": f"incidents whose first unit arrived within {minutes} min of dispatch ÷ "
        "incidents with a response time (received in the period; simulated and merged ones "
        "left out)",
    }


def _case_rate(case_type: str, zh: str, en: str, target: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"cases.{case_type}.resolution_rate",
        "name_zh": zh,
        "name_en": en,
        "group": "cases",
        "formula": _ratio(f"cases.{case_type}.resolved_on_time", f"cases.{case_type}.found"),
        "unit": "percent",
        "direction": "higher",
        "target": target,
        "levels": EVERY,
        "definition": f"{case_type} cases resolved within their deadlines ÷ cases found "
        "(opened) in the period, as of the computation (化解率)",
    }


def _density(zone: str, zh: str, en: str, target: float) -> dict[str, Any]:
    return {
        "id": f"devices.density.{zone}",
        "name_zh": zh,
        "name_en": en,
        "group": "sensing",
        "formula": _ratio(f"devices.public_cameras.{zone}", f"devices.km2.{zone}"),
        "unit": "per_km2",
        "direction": "higher",
        "target": {
            "value": target,
            "sources": ["R"],
            "cite": "public video density 70 / 160 / 20 / 10 cameras per km² (city average / "
            "central urban / urban-rural fringe / rural settlements)",
        },
        "levels": UPPER,
        "definition": f"public cameras standing in the area's {zone} leaves ÷ km² of those leaves",
    }


def _rate(
    id_: str, zh: str, en: str, group: str, num: str, den: str, target: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    return {
        "id": id_,
        "name_zh": zh,
        "name_en": en,
        "group": group,
        "formula": _ratio(num, den),
        "unit": "percent",
        "direction": "higher",
        "target": target,
        "levels": kw.pop("levels", UPPER),
        "definition": kw.pop("definition", f"{num} ÷ {den}"),
        **kw,
    }


def _manual(
    id_: str, zh: str, en: str, group: str, target: dict[str, Any], unit: str = "percent"
) -> dict[str, Any]:
    return {
        "id": id_,
        "name_zh": zh,
        "name_en": en,
        "group": group,
        "formula": {"kind": "manual"},
        "unit": unit,
        "direction": "higher",
        "target": target,
        "levels": UPPER,
        "definition": "entered per area and month (the data is not in fangkong)",
    }


def _t(value: float | None, sources: list[str], cite: str) -> dict[str, Any]:
    return {"value": value, "sources": sources, "cite": cite}


BUILTIN: list[dict[str, Any]] = [
    # --- response --------------------------------------------------------------------------
    _ring("1min", 1, 0.5),
    _ring("3min", 3, 0.8),
    _ring("5min", 5, 0.9),
    {
        "id": "response.mean_minutes",
        "name_zh": "平均到达时间",
        "name_en": "Mean dispatch-to-arrival time",
        "group": "response",
        "formula": _ratio("incidents.response_s", "incidents.responded", 1 / 60),
        "unit": "minutes",
        "direction": "lower",
        "target": _t(5.0, ["R", "H", "S"], "the district ring: arrive within 5 minutes"),
        "levels": POLICE,
        "definition": "sum of dispatch-to-arrival times ÷ incidents with a response time, in "
        "minutes",
    },
    {
        "id": "response.call_to_dispatch_minutes",
        "name_zh": "平均派警时间",
        "name_en": "Mean call-to-dispatch time",
        "group": "response",
        "formula": _ratio("incidents.call_to_dispatch_s", "incidents.dispatched", 1 / 60),
        "unit": "minutes",
        "direction": "lower",
        "target": _t(1.0, [], "fangkong's default: the 1-minute ring leaves no time to wait"),
        "levels": POLICE,
        "definition": "sum of call-to-dispatch times ÷ incidents dispatched, in minutes",
    },
    {
        "id": "incidents.received",
        "name_zh": "接报警情数",
        "name_en": "Incidents received",
        "group": "response",
        "formula": {"kind": "count", "metric": "incidents.count"},
        "unit": "count",
        "direction": "lower",
        "target": _t(None, [], ""),
        "levels": EVERY,
        "guideline": False,
        "definition": "incidents received in the period (simulated ones left out)",
    },
    # --- cases -----------------------------------------------------------------------------
    _case_rate(
        "hazard",
        "隐患化解率",
        "Hazard resolution rate",
        _t(0.8873, ["S"], "reported hazard resolution rate 88.73%"),
    ),
    _case_rate(
        "dispute",
        "矛盾纠纷化解率",
        "Dispute resolution rate",
        _t(0.936, ["Y"], "reported disputes found / resolved 2,125 / 1,989 (93.6%)"),
    ),
    _case_rate(
        "inspection",
        "安全检查整改率",
        "Inspection closure rate",
        _t(0.9, [], "fangkong's default: nine in ten inspections closed within deadline"),
    ),
    {
        "id": "cases.overdue",
        "name_zh": "超期隐患与纠纷",
        "name_en": "Overdue hazards and disputes",
        "group": "cases",
        "formula": {"kind": "count", "metric": "cases.hazard.overdue"},
        "unit": "count",
        "direction": "lower",
        "target": _t(0.0, ["S"], "the hazard loop's end-to-end supervision: none overdue"),
        "levels": EVERY,
        "definition": "hazards found in the period that missed a deadline or are open past it",
    },
    # --- sensing devices -------------------------------------------------------------------
    {
        "id": "devices.density",
        "name_zh": "公共视频密度",
        "name_en": "Public video density",
        "group": "sensing",
        "formula": _ratio("devices.public_cameras", "devices.km2"),
        "unit": "per_km2",
        "direction": "higher",
        "target": _t(70.0, ["R"], "public video density: city average 70 cameras per km²"),
        "levels": UPPER,
        "definition": "public cameras standing in the area ÷ its km²",
    },
    _density("central_urban", "中心城区视频密度", "Video density, central urban", 160.0),
    _density("urban_fringe", "城乡结合部视频密度", "Video density, urban fringe", 20.0),
    _density("rural", "农村聚居点视频密度", "Video density, rural settlements", 10.0),
    _rate(
        "devices.online_rate",
        "联网设备在线率",
        "Online rate of networked devices",
        "sensing",
        "devices.online",
        "devices.networked",
        _t(0.9, ["C"], "working rate and online rate of integrated video ≥ 90%"),
    ),
    _rate(
        "devices.working_rate",
        "设备完好率",
        "Working rate of devices",
        "sensing",
        "devices.working",
        "devices.count",
        _t(0.9, ["C"], "working rate and online rate of integrated video ≥ 90%"),
    ),
    _rate(
        "devices.alarm_networked_rate",
        "报警设备联网率",
        "Alarm buttons networked",
        "sensing",
        "devices.alarm_button.networked",
        "devices.alarm_button.count",
        _t(0.7, ["C"], "security systems networked to alarm service ≥ 70%"),
    ),
    _rate(
        "devices.checkpoint_networked_rate",
        "卡口联网率",
        "Checkpoints networked",
        "sensing",
        "devices.vehicle_checkpoint.networked",
        "devices.vehicle_checkpoint.count",
        _t(1.0, ["R"], "checkpoint / smart-checkpoint video networked rate 100%"),
    ),
    _rate(
        "devices.checkpoint_online_rate",
        "卡口在线率",
        "Checkpoints online",
        "sensing",
        "devices.vehicle_checkpoint.online",
        "devices.vehicle_checkpoint.networked",
        _t(0.8, ["R"], "checkpoint online rate ≥ 80%"),
    ),
    _rate(
        "devices.coverage.key",
        "重点部位视频覆盖率",
        "Video coverage of key places",
        "sensing",
        "devices.coverage.key.covered",
        "devices.coverage.key.facilities",
        _t(
            1.0,
            ["C"],
            "video coverage at government, finance, schools, hospitals, entertainment "
            "venues, stations 100%",
        ),
    ),
    # --- key facilities --------------------------------------------------------------------
    _rate(
        "facilities.compliance",
        "重点单位内保达标率",
        "Key facilities compliant",
        "facilities",
        "facilities.all.compliant",
        "facilities.all.count",
        _t(0.9, ["R"], "internal security coverage (智慧内保) ≥ 90%"),
    ),
    *(
        _rate(
            f"facilities.compliance.{kind}",
            zh,
            en,
            "facilities",
            f"facilities.{kind}.compliant",
            f"facilities.{kind}.count",
            _t(1.0, ["R"], "internal security: fuel stations, banks, schools, hospitals 100%"),
        )
        for kind, zh, en in (
            ("school", "学校内保达标率", "Schools compliant"),
            ("hospital", "医院内保达标率", "Hospitals compliant"),
            ("bank", "银行内保达标率", "Banks compliant"),
            ("fuel_station", "加油站内保达标率", "Fuel stations compliant"),
        )
    ),
    _rate(
        "facilities.inspected",
        "本季度检查覆盖率",
        "Facilities inspected this quarter",
        "facilities",
        "facilities.all.inspected",
        "facilities.all.count",
        _t(1.0, [], "fangkong's default: every key facility inspected each quarter"),
    ),
    # --- manual inputs (the data is not in fangkong) ---------------------------------------
    _manual(
        "manual.ring_closure",
        "围闭度",
        "Ring closure",
        "sensing",
        _t(0.6, ["R"], "ring closure (围闭度) ≥ 60% (S asks ≥ 80%)"),
    ),
    _manual(
        "manual.address_accuracy",
        "一标三实采集准确率",
        "Standard addresses: collection accuracy",
        "grids",
        _t(0.95, ["R"], "population / housing / units against standard addresses ≥ 95%"),
    ),
    _manual(
        "manual.community_police_share",
        "社区民警占比",
        "Community police share of station officers",
        "grids",
        _t(0.4, ["S"], "community police share of a station's officers ≥ 40%"),
    ),
    _manual(
        "manual.mediation_centre_coverage",
        "矛盾纠纷调处中心覆盖率",
        "Mediation centre coverage",
        "cases",
        _t(0.8, ["R"], "community dispute mediation centre coverage ≥ 80%"),
    ),
    _manual(
        "manual.safety_forces_per_100k",
        "每十万人群防群治力量",
        "Community safety forces per 100,000",
        "forces",
        _t(1000.0, ["R"], "community safety forces per 100,000 residents ≥ 1,000"),
        unit="per_100k",
    ),
    _manual(
        "manual.village_cameras",
        "一村一探头覆盖率",
        "Villages with a camera",
        "sensing",
        _t(1.0, ["C"], "villages with at least one camera (一村一探头) 100%"),
    ),
    _manual(
        "manual.online_services",
        "公共服务事项网上受理率",
        "Public-service items accepted online",
        "programme",
        _t(0.9, ["S"], "online acceptance of public-service items ≥ 90% by 2025"),
    ),
    _manual(
        "manual.safety_satisfaction",
        "群众安全感满意度",
        "Residents' sense of safety",
        "programme",
        _t(0.98, ["S"], "resident sense of safety satisfaction reported ≥ 98%"),
    ),
]
