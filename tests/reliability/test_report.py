"""The report generator keeps the hand-written summary of docs/reliability.md (and says where it goes)."""

from __future__ import annotations

from tests.reliability.report import DOC, NO_SUMMARY, hand_written_summary, render


def test_regenerating_keeps_the_hand_written_summary() -> None:
    summary = hand_written_summary(DOC.read_text("utf-8"))
    assert summary != NO_SUMMARY and "What is promised" in summary
    out = render({}, {"outcome": "1 passed"}, summary)
    assert out.index("## Summary\n") < out.index(summary) < out.index("## How it is tested\n")
    assert hand_written_summary(out) == summary  # stable across regenerations
    assert out.index("## What is not covered") < out.index("## Lab notebook") < out.index("### Bugs found")


def test_a_document_without_a_summary_gets_a_placeholder() -> None:
    assert hand_written_summary("# Reliability\n") == NO_SUMMARY
    assert NO_SUMMARY in render({}, {})
