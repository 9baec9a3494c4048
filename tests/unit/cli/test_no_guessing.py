"""The CLI never invents metadata: no default start time, no machine time zone, one name rule.

Commands run through the real entry point; the ones that must not see the test machine's zone
run in a subprocess with ``TZ=America/New_York`` (-05:00 in winter, a zone no value here uses).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from w2t_bkin.cli import main

PLUS_ONE = timezone(timedelta(hours=1))
START = ("--date", "2026-01-02", "--start-time", "10:00+01:00")


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])


def cli(*args: str | Path, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """``python -m w2t_bkin ARGS`` on a machine whose zone is America/New_York."""
    env = {**os.environ, "TZ": "America/New_York"}
    return subprocess.run(
        [sys.executable, "-m", "w2t_bkin", *map(str, args)],
        capture_output=True,
        text=True,
        stdin=stdin,
        env=env,
        timeout=120,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    assert run("data", "init", root, "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--sex", "F", "--age", "P90D", "--yes") == 0
    return root


@pytest.mark.parametrize(
    ("args", "missing"),
    [((), "--date and --start-time"), (("--date", "2026-01-02"), "--start-time")],
)
def test_add_session_with_yes_and_no_start_fails_naming_the_options(
    root: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], missing: str
) -> None:
    capsys.readouterr()
    assert run("data", "add-session", root, "m1", "s1", *args, "--yes") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"error: add-session needs {missing}: the session start (the wall-clock time of DAQ "
        "t=0) is never guessed"
    ) in err
    assert "hint: give the wall-clock time of DAQ t=0 with the lab's UTC offset" in err
    assert "--start-time 13:45 --utc-offset +01:00" in err
    assert not (root / "data/raw/m1/s1").exists()


def test_add_session_never_takes_the_machines_time_zone(root: Path) -> None:
    bare = ("data", "add-session", root, "m1", "s1", "--date", "2026-01-02")
    result = cli(*bare, "--start-time", "13:45", "--yes")
    assert result.returncode == 2, result.stderr
    assert "error: --start-time '13:45' has no UTC offset" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "data/raw/m1/s1").exists()

    result = cli(*bare, "--start-time", "13:45", "--utc-offset", "+01:00", "--yes")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads((root / "data/raw/m1/s1/session.toml").read_text())
    assert data["session_start_time"] == datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)
    assert data["session_start_time"].utcoffset() == timedelta(hours=1)


def test_add_session_at_a_terminal_asks_for_date_time_and_offset(root: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"2026-01-02\n13:45\n+01:00\n")  # the three answers, typed ahead
        result = cli("data", "add-session", root, "m1", "s1", stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, result.stderr
    assert "Session date (YYYY-MM-DD):" in result.stdout
    assert "Start time of DAQ t=0 (HH:MM[:SS]):" in result.stdout
    assert "UTC offset of the lab on that day (e.g. +01:00):" in result.stdout
    data = tomllib.loads((root / "data/raw/m1/s1/session.toml").read_text())
    assert data["session_start_time"] == datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)


def test_date_of_birth_without_offset_is_refused_and_with_one_kept(root: Path) -> None:
    bare = ("data", "add-subject", root, "m2", "--date-of-birth")
    result = cli(*bare, "2026-01-31", "--yes")
    assert result.returncode == 2
    assert "error: --date-of-birth '2026-01-31' has no UTC offset" in result.stderr
    assert not (root / "data/raw/m2").exists()

    assert cli(*bare, "2026-01-31", "--utc-offset", "+01:00", "--yes").returncode == 0
    assert cli(*bare, "2026-01-31T00:00+01:00", "--force", "--yes").returncode == 0
    born = tomllib.loads((root / "data/raw/m2/subject.toml").read_text())["subject"]
    assert born["date_of_birth"] == datetime(2026, 1, 31, tzinfo=PLUS_ONE)
    assert born["date_of_birth"].utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "people"),
    [
        ("Doe, Jane", ["Doe, Jane"]),
        ("Doe, Jane; Roe, Rick", ["Doe, Jane", "Roe, Rick"]),
        ("Jane Doe, Rick Roe", ["Jane Doe", "Rick Roe"]),
    ],
)
def test_experimenters_follow_one_rule_in_init_and_add_session(
    tmp_path: Path, value: str, people: list[str]
) -> None:
    root = tmp_path / "exp"
    assert run("data", "init", root, "--experimenters", value, "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--yes") == 0
    assert run("data", "add-session", root, "m1", "s1", *START, "--experimenter", value, "-y") == 0
    for toml in ("data/raw/metadata.toml", "data/raw/m1/s1/session.toml"):
        assert tomllib.loads((root / toml).read_text())["experimenter"] == people


def test_ambiguous_experimenters_are_refused_with_how_to_write_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "exp"
    assert run("data", "init", root, "--experimenters", "Doe, Jane, Roe, Rick", "--yes") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "error: ambiguous --experimenters 'Doe, Jane, Roe, Rick': its commas could separate "
        "people or a last name from a first name hint: separate people with ';', each written "
        "'Last, First', e.g. 'Doe, Jane; Roe, Rick'"
    ) in err
    assert not root.exists()


def test_the_name_rule_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["data", "init"], ["data", "add-session"]):
        assert main([*command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert 'People are separated by ";", each written "Last, First" as NWB recommends' in text
        assert '"Doe, Jane" is one person and "Jane Doe, Rick Roe" two' in text


def test_renaming_hint_transliterates_accents(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("data", "add-subject", root, "día3", "--yes") == 2
    err = capsys.readouterr().err
    assert "invalid subject ID 'día3': only letters, digits, '_' and '-' are allowed" in err
    assert "hint: rename the subject, e.g. 'dia3'" in err


@pytest.mark.parametrize("command", [["discover"], ["data", "validate"], ["run"]])
def test_a_file_inside_the_workspace_points_at_the_folder(
    root: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    capsys.readouterr()
    config = root / "configuration.toml"
    assert main([*command, str(config)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"error: {config} is a file; commands take the experiment folder (the one holding "
        f"configuration.toml and data/) hint: pass the folder instead: {root}"
    ) in err
    assert "data init" not in err


@pytest.mark.parametrize("command", [["run"], ["discover"], ["data", "validate"]])
def test_subject_and_session_short_options_are_the_same_everywhere(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "-s, --subject" in text and "-x, --session" in text


def test_data_validate_takes_the_short_options(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("data", "add-session", root, "m1", "s1", *START, "--yes") == 0
    capsys.readouterr()
    assert run("data", "validate", root, "-s", "nobody", "-x", "s1") == 1
    assert "no session matches --subject 'nobody' --session 's1'" in capsys.readouterr().out


COMMANDS = [
    [],
    ["run"],
    ["demo"],
    ["discover"],
    ["validate"],
    ["inspect"],
    ["data"],
    ["data", "init"],
    ["data", "add-subject"],
    ["data", "add-session"],
    ["data", "import-raw"],
    ["data", "validate"],
    ["config", "show"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "w2t-bkin")
def test_flags_show_no_value_type_in_help(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--help" in text and "<bool>" not in text
