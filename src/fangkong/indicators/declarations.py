"""The built-in catalogue: every target of TARGETS.md, measured from fangkong's records or
taken as a manual input, and the figures the system already computes (response rings, cases, the
registers). Parsed when the package is imported: a broken declaration stops the start with
its id and its fault (:class:`fangkong.indicators.catalogue.DeclarationError`)."""

from __future__ import annotations

from typing import Any

from fangkong.areas.models import AreaLevel

UPPER = [AreaLevel.CITY.value, AreaLevel.DISTRICT.value, AreaLevel.STATION.value]
POLICE = [*UPPER, AreaLevel.BEAT.value]
EVERY = [level.value for level in AreaLevel]
#: A figure set for the whole county (a headcount, a programme's total).
COUNTY = [AreaLevel.CITY.value]
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
    id_: str,
    zh: str,
    en: str,
    group: str,
    target: dict[str, Any],
    unit: str = "percent",
    *,
    direction: str = "higher",
    levels: list[str] | None = None,
    guideline: bool = True,
    definition: str = "",
) -> dict[str, Any]:
    what = "entered per area and month (the data is not in fangkong)"
    return {
        "id": id_,
        "name_zh": zh,
        "name_en": en,
        "group": group,
        "formula": {"kind": "manual"},
        "unit": unit,
        "direction": direction,
        "target": target,
        "levels": levels or UPPER,
        "guideline": guideline,
        "definition": f"{definition}; {what}" if definition else what,
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
    {
        "id": "devices.vehicle_checkpoints",
        "name_zh": "道路车辆监控点数",
        "name_en": "Road vehicle monitoring points",
        "group": "sensing",
        "formula": {"kind": "count", "metric": "devices.vehicle_checkpoint.count"},
        "unit": "count",
        "direction": "higher",
        "target": _t(40.0, ["C"], "road vehicle monitoring points ≥ 40"),
        "levels": COUNTY,
        "definition": "vehicle checkpoints standing in the area's register",
    },
    _rate(
        "devices.checkpoint_working_rate",
        "车辆监控点正常运行率",
        "Vehicle monitoring points working",
        "sensing",
        "devices.vehicle_checkpoint.working",
        "devices.vehicle_checkpoint.count",
        _t(0.7, ["C"], "road vehicle monitoring points: normal operation ≥ 70%"),
    ),
    _rate(
        "devices.coverage.port",
        "重点港口岸线视频覆盖率",
        "Video coverage of key ports and shoreline",
        "sensing",
        "devices.coverage.port.covered",
        "devices.coverage.port.facilities",
        _t(0.5, ["R"], "key port and shoreline video coverage ≥ 50%"),
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
            _t(
                1.0,
                ["R", *also],
                "internal security: fuel stations, banks, schools, hospitals 100%" + more,
            ),
        )
        for kind, zh, en, also, more in (
            (
                "school",
                "学校内保达标率",
                "Schools compliant",
                ["Y"],
                "; schools: closed management, guards, alarm button, alarm networked to "
                "police, school-gate post reported 100% of 2,260 schools (Y)",
            ),
            ("hospital", "医院内保达标率", "Hospitals compliant", [], ""),
            ("bank", "银行内保达标率", "Banks compliant", [], ""),
            ("fuel_station", "加油站内保达标率", "Fuel stations compliant", [], ""),
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
        _t(0.6, ["R", "S"], "ring closure (围闭度) ≥ 60% (R); S asks ≥ 80%"),
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
    # --- manual inputs added so that every target of TARGETS.md has a declaration ----------
    _manual(
        "manual.officers_per_beat",
        "巡区固定小单元警力",
        "Officers per patrol beat",
        "response",
        _t(3.0, ["Y"], "officers per patrol beat (fixed small unit) 3-5"),
        unit="count",
        levels=POLICE,
        definition="officers of the fixed small unit of a patrol beat (mean over the beats)",
    ),
    _manual(
        "manual.street_post_model",
        "街面警务站“1+2+2+N”配置率",
        "Street posts staffed to the 1+2+2+N model",
        "response",
        _t(1.0, ["R"], 'street post model "1+2+2+N" staffing per street post'),
        definition="street posts staffed to the 1+2+2+N model ÷ street posts",
    ),
    _manual(
        "manual.patrol_strength",
        "巡特警警力",
        "Patrol and special police strength",
        "response",
        _t(270.0, ["S"], "patrol and special police strength ≥ 270 officers (Shengzhou)"),
        unit="count",
        levels=COUNTY,
        definition="patrol and special police officers of the county",
    ),
    _manual(
        "manual.water_rescue_members",
        "水上救援队人数",
        "Water rescue team members",
        "response",
        _t(20.0, ["S"], "water rescue team ≥ 20 members"),
        unit="count",
        levels=COUNTY,
        definition="members of the county's water rescue team",
    ),
    _manual(
        "manual.patrol_daily",
        "每日街面巡逻警力",
        "Officers on patrol daily",
        "response",
        _t(
            None,
            ["Y"],
            "reported: 104 crowded places + 135 key sites divided into 61 patrol beats; 267 on "
            "patrol daily, 535 on standby; 10 rapid groups of 5",
        ),
        unit="count",
        levels=COUNTY,
        guideline=False,
        definition="officers on street patrol on an average day (a reported figure, no target)",
    ),
    _manual(
        "manual.social_cameras_aggregated",
        "社会单位视频新增汇聚数",
        "Social units' cameras newly aggregated",
        "sensing",
        _t(8000.0, ["R"], "newly aggregated cameras of social units (2022) ≥ 8,000"),
        unit="count",
        levels=COUNTY,
        definition="cameras of social units newly aggregated into the platform this year",
    ),
    _manual(
        "manual.old_estates_protected",
        "老旧小区技防覆盖率",
        "Old housing estates with technical protection",
        "sensing",
        _t(0.9, ["C"], "old housing estates with technical protection ≥ 90%"),
    ),
    _manual(
        "manual.social_video_integration",
        "社会单位视频整合率",
        "Social units' video integrated",
        "sensing",
        _t(
            0.5,
            ["C"],
            "social-unit video integration rate (finance, schools, hospitals, entertainment) "
            "40% (2015), 50% (2016)",
        ),
    ),
    _manual(
        "manual.entrance_video",
        "出入口视频覆盖联网率",
        "Entrance video covered and networked",
        "sensing",
        _t(1.0, ["S"], "entrance video coverage and networked rate 100%"),
    ),
    _manual(
        "manual.key_industry_video_coverage",
        "重点行业重要部位视频覆盖率",
        "Key industries' sites: video coverage",
        "sensing",
        _t(1.0, ["S"], "key industries' important sites: video coverage 100%"),
    ),
    _manual(
        "manual.key_industry_video_networked",
        "重点行业重要部位视频联网率",
        "Key industries' sites: video networked",
        "sensing",
        _t(0.9, ["S"], "key industries' important sites: networked rate ≥ 90%"),
    ),
    _manual(
        "manual.port_protection",
        "港口码头物防技防达标率",
        "Ports and wharves protected",
        "sensing",
        _t(
            1.0,
            ["R"],
            "ports and wharves: physical barriers, video coverage and connectivity 100%",
        ),
        definition="ports and wharves with physical barriers, video coverage and connectivity ÷ "
        "ports and wharves",
    ),
    _manual(
        "manual.village_technical_protection",
        "村居技防覆盖率",
        "Villages and residential units protected",
        "sensing",
        _t(0.3, ["R"], "villages and residential units with technical protection ≥ 30%"),
    ),
    _manual(
        "manual.rural_household_protection",
        "农户简易技防覆盖率",
        "Rural households with simple protection",
        "sensing",
        _t(0.8, ["C"], "rural households with simple technical protection (by village) ≥ 80%"),
        levels=EVERY,
    ),
    _manual(
        "manual.bank_assessment_pass",
        "银行安全评估达标率",
        "Bank security assessments passed",
        "facilities",
        _t(0.95, ["R"], "bank security assessment pass rate ≥ 95%"),
    ),
    _manual(
        "manual.hospital_security_pass",
        "医院安防系统达标率",
        "Hospital security systems passed",
        "facilities",
        _t(0.85, ["R"], "hospital security system pass rate ≥ 85%"),
    ),
    _manual(
        "manual.key_unit_security_staff",
        "重点单位保卫力量配备率",
        "Key units with security staff",
        "facilities",
        _t(
            1.0,
            ["C"],
            "security staff in key units: < 200 employees ≥ 1 full-time and ≥ 1 part-time; "
            "≥ 200 each ≥ 5‰ of employees",
        ),
        definition="key units staffed to the rule ÷ key units",
    ),
    _manual(
        "manual.school_smart_security_basic",
        "校园智慧安防基础版建成率",
        "Schools: smart security, basic version",
        "facilities",
        _t(1.0, ["R"], "schools and kindergartens: smart security basic version 100%"),
    ),
    _manual(
        "manual.school_smart_security_demo",
        "校园智慧安防示范版建成率",
        "Schools: smart security, demonstration version",
        "facilities",
        _t(0.2, ["R"], "schools and kindergartens: smart security demonstration version 20%"),
    ),
    _manual(
        "manual.smart_estates",
        "智慧小区（基础版）建成率",
        "Smart housing estates (basic version)",
        "facilities",
        _t(1.0, ["R"], "smart housing estates (basic version) 100% by end of 2022"),
    ),
    _manual(
        "manual.station_officer_share",
        "派出所警力占比",
        "Station officers' share of the bureau",
        "grids",
        _t(0.45, ["S"], "station officers as share of the bureau ≥ 45%"),
        levels=COUNTY,
    ),
    _manual(
        "manual.residents_per_community_officer",
        "每名社区民警服务人口",
        "Residents per community officer",
        "grids",
        _t(3000.0, ["S"], "community police per residents: 1 per 3,000 people or 1,000 households"),
        unit="count",
        direction="lower",
        definition="residents ÷ community officers",
    ),
    _manual(
        "manual.community_office_staffing",
        "社区警务室配置达标率",
        "Community offices staffed to the standard",
        "grids",
        _t(
            1.0,
            ["C"],
            "community office staffing: urban 1 officer + 2 auxiliaries; rural 1 officer + 1 "
            "auxiliary",
        ),
    ),
    _manual(
        "manual.community_officer_model",
        "“一区一警两辅”“一村一辅警”配置率",
        'Communities staffed "one officer, two auxiliaries"',
        "grids",
        _t(
            1.0,
            ["S"],
            'urban "one community, one officer, two auxiliaries"; rural "one village, one '
            'auxiliary" 100%',
        ),
    ),
    _manual(
        "manual.migrants_per_officer",
        "每名流管民警服务流动人口",
        "Migrants per migrant-population officer",
        "grids",
        _t(800.0, ["S"], "migrant population officers: 1 per 800 migrants"),
        unit="count",
        direction="lower",
        definition="registered migrants ÷ migrant-population officers",
    ),
    _manual(
        "manual.community_police_time",
        "社区民警驻社区工作时间占比",
        "Community police time in the community",
        "grids",
        _t(0.8, ["S"], "community police time in the community ≥ 80%"),
    ),
    _manual(
        "manual.safety_committees",
        "治保会覆盖率",
        "Safety committees (≥ 3 members) coverage",
        "forces",
        _t(1.0, ["R"], "village / residents' safety committees: 100% coverage, each ≥ 3 members"),
        definition="villages and communities with a safety committee of at least 3 members ÷ "
        "villages and communities",
    ),
    _manual(
        "manual.safety_informants",
        "平安信息员配备率",
        "Safety informants in place",
        "forces",
        _t(
            1.0,
            ["R"],
            "safety informants: one per building (urban), one per 20 households (rural)",
        ),
        definition="buildings (urban) and groups of 20 households (rural) with an informant ÷ "
        "all of them",
    ),
    _manual(
        "manual.volunteer_teams",
        "社区志愿者队伍覆盖率",
        "Communities with a volunteer team",
        "forces",
        _t(1.0, ["R"], "one volunteer team per community 100%"),
    ),
    _manual(
        "manual.high_frequency_online",
        "高频事项网上办理率",
        "High-frequency items handled online",
        "programme",
        _t(0.75, ["S"], "high-frequency items handled online ≥ 70% (2021), ≥ 75% from 2022"),
    ),
]
