"""One preflight for ``data validate`` and ``run``: every error ``run`` raises before expensive
work is reported by ``data validate``, with the same text, and all of them at once.

Each case builds a synthetic experiment (``w2t_bkin.testing``) and breaks one thing the way a
user would; the expected texts are the run's error messages, naming the file and key.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.session import process_session
from w2t_bkin.session.preflight import preflight, preflight_session, preflight_workspace
from w2t_bkin.testing import ExperimentSpec, write_experiment

from ._sessions import replace_once

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_keypoints=2)
RAW = Path("data/raw/mouse01/ses01")
WHERE = "mouse01/ses01"
BPOD_FILES = "mouse01_W2T_20240304_090000.mat, mouse01_W2T_20240304_090006.mat"
SYNC_RULES = """[bpod.sync]
trial_types = [
    { trial_type = 1, sync_signal = "W2T_Audio", sync_ttl = "ttl_cue" },
    { trial_type = 2, sync_signal = "A2L_Audio", sync_ttl = "ttl_cue" },
    { trial_type = 3, sync_signal = "Microstim", sync_ttl = "ttl_cue" },
]
"""
DLC_SCORER = "DLC_resnet50_w2tNov21shuffle1_100000"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    return root


def _metadata(root: Path) -> Path:
    return root / "data/raw/metadata.toml"


def _add_camera(root: Path, lines: str) -> None:
    session_toml = root / RAW / "session.toml"
    session_toml.write_text(session_toml.read_text() + f"\n[[cameras]]\n{lines}\n")


def _make_optional(root: Path, ttl_file: str) -> None:
    """The TTL channel reading ``ttl_file`` becomes optional and its file goes away."""
    replace_once(
        _metadata(root),
        f'paths = [\n    "TTLs/{ttl_file}",\n]',
        f'paths = [\n    "TTLs/{ttl_file}",\n]\noptional = true',
    )
    (root / RAW / "TTLs" / ttl_file).unlink()


@dataclass(frozen=True)
class Case:
    """One way to break a session, the run's phase and exit code, and the problem text."""

    break_it: Callable[[Path], None]
    phase: str
    exit_code: int
    message: Callable[[Path], str]


def _no_age(root: Path) -> None:
    replace_once(root / "data/raw/mouse01/subject.toml", 'age = "P90D"\n', "")


def _no_offset(root: Path) -> None:
    replace_once(root / RAW / "session.toml", "09:00:00+00:00", "09:00:00")


def _no_start_time(root: Path) -> None:
    replace_once(
        root / RAW / "session.toml", "session_start_time = 2024-03-04 09:00:00+00:00\n", ""
    )


def _misspelt_state(root: Path) -> None:
    replace_once(_metadata(root), 'state = "Reward"', 'state = "Rewrd"')


def _two_pose_files(root: Path) -> None:
    replace_once(_metadata(root), '"Pose/cam1/*.analysis.h5"', '"Pose/cam1/*.h5"')


def _missing_model(root: Path) -> None:
    replace_once(
        _metadata(root),
        "[pose.cameras.cam0]",
        '[pose.models.top]\nsource = "dlc"\npath = "top/config.yaml"\n\n[pose.cameras.cam0]',
    )


def _renamed_pose_file(root: Path) -> None:
    pose = root / RAW / f"Pose/cam0/cam0_chunk00{DLC_SCORER}.h5"
    pose.rename(pose.with_name(f"top_chunk00{DLC_SCORER}.h5"))


def _broken_metadata_toml(root: Path) -> None:
    replace_once(_metadata(root), 'lab = "Synthetic Lab"', "lab = Synthetic Lab")


