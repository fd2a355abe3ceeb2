"""Schemathesis over the OpenAPI of a real hub process: no operation answers any input with a 5xx.

Bounded (a few positive and negative examples per operation, each sent with a client, an auditor and a
resident token) so it stays well under a minute; ``schemathesis run`` against ``make demo`` goes deeper.
Every 4xx must also be RFC 9457 problem+json.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from hub.settings import Settings
from tests.conftest import _prepare
from tests.servers import running_hub

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 6


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("gongyu-schemathesis")
    _prepare(Settings(var_dir=var))
    env = {
        "GONGYU_VAR_DIR": str(var),
        "GONGYU_LOG_LEVEL": "WARNING",
        "GONGYU_INTEGRATOR_INTERVAL_SECONDS": "0.5",
    }
    with running_hub(var / "server.log", env) as base:
        yield base


@pytest.fixture(scope="module")
def tokens(hub_url: str) -> list[dict[str, str]]:
    client = httpx.post(
        f"{hub_url}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("test-bank", "test-bank-secret"),
        timeout=10,
    )
    found = [client.json()["access_token"]]
    for username in ("auditor", "resident0"):
        login = httpx.post(
            f"{hub_url}/v1/auth/login", json={"username": username, "password": f"{username}-pw"}, timeout=10
        )
        found.append(login.json()["access_token"])
    return [{"Authorization": f"Bearer {token}"} for token in found]


@pytest.fixture(scope="module")
def api_schema(hub_url: str) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({"generation": {"mode": "all", "max-examples": MAX_EXAMPLES}})
    schema = schemathesis.openapi.from_url(f"{hub_url}/openapi.json", config=config)
    # The RFC 3161 endpoint takes DER, which schemathesis cannot generate; tests/api covers it.
    return schema.exclude(path="/tsa")


def problem_json_errors(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: object
) -> None:
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), f"{response.status_code} as {content_type}"
    body = response.json()
    assert body.get("status") == response.status_code and body.get("type", "").startswith("/problems/")


def test_no_5xx_and_problem_json(api_schema: schemathesis.BaseSchema, tokens: list[dict[str, str]]) -> None:
    # Plain hypothesis over each operation's strategies: schemathesis.pytest.from_fixture does not run under
    # pytest 9 (it reads a private node attribute), and a failure in one operation should not hide the others.
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def exercise(case: schemathesis.Case) -> None:
            for headers in tokens:
                case.call_and_validate(
                    headers=headers, checks=[not_a_server_error, problem_json_errors], timeout=20
                )

        try:
            exercise()
        except Exception as exc:  # one line per failing operation, then carry on
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
