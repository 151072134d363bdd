"""The API fuzzed from its own OpenAPI document (schemathesis, every check), for two roles.

An administrator bound to the whole county and a station officer bound to one precinct each
send what schemathesis makes of every operation: the documented examples, boundary values of
every parameter and body field (the coverage phase: each bound and one past it, so an id at
2**63, a longitude at 180.000001), then examples at random (a fixed seed, a bounded number
per operation), then sequences of calls (the stateful phase). The bar: no answer is a 5xx;
and every answer conforms to the document (its status code, content type, headers and body
schema), valid data is accepted and invalid data refused. The app runs behind a live server
on loopback over a database of the test county with a few records of each kind, so that ids
exist to be found. ``test_edges.py`` sends the values past every bound the document does not
state (the calendar's and the number line's edges, NUL, nesting).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis

from api.api_fixtures import populated_server

#: The seed of every run: a failure seen once is seen again.
SEED = 160_016
#: Random examples per operation after the documented and boundary ones: the whole run stays
#: within a few minutes on two cores.
MAX_EXAMPLES = 8


@dataclass(frozen=True)
class Plan:
    """How much of the fuzz a backend gets. SQLite: every phase, valid and invalid data, both
    roles. PostgreSQL, where a value the document allows may still be more than a column holds
    (a 32-bit id, text with NUL): the documented examples, every boundary value of the valid
    data (the coverage phase: each documented bound itself, where a bound looser than the
    column is met) and a few random valid examples, for the administrator (who reaches every
    operation). Invalid data, sequences of calls, methods a path does not take and repeated
    query parameters are refused or answered before any query, the same on either database:
    the SQLite run covers them. Measured in the report of this change: about 2 minutes."""

    max_examples: int
    mode: str
    stateful: bool
    routing: bool
    roles: frozenset[str]


PLANS = {
    "sqlite": Plan(
        MAX_EXAMPLES, "all", stateful=True, routing=True, roles=frozenset({"admin", "precinct"})
    ),
    "postgresql": Plan(2, "positive", stateful=False, routing=False, roles=frozenset({"admin"})),
}


@pytest.fixture(scope="module")
def fuzzed(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], Plan]]:
    plan = PLANS[backend]
    with populated_server(tmp_path_factory.mktemp(f"fuzz-{backend}"), "_fuzz", backend) as served:
        yield (*served, plan)


def _run(fuzzed: tuple[str, dict[str, str], Plan], role: str) -> list[str]:
    base_url, tokens, plan = fuzzed
    if role not in plan.roles:
        pytest.skip(f"the {role} role is fuzzed on SQLite only (the PostgreSQL run's budget)")
    return fuzz(base_url, tokens[role], plan)


def fuzz(base_url: str, token: str, plan: Plan) -> list[str]:
    """Every operation fuzzed by schemathesis's engine (the phases of ``plan``, all checks)
    with ``token``: each distinct failure, one line each."""
    from schemathesis.engine import Status, events

    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": plan.max_examples, "mode": plan.mode},
            "phases": {
                "stateful": {"enabled": plan.stateful},
                "coverage": {}
                if plan.routing
                else {"unexpected-methods": [], "generate-duplicate-query-parameters": False},
            },
            "headers": {"Authorization": f"Bearer {token}"},
            # Valid by the document is not yet valid by the domain's rules (a place outside
            # your areas, a category not in the taxonomy, a GeoJSON file whose features break
            # the tree's rules): those are refused with 422, which is what they should get.
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                }
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", config=config)
    failures: dict[str, None] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            failures[f"{event.label}: {event.info.title}: {event.info.message}"] = None
        elif isinstance(event, events.FatalError):
            failures[f"fatal: {event.exception!r}"] = None
        elif isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        text = " ".join(f"{failure.title}: {failure.message}".split())
                        failures[f"{failure.operation} [{check.name}] {text[:300]}"] = None
    return list(failures)


def test_an_administrator_of_the_county_gets_no_5xx(
    fuzzed: tuple[str, dict[str, str], Plan],
) -> None:
    failures = _run(fuzzed, "admin")
    assert not failures, "\n".join(failures)


def test_a_station_officer_of_one_precinct_gets_no_5xx(
    fuzzed: tuple[str, dict[str, str], Plan],
) -> None:
    failures = _run(fuzzed, "precinct")
    assert not failures, "\n".join(failures)