CASES: dict[str, Case] = {
    "DANDI field missing": Case(
        _no_age,
        "verification",
        2,
        lambda root: (
            "metadata lacks fields DANDI requires: subject.age (or "
            f"subject.date_of_birth) in {root / 'data/raw/mouse01/subject.toml'} ([subject] table)"
        ),
    ),
    "session_start_time missing": Case(
        _no_start_time,
        "verification",
        2,
        lambda root: (
            f"{root / RAW / 'session.toml'}: key 'session_start_time' is missing; the "
            "NWB file needs the wall-clock time of reference t=0"
        ),
    ),
    "session_start_time without UTC offset": Case(
        _no_offset,
        "verification",
        2,
        lambda root: (
            f"{root / RAW / 'session.toml'}: key 'session_start_time' = "
            "2024-03-04T09:00:00 has no UTC offset; w2t-bkin does not guess the time zone (the "
            "processing machine's zone would make the file depend on where it was processed)"
        ),
    ),
    "reserved camera id": Case(
        lambda root: _add_camera(
            root, 'id = "daq"\npaths = ["Video/cam0/*.mp4"]\nframe_clock = "video"'
        ),
        "verification",
        2,
        lambda root: (
            f"camera id(s) 'daq' in {root / RAW / 'session.toml'} name objects "
            "w2t-bkin writes itself (reserved: TTLEvents, bpod, daq, task_recording)"
        ),
    ),
    "camera without frame clock": Case(
        lambda root: _add_camera(root, 'id = "cam2"\npaths = ["Video/cam0/*.mp4"]'),
        "verification",
        2,
        lambda root: "camera 'cam2' has no ttl_id and no frame_clock",
    ),
    "glob matching no file": Case(
        lambda root: (root / RAW / "TTLs/outcome.txt").unlink(),
        "discovery",
        4,
        lambda root: f"TTL 'ttl_outcome': paths ['TTLs/outcome.txt'] match no file in {root / RAW}",
    ),
    "empty video file": Case(
        lambda root: (root / RAW / "Video/cam0/cam0_chunk00.mp4").write_bytes(b""),
        "verification",
        4,
        lambda root: f"{root / RAW / 'Video/cam0/cam0_chunk00.mp4'}: video file is empty (0 bytes)",
    ),
    "empty TTL file": Case(
        lambda root: (root / RAW / "TTLs/cue.txt").write_text(""),
        "verification",
        4,
        lambda root: f"{root / RAW / 'TTLs/cue.txt'}: no timestamps found",
    ),
    "frame TTL channel without files": Case(
        lambda root: _make_optional(root, "cam1_frame.txt"),
        "verification",
        5,
        lambda root: "camera 'cam1': its frame TTL channel 'ttl_cam1' has no files",
    ),
    "unreadable Bpod file": Case(
        lambda root: (root / RAW / "Bpod/mouse01_W2T_20240304_090000.mat").write_bytes(b"x"),
        "verification",
        4,
        lambda root: (
            f"{root / RAW / 'Bpod/mouse01_W2T_20240304_090000.mat'}: cannot read as a "
            "MATLAB .mat file (expected a Bpod SessionData file): Mat file appears to be truncated"
        ),
    ),
    "misspelt Bpod state": Case(
        _misspelt_state,
        "verification",
        2,
        lambda root: (
            f"metadata names Bpod state(s) that the Bpod file(s) {BPOD_FILES} do not "
            f"have:\n  {_metadata(root)}: bpod.outcomes (outcome 'hit') state = 'Rewrd'; did you "
            "mean 'Reward'?"
        ),
    ),
    "no bpod.sync.trial_types rule": Case(
        lambda root: replace_once(_metadata(root), SYNC_RULES, ""),
        "verification",
        2,
        lambda root: (
            f"{_metadata(root)}: Bpod data exist ({BPOD_FILES}) but no "
            "[[bpod.sync.trial_types]] rule says which state emits the sync pulse, so no trial can "
            "be placed on the reference clock (declared TTL channels: ttl_cam0, ttl_cam1, ttl_cue, "
            "ttl_outcome)"
        ),
    ),
    "sync TTL channel without files": Case(
        lambda root: _make_optional(root, "cue.txt"),
        "verification",
        2,
        lambda root: (
            f"{_metadata(root)}: bpod.sync.trial_types name sync TTL channel(s) "
            f"'ttl_cue' that have no files, and trials of {BPOD_FILES} use them"
        ),
    ),
    "missing pose model": Case(
        _missing_model,
        "pose generation",
        2,
        lambda root: (
            f"pose.models.top.path = 'top/config.yaml': "
            f"{root / 'models/top/config.yaml'} does not exist"
        ),
    ),
    "two pose files for one video": Case(
        _two_pose_files,
        "ingestion",
        5,
        lambda root: (
            "camera 'cam1': several pose files for one video (which one is meant is "
            "not guessed):\n  cam1_chunk00.mp4: cam1_chunk00.analysis.h5, "
            f"cam1_chunk00{DLC_SCORER}.h5"
        ),
    ),
    "pose file matching no video chunk": Case(
        _renamed_pose_file,
        "ingestion",
        5,
        lambda root: (
            "pose files without a unique video:\n  "
            f"{root / RAW / f'Pose/cam0/top_chunk00{DLC_SCORER}.h5'} (video stem 'top_chunk00') "
            "matches no video\n  videos: ['cam0_chunk00.mp4']"
        ),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_validate_reports_each_error_run_raises_before_expensive_work(
    root: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    case = CASES[name]
    case.break_it(root)
    expected = f"error {WHERE}: {case.message(root)}"

    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr()
    assert expected in out.out
    assert "workspace is valid" not in out.out
    assert out.err == "1 error(s)\n"  # this problem only: nothing reported twice

    assert main(["run", str(root)]) == case.exit_code
    out = capsys.readouterr()
    # the preflight lists it before any session runs; the session then fails at it
    assert out.err.index(expected) < out.err.index(f"failed {WHERE} in phase {case.phase}: ")
    assert "Traceback" not in out.err


def test_the_run_fails_with_the_message_the_preflight_reported(root: Path) -> None:
    # The preflight and the run call the same checks: the first problem is the run's error.
    _misspelt_state(root)
    _no_offset(root)
    [first, second] = preflight_session(root, "mouse01", "ses01")
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", first.exit_code)
    assert result.error == f"verification failed: {first.message}\n  hint: {first.hint}"
    assert second.message.startswith("metadata names Bpod state(s)")


def test_a_broken_metadata_toml_is_an_error_for_validate_run_and_discover(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _broken_metadata_toml(root)
    metadata = _metadata(root)
    line = metadata.read_text().splitlines().index("lab = Synthetic Lab") + 1
    error = f"invalid TOML: Invalid value (at line {line}, column 7)"

    assert main(["data", "validate", str(root)]) == 1
    assert f"error {metadata}: {error}\n" in capsys.readouterr().out

    assert main(["discover", str(root)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert f"error: {error}" in out.err and str(metadata) in out.err

    assert main(["run", str(root)]) == 2
    out = capsys.readouterr()
    assert f"error {metadata}: {error}" in out.err
    assert f"failed {WHERE} in phase configuration: " in out.err


def test_session_folders_with_invalid_names_are_reported_and_never_listed(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subject_dir = root / RAW.parent
    for name in ("day 2", "día3"):
        shutil.copytree(subject_dir / "ses01", subject_dir / name)

    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr().out
    for name, suggestion in (("day 2", "day-2"), ("día3", "dia3")):
        folder = subject_dir / name
        assert (
            f"error {folder}: session folder name {name!r} is not a valid session ID (only ASCII "
            "letters, digits, '_' and '-' are allowed), so this session is not discovered or "
            f"processed\n  hint: rename the folder {folder} to e.g. {suggestion!r}"
        ) in out

    assert main(["discover", str(root), "--format", "tsv"]) == 0
    out = capsys.readouterr()
    assert out.out == "mouse01\tses01\n"
    assert out.err.count("warning ") == 2
    assert f"warning {subject_dir / 'day 2'}: session folder name 'day 2'" in out.err


def test_every_problem_of_every_session_is_reported_in_one_validate_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "exp"
    spec = ExperimentSpec(n_subjects=2, n_sessions=2, duration_s=2.0, rate_hz=20.0, n_keypoints=2)
    write_experiment(root, spec)
    raw = root / "data/raw"
    # mouse01/ses01: an empty TTL file and a start time without UTC offset
    (raw / "mouse01/ses01/TTLs/cue.txt").write_text("")
    replace_once(raw / "mouse01/ses01/session.toml", "09:00:00+00:00", "09:00:00")
    # mouse01/ses02: an empty video and a camera without frame clock
    (raw / "mouse01/ses02/Video/cam1/cam1_chunk00.mp4").write_bytes(b"")
    with (raw / "mouse01/ses02/session.toml").open("a") as toml:
        toml.write('\n[[cameras]]\nid = "cam2"\npaths = ["Video/cam0/*.mp4"]\n')
    # mouse02 (both sessions, from subject.toml): a misspelt state; ses01: a missing model
    with (raw / "mouse02/subject.toml").open("a") as toml:
        toml.write('\n[bpod]\noutcomes = [{ state = "Rewrd", outcome = "hit" }]\n')
    with (raw / "mouse02/ses01/session.toml").open("a") as toml:
        toml.write('\n[pose.models.top]\nsource = "dlc"\npath = "top/config.yaml"\n')
    # and a folder that is no session
    shutil.copytree(raw / "mouse02/ses02", raw / "mouse02/day 2")

    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr()

    def states(session: str) -> str:
        files = ", ".join(sorted(p.name for p in (raw / session / "Bpod").glob("*.mat")))
        return (
            f"error {session}: metadata names Bpod state(s) that the Bpod file(s) {files} do not "
            f"have:\n  {raw / 'mouse02/subject.toml'}: bpod.outcomes (outcome 'hit') state = "
            "'Rewrd'; did you mean 'Reward'?\n"
        )

    expected = [
        f"error {raw / 'mouse02/day 2'}: session folder name 'day 2' is not a valid session ID",
        f"error mouse01/ses01: {raw / 'mouse01/ses01/session.toml'}: key 'session_start_time' = "
        "2024-03-04T09:00:00 has no UTC offset",
        f"error mouse01/ses01: {raw / 'mouse01/ses01/TTLs/cue.txt'}: no timestamps found\n",
        "error mouse01/ses02: camera 'cam2' has no ttl_id and no frame_clock\n",
        f"error mouse01/ses02: {raw / 'mouse01/ses02/Video/cam1/cam1_chunk00.mp4'}: video file "
        "is empty (0 bytes)\n",
        states("mouse02/ses01"),
        f"error mouse02/ses01: pose.models.top.path = 'top/config.yaml': "
        f"{root / 'models/top/config.yaml'} does not exist\n",
        states("mouse02/ses02"),
    ]
    positions = [out.out.index(text) for text in expected]
    assert positions == sorted(positions)  # workspace first, then each session in order
    assert out.out.count("\nerror ") + out.out.startswith("error ") == len(expected)
    assert out.err == f"{len(expected)} error(s)\n"
    assert set(preflight(root).blocking) == {
        ("mouse01", "ses01"),
        ("mouse01", "ses02"),
        ("mouse02", "ses01"),
        ("mouse02", "ses02"),
    }


def test_an_intact_workspace_is_valid_and_its_run_reports_no_preflight_problem(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert preflight_workspace(root) == []
    assert main(["data", "validate", str(root)]) == 0
    assert capsys.readouterr().out == "workspace is valid\n"
    assert main(["data", "validate", str(root), "--no-probe-videos"]) == 0
