from __future__ import annotations

from pathlib import Path

from tracktion.settings import Settings, redact_url, store_description


def test_flag_beats_environment_beats_default() -> None:
    assert Settings.load({}, env={}).port == 8080
    assert Settings.load({}, env={"TRACKTION_PORT": "9001"}).port == 9001
    assert Settings.load({"port": 9002}, env={"TRACKTION_PORT": "9001"}).port == 9002
    assert Settings.load({"port": None}, env={"TRACKTION_PORT": "9001"}).port == 9001  # flag not given


def test_secrets_are_redacted() -> None:
    s = Settings.load({}, env={"TRACKTION_ADMIN_TOKEN": "s3cret", "TRACKTION_BOOTSTRAP_API_KEY": "tk_x"})
    shown = s.redacted()
    assert shown["admin_token"] == "***" and shown["bootstrap_api_key"] == "***"


def test_database_password_never_shown() -> None:
    url = "postgresql://app:hunter2@db.internal:5432/events?sslmode=require"
    assert redact_url(url) == "postgresql://app:***@db.internal:5432/events?sslmode=require"
    assert redact_url("postgresql://postgres@127.0.0.1/test") == "postgresql://postgres@127.0.0.1/test"
    described = store_description(Settings.load({"database_url": url}, env={}))
    assert "hunter2" not in described and described.startswith("PostgreSQL")
    assert store_description(Settings.load({"data_dir": Path("/d")}, env={})) == (
        "SQLite, /d/tracktion.db (writer process)"
    )
    thread = Settings.load({"data_dir": Path("/d"), "sqlite_writer": "thread"}, env={})
    assert store_description(thread) == "SQLite, /d/tracktion.db (writer thread)"
