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

import pytest
import schemathesis

from api.api_fixtures import populated_server

#: The seed of every run: a failure seen once is seen again.
SEED = 160_016
#: Random examples per operation after the documented and boundary ones: the whole run stays
#: within a few minutes on two cores.
MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with populated_server(tmp_path_factory.mktemp("fuzz"), "_fuzz") as served:
        yield served


def fuzz(base_url: str, token: str) -> list[str]:
    """Every operation fuzzed by schemathesis's engine (all phases, all checks) with ``token``:
    each distinct failure, one line each."""
    from schemathesis.engine import Status, events

    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES},
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


def test_an_administrator_of_the_county_gets_no_5xx(fuzzed: tuple[str, dict[str, str]]) -> None:
    base_url, tokens = fuzzed
    failures = fuzz(base_url, tokens["admin"])
    assert not failures, "\n".join(failures)


def test_a_station_officer_of_one_precinct_gets_no_5xx(
    fuzzed: tuple[str, dict[str, str]],
) -> None:
    base_url, tokens = fuzzed
    failures = fuzz(base_url, tokens["precinct"])
    assert not failures, "\n".join(failures)
