"""The OpenAPI description (`GET /-/openapi.json`, tracktion.http.openapi) and schemathesis against it.

* The document is OpenAPI 3.1, public, and names every route of the route table with every method.
* schemathesis (the `dev` extra) loads it from a live `tracktion serve` and sends generated requests to
  every operation — valid and invalid bodies, parameters and headers — with a workspace bearer token (the
  admin routes with the admin token). It checks that no answer is a 5xx and that every answer matches the
  description: a documented status, content type, headers and body schema. Bounded: a fixed number of
  examples per operation, a fixed seed, no shrinking; the run's statistics go to the figures.

The event stream (`/-/api/stream`) is described but not fuzzed: its answer never ends by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.reliability import ServeProcess
from tracktion.http.routes import build_router

pytestmark = pytest.mark.e2e

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ADMIN_TOKEN = "reliability-admin-token"
MAX_EXAMPLES = int(os.environ.get("TRACKTION_FUZZ_EXAMPLES", "8"))
SEED = 20240305
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def test_document_describes_every_route(serve_factory: Callable[..., ServeProcess]) -> None:
    server = serve_factory(env={"TRACKTION_ADMIN_TOKEN": ADMIN_TOKEN})
    server.start()
    r = httpx.get(f"{server.url}/-/openapi.json", timeout=30)  # public: no credentials
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    routed = {(route.template, m) for route in build_router(admin=True).routes() for m in route.methods}
    assert described == routed
    for path, item in doc["paths"].items():
        for method, op in item.items():
            errors = [s for s in op["responses"] if s.isdigit() and int(s) >= 400]
            for status in errors:
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(op["responses"]), (path, method)
            assert "default" not in op["responses"], (
                f"{method} {path}: describe it in tracktion/http/openapi.py"
            )
    # the catalog's required params reach the request schema
    cart = doc["paths"]["/v4/events/added-to-cart"]["post"]["requestBody"]["content"]["application/json"]
    params = cart["schema"]["properties"]["params"]
    assert set(params["required"]) == {"sku", "finalUnitPrice", "quantity"}
    assert params["properties"]["finalUnitPrice"]["required"] == ["amount", "currency"]
    server.stop()


def _seed(server: ServeProcess) -> None:
    """A few events, a quarantine record and a profile so that the reads have something to answer."""
    headers = {"Authorization": f"Bearer {server.token()}"}
    for i in range(3):
        body = {"client": {"customId": f"fuzz-{i}"}, "action": "fuzz.seed", "label": "x", "params": {"i": i}}
        assert httpx.post(f"{server.url}/v4/events/custom", json=body, headers=headers).status_code == 202
    httpx.post(f"{server.url}/v4/events/custom", json={"label": "no client"}, headers=headers)


def test_schemathesis_finds_no_5xx_and_no_violation(
    serve_factory: Callable[..., ServeProcess],
    figures: Callable[..., None],
    tmp_path: Path,
    store_backend: str,
) -> None:
    server = serve_factory(env={"TRACKTION_ADMIN_TOKEN": ADMIN_TOKEN})
    server.start()
    _seed(server)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[[operations]]\n"
        'include-path-regex = "^/-/admin/"\n'
        f'headers = {{ Authorization = "Bearer {ADMIN_TOKEN}" }}\n'
    )
    # The coverage phase (boundary values, missing and mistyped fields: ~9,500 cases) runs on one backend;
    # the fuzzing phase (random valid and invalid data) on both, where stored rows are read back.
    phases = "examples,coverage,fuzzing" if store_backend == "sqlite" else "examples,fuzzing"
    args = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/-/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--phases",
        phases,
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--exclude-path",
        "/-/api/stream",
        "--header",
        f"Authorization: Bearer {server.token()}",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    figures(
        "schemathesis",
        phases=phases,
        examples_per_operation=MAX_EXAMPLES,
        seed=SEED,
        seconds=round(seconds, 1),
        **_summary(output),
    )
    assert result.returncode == 0, output[-20000:]
    assert server.alive()
    server.stop()


def _summary(output: str) -> dict[str, Any]:
    """The counts of the summary schemathesis prints at the end of a run."""
    out: dict[str, Any] = {}
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("Tested:"):
            out["operations_tested"] = int(line.split(":", 1)[1])
        elif line == "Test cases:" and i + 1 < len(lines):
            out["test_cases"] = lines[i + 1]
    return out
