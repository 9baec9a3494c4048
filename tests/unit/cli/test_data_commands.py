"""Workspace commands, run through the real console entry point (non-interactive)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.config import Config


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    assert run("data", "init", root, "--lab", "Larkum", "--experimenters", "A,B", "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--sex", "F", "--age", "P90D", "--yes") == 0
    assert run("data", "add-session", root, "m1", "s1", "--date", "2026-01-02", "--yes") == 0
    return root


def test_init_layout_and_valid_config(workspace: Path) -> None:
    for folder in ("data/raw", "data/interim", "data/processed", "models", ".w2t"):
        assert (workspace / folder).is_dir()
    config = tomllib.loads((workspace / "configuration.toml").read_text())
    assert Config.model_validate(config) == Config()
    meta = tomllib.loads((workspace / "data/raw/metadata.toml").read_text())
    assert meta["lab"] == "Larkum" and meta["experimenter"] == ["A", "B"]


def test_session_layout(workspace: Path) -> None:
    session = workspace / "data/raw/m1/s1"
    assert sorted(p.name for p in session.iterdir() if p.is_dir()) == [
        "Bpod",
        "Pose",
        "TTLs",
        "Video",
    ]
    data = tomllib.loads((session / "session.toml").read_text())
    assert data["identifier"] == "m1-s1" and data["session_id"] == "s1"
    assert data["session_start_time"].date().isoformat() == "2026-01-02"
    assert data["session_start_time"].tzinfo is not None


def test_init_and_add_session_split_experimenter_names_alike(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    names = "Doe, J; Roe, R"
    assert run("data", "init", root, "--experimenters", names, "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--yes") == 0
    assert run("data", "add-session", root, "m1", "s1", "--experimenter", names, "--yes") == 0
    for toml in ("data/raw/metadata.toml", "data/raw/m1/s1/session.toml"):
        assert tomllib.loads((root / toml).read_text())["experimenter"] == ["Doe, J", "Roe, R"]


def test_init_refuses_non_empty_folder_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    assert run("data", "init", tmp_path, "--yes") == 3
    assert "not empty" in capsys.readouterr().err
    assert run("data", "init", tmp_path, "--yes", "--force") == 0
    assert (tmp_path / "x.txt").read_text() == "keep me"


def test_init_is_idempotent_and_keeps_edited_files(workspace: Path) -> None:
    config = workspace / "configuration.toml"
    config.write_text('schema_version = 1\n[verification]\nframe_pulse_policy = "repair"\n')
    assert run("data", "init", workspace, "--yes") == 0
    assert "repair" in config.read_text()


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("data", "add-subject", "{root}", "bad id"), 2, "invalid subject ID 'bad id'"),
        (("data", "add-subject", "{root}", "m2", "--sex", "female"), 2, "sex"),
        (("data", "add-subject", "{root}", "m2", "--age", "90d"), 2, "ISO-8601"),
        (("data", "add-subject", "{root}", "m1"), 3, "already exists"),
        (("data", "add-session", "{root}", "nobody", "s1"), 3, "add-subject"),
        (("data", "add-session", "{root}", "m1", "s/1"), 2, "invalid session ID"),
        (("data", "add-subject", "{root}/missing", "m1"), 3, "does not exist"),
        (("discover", "{root}/missing"), 3, "data init"),
    ],
)
def test_bad_inputs_exit_non_zero_with_a_clear_message(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    needle: str,
) -> None:
    assert run(*(a.format(root=workspace) for a in args)) == code
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_add_subject_reports_every_invalid_field_at_once(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("data", "add-subject", workspace, "m2", "--sex", "female", "--age", "90d") == 2
    err = capsys.readouterr().err
    assert "sex: Input should be 'F', 'M', 'U' or 'O'" in err
    assert "age: Value error, age must be an ISO-8601 duration" in err
    assert not (workspace / "data/raw/m2").exists()


def test_discover_formats(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("data", "add-session", workspace, "m1", "s2", "--yes")
    capsys.readouterr()
    assert run("discover", workspace, "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["subject"], r["session"]) for r in rows] == [("m1", "s1"), ("m1", "s2")]
    assert run("discover", workspace, "--format", "tsv", "--session", "s2") == 0
    assert capsys.readouterr().out == "m1\ts2\n"


def test_validate_reports_all_problems_at_once(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = workspace / "data/raw/m1/s1/session.toml"
    session.write_text(
        session.read_text()
        + '[[cameras]]\nid = "top"\npaths = ["Video/*.avi"]\nttl_id = "ttl_cam"\nfsp = 3\n'
        + '[[TTLs]]\nid = "ttl_cam"\npaths = ["TTLs/*.txt"]\n'
    )
    capsys.readouterr()
    assert run("data", "validate", workspace) == 1
    out = capsys.readouterr().out
    assert "cameras[0].fsp: unknown key (did you mean 'fps'?)" in out
    # fix the key: now the globs that match nothing are reported together
    session.write_text(session.read_text().replace("fsp = 3", "fps = 30.0"))
    assert run("data", "validate", workspace) == 1
    out = capsys.readouterr().out
    assert "camera 'top': paths ['Video/*.avi'] match no file" in out
    assert "TTL 'ttl_cam': paths ['TTLs/*.txt'] match no file" in out
    (workspace / "data/raw/m1/s1/Video/a.avi").write_bytes(b"x")
    (workspace / "data/raw/m1/s1/TTLs/a.txt").write_text("0.1\n")
    assert run("data", "validate", workspace) == 0


def test_import_raw_dry_run_then_relative_links(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rig"
    source.mkdir()
    for name in (
        "cam0_2026.avi",
        "cam1_2026.avi",
        "run_g0_t0.nidq.xa_7_0_frame.txt",
        "session1.mat",
        "notes.docx",
    ):
        (source / name).write_bytes(b"raw")
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    assert (
        run(
            "data",
            "import-raw",
            source,
            "--experiment",
            workspace,
            "--subject",
            "m1",
            "--session",
            "s1",
        )
        == 0
    )
    assert "dry run" in capsys.readouterr().out
    session = workspace / "data/raw/m1/s1"
    assert not (session / "Video/cam0").exists()
    assert (
        run(
            "data",
            "import-raw",
            source,
            "-e",
            workspace,
            "-s",
            "m1",
            "--session",
            "s1",
            "--confirm",
        )
        == 0
    )
    link = session / "Video/cam0/cam0_2026.avi"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.read_bytes() == b"raw"
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # raw data untouched
    data = tomllib.loads((session / "session.toml").read_text())
    cameras = {c["id"]: c for c in data["cameras"]}
    assert cameras["cam0"]["paths"] == ["Video/cam0/cam0_2026.avi"]
    assert cameras["cam0"]["ttl_id"] == "ttl_frame"
    assert data["TTLs"] == [{"id": "ttl_frame", "paths": ["TTLs/run_g0_t0.nidq.xa_7_0_frame.txt"]}]
    assert data["bpod"]["path"] == ["Bpod/session1.mat"]
    # every declared glob matches its linked file
    capsys.readouterr()
    assert run("data", "validate", workspace) == 0


def test_config_show_and_schema(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run("config", "show", workspace) == 0
    assert Config.model_validate(tomllib.loads(capsys.readouterr().out)) == Config()
    assert run("config", "schema") == 0
    assert "synchronization" in json.loads(capsys.readouterr().out)["properties"]


def test_console_script_version_and_module_entry_point() -> None:
    from w2t_bkin import __version__

    result = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"w2t-bkin {__version__}"


def test_non_interactive_without_tty_never_prompts(tmp_path: Path) -> None:
    # stdin is not a TTY and --yes is absent: init must not wait for input.
    result = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", "data", "init", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e" / "configuration.toml").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "add-subject"], "Missing argument 'root'"),
        (["--bogus"], "No such option: --bogus"),
        (["discover", ".", "--format"], "Option '--format' requires an argument"),
        (["data", "init", ".", "--yes", "extra-arg"], "Got unexpected extra argument"),
    ],
)
def test_usage_errors_exit_2_with_click_message_and_no_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "internal error" not in err and "Traceback" not in err
