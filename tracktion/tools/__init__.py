"""Command-line tools that talk to a running tracktion (send, tail, import) or read a store directly
(export). `tracktion.cli` wires them in as subcommands; everything here is plain stdlib."""

from __future__ import annotations


class ToolError(Exception):
    """A failure to report in one line (`tracktion: <message>`, exit status 1): no traceback."""
