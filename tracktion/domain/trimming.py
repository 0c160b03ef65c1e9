"""Identifier trimming (docs/api.md §3.2 "Trimming", Synerise's identifier standardization): what is removed
from both ends of a customId, e-mail or uuid before any other rule. Here, in the domain, because both the
validators (`tracktion.schemas.client`) and the storage's data migration (`tracktion.storage.identifier_trim`)
apply it."""

from __future__ import annotations

# The characters of Unicode category Zs, plus TAB. Spelled out rather than computed from `unicodedata`, so
# the rule cannot change with the Python build (tests/schemas/test_trimming.py checks that it is exactly Zs of
# this Python's Unicode tables plus TAB). CR, LF, U+2028 and U+2029 are deliberately absent: they stay
# banned (1008) wherever they are.
TRIMMED_CHARS = (
    "\t\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)


def trim_identifier(value: str) -> str:
    """Leading and trailing Zs and TAB removed, nothing else (no case or diacritic folding)."""
    return value.strip(TRIMMED_CHARS)
