"""Settings: the environment, the app.env file and which one wins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inventory import create_app
from inventory.config import Settings, is_true, parse_env_file, read_env_file


def test_parse_env_file_syntax() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "APP_FAIL_HEALTH=1",
            "  PIPELINE_ENV = staging  ",
            "export PIPELINE_SLOT=green",
            "QUOTED=\"two words # not a comment\"",
            "SINGLE='x=y'",
            "TRAILING=value # a comment",
            "EMPTY=",
            "HASH=a#b",
        ]
    )
    assert parse_env_file(text) == {
        "APP_FAIL_HEALTH": "1",
        "PIPELINE_ENV": "staging",
        "PIPELINE_SLOT": "green",
        "QUOTED": "two words # not a comment",
        "SINGLE": "x=y",
        "TRAILING": "value",
        "EMPTY": "",
        "HASH": "a#b",
    }


def test_parse_env_file_later_line_wins() -> None:
    assert parse_env_file("A=1\nA=2\n") == {"A": "2"}


def test_parse_env_file_skips_malformed_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="inventory.config"):
        values = parse_env_file("just words\n1BAD=x\n=x\nGOOD=yes\n", "release/app.env")
    assert values == {"GOOD": "yes"}
    assert [record.getMessage() for record in caplog.records] == [
        "release/app.env:1: not a KEY=VALUE line, ignored",
        "release/app.env:2: not a KEY=VALUE line, ignored",
        "release/app.env:3: not a KEY=VALUE line, ignored",
    ]


def test_read_env_file_missing_is_empty(tmp_path: Path) -> None:
    assert not read_env_file(tmp_path / "absent.env")


def test_read_env_file_unreadable_is_empty_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "app.env"
    bad.write_bytes(b"APP_FAIL_HEALTH=\xff\n")
    with caplog.at_level(logging.WARNING, logger="inventory.config"):
        assert not read_env_file(bad)
        assert not read_env_file(tmp_path)  # a directory
    assert len(caplog.records) == 2
    assert "cannot be read" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("True", True), ("yes", True), ("ON", True), ("0", False), ("", False)],
)
def test_is_true(value: str, expected: bool) -> None:
    assert is_true(value) is expected


def test_is_true_none() -> None:
    assert is_true(None) is False


def test_env_file_switches_apply(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "APP_FAIL_HEALTH=1\nAPP_BREAK_ITEMS=true\nAPP_BREAK_WRITES=on\n"
        "PIPELINE_VERSION=from-file\n",
        encoding="utf-8",
    )
    settings = Settings.load({}, env_file)
    assert settings == Settings(
        version="from-file", fail_health=True, break_items=True, break_writes=True
    )


def test_environment_turns_break_writes_off_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("APP_BREAK_WRITES=1\n", encoding="utf-8")
    assert Settings.load({}, env_file).break_writes is True
    assert Settings.load({"APP_BREAK_WRITES": "0"}, env_file).break_writes is False


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("APP_FAIL_HEALTH=1\nPIPELINE_VERSION=from-file\n", encoding="utf-8")
    settings = Settings.load({"APP_FAIL_HEALTH": "0", "PIPELINE_VERSION": "1.4.0"}, env_file)
    assert settings.fail_health is False
    assert settings.version == "1.4.0"


def test_default_env_file_is_app_env_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.env").write_text("APP_BREAK_ITEMS=1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings.load({}).break_items is True
    client = create_app(environ={}).test_client()
    assert client.get("/api/items").status_code == 500


def test_app_env_file_variable_names_the_file(tmp_path: Path) -> None:
    other = tmp_path / "broken.env"
    other.write_text("APP_FAIL_HEALTH=yes\n", encoding="utf-8")
    assert Settings.load({"APP_ENV_FILE": str(other)}).fail_health is True


def test_default_environment_is_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_VERSION", "7.7.7")
    monkeypatch.setenv("PIPELINE_SLOT", "green")
    monkeypatch.setenv("PIPELINE_ENV", "prod")
    monkeypatch.delenv("APP_ENV_FILE", raising=False)
    monkeypatch.delenv("APP_FAIL_HEALTH", raising=False)
    monkeypatch.delenv("APP_BREAK_ITEMS", raising=False)
    monkeypatch.delenv("APP_BREAK_WRITES", raising=False)
    assert Settings.load() == Settings(version="7.7.7", slot="green", env="prod")
