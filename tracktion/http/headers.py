"""Header rules of docs/api.md §1.2: `Api-Version`, `Content-Type`, `Content-Encoding`, caller address."""

from __future__ import annotations

import ipaddress
import re

from tracktion.errors import UnsupportedApiVersion, UnsupportedMediaType
from tracktion.settings import IPNetwork

# At most 19 digits per number (§12): `int()` of thousands of digits raises (a 500) or costs quadratic time.
API_VERSION_RE = re.compile(r"^4\.(\d{1,19})(\.\d{1,19})?$", re.ASCII)
API_VERSIONED_PREFIXES = ("/v4/", "/uauth/", "/sauth/")


def check_api_version(value: str | None) -> None:
    """Missing = 4.4. Accepted: 4.0–4.4 with an optional patch (`4.1.2`); anything else → 400, 1016."""
    if value is None:
        return
    m = API_VERSION_RE.match(value)
    if m is None or int(m.group(1)) > 4:
        raise UnsupportedApiVersion(f"Unsupported Api-Version ({value})", rejected_value=value)


def check_content_type(content_type: str | None, content_encoding: str | None) -> bool:
    """Returns True when the body is gzip-encoded. Raises 415 (1015) for anything not JSON/UTF-8."""
    if content_type is None:
        raise UnsupportedMediaType("Content-Type must be application/json")
    media, *parameters = content_type.split(";")
    if media.strip().lower() != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json", rejected_value=content_type)
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("Content-Type charset must be utf-8", rejected_value=content_type)
    if content_encoding is None:
        return False
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return False
    if encoding == "gzip":
        return True
    raise UnsupportedMediaType(
        "Content-Encoding must be gzip or identity", field="Content-Encoding", rejected_value=content_encoding
    )


_CALLER_CACHE_MAX = 4096
_caller_cache: dict[tuple[str | None, str | None, tuple[IPNetwork, ...]], str] = {}


def caller_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    """`X-Forwarded-For` counts only from a trusted proxy: then the right-most address that is not itself a
    trusted proxy. Addresses are normalised (IPv4 dotted, IPv6 compressed)."""
    # Every write asks, and `ipaddress` parsing costs ~10 µs; clients repeat, so the answers are remembered.
    key = (peer, forwarded_for, trusted)
    found = _caller_cache.get(key)
    if found is None:
        if len(_caller_cache) >= _CALLER_CACHE_MAX:
            _caller_cache.clear()
        found = _caller_cache[key] = _caller_ip(peer, forwarded_for, trusted)
    return found


def _caller_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    peer_ip = _parse(peer)
    if peer_ip is None:
        return peer or ""
    if not forwarded_for or not trusted or not _is_trusted(peer_ip, trusted):
        return peer_ip.compressed
    candidate = peer_ip
    for part in reversed(forwarded_for.split(",")):
        ip = _parse(part.strip())
        if ip is None:
            break
        candidate = ip
        if not _is_trusted(ip, trusted):
            break
    return candidate.compressed


def _parse(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)
