"""`Authorization: Basic …` credentials (docs/api.md §2.3).

Only the syntax lives here; looking the workspace and key up (and refusing profile or revoked keys) is the
caller's job. Every failure is the same 401 so a caller learns nothing about which part was wrong.
"""

from __future__ import annotations

import base64
import binascii

from tracktion.errors import Unauthorized


def parse_basic(value: str) -> tuple[str, str]:
    """`base64("<workspace id or guid>:<api key>")` → (workspace, api key).

    Decoding is strict: standard alphabet with padding only (`validate=True` refuses stray characters instead
    of silently skipping them), then strict UTF-8. The split is at the first `:` (RFC 7617: the user-id cannot
    contain one, the password may). Both halves must be non-empty.
    """
    # The HTTP layer splits off the scheme; tolerate the extra blanks RFC 7235 allows around the token.
    value = value.strip(" \t")
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise Unauthorized() from None
    workspace, sep, api_key = decoded.partition(":")
    if not sep or not workspace or not api_key:
        raise Unauthorized()
    return workspace, api_key
