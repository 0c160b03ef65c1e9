"""Structured logs: one JSON object per line (for collectors), or a readable line on a terminal.

Request lines carry the request id, workspace, route template, method, status and duration; never a
credential, body, identifier or query string (they may hold personal data or secrets).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Protocol


class RequestLine(Protocol):
    """What a request line says of a request (`tracktion.http.request.Request` has it): described here so
    that logging, a layer below HTTP, imports nothing from it."""

    method: str
    route: str
    request_id: str
    workspace_id: int | None


access = logging.getLogger("tracktion.access")


def access_log(request: RequestLine, status: int, seconds: float) -> None:
    access.info(
        "%s %s %s %.1fms",
        request.method,
        request.route,
        status,
        seconds * 1000,
        extra={
            "fields": {
                "requestId": request.request_id,
                "workspaceId": request.workspace_id,
                "route": request.route,
                "method": request.method,
                "status": status,
                "durationMs": round(seconds * 1000, 3),
            }
        },
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"), default=str)


def configure(level: str, log_format: str = "auto") -> None:
    """`json` lines (for collectors), `text` (for people), or `auto`: text when stderr is a terminal, JSON
    otherwise (a service manager, a container runtime, a pipe)."""
    json_lines = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
