"""`tracktion` command line: a thin shell over the library (serve, workspaces, keys, migrate)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tracktion import __version__
from tracktion.app import create_app, open_store
from tracktion.auth.permissions import sorted_permissions, unknown_permissions
from tracktion.bootstrap import Bootstrapped, bootstrap, create_key
from tracktion.domain.models import ApiKey, Workspace
from tracktion.domain.timefmt import format_ms
from tracktion.http.context import now_ms
from tracktion.settings import Settings, help_for
from tracktion.storage.base import Store

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except CliError as exc:
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
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server", description="Run the HTTP server.")
    serve.add_argument("--host", help=help_for("host"))
    serve.add_argument("--port", type=int, help=help_for("port"))
    _store_flags(serve)
    serve.add_argument("--workers", type=int, help=help_for("workers"))
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help=help_for("log_level"))
    serve.add_argument("--access-log", action="store_true", default=None, help=help_for("access_log"))
    serve.set_defaults(run=_serve)

    migrate = sub.add_parser("migrate", help="apply pending schema migrations and exit")
    _store_flags(migrate)
    migrate.set_defaults(run=_migrate)

    ws = sub.add_parser("workspaces", help="create and list workspaces").add_subparsers(metavar="ACTION")
    create = ws.add_parser("create", help="create a workspace")
    create.add_argument("--name", required=True)
    _store_flags(create, json_flag=True)
    create.set_defaults(run=_workspaces_create)
    listing = ws.add_parser("list", help="list workspaces")
    _store_flags(listing, json_flag=True)
    listing.set_defaults(run=_workspaces_list)

    keys = sub.add_parser("keys", help="create, list and revoke API keys").add_subparsers(metavar="ACTION")
    kc = keys.add_parser("create", help="create an API key (its secret is printed once)")
    kc.add_argument("--workspace", required=True, help="workspace id or guid")
    kc.add_argument("--kind", choices=["workspace", "profile"], default="workspace")
    kc.add_argument("--name")
    kc.add_argument("--permission", action="append", dest="permissions", metavar="NAME",
                    help="grant this permission (repeatable; default for workspace keys: all)")
    _store_flags(kc, json_flag=True)
    kc.set_defaults(run=_keys_create)
    kl = keys.add_parser("list", help="list a workspace's API keys (never their secrets)")
    kl.add_argument("--workspace", required=True, help="workspace id or guid")
    _store_flags(kl, json_flag=True)
    kl.set_defaults(run=_keys_list)
    kr = keys.add_parser("revoke", help="revoke an API key and every token it issued")
    kr.add_argument("key_id")
    _store_flags(kr, json_flag=True)
    kr.set_defaults(run=_keys_revoke)
    return p


def _store_flags(p: argparse.ArgumentParser, json_flag: bool = False) -> None:
    p.add_argument("--data-dir", type=Path, help=help_for("data_dir"))
    p.add_argument("--database-url", help=help_for("database_url"))
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _settings(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "data_dir", "database_url", "workers", "log_level", "access_log")
    return Settings.load({n: getattr(args, n, None) for n in names})


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings)
        await store.start()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


# -- serve ---------------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    first = _with_store(settings, lambda store: bootstrap(store, settings.bootstrap_api_key))
    workspaces = _with_store(settings, lambda store: store.workspaces())
    _banner(settings, first, workspaces)
    common: dict[str, Any] = dict(host=settings.host, port=settings.port, log_level=settings.log_level,
                                  access_log=settings.access_log, http="httptools", loop="uvloop",
                                  lifespan="on", server_header=False, date_header=True)
    if settings.workers > 1:
        # Worker processes rebuild the app from the environment: pass the resolved settings through it.
        os.environ.update({"TRACKTION_HOST": settings.host, "TRACKTION_PORT": str(settings.port),
                           "TRACKTION_DATA_DIR": str(settings.data_dir)})
        if settings.database_url:
            os.environ["TRACKTION_DATABASE_URL"] = settings.database_url
        uvicorn.run("tracktion.cli:app_from_environment", factory=True, workers=settings.workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)
    return 0


def app_from_environment() -> Any:
    return create_app(Settings.load())


def _banner(settings: Settings, first: Bootstrapped | None, workspaces: list[Workspace]) -> None:
    url = f"http://{settings.host}:{settings.port}"
    store = "PostgreSQL" if settings.database_url else f"SQLite, {settings.data_dir.resolve() / 'tracktion.db'}"
    lines = [
        f"tracktion {__version__} — Synerise-compatible event collector",
        f"  URL          {url}",
        f"  data dir     {settings.data_dir.resolve()} ({store})",
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
        lines.append("  API key      created on first start; `tracktion keys create --workspace 1` makes more")
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

    _with_store(settings, noop)
    print(f"migrations applied: {settings.database_url or settings.data_dir.resolve() / 'tracktion.db'}")
    return 0


# -- workspaces and keys ----------------------------------------------------------------------------------
def _workspace_json(w: Workspace) -> dict[str, Any]:
    return {"id": w.id, "guid": w.guid, "name": w.name, "createdAt": format_ms(w.created_ms)}


def _key_json(k: ApiKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": k.id, "workspaceId": k.workspace_id, "kind": k.kind, "name": k.name,
                           "permissions": list(k.permissions), "createdAt": format_ms(k.created_ms),
                           "revokedAt": format_ms(k.revoked_ms) if k.revoked_ms is not None else None}
    if secret is not None:
        out["apiKey"] = secret
    return out


def _emit(args: argparse.Namespace, data: Any, human: str) -> int:
    print(json.dumps(data, indent=2) if args.json else human)
    return 0


def _workspaces_create(args: argparse.Namespace) -> int:
    w = _with_store(_settings(args), lambda s: s.create_workspace(args.name, now_ms()))
    return _emit(args, _workspace_json(w), f"workspace {w.id} ({w.name}) created, guid {w.guid}")


def _workspaces_list(args: argparse.Namespace) -> int:
    ws = _with_store(_settings(args), lambda s: s.workspaces())
    human = "\n".join(f"{w.id}\t{w.guid}\t{w.name}" for w in ws) or "no workspaces"
    return _emit(args, [_workspace_json(w) for w in ws], human)


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
        raise CliError(f"unknown permission(s): {', '.join(unknown)}; known: {', '.join(sorted_permissions())}")

    async def work(store: Store) -> tuple[ApiKey, str]:
        w = await _require_workspace(store, args.workspace)
        return await create_key(store, w.id, args.kind, args.name, args.permissions)

    key, secret = _with_store(_settings(args), work)
    human = (f"{key.kind} key {key.id} created in workspace {key.workspace_id}\n"
             f"API key (shown once, store it now): {secret}")
    return _emit(args, _key_json(key, secret), human)


def _keys_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[ApiKey]:
        return await store.api_keys((await _require_workspace(store, args.workspace)).id)

    keys = _with_store(_settings(args), work)
    human = "\n".join(
        f"{k.id}\t{k.kind}\t{k.name or '-'}\t{'revoked' if k.revoked_ms else 'active'}\t{len(k.permissions)} permissions"
        for k in keys) or "no keys"
    return _emit(args, [_key_json(k) for k in keys], human)


def _keys_revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> ApiKey | None:
        await store.revoke_api_key(args.key_id, now_ms())
        return await store.api_key(args.key_id)

    key = _with_store(_settings(args), work)
    if key is None:
        raise CliError(f"no API key {args.key_id!r}")
    return _emit(args, _key_json(key), f"key {key.id} revoked")
