import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracktion.auth.basic import parse_basic
from tracktion.errors import Unauthorized


def enc(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("17:tk_secret", ("17", "tk_secret")),
        ("0b4a8c1e-6f2d-4c4e-9c1a-2b7e5d9f0a11:k", ("0b4a8c1e-6f2d-4c4e-9c1a-2b7e5d9f0a11", "k")),
        ("17:a:b:c", ("17", "a:b:c")),  # split at the first colon only
        ("17:zażółć", ("17", "zażółć")),
    ],
)
def test_valid(plain, expected):
    assert parse_basic(enc(plain)) == expected


def test_surrounding_blanks_are_tolerated():
    assert parse_basic(f"  {enc('1:k')}\t") == ("1", "k")


@pytest.mark.parametrize(
    "value",
    [
        "",
        enc("no-colon"),
        enc(":key"),
        enc("17:"),
        enc(":"),
        enc("17:k").rstrip("="),  # padding missing: strict decoding refuses it
        enc("17:k") + "$",  # stray character: non-strict decoding would skip it
        enc("17:k")[:4] + " " + enc("17:k")[4:],  # inner blank
        "MTc6a2V5_-",  # URL-safe alphabet is not Basic's
        base64.b64encode(b"17:\xff\xfe").decode(),  # not UTF-8
        "!!!!",
    ],
)
def test_invalid(value):
    with pytest.raises(Unauthorized) as info:
        parse_basic(value)
    assert info.value.code == 2001 and info.value.status == 401
    assert info.value.headers["www-authenticate"] == 'Bearer realm="tracktion"'


@given(st.text(min_size=1).filter(lambda s: ":" not in s), st.text(min_size=1))
def test_round_trip(workspace, key):
    assert parse_basic(enc(f"{workspace}:{key}")) == (workspace, key)
