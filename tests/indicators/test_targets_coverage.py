"""Every target of ../shared/TARGETS.md has a declaration in the catalogue (issue 20).

``TARGETS`` mirrors the file's tables row by row: (indicator, target, source) as printed, and
the declarations that measure the row (computed from fangkong's records, or manual inputs
where the data is not in fangkong). A row without a declaration fails; the mirror is checked
against the file itself, so that a target added there and not here fails too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fangkong.indicators import catalogue, dashboard

#: The share of guideline items met is computed by the dashboard over the catalogue, not a
#: declaration of its own (``dashboard.GUIDELINE_SHARE``).
GUIDELINE_SHARE = "dashboard.guideline_share"

TARGETS: list[tuple[str, str, str, list[str]]] = [
    # Response and patrol
    (
        "response rings",
        "arrive within 1 / 3 / 5 minutes (post / beat / district)",
        "R, H, S",
        [
            "response.ring_1min",
            "response.ring_3min",
            "response.ring_5min",
            "response.mean_minutes",
        ],
    ),
    ("officers per patrol beat (fixed small unit)", "3–5", "Y", ["manual.officers_per_beat"]),
    ("street post model", '"1+2+2+N" staffing per street post', "R", ["manual.street_post_model"]),
    (
        "patrol and special police strength",
        "≥ 270 officers (Shengzhou)",
        "S",
        ["manual.patrol_strength"],
    ),
    ("water rescue team", "≥ 20 members", "S", ["manual.water_rescue_members"]),
    (
        "reported: 104 crowded places + 135 key sites divided into 61 patrol beats; 267 on "
        "patrol daily, 535 on standby; 10 rapid groups of 5",
        "figures",
        "Y",
        ["manual.patrol_daily"],
    ),
    # Control ring and checkpoints
    ("ring closure (围闭度)", "≥ 60%", "R", ["manual.ring_closure"]),
    ("ring closure (围闭度)", "≥ 80%", "S", ["manual.ring_closure"]),
    (
        "checkpoint / smart-checkpoint / traffic-centre video networked rate",
        "100%",
        "R",
        ["devices.checkpoint_networked_rate"],
    ),
    ("checkpoint online rate", "≥ 80%", "R", ["devices.checkpoint_online_rate"]),
    (
        "road vehicle monitoring points",
        "≥ 40, normal operation ≥ 70%",
        "C",
        ["devices.vehicle_checkpoints", "devices.checkpoint_working_rate"],
    ),
    # Sensing devices (as assets)
    (
        "public video density, cameras per km²: city average / central urban / urban-rural "
        "fringe / rural settlements",
        '70 / 160 / 20 / 10 (the source prints the digits run together as "701602010"; this '
        "split is the reading used)",
        "R",
        [
            "devices.density",
            "devices.density.central_urban",
            "devices.density.urban_fringe",
            "devices.density.rural",
        ],
    ),
    (
        "newly aggregated cameras of social units (2022)",
        "≥ 8,000",
        "R",
        ["manual.social_cameras_aggregated"],
    ),
    (
        "video coverage at town entrances, government, finance, schools, hospitals, new "
        "housing estates, entertainment venues, stations, squares",
        "100%",
        "C",
        ["devices.coverage.key"],
    ),
    (
        "old housing estates with technical protection",
        "≥ 90%",
        "C",
        ["manual.old_estates_protected"],
    ),
    ('villages with at least one camera ("一村一探头")', "100%", "C", ["manual.village_cameras"]),
    (
        "social-unit video integration rate (finance, schools, hospitals, entertainment)",
        "40% (2015), 50% (2016)",
        "C",
        ["manual.social_video_integration"],
    ),
    (
        "working rate and online rate of integrated video",
        "≥ 90%",
        "C",
        ["devices.working_rate", "devices.online_rate"],
    ),
    ("entrance video coverage and networked rate", "100%", "S", ["manual.entrance_video"]),
    (
        "key industries' important sites: video coverage / networked rate",
        "100% / ≥ 90%",
        "S",
        ["manual.key_industry_video_coverage", "manual.key_industry_video_networked"],
    ),
    (
        "security systems networked to alarm service",
        "≥ 70%",
        "C",
        ["devices.alarm_networked_rate"],
    ),
    (
        "ports and wharves: physical barriers, video coverage and connectivity",
        "100%",
        "R",
        ["manual.port_protection"],
    ),
    ("key port and shoreline video coverage", "≥ 50%", "R", ["devices.coverage.port"]),
    (
        "villages and residential units with technical protection",
        "≥ 30%",
        "R",
        ["manual.village_technical_protection"],
    ),
    (
        "rural households with simple technical protection (by village)",
        "≥ 80%",
        "C",
        ["manual.rural_household_protection"],
    ),
    # Key facilities
    (
        "internal security coverage (智慧内保)",
        "≥ 90%; fuel stations, banks, schools, hospitals 100%",
        "R",
        [
            "facilities.compliance",
            "facilities.compliance.fuel_station",
            "facilities.compliance.bank",
            "facilities.compliance.school",
            "facilities.compliance.hospital",
        ],
    ),
    ("bank security assessment pass rate", "≥ 95%", "R", ["manual.bank_assessment_pass"]),
    ("hospital security system pass rate", "≥ 85%", "R", ["manual.hospital_security_pass"]),
    (
        "security staff in key units",
        "< 200 employees: ≥ 1 full-time and ≥ 1 part-time; ≥ 200: each ≥ 5‰ of employees",
        "C",
        ["manual.key_unit_security_staff"],
    ),
    (
        "schools and kindergartens: smart security basic version / demonstration version",
        "100% / 20%",
        "R",
        ["manual.school_smart_security_basic", "manual.school_smart_security_demo"],
    ),
    ("smart housing estates (basic version)", "100% by end of 2022", "R", ["manual.smart_estates"]),
    (
        "schools: closed management, guards, alarm button, alarm networked to police, "
        "school-gate post",
        "reported 100% of 2,260 schools",
        "Y",
        ["facilities.compliance.school"],
    ),
    # Grids, addresses and community policing
    (
        "actual population / housing / units recorded against standard addresses: collection "
        "and accuracy rate",
        "≥ 95%",
        "R",
        ["manual.address_accuracy"],
    ),
    (
        "community police share of a station's officers",
        "≥ 40%",
        "S",
        ["manual.community_police_share"],
    ),
    ("station officers as share of the bureau", "≥ 45%", "S", ["manual.station_officer_share"]),
    (
        "community police per residents",
        "1 per 3,000 people or 1,000 households",
        "S",
        ["manual.residents_per_community_officer"],
    ),
    (
        "community office staffing",
        "urban: 1 officer + 2 auxiliaries; rural: 1 officer + 1 auxiliary",
        "C",
        ["manual.community_office_staffing"],
    ),
    (
        'urban "one community, one officer, two auxiliaries"; rural "one village, one auxiliary"',
        "100%",
        "S",
        ["manual.community_officer_model"],
    ),
    ("migrant population officers", "1 per 800 migrants", "S", ["manual.migrants_per_officer"]),
    ("community police time in the community", "≥ 80%", "S", ["manual.community_police_time"]),
    # Cases: hazards and disputes
    (
        "community dispute mediation centre coverage",
        "≥ 80%",
        "R",
        ["manual.mediation_centre_coverage"],
    ),
    ("reported hazard resolution rate", "88.73%", "S", ["cases.hazard.resolution_rate"]),
    (
        "reported disputes found / resolved",
        "2,125 / 1,989 (93.6%)",
        "Y",
        ["cases.dispute.resolution_rate"],
    ),
    (
        'hazard loop ("四三二一")',
        "4 kinds of finding (rolling special, on-foot, data, inter-department); 3 levels of "
        "assessment; 2 routing channels (internal, external); 1 end-to-end supervision",
        "S",
        ["cases.overdue", "cases.hazard.resolution_rate"],
    ),
    # Community safety forces
    (
        "community safety forces per 100,000 residents",
        "≥ 1,000",
        "R",
        ["manual.safety_forces_per_100k"],
    ),
    (
        "village / residents' safety committees",
        "100% coverage, each ≥ 3 members",
        "R",
        ["manual.safety_committees"],
    ),
    (
        "safety informants",
        "one per building (urban), one per 20 households (rural)",
        "R",
        ["manual.safety_informants"],
    ),
    ("one volunteer team per community", "100%", "R", ["manual.volunteer_teams"]),
    # Programme
    ("items of the national construction guideline met", "≥ 90%", "H", [GUIDELINE_SHARE]),
    ("online acceptance of public-service items", "≥ 90% by 2025", "S", ["manual.online_services"]),
    (
        "high-frequency items handled online",
        "≥ 70% (2021), ≥ 75% from 2022",
        "S",
        ["manual.high_frequency_online"],
    ),
    (
        "resident sense of safety satisfaction",
        "reported ≥ 98%",
        "S",
        ["manual.safety_satisfaction"],
    ),
]


def _targets_md() -> Path:
    configured = os.environ.get("FANGKONG_TARGETS_MD")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "shared" / "TARGETS.md"


def parse_targets(text: str) -> list[tuple[str, str, str]]:
    """The rows of the file's tables: (indicator, target, source), header and rule left out."""
    rows: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "indicator" or set(cells[0]) <= {"-"}:
            continue
        assert len(cells) == 3, f"a table row of TARGETS.md with {len(cells)} cells: {line}"
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_the_parser_reads_a_row_and_skips_the_header() -> None:
    text = "| indicator | target | source |\n|---|---|---|\n| a \\| b | ≥ 1 | R |\n"
    assert parse_targets(text.replace("\\|", "/")) == [("a / b", "≥ 1", "R")]


