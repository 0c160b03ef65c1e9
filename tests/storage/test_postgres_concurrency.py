"""Scale-out end to end: real `tracktion serve` processes on one PostgreSQL database, hammered at once.

Three nodes (the third with `--workers 2`, so four server processes and four writers) share the JWT signing
key and a fresh schema. Every request sends identifiers that other nodes receive at the same moment: new
e-mail + uuid pairs, a new uuid alone with a salted event, salted re-sends for an existing profile, batches,
and anonymous logins for the same new uuid. Afterwards the database must show: every acknowledged event
stored exactly once, every identifier on exactly one profile (the same one for every node), every salted
event once, and definition counts equal to the events stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import API_KEY
from tests.support.postgres import fresh_schema, require_test_database

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

ADMIN_TOKEN = "test-admin-token"
TRACKTION = Path(sys.executable).parent / "tracktion"
PAIRS = 30  # new e-mails, each sent to every node at once with a different uuid
LONE = 20  # new uuids sent alone (with the same salted event) to every node at once
RESENDS = 3  # rounds of salted re-sends of the same events for one existing profile, all nodes at once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Node:
    def __init__(self, url: str, data_dir: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.data_dir = data_dir
        self.log = data_dir.parent / f"{data_dir.name}.log"
        env = {
            **os.environ,
            "TRACKTION_DATABASE_URL": url,
            "TRACKTION_BOOTSTRAP_API_KEY": API_KEY,
            "TRACKTION_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        cmd = [str(TRACKTION), "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        cmd += ["--log-level", "warning", "--workers", str(workers)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(self.base + "/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[Node]]]:
    with fresh_schema(require_test_database()) as url:
        nodes: list[Node] = []
        try:
            first = Node(url, tmp_path / "node0")
            nodes.append(first)
            first.wait_ready()  # creates the schema, the first workspace and the JWT key
            for i, workers in ((1, 1), (2, 2)):
                data_dir = tmp_path / f"node{i}"
                data_dir.mkdir()
                shutil.copy2(first.data_dir / "jwt-private.pem", data_dir / "jwt-private.pem")
                nodes.append(Node(url, data_dir, workers=workers))
            for node in nodes[1:]:
                node.wait_ready()
            yield url, nodes
        finally:
            for node in nodes:
                node.stop()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def test_nodes_share_one_consistent_store(cluster: tuple[str, list[Node]]) -> None:
    url, nodes = cluster
    limits = httpx.Limits(max_connections=96)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        r = await http.post(nodes[0].base + "/uauth/v2/auth/login/profile", json={"apiKey": API_KEY})
        token = r.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for node in nodes:  # one signing key: a token from node 0 works everywhere
            assert (await http.get(node.base + "/-/api/definitions", headers=auth)).status_code == 200
        r = await http.post(
            nodes[1].base + "/-/admin/workspaces/1/api-keys",
            json={"kind": "profile"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert r.status_code == 201, r.text
        profile_key = r.json()["apiKey"]

        expected: list[tuple[str, int, int]] = []  # (action, i, node) of every unsalted event sent
        # Groups of calls that share identifiers, one call per node: a group goes out at once.
        groups: list[list[tuple[str, str, Any]]] = []  # (node base, path, body)
        for i in range(PAIRS):
            group = []
            for n, node in enumerate(nodes):
                email = f"user{i}@example.org" if n != 1 else f"USER{i}@Example.org"
                client = {"email": email, "uuid": str(uuidlib.uuid4())}
                group.append((node.base, "/v4/events/custom", _event("pair.seen", client, i=i, node=n)))
                expected.append(("pair.seen", i, n))
            groups.append(group)
        for i in range(LONE):
            body = _event("lone.seen", {"uuid": _u(i)}, i=i, eventSalt="once", time="2024-03-05T10:00:00Z")
            groups.append([(node.base, "/v4/events/custom", body) for node in nodes])
        for rnd in range(RESENDS):
            group = []
            for n, node in enumerate(nodes):
                batch = [
                    _event(
                        "resent", {"customId": "loyal"}, k=k, eventSalt=f"s{k}", time="2024-03-05T10:00:00Z"
                    )
                    for k in range(5)
                ] + [_event("batched", {"customId": f"new-{rnd}"}, i=rnd, node=n)]
                group.append((node.base, "/v4/events/batch", batch))
                expected.append(("batched", rnd, n))
            groups.append(group)
        random.Random(11).shuffle(groups)
        calls = [call for group in groups for call in group]

        async def send(base: str, path: str, body: Any) -> int:
            r = await http.post(base + path, json=body, headers=auth)
            return r.status_code

        async def anonymous(base: str) -> int:
            r = await http.post(
                base + "/sauth/v3/auth/login/client/anonymous", json={"apiKey": profile_key, "uuid": _u(999)}
            )
            assert r.status_code == 200, r.text
            client_id: int = _claims(r.json()["token"])["clientId"]
            return client_id

        started = time.monotonic()
        statuses, anon_ids = await asyncio.gather(
            asyncio.gather(*(send(*call) for call in calls)),
            asyncio.gather(*(anonymous(node.base) for node in nodes for _ in range(3))),
        )
        elapsed = time.monotonic() - started
    assert set(statuses) == {202}, sorted(set(statuses))
    assert len(set(anon_ids)) == 1, anon_ids  # one profile for the uuid, whichever node answered
    assert elapsed < 30

    import psycopg  # the `postgres` extra: imported here so that the suite collects without it

    with psycopg.connect(url, autocommit=True) as db:
        q = db.execute
        # every acknowledged unsalted event exactly once
        rows = q(
            "SELECT action, (params->>'i')::int, (params->>'node')::int FROM events"
            " WHERE action IN ('pair.seen', 'batched')"
        ).fetchall()
        assert sorted(rows) == sorted(expected)
        # one profile per e-mail, owning every uuid sent with it; events on that profile
        per_email = q(
            "SELECT p.email_lower, count(DISTINCT p.client_id), count(u.uuid) FROM profiles p"
            " JOIN profile_uuids u USING (workspace_id, client_id) WHERE p.email_lower LIKE 'user%%'"
            " GROUP BY 1"
        ).fetchall()
        assert len(per_email) == PAIRS and all(p == 1 and u == 3 for _, p, u in per_email), per_email
        mismatched = q(
            "SELECT count(*) FROM events e JOIN profiles p USING (workspace_id, client_id)"
            " WHERE e.action = 'pair.seen' AND p.email_lower <> lower('user' || (e.params->>'i') || '@example.org')"
        ).fetchone()
        assert mismatched == (0,)
        # each lone uuid: one profile, one salted event on it
        lone = q(
            # The event's `uuid` param (§7.2): its own column, or its profile's primary uuid (issue 23).
            "SELECT u.uuid, count(e.*), bool_and(e.client_id = u.client_id) FROM profile_uuids u"
            " JOIN events e ON e.workspace_id = u.workspace_id AND COALESCE(e.client_uuid::uuid,"
            " (SELECT p.primary_uuid FROM profiles p WHERE p.workspace_id = e.workspace_id"
            " AND p.client_id = e.client_id)) = u.uuid"
            " WHERE e.action = 'lone.seen' GROUP BY 1"
        ).fetchall()
        assert len(lone) == LONE and all(n == 1 and same for _, n, same in lone), lone
        # salted re-sends: one event per salt, all on the one "loyal" profile
        resent = q(
            "SELECT count(*), count(DISTINCT client_id) FROM events WHERE action = 'resent'"
        ).fetchone()
        assert resent == (5, 1)
        assert q("SELECT count(*) FROM profiles WHERE custom_id = 'loyal'").fetchone() == (1,)
        # definitions count exactly the distinct stored events
        counts = dict(q("SELECT action, count(*) FROM events GROUP BY 1").fetchall())
        defs = dict(q("SELECT action, event_count FROM definitions").fetchall())
        assert defs == counts
        assert counts["lone.seen"] == LONE and counts["pair.seen"] == 3 * PAIRS
        # no identifier on two profiles (also guaranteed by the unique keys)
        assert q("SELECT count(*) - count(DISTINCT (workspace_id, uuid)) FROM profile_uuids").fetchone() == (
            0,
        )
        assert q("SELECT count(*) FROM profiles WHERE primary_uuid = %s", (_u(999),)).fetchone() == (1,)


def _event(action: str, client: dict[str, Any], **extra: Any) -> dict[str, Any]:
    params = {k: v for k, v in extra.items() if k not in ("eventSalt", "time")}
    body: dict[str, Any] = {"action": action, "label": action, "client": client, "params": params}
    body.update({k: v for k, v in extra.items() if k in ("eventSalt", "time")})
    return body


def _u(i: int) -> str:
    return str(uuidlib.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + i))
