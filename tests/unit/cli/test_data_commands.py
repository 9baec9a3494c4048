"""Workspace commands, run through the real console entry point (non-interactive)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.config import Config
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.testing.bpod import simulate_bpod_trials, write_bpod_mat
from w2t_bkin.testing.video import write_video

START = ("--date", "2026-01-02", "--start-time", "10:00+01:00")


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    assert run("data", "init", root, "--lab", "Larkum", "--experimenters", "A; B", "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--sex", "F", "--age", "P90D", "--yes") == 0
    assert run("data", "add-session", root, "m1", "s1", *START, "--yes") == 0
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
    start = data["session_start_time"]
    assert start == datetime(2026, 1, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert start.utcoffset() == timedelta(hours=1)


def test_init_and_add_session_split_experimenter_names_alike(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    names = "Doe, J; Roe, R"
    assert run("data", "init", root, "--experimenters", names, "--yes") == 0
    assert run("data", "add-subject", root, "m1", "--yes") == 0
    assert run("data", "add-session", root, "m1", "s1", *START, "--experimenter", names, "-y") == 0
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
        (("data", "add-session", "{root}", "nobody", "s1", *START), 3, "add-subject"),
        (("data", "add-session", "{root}", "m1", "s/1", *START), 2, "invalid session ID"),
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
    run("data", "add-session", workspace, "m1", "s2", *START, "--yes")
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
    video = workspace / "data/raw/m1/s1/Video/a.avi"
    video.write_bytes(b"x")
    (workspace / "data/raw/m1/s1/TTLs/a.txt").write_text("0.1\n0.2\n0.3\n")
    assert run("data", "validate", workspace) == 1  # the run's checks: the video is opened
    out = capsys.readouterr().out
    assert str(video) in out.replace("\n", "")
    write_video(video, 3, 30.0, codec="mpeg4")
    assert run("data", "validate", workspace) == 0


def test_import_raw_dry_run_then_relative_links(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rig"
    source.mkdir()
    for name in (
        "cam0_2026.avi",
        "cam1_2026.avi",
        "cam0_frame.txt",
        "cam1_frame.txt",
        "notes.docx",
    ):
        (source / name).write_bytes(b"raw")
    write_bpod_mat(source / "session1.mat", simulate_bpod_trials(4, trial_types=(1,), seed=2))
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    args = ("data", "import-raw", source, "-e", workspace, "-s", "m1", "--session", "s1")
    capsys.readouterr()
    assert run(*args) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "conflict" not in out
    # no sync rule yet: proposed with the file's names; both TTLs are frame clocks
    assert "needed by run Bpod files are imported but no [[bpod.sync.trial_types]]" in out
    assert "needed by run no TTL channel is imported or declared" in out
    assert '# sync_ttl = "<the TTL channel id receiving it>"' in out
    session = workspace / "data/raw/m1/s1"
    assert not (session / "Video/cam0").exists()
    assert run(*args, "--confirm") == 0
    link = session / "Video/cam0/cam0_2026.avi"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.read_bytes() == b"raw"
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # raw data untouched
    data = tomllib.loads((session / "session.toml").read_text())
    # each camera gets its own frame TTL channel: one file, one channel, one camera
    assert data["cameras"] == [
        {"id": "cam0", "paths": ["Video/cam0/cam0_2026.avi"], "ttl_id": "ttl_cam0_frame"},
        {"id": "cam1", "paths": ["Video/cam1/cam1_2026.avi"], "ttl_id": "ttl_cam1_frame"},
    ]
    assert data["TTLs"] == [
        {"id": "ttl_cam0_frame", "paths": ["TTLs/cam0_frame.txt"]},
        {"id": "ttl_cam1_frame", "paths": ["TTLs/cam1_frame.txt"]},
    ]
    assert data["bpod"] == {"path": ["Bpod/session1.mat"]}  # the proposal is comments only
    assert "# [[bpod.sync.trial_types]]" in (session / "session.toml").read_text()
    # every declared glob matches its linked file (the placeholder videos and pulse files
    # themselves are validate's to refuse, as is the sync rule the dry run asked for)
    capsys.readouterr()
    run("data", "validate", workspace)
    out = capsys.readouterr().out
    assert "m1/s1" in out  # the session was checked
    assert "match no file" not in out and "symlink" not in out


BPOD_RULES = """
[bpod]
path = []
actions = { Reward = "reward_valve_open", Punish = "airpuff" }
[[bpod.sync.trial_types]]
trial_type = 1
sync_signal = "W2T_Audio"
sync_ttl = "ttl_cue"
[[bpod.sync.trial_types]]
trial_type = 2
sync_signal = "A2L_Audio"
sync_ttl = "ttl_cue"
[[bpod.sync.trial_types]]
trial_type = 3
sync_signal = "Microstim"
sync_ttl = "ttl_cue"
"""


@pytest.mark.slow
def test_import_raw_of_a_generated_session_validates_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The raw files of a synthetic session (2 cameras in 2 chunks each, dropped frames, one
    # frame TTL per camera, cue/outcome TTLs, 2 Bpod files, DLC for both cameras and SLEAP for
    # cam1) are imported into a fresh workspace whose metadata.toml holds only the lab's Bpod
    # rules.
    spec = ExperimentSpec(n_video_chunks=2, jitter_s=1e-4, dropped_frame_fraction=0.03, seed=5)
    truth = write_experiment(tmp_path / "rig", spec)
    source = tmp_path / "rig/data/raw/mouse01/ses01"
    root = tmp_path / "exp"
    subject = ("mouse01", "--sex", "F", "--date-of-birth", "2026-08-01T00:00Z", "--yes")
    session_opts = ("--date", "2026-11-02", "--start-time", "09:00:00+00:00", "--yes")
    assert run("data", "init", root, "--yes") == 0
    assert run("data", "add-subject", root, *subject) == 0
    assert run("data", "add-session", root, "mouse01", "ses01", *session_opts) == 0
    metadata = root / "data/raw/metadata.toml"
    metadata.write_text(metadata.read_text() + BPOD_RULES)
    session = root / "data/raw/mouse01/ses01"
    args = ("data", "import-raw", source, "-e", root, "-s", "mouse01", "--session", "ses01")
    capsys.readouterr()

    # cam1 has DLC and SLEAP outputs: the dry run reports it, --confirm refuses, writes nothing
    assert run(*args) == 0
    out = capsys.readouterr().out
    assert "conflict camera 'cam1' has pose files from 2 sources" in out
    assert "--pose-source cam1=dlc or --pose-source cam1=sleap" in out
    toml_before = (session / "session.toml").read_text()
    assert run(*args, "--confirm") == 3
    assert "the import plan has 1 conflict(s); nothing was linked" in capsys.readouterr().err
    assert (session / "session.toml").read_text() == toml_before
    assert not [p for p in session.rglob("*") if p.is_file() and p.name != "session.toml"]

    assert run(*args, "--confirm", "--pose-source", "cam1=sleap") == 0
    data = tomllib.loads((session / "session.toml").read_text())
    chunks = ["Video/{0}/{0}_chunk00.mp4", "Video/{0}/{0}_chunk01.mp4"]
    assert data["cameras"] == [
        {"id": cam, "paths": [c.format(cam) for c in chunks], "ttl_id": f"ttl_{cam}_frame"}
        for cam in ("cam0", "cam1")
    ]
    assert {t["id"]: t["paths"] for t in data["TTLs"]} == {
        "ttl_cam0_frame": ["TTLs/cam0_frame.txt"],
        "ttl_cam1_frame": ["TTLs/cam1_frame.txt"],
        "ttl_cue": ["TTLs/cue.txt"],
        "ttl_outcome": ["TTLs/outcome.txt"],
    }
    pose = data["pose"]["cameras"]
    assert pose["cam0"]["source"] == "dlc" and pose["cam1"]["source"] == "sleap"
    assert pose["cam1"]["paths"] == [f"Pose/cam1/cam1_chunk0{k}.analysis.h5" for k in (0, 1)]
    dob = tomllib.loads((root / "data/raw/mouse01/subject.toml").read_text())["subject"]
    assert dob["date_of_birth"].tzinfo is not None

    capsys.readouterr()
    assert run("data", "validate", root) == 0
    assert run("run", root) == 0, capsys.readouterr()
    with read_nwb(session.parents[2] / "processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb") as nwb:
        for cam, cam_truth in truth["mouse01/ses01"]["cameras"].items():
            times = np.asarray(nwb.acquisition[cam].timestamps[:])
            true_times = np.asarray(cam_truth["frame_times_s"])
            assert times.shape == true_times.shape  # 2 chunks, in order, with the drops
            assert np.max(np.abs(times - true_times)) <= 1e-4 + 1e-9  # within the pulse jitter


def test_import_raw_refuses_a_malformed_session_toml_before_linking(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rig"
    source.mkdir()
    (source / "cam0.avi").write_bytes(b"raw")
    session_toml = workspace / "data/raw/m1/s1/session.toml"
    session_toml.write_text(session_toml.read_text() + "notes = unquoted text\n")
    text = session_toml.read_text()
    capsys.readouterr()
    args = ("data", "import-raw", source, "-e", workspace, "-s", "m1", "--session", "s1")
    line = len(text.splitlines())
    for extra in ((), ("--confirm",)):  # the dry run checks what --confirm would
        assert run(*args, *extra) == 2
        err = capsys.readouterr().err
        assert "invalid TOML" in err and f"line {line}" in err and str(session_toml) in err
        assert "internal error" not in err and "Traceback" not in err
    assert not (workspace / "data/raw/m1/s1/Video/cam0").exists()
    assert session_toml.read_text() == text


def test_import_raw_copy_writes_complete_files_and_is_repeatable(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rig"
    source.mkdir()
    payload = os.urandom(3 << 20)  # larger than one copy block
    (source / "cam0.avi").write_bytes(payload)
    args = ("data", "import-raw", source, "-e", workspace, "-s", "m1", "--session", "s1")
    args += ("--frame-clock", "cam0=video")  # no frame TTL: run needs the clock declared
    assert run(*args, "--confirm", "--copy") == 0
    copied = workspace / "data/raw/m1/s1/Video/cam0/cam0.avi"
    assert not copied.is_symlink() and copied.read_bytes() == payload
    assert copied.stat().st_mtime == (source / "cam0.avi").stat().st_mtime
    assert sorted(p.name for p in copied.parent.iterdir()) == ["cam0.avi"]  # no temp file left
    capsys.readouterr()
    assert run(*args, "--confirm", "--copy") == 0  # the same copy again is not a clash
    assert "copied 0 file(s); session.toml unchanged" in capsys.readouterr().out


def test_import_raw_dry_run_shows_what_run_would_refuse_and_confirm_refuses_it(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rig"
    source.mkdir()
    (source / "cam1.mp4").write_bytes(b"raw")
    (source / "cam1.slp").write_bytes(b"slp")
    (source / "cam1.analysis.h5").write_bytes(b"not read: the name says SLEAP")
    args = ("data", "import-raw", source, "-e", workspace, "-s", "m1", "--session", "s1")
    session_toml = workspace / "data/raw/m1/s1/session.toml"
    toml_before = session_toml.read_bytes()
    capsys.readouterr()

    assert run(*args) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert (
        "conflict camera 'cam1': several pose files for one video (cam1.mp4: cam1.analysis.h5, "
        "cam1.slp); run takes exactly one per video and does not guess which: keep one kind, "
        "e.g. pass --exclude '*.analysis.h5' or --exclude '*.slp'"
    ) in out
    assert "conflict camera 'cam1' has no frame clock" in out
    assert "2 conflict(s): --confirm refuses until resolved" in out

    assert run(*args, "--confirm") == 3
    err = capsys.readouterr().err
    assert "the import plan has 2 conflict(s); nothing was linked" in err
    assert "Traceback" not in err
    assert session_toml.read_bytes() == toml_before
    assert not (workspace / "data/raw/m1/s1/Video/cam1").exists()

    assert run(*args, "--frame-clock", "cam1") == 2  # not CAMERA=VALUE
    assert "'cam1' is not CAMERA=VALUE (e.g. cam1=video)" in capsys.readouterr().err
    resolved = ("--exclude", "*.slp", "--frame-clock", "cam1=video", "--confirm")
    assert run(*args, *resolved) == 0
    data = tomllib.loads(session_toml.read_text())
    assert data["cameras"] == [
        {"id": "cam1", "paths": ["Video/cam1/cam1.mp4"], "frame_clock": "video"}
    ]
    assert data["pose"]["cameras"]["cam1"] == {
        "source": "sleap",
        "paths": ["Pose/cam1/cam1.analysis.h5"],
    }


def test_validate_lists_what_run_would_reject(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("data", "add-subject", workspace, "m2", "--yes") == 0  # no age, no birth date
    assert run("data", "add-session", workspace, "m2", "s1", *START, "--yes") == 0
    session = workspace / "data/raw/m1/s1/session.toml"
    session.write_text(
        session.read_text()
        + '[[cameras]]\nid = "top"\npaths = ["../other/*.avi", "Video/*.avi"]\n'
        + 'frame_clock = "video"\n'
    )
    capsys.readouterr()
    assert run("data", "validate", workspace) == 1
    out = capsys.readouterr().out
    assert (
        "m2/s1: metadata lacks fields DANDI requires: subject.age (or subject.date_of_birth)" in out
    )
    # the glob leaving the session folder is one problem among the others, not an abort
    assert "m1/s1: camera 'top': glob '../other/*.avi' leaves the session folder" in out
    assert "m1/s1: camera 'top': paths ['../other/*.avi', 'Video/*.avi'] match no file" in out


@pytest.mark.parametrize(("subject", "session"), [("nobody", "*"), ("m1", "s9")])
def test_validate_selection_that_matches_nothing_is_an_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], subject: str, session: str
) -> None:
    capsys.readouterr()
    assert run("data", "validate", workspace, "--subject", subject, "--session", session) == 1
    out = capsys.readouterr().out
    assert (
        f"no session matches --subject {subject!r} --session {session!r} (existing: m1/s1)" in out
    )
    assert "workspace is valid" not in out


def test_config_show_needs_a_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("config", "show", tmp_path / "nonexistent") == 3
    err = capsys.readouterr().err
    assert "experiment root does not exist" in err and "data init" in err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--date", "bad", "invalid --date 'bad': expected a date as YYYY-MM-DD"),
        ("--start-time", "bad", "invalid --start-time 'bad': expected HH:MM[:SS]"),
        ("--utc-offset", "CET", "invalid --utc-offset 'CET': expected +HH:MM, -HH:MM or Z"),
    ],
)
def test_add_session_bad_date_and_time_are_metadata_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    capsys.readouterr()
    given = {"--date": "2026-01-02", "--start-time": "10:00", "--utc-offset": "+01:00"}
    given[option] = value
    args = [a for pair in given.items() for a in pair]
    assert run("data", "add-session", workspace, "m1", "s2", *args, "--yes") == 2
    assert expected in capsys.readouterr().err
    assert not (workspace / "data/raw/m1/s2").exists()


def test_add_subject_weight_needs_a_number_and_a_unit(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("data", "add-subject", workspace, "m2", "--weight", "heavy", "--yes") == 2
    err = capsys.readouterr().err
    assert "weight: Value error, weight must be a number and a unit of mass" in err
    assert not (workspace / "data/raw/m2").exists()
    assert run("data", "add-subject", workspace, "m2", "--weight", "25 g", "--yes") == 0
    subject = tomllib.loads((workspace / "data/raw/m2/subject.toml").read_text())["subject"]
    assert subject["weight"] == "25 g"


def test_add_subject_stores_date_of_birth_with_the_offset_given(workspace: Path) -> None:
    args = ("--date-of-birth", "2026-01-31", "--utc-offset", "+01:00", "-y")
    assert run("data", "add-subject", workspace, "m2", *args) == 0
    subject = tomllib.loads((workspace / "data/raw/m2/subject.toml").read_text())["subject"]
    assert subject["date_of_birth"] == datetime(2026, 1, 31, tzinfo=timezone(timedelta(hours=1)))
    assert subject["date_of_birth"].utcoffset() == timedelta(hours=1)


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