def test_the_mirror_is_the_file() -> None:
    path = _targets_md()
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine (set FANGKONG_TARGETS_MD)")
    rows = parse_targets(path.read_text(encoding="utf-8"))
    assert len(rows) >= 50
    mirror = [(ind, target, src) for ind, target, src, _ in TARGETS]
    missing = [row for row in rows if row not in mirror]
    extra = [row for row in mirror if row not in rows]
    assert not missing, f"targets of TARGETS.md not in the mirror (declare them): {missing}"
    assert not extra, f"rows of the mirror no longer in TARGETS.md: {extra}"


@pytest.mark.parametrize("row", TARGETS, ids=lambda r: r[0][:40])
def test_every_target_has_a_declaration(row: tuple[str, str, str, list[str]]) -> None:
    indicator, _target, src, ids = row
    assert ids, f"no declaration measures {indicator!r}"
    for indicator_id in ids:
        if indicator_id == GUIDELINE_SHARE:
            assert dashboard.GUIDELINE_SHARE == 0.9
            continue
        decl = catalogue.get(indicator_id)
        assert decl is not None, f"{indicator!r}: {indicator_id!r} is not declared"
        keys = {k.strip() for k in src.split(",")}
        assert keys & set(decl.target.sources), (
            f"{indicator_id!r} does not cite {src} for {indicator!r} (cites {decl.target.sources})"
        )
        assert decl.target.cite


def test_a_manual_input_says_so() -> None:
    for decl in catalogue.all_indicators():
        if decl.manual:
            assert "entered per area and month" in decl.definition, decl.id


def test_every_declaration_renders_in_the_reports_font() -> None:
    from fangkong.indicators import reports

    for decl in catalogue.all_indicators():
        text = decl.name_zh + decl.name_en + decl.target.cite + decl.definition
        assert reports.missing_glyphs(text) == set(), decl.id
