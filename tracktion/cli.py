"""`tracktion` command line: a thin shell over the library (serve, workspaces, keys, migrate) and the
client tools in `tracktion.tools` (send, tail, import, export)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tracktion import __version__, datadir
from tracktion.app import create_app, open_store
from tracktion.auth.jwt import KEY_FILE, SigningKey
from tracktion.auth.permissions import sorted_permissions, unknown_permissions
from tracktion.bootstrap import Bootstrapped, SigningKeyRefused, bootstrap, check_signing_key, create_key
from tracktion.clock import now_ms
from tracktion.domain.models import ApiKey, Workspace
from tracktion.domain.ports import Store
from tracktion.errors import StorageUnavailable
from tracktion.http import server
from tracktion.observability.logs import configure as configure_logging
from tracktion.schemas.render import key_json, workspace_json
from tracktion.settings import Settings, help_for, store_description
from tracktion.tools import ToolError, destinations

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except (CliError, ToolError, SigningKeyRefused) as exc:
        print(f"tracktion: {exc}", file=sys.stderr)
        return 1
    return result


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tracktion",
        description="Self-hosted event collection server speaking Synerise's event-ingestion API.",
        epilog="Settings also come from TRACKTION_* environment variables (a flag wins over the environment).",
    )
    p.add_argument("--version", action="version", version=f"tracktion {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND", help="run `tracktion COMMAND --help`")

    serve = sub.add_parser("serve", help="run the HTTP server", description="Run the HTTP server.")
    serve.add_argument("--host", help=help_for("host"))
    serve.add_argument("--port", type=int, help=help_for("port"))
    _store_flags(serve)
    serve.add_argument("--workers", type=int, help=help_for("workers"))
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help=help_for("log_level")
    )
    serve.add_argument("--access-log", action="store_true", default=None, help=help_for("access_log"))
    serve.add_argument("--log-format", choices=["auto", "json", "text"], help=help_for("log_format"))
    serve.set_defaults(run=_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply pending schema migrations and exit",
        description=_wrap(
            "Apply the store's pending schema migrations and exit (every `tracktion serve` does the same "
            "at start; run it once before a rolling upgrade). The store must exist: with SQLite, a data "
            "dir that has none is refused unless --create is given; with PostgreSQL, the database must "
            "exist and its tables are created."
        ),
    )
    _store_flags(migrate)
    migrate.add_argument(
        "--create",
        action="store_true",
        help="SQLite: create a new, empty store when the data dir has none",
    )
    migrate.set_defaults(run=_migrate)

    ws = sub.add_parser("workspaces", help="create and list workspaces").add_subparsers(
        metavar="ACTION", help="what to do"
    )
    create = ws.add_parser("create", help="create a workspace")
    create.add_argument("--name", required=True, help="the workspace's name (need not be unique)")
    _store_flags(create, json_flag=True)
    create.set_defaults(run=_workspaces_create)
    listing = ws.add_parser("list", help="list workspaces")
    _store_flags(listing, json_flag=True)
    listing.set_defaults(run=_workspaces_list)

    keys = sub.add_parser("keys", help="create, list and revoke API keys").add_subparsers(
        metavar="ACTION", help="what to do"
    )
    kc = keys.add_parser("create", help="create an API key (its secret is printed once)")
    kc.add_argument("--workspace", required=True, help="workspace id or guid")
    kc.add_argument(
        "--kind",
        choices=["workspace", "profile"],
        default="workspace",
        help="workspace: logs in for tokens (default); profile: anonymous profile logins of apps",
    )
    kc.add_argument("--name", help="a label to recognise the key by in `keys list`")
    kc.add_argument(
        "--permission",
        action="append",
        dest="permissions",
        metavar="NAME",
        help="grant this permission (repeatable; default for workspace keys: all)",
    )
    _store_flags(kc, json_flag=True)
    kc.set_defaults(run=_keys_create)
    kl = keys.add_parser("list", help="list a workspace's API keys (never their secrets)")
    kl.add_argument("--workspace", required=True, help="workspace id or guid")
    _store_flags(kl, json_flag=True)
    kl.set_defaults(run=_keys_list)
    kr = keys.add_parser("revoke", help="revoke an API key and every token it issued")
    kr.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `keys list` shows it")
    _store_flags(kr, json_flag=True)
    kr.set_defaults(run=_keys_revoke)
    _lifecycle_parsers(sub, ws)
    _tool_parsers(sub)
    destinations.register(sub, _client_flags, _client)  # §14.3, over the API
    return p


def _store_flags(p: argparse.ArgumentParser, json_flag: bool = False) -> None:
    p.add_argument("--data-dir", type=Path, help=help_for("data_dir"))
    p.add_argument("--database-url", help=help_for("database_url"))
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _settings(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "data_dir", "database_url", "workers", "log_level", "access_log", "log_format")
    return Settings.load({n: getattr(args, n, None) for n in names})


def _require_store(settings: Settings, hint: str = "") -> None:
    """Commands that read or administer a store never create one: run in the wrong directory, they would
    otherwise leave an empty `./tracktion-data` behind and report an empty store as if it were yours."""
    if not settings.database_url and not (settings.data_dir / "tracktion.db").exists():
        raise CliError(
            f"no store in {settings.data_dir.resolve()} (pass --data-dir or set TRACKTION_DATA_DIR to the "
            f"data dir of `tracktion serve`, or --database-url{hint})"
        )


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]], *, create: bool = False) -> T:
    """Run `work` on the store; without `create`, a store that does not exist yet is an error."""
    if not create:
        _require_store(settings)
    # A command's few writes do not need SQLite's writer process (and its start-up).
    settings = dataclasses.replace(settings, sqlite_writer="thread")
    where = store_description(settings)

    async def run() -> T:
        if create:
            datadir.prepare(settings.data_dir)
        store = open_store(settings)
        try:
            await store.start()
        except Exception as exc:  # unreachable database, unreadable file: say which, in one line
            raise CliError(f"cannot open the store ({where}): {_one_line(exc)}") from exc
        try:
            return await work(store)
        except StorageUnavailable as exc:
            raise CliError(f"the store stopped answering ({where}): {_one_line(exc)}") from exc
        finally:
            await store.close()

    return asyncio.run(run())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- serve ---------------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)

    async def prepare(store: Store) -> tuple[Bootstrapped | None, list[Workspace]]:
        # Before the server starts, so that a refused key is one line here rather than a failed startup
        # in each worker; loaded once the store is open, so that an unreachable database leaves no key.
        key = SigningKey.load_or_create(settings.data_dir)
        await check_signing_key(store, key, settings.data_dir / KEY_FILE)
        first = await bootstrap(store, settings.bootstrap_api_key)
        return first, await store.workspaces()

    first, workspaces = _with_store(settings, prepare, create=True)
    _banner(settings, first, workspaces)
    common: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # keep tracktion's handlers (JSON lines, or readable on a terminal) for uvicorn too
        access_log=False,  # tracktion logs its own request lines, with request id and route template
        loop="uvloop",
        lifespan="on",
        server_header=False,
        date_header=True,
        # X-Forwarded-For counts only from TRACKTION_TRUSTED_PROXIES (tracktion/http/headers.py); uvicorn's
        # own rewriting would trust any local peer and cost a middleware call per request.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        **server.uvicorn_options(settings),  # §12's limits on every connection (tracktion/http/server.py)
    )
    if settings.workers > 1:
        # Worker processes rebuild the app from the environment: pass the resolved settings through it.
        os.environ.update(
            {
                "TRACKTION_HOST": settings.host,
                "TRACKTION_PORT": str(settings.port),
                "TRACKTION_DATA_DIR": str(settings.data_dir),
                "TRACKTION_LOG_LEVEL": settings.log_level,
                "TRACKTION_LOG_FORMAT": settings.log_format,
                "TRACKTION_ACCESS_LOG": "1" if settings.access_log else "0",
            }
        )
        if settings.database_url:
            os.environ["TRACKTION_DATABASE_URL"] = settings.database_url
        uvicorn.run("tracktion.cli:app_from_environment", factory=True, workers=settings.workers, **common)
    else:
        uvicorn.run(create_app(settings, watch_signals=True), **common)
    return 0


def app_from_environment() -> Any:
    # Each `--workers` process builds its app here and logs through its own handlers, set up like the
    # parent's (same settings, same stderr).
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    server.configure(settings)  # a worker process: its connections' limits come from the same settings
    return create_app(settings, watch_signals=True)


def _banner(settings: Settings, first: Bootstrapped | None, workspaces: list[Workspace]) -> None:
    url = f"http://{settings.host}:{settings.port}"
    lines = [
        f"tracktion {__version__} — Synerise-compatible event collector",
        f"  URL          {url}",
        f"  debugger     {url}/-/ui/",
        f"  data dir     {settings.data_dir.resolve()}",
        f"  store        {store_description(settings)}",
        f"  workspaces   {', '.join(f'{w.id} ({w.name})' for w in workspaces) or 'none'}",
    ]
    if first is not None and first.secret is not None:
        lines += [
            f"  API key      {first.secret}",
            "               ^ workspace key with every permission, shown ONCE: store it now.",
        ]
    elif first is not None:
        lines.append("  API key      the value of TRACKTION_BOOTSTRAP_API_KEY (first workspace created)")
    else:
        lines.append(
            "  API key      created on first start; `tracktion keys create --workspace 1` makes more"
        )
    lines += [
        "  get a token  curl -s -X POST " + url + "/uauth/v2/auth/login/profile \\",
        "                 -H 'Content-Type: application/json' -d '{\"apiKey\": \"<your key>\"}'",
        "  health       " + url + "/-/health",
    ]
    print("\n".join(lines), flush=True)


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def noop(store: Store) -> None:  # starting the store applies pending migrations
        return None

    if not args.create:
        _require_store(settings, hint="; --create makes a new store there")
    # What a data migration reports (§3.2: each identifier removed by trimming) is printed, one line each.
    from tracktion.storage.identifier_trim import MIGRATION_LOG

    report = logging.getLogger(MIGRATION_LOG)
    printer = logging.StreamHandler(sys.stdout)
    printer.setFormatter(logging.Formatter("%(message)s"))
    report.addHandler(printer)
    report.propagate = False
    try:
        _with_store(settings, noop, create=True)
    finally:
        report.removeHandler(printer)
        report.propagate = True
    print(f"migrations applied: {store_description(settings)}")
    return 0


# -- workspaces and keys ----------------------------------------------------------------------------------
def _emit(args: argparse.Namespace, data: Any, human: str) -> int:
    print(json.dumps(data, indent=2) if args.json else human)
    return 0


def _workspaces_create(args: argparse.Namespace) -> int:
    w = _with_store(_settings(args), lambda s: s.create_workspace(args.name, now_ms()))
    return _emit(args, workspace_json(w), f"workspace {w.id} ({w.name}) created, guid {w.guid}")


def _workspaces_list(args: argparse.Namespace) -> int:
    ws = _with_store(_settings(args), lambda s: s.workspaces())
    human = "\n".join(f"{w.id}\t{w.guid}\t{w.name}" for w in ws) or "no workspaces"
    return _emit(args, [workspace_json(w) for w in ws], human)


async def _require_workspace(store: Store, ref: str) -> Workspace:
    w = await store.workspace(ref)
    if w is None:
        raise CliError(f"no workspace {ref!r}")
    return w


def _keys_create(args: argparse.Namespace) -> int:
    if args.permissions is not None and args.kind == "profile":
        raise CliError("profile keys carry no permissions")
    unknown = unknown_permissions(args.permissions or [])
    if unknown:
        raise CliError(
            f"unknown permission(s): {', '.join(unknown)}; known: {', '.join(sorted_permissions())}"
        )

    async def work(store: Store) -> tuple[ApiKey, str]:
        w = await _require_workspace(store, args.workspace)
        return await create_key(store, w.id, args.kind, args.name, args.permissions)

    key, secret = _with_store(_settings(args), work)
    human = (
        f"{key.kind} key {key.id} created in workspace {key.workspace_id}\n"
        f"API key (shown once, store it now): {secret}"
    )
    return _emit(args, key_json(key, secret), human)


def _keys_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[ApiKey]:
        return await store.api_keys((await _require_workspace(store, args.workspace)).id)

    keys = _with_store(_settings(args), work)
    human = (
        "\n".join(
            f"{k.id}\t{k.kind}\t{k.name or '-'}\t{'revoked' if k.revoked_ms else 'active'}\t{len(k.permissions)} permissions"
            for k in keys
        )
        or "no keys"
    )
    return _emit(args, [key_json(k) for k in keys], human)


def _keys_revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> ApiKey | None:
        await store.revoke_api_key(args.key_id, now_ms())
        return await store.api_key(args.key_id)

    key = _with_store(_settings(args), work)
    if key is None:
        raise CliError(f"no API key {args.key_id!r}")
    return _emit(args, key_json(key), f"key {key.id} revoked")


# -- data lifecycle (docs/api.md §15) -------------------------------------------------------------------
def _lifecycle_parsers(sub: Any, ws: Any) -> None:
    wset = ws.add_parser("set", help="change a workspace's settings (retention)")
    wset.add_argument("workspace", metavar="ID", help="workspace id or guid")
    wset.add_argument(
        "--retention-days",
        required=True,
        metavar="N",
        help="delete events older than N days (an integer >= 1), or 'none' to keep them forever",
    )
    _store_flags(wset, json_flag=True)
    wset.set_defaults(run=_workspaces_set)

    erase = sub.add_parser(
        "erase",
        help="erase one person: their profile, events and quarantine records",
        description="Erase a profile named by one identifier (docs/api.md §15.1): it disappears from every"
        " read at once; its rows are then deleted in chunks (this command waits for that unless --no-wait)."
        " Prints the erasure's receipt.",
    )
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--custom-id", help="the profile with this customId (trimmed, exact)")
    who.add_argument("--email", help="the profile with this e-mail (case-insensitive)")
    who.add_argument("--uuid", help="the profile owning this uuid")
    who.add_argument("--client-id", type=int, help="the profile with this clientId")
    erase.add_argument("--workspace", help="workspace id or guid (default: the only workspace)")
    erase.add_argument(
        "--no-suppress", action="store_true", help="do not block later writes naming these identifiers"
    )
    erase.add_argument("--no-wait", action="store_true", help="leave the deletion to the running server")
    _store_flags(erase)
    erase.set_defaults(run=_erase)

    backup = sub.add_parser(
        "backup",
        help="copy the store and signing key to a new directory (safe while the server runs)",
        description="SQLite: a consistent copy of the store and the signing key, written under a temporary"
        " name and renamed when complete. PostgreSQL: copies the signing key and prints the pg_dump command.",
    )
    backup.add_argument("--to", type=Path, required=True, metavar="PATH", help="new directory to create")
    _store_flags(backup)
    backup.set_defaults(run=_backup)

    restore = sub.add_parser("restore", help="restore a SQLite backup into a new, empty data dir")
    restore.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="PATH",
        help="a backup made by tracktion backup",
    )
    restore.add_argument("--data-dir", type=Path, required=True, help="new (absent or empty) data dir")
    restore.set_defaults(run=_restore)


def _workspaces_set(args: argparse.Namespace) -> int:
    from tracktion.schemas.render import workspace_json

    raw = args.retention_days
    days: int | None = None
    if raw.lower() not in ("none", "null", "forever"):
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 36_500:
            raise CliError(f"--retention-days: expected an integer from 1 to 36500 or 'none', got {raw!r}")
        days = int(raw)

    async def work(store: Store) -> Workspace | None:
        w = await _require_workspace(store, args.workspace)
        return await store.set_retention(w.id, days)

    w = _with_store(_settings(args), work)
    assert w is not None
    kept = f"{w.retention_days} days" if w.retention_days is not None else "forever"
    return _emit(args, workspace_json(w), f"workspace {w.id} ({w.name}): events kept {kept}")


def _erase(args: argparse.Namespace) -> int:
    import uuid as uuidlib

    from tracktion.domain.lifecycle import CHUNK_ROWS
    from tracktion.schemas.render import erasure_json

    by, value = next(
        (name, v)
        for name, v in (
            ("customId", args.custom_id),
            ("email", args.email),
            ("uuid", args.uuid),
            ("clientId", args.client_id),
        )
        if v is not None
    )

    async def work(store: Store) -> dict[str, Any]:
        if args.workspace is not None:
            workspace = await _require_workspace(store, args.workspace)
        else:
            workspaces = await store.workspaces()
            if len(workspaces) != 1:
                raise CliError("several workspaces: name one with --workspace")
            workspace = workspaces[0]
        erasure = await store.erase(
            workspace.id,
            by,
            value,
            suppress=not args.no_suppress,
            now_ms=now_ms(),
            erasure_id=str(uuidlib.uuid4()),
        )
        if erasure is None:
            raise CliError("Profile not found")
        if not args.no_wait:
            while await store.erasure_step(CHUNK_ROWS, now_ms()):
                pass
        found = await store.erasure(workspace.id, erasure.id)
        assert found is not None
        return erasure_json(found)

    print(json.dumps(_with_store(_settings(args), work), indent=2))
    return 0


def _backup(args: argparse.Namespace) -> int:
    from tracktion.settings import redact_url
    from tracktion.storage.backup import BackupError, backup_postgres, backup_sqlite

    settings = _settings(args)
    try:
        if settings.database_url:
            out = backup_postgres(settings.data_dir, args.to, redact_url(settings.database_url))
            print(f"signing key copied to {out['path']}" if out["signingKey"] else "no signing key found")
            print("now dump the database (use the real password, e.g. through PGPASSWORD):")
            print(f"  {out['pgDump']}")
            print(f"restore it with: {out['pgRestore']}")
            return 0
        out = backup_sqlite(settings.data_dir, args.to)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    print(f"backup written to {out['path']} ({out['events']} events, quick_check {out['quickCheck']})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from tracktion.storage.backup import BackupError, restore_sqlite

    try:
        out = restore_sqlite(args.source, args.data_dir)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    print(f"restored into {out['dataDir']}; start it with: tracktion serve --data-dir {out['dataDir']}")
    return 0


# -- client tools: send, tail, import (through the API) and export (from the store) --------------------
def _tool_parsers(sub: Any) -> None:
    from tracktion.tools.export import FORMATS
    from tracktion.tools.send import send_types

    raw = argparse.RawDescriptionHelpFormatter
    send = sub.add_parser(
        "send",
        help="send one event, transaction or batch through the API",
        formatter_class=raw,
        description=_wrap(
            "Send one request through the real API and print the outcome; a rejected request prints "
            "the error explained (status, each error's field, message and code)."
        ),
        epilog="examples:\n"
        "  tracktion send custom dog.bark --custom-id rex-owner --param mood=happy --param volume=7\n"
        "  tracktion send hit-timer --email ana@example.org\n"
        "  tracktion send transaction --file order.json\n"
        "  tracktion send batch --partial --file items.json",
    )
    _client_flags(send)
    send.add_argument(
        "type",
        metavar="TYPE",
        choices=send_types(),
        help="custom, a dedicated type (hit-timer, push/clicked, …), transaction, batch or transaction-batch",
    )
    send.add_argument(
        "action", nargs="?", metavar="ACTION", help="the action of a custom event, e.g. dog.bark"
    )
    send.add_argument("--client-id", type=int, help="client.id (an existing profile's clientId)")
    send.add_argument("--custom-id", help="client.customId")
    send.add_argument("--email", help="client.email")
    send.add_argument("--uuid", help="client.uuid")
    send.add_argument("--label", help="the event's label (default: the catalog's label of TYPE)")
    send.add_argument("--time", help="occurrence time, ISO 8601 (transactions: recordedAt); default: now")
    send.add_argument("--salt", help="eventSalt: re-sending with the same salt and time overwrites")
    send.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a param (repeatable); VALUE is JSON when it parses as JSON (7, true, {…}), else text",
    )
    send.add_argument(
        "--file", metavar="PATH", help="JSON body to send (- = stdin); flags override its fields"
    )
    send.add_argument(
        "--partial", action="store_true", help="batch types: ?partial=true (207, a result per item)"
    )
    send.add_argument("--dry-run", action="store_true", help="print the request instead of sending it")
    send.set_defaults(run=_send)

    tail = sub.add_parser(
        "tail",
        help="follow the live stream of events",
        formatter_class=raw,
        description=_wrap(
            "Follow /-/api/stream: one row per committed event (or JSON lines). After a dropped "
            "connection it reconnects with Last-Event-ID, so nothing committed meanwhile is missed."
        ),
        epilog="examples:\n  tracktion tail\n  tracktion tail --action dog.bark --include-quarantine\n"
        "  tracktion tail --client-id 7000000001 --json | jq .params",
    )
    _client_flags(tail)
    tail.add_argument("--action", action="append", default=[], help="only this action (repeatable)")
    tail.add_argument("--client-id", type=int, help="only this profile")
    tail.add_argument("--include-quarantine", action="store_true", help="also show quarantine records")
    tail.add_argument(
        "--after", type=int, metavar="SEQ", help="first replay the stored events after this seq"
    )
    tail.set_defaults(run=_tail)

    imp = sub.add_parser(
        "import",
        help="backfill events or transactions from NDJSON or CSV",
        formatter_class=raw,
        description=_wrap(
            "Send FILE's lines in batches (partial mode) with their original times. Resumable: "
            "lines get salts derived from the input, and FILE.import-state.json records the last "
            "acknowledged line, so a rerun continues there and re-sent lines overwrite instead of "
            "duplicating. Lines not stored go to FILE.rejected.ndjson. Exit status 3: done, but "
            "some lines were not stored."
        ),
        epilog="examples:\n  tracktion import history.ndjson\n  tracktion import orders.csv --transactions\n"
        "  tracktion import clicks.csv --default-time 2024-01-01T00:00:00Z --max-rate 2000",
    )
    _client_flags(imp)
    imp.add_argument("file", type=Path, metavar="FILE", help="NDJSON or CSV input (see the description)")
    imp.add_argument(
        "--transactions", action="store_true", help="lines are transactions (/v4/transactions/batch)"
    )
    imp.add_argument(
        "--format",
        choices=["auto", "ndjson", "csv"],
        default="auto",
        help="input format (default: from the extension, else sniffed)",
    )
    imp.add_argument(
        "--batch-size", type=int, default=1000, help="items per request, at most 1000 (default 1000)"
    )
    imp.add_argument(
        "--default-time",
        metavar="TIME",
        help="time for lines without one (fixed, so re-sends stay idempotent); "
        "without it such lines are rejected",
    )
    imp.add_argument("--salt-namespace", metavar="NAME", help="salt derivation input (default: FILE's name)")
    imp.add_argument(
        "--report", type=Path, help="report file of lines not stored (default FILE.rejected.ndjson)"
    )
    imp.add_argument("--restart", action="store_true", help="ignore the state file and start from line 1")
    imp.add_argument(
        "--max-rate", type=float, metavar="LINES_PER_S", help="send at most this many lines a second"
    )
    imp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    imp.add_argument(
        "--lane",
        choices=["bulk", "live"],
        default="bulk",
        help="writer lane (default bulk: live requests go first; live only to compare in benchmarks)",
    )
    imp.set_defaults(run=_import)

    exp = sub.add_parser(
        "export",
        help="write stored events as NDJSON, CSV or Parquet",
        formatter_class=raw,
        description=_wrap(
            "Read events straight from the store (no server needed), newest first, page by page."
        ),
        epilog="examples:\n  tracktion export > events.ndjson\n"
        "  tracktion export --action dog.bark --from 2024-03-01 --to 2024-03-31 --format csv -o march.csv\n"
        "  tracktion export --format parquet -o events.parquet   # needs tracktion[parquet]",
    )
    _store_flags(exp)
    exp.add_argument("--workspace", help="workspace id or guid (default: the only one)")
    exp.add_argument("--action", action="append", default=[], help="only this action (repeatable)")
    exp.add_argument("--client-id", type=int, help="only this profile")
    exp.add_argument("--custom-id", help="only the profile with this customId")
    exp.add_argument("--email", help="only the profile with this e-mail")
    exp.add_argument("--uuid", help="only the profile with this uuid")
    exp.add_argument("--from", dest="time_from", metavar="TIME", help="events at or after (date or ISO 8601)")
    exp.add_argument("--to", dest="time_to", metavar="TIME", help="events at or before (date or ISO 8601)")
    exp.add_argument("--format", choices=FORMATS, default="ndjson", help="default ndjson")
    exp.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    exp.set_defaults(run=_export)


def _wrap(text: str) -> str:
    return textwrap.fill(text, 100)


def _client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        help="tracktion base URL (env TRACKTION_URL; default http://TRACKTION_HOST:TRACKTION_PORT, "
        "i.e. http://127.0.0.1:8080)",
    )
    p.add_argument("--api-key", help="workspace API key (env TRACKTION_API_KEY)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _client(args: argparse.Namespace) -> Any:
    from tracktion.tools.client import Client, resolve_connection

    return Client(*resolve_connection(args.url, args.api_key))


def _send(args: argparse.Namespace) -> int:
    from tracktion.tools.client import ApiError
    from tracktion.tools.send import SendSpec, build_request, describe, send

    names = (
        "type",
        "action",
        "client_id",
        "custom_id",
        "email",
        "uuid",
        "label",
        "time",
        "salt",
        "file",
        "partial",
    )
    spec = SendSpec(**{n: getattr(args, n) for n in names}, params=args.param)
    path, query, body = build_request(spec)
    if args.dry_run:
        suffix = "?partial=true" if query else ""
        print(f"POST {path}{suffix}\n{json.dumps(body, indent=2, ensure_ascii=False)}")
        return 0
    with _client(args) as client:
        try:
            outcome = send(client, path, query, body)
        except ApiError as exc:
            if not args.json:
                raise
            print(json.dumps({"status": exc.response.status, "body": exc.response.json()}, indent=2))
            return 1
    return _emit(args, outcome.as_json(), describe(outcome))


def _tail(args: argparse.Namespace) -> int:
    from tracktion.tools.tail import TailOptions, follow

    after = str(args.after) if args.after is not None else None
    options = TailOptions(args.action, args.client_id, args.include_quarantine, args.json, after)
    with _client(args) as client:
        return follow(client, options, sys.stdout, sys.stderr)


def _import(args: argparse.Namespace) -> int:
    from tracktion.tools.importer import Importer, ImportOptions

    names = ("transactions", "format", "default_time", "batch_size", "report", "restart", "max_rate", "lane")
    options = ImportOptions(
        args.file,
        **{n: getattr(args, n) for n in names},
        namespace=args.salt_namespace,
        progress=not args.no_progress,
    )
    with _client(args) as client:
        summary = Importer(client, options, err=sys.stderr).run()
    _emit(args, summary.as_json(), summary.describe())
    if summary.interrupted:
        return 130
    return 3 if summary.totals.not_stored else 0


def _export(args: argparse.Namespace) -> int:
    from tracktion.tools.export import ExportOptions, build_query, export, open_writer, parse_bound

    settings = _settings(args)
    _require_store(settings)
    options = ExportOptions(
        **{n: getattr(args, n) for n in ("workspace", "client_id", "custom_id", "email", "uuid", "format")},
        actions=tuple(args.action),
        from_ms=parse_bound(args.time_from, "--from") if args.time_from else None,
        to_ms=parse_bound(args.time_to, "--to", end=True) if args.time_to else None,
    )
    to_file = args.output is not None and args.format != "parquet"
    out = args.output.open("w", encoding="utf-8", newline="") if to_file else sys.stdout

    async def work(store: Store) -> int:
        writer = open_writer(args.format, out, args.output)
        return await export(store, await build_query(store, options), writer)

    try:
        n = _with_store(settings, work)
    except BrokenPipeError:  # `tracktion export | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if to_file:
            out.close()
    print(f"exported {n} events" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0
