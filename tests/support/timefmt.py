"""Hypothesis strategies for §3.5 time strings: grammar-valid ones with the moment they denote, and mutations
of them (tests/domain/test_timefmt.py, test_timefmt_fast.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

offsets = st.integers(min_value=-18 * 60, max_value=18 * 60)  # minutes


@st.composite
def time_strings(draw: st.DrawFn) -> tuple[str, datetime]:
    """A grammar-valid string and the aware datetime (ms precision, truncated) it denotes."""
    local = draw(st.datetimes(min_value=datetime(1969, 12, 30), max_value=datetime(9999, 12, 30)))
    offset = draw(offsets)
    shape = draw(st.sampled_from(["minutes", "seconds", "fraction"]))
    text = f"{local:%Y-%m-%d}{draw(st.sampled_from('Tt'))}{local:%H:%M}"
    if shape == "minutes":
        local = local.replace(second=0, microsecond=0)
    else:
        text += f":{local:%S}"
        if shape == "seconds":
            local = local.replace(microsecond=0)
        else:
            digits = draw(st.integers(min_value=1, max_value=12))
            extra = draw(
                st.text(alphabet="0123456789", min_size=max(0, digits - 6), max_size=max(0, digits - 6))
            )
            fraction = (f"{local.microsecond:06d}" + extra)[:digits]
            text += "." + fraction
            local = local.replace(microsecond=int(fraction[:3].ljust(3, "0")) * 1000)  # truncated to ms
    style = draw(st.sampled_from(["none", "Z", "z", "colon", "compact"]))
    if style in ("none", "Z", "z"):
        offset = 0
        text += "" if style == "none" else style
    else:
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset), 60)
        text += f"{sign}{hours:02d}:{minutes:02d}" if style == "colon" else f"{sign}{hours:02d}{minutes:02d}"
    return text, local.replace(tzinfo=timezone(timedelta(minutes=offset)))


@st.composite
def mutated_time_strings(draw: st.DrawFn) -> str:
    text, _ = draw(time_strings())
    position = draw(st.integers(min_value=0, max_value=len(text)))
    mutation = draw(st.sampled_from(["insert", "delete", "replace"]))
    char = draw(st.characters(codec="utf-8"))
    if mutation == "insert":
        return text[:position] + char + text[position:]
    if mutation == "delete":
        return text[:position] + text[position + 1 :]
    return text[:position] + char + text[position + 1 :]
