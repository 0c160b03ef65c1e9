"""`nats` destinations (docs/api.md §14.1): one JetStream publish per event, the §13.2 item as JSON.

`Nats-Msg-Id: <eventUUID>:<seq>` lets JetStream drop a re-send inside its duplicate window, so a retried batch
(some of whose messages were stored before the trouble) does not store them twice. The cursor moves only
once every message of the batch has its PubAck.

Publishing goes through nats-py's connection (connect, auth, TLS, pings, its parser) but not through its
per-message JetStream API: `deliver` writes the batch's HPUB frames at once and matches the PubAcks that come
back on one subscription by their reply subject (`<inbox>.<batch>-<index>`). With nats-py's `publish_async`
the relay spent ~33 µs of CPU per message in the serving process (issue 17); this way, ~5.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tracktion.domain.relay import ErasureNotice, RelayRow
from tracktion.errors import ErrorEntry, rejected
from tracktion.relay.feed import Item
from tracktion.relay.types import DestinationType, Refused, Rejected, Retry

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
        self._subjects: dict[tuple[int, str, str], bytes] = {}
        self._inbox = b""  # the reply subjects' prefix, under the connection's one ack subscription
        self._batch = 0  # acks name their batch: a late one of an abandoned attempt is ignored
        self._acks: list[bytes | None] = []
        self._waiting = 0
        self._done: asyncio.Future[None] | None = None

    def subject_for(self, row: RelayRow) -> bytes:
        key = (row.workspace_id, row.action, row.kind)
        subject = self._subjects.get(key)
        if subject is None:
            values = {"workspaceId": str(row.workspace_id), "action": _token(row.action), "kind": row.kind}
            subject = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.subject).encode()
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            self._subjects[key] = subject
        return subject

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

        async def lost() -> None:  # the batch waiting for its acks fails now, not at the timeout
            self._fail(nats.errors.ConnectionClosedError())

        try:
            nc = await nats.connect(self.servers, error_cb=quiet, disconnected_cb=lost, **options)
            self.nc = nc
            self._inbox = nc.new_inbox().encode() + b"."
            sub = await nc.subscribe(
                self._inbox.decode() + "*", cb=self._on_ack, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
            self._take_acks(nc, sub._id)
        except nats.errors.Error as exc:
            if "authorization" in str(exc).lower():
                raise Refused(f"NATS: {exc}") from exc
            raise Retry(f"NATS connect: {type(exc).__name__}") from exc
        except (OSError, TimeoutError) as exc:
            raise Retry(f"NATS connect: {type(exc).__name__}") from exc
        return nc

    def _take_acks(self, nc: Client, sid: int) -> None:
        """Take the PubAcks (plain messages on our subscription) as nats-py's parser hands them over, before
        it builds a `Msg`, queues it and wakes the subscription's task for the callback: ~3.5 of ~9 µs of
        CPU per message, measured. Done only when `_process_msg` has the signature this was written against
        (nats-py 2.x); otherwise, and for anything else (a 503 status has headers), the callback takes them."""
        process = getattr(nc, "_process_msg", None)
        try:
            names = list(inspect.signature(process).parameters) if process is not None else []
        except (TypeError, ValueError):
            names = []
        if process is None or names != ["sid", "subject", "reply", "data", "headers"]:
            return

        async def taken(sid_: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
            if sid_ == sid and not headers and isinstance(subject, bytes):
                self._ack(subject.decode(), data)
            else:
                await process(sid_, subject, reply, data, headers)

        setattr(nc, "_process_msg", taken)  # noqa: B010 (an instance attribute over nats-py's method)

    async def _on_ack(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status") == "503":
            self._ack(
                msg.subject, b'{"error":{"code":503,"description":"no stream answers on this subject"}}'
            )
        else:
            self._ack(msg.subject, msg.data)

    def _ack(self, subject: str, data: bytes) -> None:
        batch, _, index = subject.rpartition(".")[2].partition("-")
        if int(batch) != self._batch or self._done is None:
            return  # an ack of an attempt given up on
        i = int(index)
        if self._acks[i] is not None:
            return
        self._acks[i] = data or b"{}"
        self._waiting -= 1
        if self._waiting == 0 and not self._done.done():
            self._done.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    async def deliver(self, items: list[Item], delivery_id: str) -> None:
        nc = await self._connect()
        # One JetStream publish per event (HPUB: headers for `Nats-Msg-Id`, a reply subject for the PubAck),
        # all of the batch written at once on the connection in seq order, their acks gathered by the
        # connection's one subscription. nats-py's `publish_async` costs ~33 µs of CPU per message (a future,
        # a callback, a JSON decode and a dataclass per ack), measured; this, ~8.
        self._batch += 1
        batch = self._batch
        max_payload = nc.max_payload
        frames: list[bytes] = []
        self._acks = [None] * len(items)
        bad: list[int] = []
        prefix = self._inbox + b"%d-" % batch
        for i, item in enumerate(items):
            row = item.row
            body = item.body
            header = b"NATS/1.0\r\nNats-Msg-Id: %s:%d\r\n\r\n" % (row.uuid.encode(), row.seq)
            if len(header) + len(body) > max_payload:
                bad.append(i)
                self._acks[i] = b""
                continue
            frames.append(
                b"HPUB %s %s%d %d %d\r\n%s%s\r\n"
                % (
                    self.subject_for(row),
                    prefix,
                    i,
                    len(header),
                    len(header) + len(body),
                    header,
                    body,
                )
            )
        self._waiting = len(frames)
        self._done = asyncio.get_running_loop().create_future()
        try:
            if frames:
                if not nc.is_connected:
                    raise nats.errors.ConnectionClosedError
                await nc._send_command(b"".join(frames))
                await nc._flush_pending()
                # Not `wait_for`: on Python 3.11 it drops a cancellation that arrives as the acks complete.
                async with asyncio.timeout(_ACK_TIMEOUT):
                    await asyncio.shield(self._done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # timed out, or the connection broke while publishing
            if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.StaleConnectionError):
                await self._drop()
            raise Retry(f"NATS publish: {type(exc).__name__}: {exc}") from exc
        finally:
            self._batch += 1  # whatever comes later for this batch is ignored
            self._done = None
        first = "maximum payload exceeded" if bad else ""
        for i, ack in enumerate(self._acks):
            if not ack or b'"error"' not in ack:
                continue
            error = msgspec.json.decode(ack).get("error") or {}
            if error.get("code") == 400:  # the stream refuses this message as it is
                bad.append(i)
                first = first or str(error.get("description", "bad request"))
            else:
                raise Retry(f"NATS publish: {error.get('code')} {error.get('description', '')}".strip())
        if bad:
            raise Rejected(f"NATS: {first}", None, first, indices=sorted(bad))

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
        self._fail(nats.errors.ConnectionClosedError())
        nc, self.nc = self.nc, None
        if nc is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                await nc.close()

    async def close(self) -> None:
        await self._drop()


NATS = DestinationType("nats", validate, NatsSender)
