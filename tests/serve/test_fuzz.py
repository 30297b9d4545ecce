"""Fuzzing every endpoint from our own OpenAPI spec (schemathesis): valid and
invalid requests alike must never get a 5xx, and every answer must match the spec.
Bounded: a few dozen examples per operation, a few seconds in all."""

from __future__ import annotations

import itertools

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory, models_dir):
    from yolops.identity import KeyStore
    from yolops.serve.config import ServeConfig
    from yolops.serve.server import background_server

    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{root / 'yolops.db'}"
    key, _ = KeyStore(url).create("fuzz", "admin")
    config = ServeConfig(
        model=str(models_dir / "a.onnx"),
        port=0,
        database_url=url,
        workspace=str(root),
        reload_interval=0,
        max_upload_bytes=100_000,
        max_images=4,
    )
    with background_server(config) as running:
        yield running, key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_from_the_spec_gets_a_server_error(server, mode):
    running, key = server
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v1/models", "/healthz", "/readyz"}
    seen: dict[str, set[int]] = {}
    calls = itertools.count()

    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.body)):
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case):
            # Half the cases authenticate, so that fuzzing reaches past the key check.
            headers = {"X-API-Key": key} if next(calls) % 2 == 0 else None
            response = case.call(base_url=running.url, headers=headers, timeout=30)
            # run right below, within this iteration: `operation` is the current one
            seen.setdefault(operation.path, set()).add(response.status_code)  # noqa: B023
            case.validate_response(response, checks=CHECKS)

        fuzz()
    assert seen["/v1/predict"] and max(max(s) for s in seen.values()) < 500
    if mode == GenerationMode.POSITIVE:
        assert (
            200 in seen["/v1/models"] and 401 in seen["/v1/models"]
        )  # both sides of the key check
    assert httpx.get(f"{running.url}/healthz").status_code == 200  # still up
