"""The wheel, as a user (or the Dockerfile) installs it: built from pyproject.toml, README.md and tracktion/
alone, installed with the `postgres` extra into a new venv that has none of the dev tools, it gives a
working `tracktion` command whose server stores and returns an event, serves the debugger's files from the
package, and passes the Dockerfile's HEALTHCHECK command. Dependencies come from the package index as pip
is configured (PyPI, or its cache)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import default_sigint, free_port
from tracktion.http.ui import ASSETS, MODULES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
KEY = "tk_wheel-test-key-0123456789abcdef"


def sh(*args: str | Path, timeout: float = 300, **kwargs: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{args}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r  # type: ignore[no-any-return]


def environment(**extra: str) -> dict[str, str]:
    """No TRACKTION_* of the caller, and no PYTHONPATH: the code that runs must be the installed wheel's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_") and k != "PYTHONPATH"}
    return {**env, **extra}


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK, exec form: `CMD ["python", "-c", "…"]`."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s+CMD (\[[^\n]*\])$", text, re.MULTILINE)
    assert match, "Dockerfile: HEALTHCHECK … CMD [exec form]"
    command: list[str] = json.loads(match.group(1))
    return command


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # what the Dockerfile copies into its build stage, nothing else
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "tracktion", src / "tracktion", ignore=shutil.ignore_patterns("__pycache__"))
    sh(sys.executable, "-m", "build", "--wheel", "--outdir", tmp / "dist", src, cwd=tmp, env=environment())
    (wheel,) = (tmp / "dist").glob("tracktion-*-py3-none-any.whl")
    sh(sys.executable, "-m", "venv", tmp / "venv", env=environment())
    python = tmp / "venv" / "bin" / "python"
    sh(python, "-m", "pip", "install", "--quiet", f"{wheel}[postgres]", cwd=tmp, env=environment())
    yield tmp / "venv"


def test_the_wheel_holds_the_package_data_and_no_dev_tools(venv: Path) -> None:
    python = venv / "bin" / "python"
    probe = (
        "import importlib.resources as r, importlib.util as u, json, tracktion;"
        "f = r.files('tracktion');"
        "print(json.dumps({'file': tracktion.__file__,"
        " 'data': sorted(p.name for p in (f / 'ui').iterdir()) + [(f / 'catalog.json').name],"
        " 'dev': [m for m in ('pytest', 'ruff', 'mypy', 'hypothesis', 'playwright', 'pyarrow', 'schemathesis')"
        " if u.find_spec(m)], 'psycopg': bool(u.find_spec('psycopg'))}))"
    )
    out = json.loads(sh(python, "-c", probe, cwd=venv, env=environment()).stdout)
    assert out["file"].startswith(str(venv)), out  # the installed copy, not the source tree
    assert out["data"] == [*sorted(ASSETS), "catalog.json"]  # every file the debugger serves
    assert out["dev"] == [] and out["psycopg"] is True


def test_the_installed_command_serves(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = environment(
        TRACKTION_HOST="127.0.0.1",
        TRACKTION_PORT=str(port),
        TRACKTION_DATA_DIR=str(tmp_path / "data"),
        TRACKTION_BOOTSTRAP_API_KEY=KEY,
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "tracktion"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready within 60 s"
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=10) as http:
            r = http.post("/uauth/v2/auth/login/profile", json={"apiKey": KEY})
            assert r.status_code == 200, r.text
            auth = {"Authorization": f"Bearer {r.json()['token']}"}
            body = {"action": "wheel.test", "label": "From the wheel", "client": {"customId": "wheel"}}
            assert http.post("/v4/events/custom", json=body, headers=auth).status_code == 202
            (item,) = http.get("/-/api/events", params={"customId": "wheel"}, headers=auth).json()["items"]
            assert (item["action"], item["label"]) == ("wheel.test", "From the wheel")
            page = http.get("/-/ui/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            for module in MODULES:  # the page's ES modules, each imported by name
                assert http.get(f"/-/ui/{module}").status_code == 200, module
            assert http.get("/").json()["ui"] == "/-/ui/"
        check = healthcheck_command()
        assert check[0] == "python"
        sh(venv / "bin" / "python", *check[1:], timeout=30, env=env)  # exit 0 = healthy
    finally:
        proc.send_signal(subprocess.signal.SIGINT)  # type: ignore[attr-defined]
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
