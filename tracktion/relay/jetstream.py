"""`nats` destinations (docs/api.md §14.1): one JetStream publish per event, the §13.2 item as JSON.

`Nats-Msg-Id: <eventUUID>:<seq>` lets JetStream drop a re-send inside its duplicate window, so a retried batch
(some of whose messages were stored before the trouble) does not store them twice. The cursor moves only
once every message of the batch has its PubAck.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from tracktion.domain.relay import ErasureNotice, RelayEvent
from tracktion.errors import ErrorEntry, rejected
from tracktion.relay.types import DestinationType, Refused, Rejected, Retry
from tracktion.schemas.render import event_json

_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}")
_PLACEHOLDERS = frozenset({"workspaceId", "action", "kind"})
_ACK_TIMEOUT = 10.0


def _token(value: str) -> str:
    """A value as one subject token: no separators, wildcards or whitespace."""
    return re.sub(r"[\s.*>]", "_", value) or "_"


def validate(config: dict[str, Any]) -> tuple[dict[str, Any], list[ErrorEntry]]:
    errors: list[ErrorEntry] = []
    servers = config.get("servers")
    if servers is None:
        errors.append(ErrorEntry(1002, "config.servers", "servers is required", None))
    elif not isinstance(servers, list) or not servers:
        errors.append(
            ErrorEntry(1004, "config.servers", "servers must be a non-empty array", rejected(servers))
        )
    else:
        for i, s in enumerate(servers):
            if not isinstance(s, str) or not re.fullmatch(r"(nats|tls)://[^\s/]+", s):
                errors.append(
                    ErrorEntry(1005, f"config.servers[{i}]", "Expected a nats://host:port URL", rejected(s))
                )
    subject = config.get("subject")
    if subject is None:
        errors.append(ErrorEntry(1002, "config.subject", "subject is required", None))
    elif not isinstance(subject, str) or not subject or any(c.isspace() for c in subject):
        errors.append(
            ErrorEntry(1005, "config.subject", "subject must be a subject without spaces", rejected(subject))
        )
    else:
        unknown = [p for p in _PLACEHOLDER.findall(subject) if p not in _PLACEHOLDERS]
        if unknown or "*" in subject or ">" in subject:
            errors.append(
                ErrorEntry(
                    1005,
                    "config.subject",
                    "subject: wildcards and unknown placeholders are not allowed",
                    rejected(subject),
                )
            )
    out: dict[str, Any] = {"servers": servers, "subject": subject}
    credentials = config.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, dict) or not (
            set(credentials) <= {"user", "password", "token"}
            and all(isinstance(v, str) for v in credentials.values())
            and ("token" in credentials) != ("user" in credentials)
        ):
            errors.append(
                ErrorEntry(
                    1005, "config.credentials", 'credentials must be {"user", "password"} or {"token"}', None
                )
            )
        out["credentials"] = credentials
    return out, errors


class NatsSender:
    batch_size = 500

    def __init__(self, config: dict[str, Any]) -> None:
        self.servers: list[str] = config["servers"]
        self.subject: str = config["subject"]
        self.credentials: dict[str, str] = dict(config.get("credentials") or {})
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None  # one per connection: it holds the acks' reply inbox

    def subject_for(self, event: RelayEvent) -> str:
        row = event.row
        values = {"workspaceId": str(row.workspace_id), "action": _token(row.action), "kind": row.kind}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.subject)

    async def _connect(self) -> Client:
        if self.nc is not None and self.nc.is_connected:
            return self.nc
        if self.nc is not None:
            await self._drop()
        options: dict[str, Any] = {
            "connect_timeout": 5,
            "allow_reconnect": False,
            "max_reconnect_attempts": 0,
        }
        if "token" in self.credentials:
            options["token"] = self.credentials["token"]
        elif "user" in self.credentials:
            options["user"] = self.credentials["user"]
            options["password"] = self.credentials.get("password", "")

        async def quiet(exc: Exception) -> None:  # nats-py logs every error itself otherwise
            return None

        try:
            self.nc = await nats.connect(self.servers, error_cb=quiet, **options)
            self.js = self.nc.jetstream()
        except nats.errors.Error as exc:
            if "authorization" in str(exc).lower():
                raise Refused(f"NATS: {exc}") from exc
            raise Retry(f"NATS connect: {type(exc).__name__}") from exc
        except (OSError, TimeoutError) as exc:
            raise Retry(f"NATS connect: {type(exc).__name__}") from exc
        return self.nc

    async def deliver(self, events: list[RelayEvent], delivery_id: str) -> None:
        await self._connect()
        js = self.js
        assert js is not None
        # All publishes of the batch go out in seq order on the one connection, each with its reply inbox on
        # the context's one wildcard subscription (`publish_async`: no subscription, timer and task per
        # message, which cost 60 µs of CPU per event, measured, against 35); their acks are awaited together.
        results: list[Any] = []
        pending: list[asyncio.Future[Any]] = []
        try:
            for e in events:
                try:
                    future = await js.publish_async(
                        self.subject_for(e),
                        msgspec.json.encode(event_json(e, extended=True)),
                        headers={"Nats-Msg-Id": f"{e.row.uuid}:{e.row.seq}"},
                    )
                except nats.errors.MaxPayloadError as exc:
                    results.append(exc)
                    continue
                pending.append(future)
                results.append(future)
            # Not `wait_for`: on Python 3.11 it drops a cancellation that arrives as the acks complete.
            async with asyncio.timeout(_ACK_TIMEOUT):
                acks = await asyncio.gather(*pending, return_exceptions=True)
        except asyncio.CancelledError:
            for future in pending:
                future.cancel()
            raise
        except Exception as exc:  # timed out, or the connection broke while publishing
            for future in pending:
                future.cancel()
            if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.StaleConnectionError):
                await self._drop()
            raise Retry(f"NATS publish: {type(exc).__name__}: {exc}") from exc
        answers = iter(acks)
        results = [next(answers) if isinstance(r, asyncio.Future) else r for r in results]
        bad: list[int] = []
        first: BaseException | None = None
        for i, result in enumerate(results):
            if not isinstance(result, BaseException):
                continue
            if isinstance(result, nats.js.errors.BadRequestError | nats.errors.MaxPayloadError):
                bad.append(i)
                first = first or result
            elif isinstance(result, asyncio.CancelledError):
                raise result
            else:
                if isinstance(result, nats.errors.ConnectionClosedError | nats.errors.StaleConnectionError):
                    await self._drop()
                raise Retry(f"NATS publish: {type(result).__name__}: {result}")
        if bad:
            raise Rejected(f"NATS: {first}", None, str(first), indices=bad)

    async def erase(self, notice: ErasureNotice, delivery_id: str) -> None:
        """§15.1: one message on the subject with `{kind}` (and `{action}`) = `erasure`, acknowledged by its
        PubAck; `Nats-Msg-Id: erasure:<erasureId>` makes a re-send a duplicate JetStream drops."""
        values = {"workspaceId": str(notice.workspace_id), "action": "erasure", "kind": "erasure"}
        subject = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.subject)
        body = msgspec.json.encode(
            {"type": "erasure", "erasureId": notice.erasure_id, "identifiers": notice.public_identifiers()}
        )
        nc = await self._connect()
        try:
            await nc.jetstream().publish(
                subject, body, timeout=_ACK_TIMEOUT, headers={"Nats-Msg-Id": f"erasure:{notice.erasure_id}"}
            )
        except asyncio.CancelledError:
            raise
        except (nats.js.errors.BadRequestError, nats.errors.MaxPayloadError) as exc:
            raise Rejected(f"NATS: {exc}", None, str(exc)) from exc
        except Exception as exc:
            if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.StaleConnectionError):
                await self._drop()
            raise Retry(f"NATS publish: {type(exc).__name__}: {exc}") from exc

    async def _drop(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                await nc.close()

    async def close(self) -> None:
        await self._drop()


NATS = DestinationType("nats", validate, NatsSender)
