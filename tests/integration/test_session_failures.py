"""How a session run fails: which phase, which file, which fix, and what it leaves behind.

Every test builds a small synthetic experiment (``w2t_bkin.testing``) and breaks one thing in
its raw files or metadata, the way a user would.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hdmf.backends.hdf5 import HDF5IO

from w2t_bkin.cli import main
from w2t_bkin.errors import DataQualityWarning
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.nwb.names import RESERVED_CAMERA_IDS
from w2t_bkin.session import as_w2t_error, process_session
from w2t_bkin.session import verify as session_module
from w2t_bkin.testing import ExperimentSpec, write_experiment

from ._sessions import replace_once

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_keypoints=2)
RAW = Path("data/raw/mouse01/ses01")
OUT = Path("data/processed/mouse01/ses01")
NWB = OUT / "sub-mouse01_ses-ses01.nwb"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    return root


def _status(root: Path) -> dict:
    return json.loads((root / OUT / "status.json").read_text())


def _add_camera(root: Path, camera_id: str) -> None:
    """A camera on cam0's video files with the video clock, declared in session.toml only."""
    session_toml = root / RAW / "session.toml"
    session_toml.write_text(
        session_toml.read_text()
        + f'\n[[cameras]]\nid = "{camera_id}"\npaths = ["Video/cam0/*.mp4"]\n'
        'frame_clock = "video"\n'
    )


# --------------------------------------------------------------------------------------------
# any exception becomes a PhaseError naming the phase


def test_reserved_camera_id_fails_in_verification_naming_the_file(root: Path) -> None:
    _add_camera(root, "task_recording")
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 2)
    error = result.error or ""
    assert "camera id(s) 'task_recording'" in error
    assert str(root / RAW / "session.toml") in error
    assert f"reserved: {', '.join(sorted(RESERVED_CAMERA_IDS))}" in error
    assert "rename the camera" in error
    assert sorted(RESERVED_CAMERA_IDS) == ["TTLEvents", "bpod", "daq", "task_recording"]


def test_unexpected_error_names_the_phase_and_keeps_the_traceback_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without the reserved-name check, pynwb itself refuses the second 'task_recording' in
    # acquisition: a ValueError that w2t-bkin did not raise on purpose.
    monkeypatch.setattr(session_module, "RESERVED_CAMERA_IDS", frozenset())
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_sessions=2))
    _add_camera(root, "task_recording")

    assert main(["run", str(root)]) == 70

    out = capsys.readouterr()
    assert "failed mouse01/ses01 in phase assembly: assembly failed: unexpected ValueError" in (
        out.err
    )
    assert out.err.count("already exists") == 1  # printed once
    assert "Traceback" not in out.err + out.out
    rows = [ln for ln in out.out.splitlines() if ln.startswith("│ mouse01/ses02 ")]
    assert "succeeded" in rows[-1]  # the batch went on
    log = (root / OUT / "pipeline.log").read_text()
    assert re.search(r"ERROR w2t_bkin.session: phase assembly: failed after [\d.]+ s", log)
    assert "Traceback (most recent call last)" in log
    assert "already exists" in log
    status = _status(root)
    assert (status["status"], status["failed_phase"], status["exit_code"]) == (
        "failed",
        "assembly",
        70,
    )
    assert not (root / NWB).exists()
    assert not list((root / OUT).glob(".*partial*"))


def test_os_errors_name_the_file_and_say_permission_denied() -> None:
    # The exceptions open() and h5py raise for an unreadable file.
    opened = PermissionError(errno.EACCES, "Permission denied", "/data/s1/Bpod/s1.mat")
    error = as_w2t_error(opened, "verification")
    assert (type(error).__name__, error.exit_code) == ("IngestError", 4)
    assert error.message == "permission denied reading /data/s1/Bpod/s1.mat"
    assert "chmod u+r /data/s1/Bpod/s1.mat" in (error.hint or "")
    h5 = PermissionError(
        errno.EACCES,
        "Unable to synchronously open file (unable to open file: name = '/d/p.h5', errno = 13, "
        "error message = 'Permission denied', flags = 0, o_flags = 0)",
    )
    assert as_w2t_error(h5, "ingestion").message == "permission denied reading /d/p.h5"
    full = OSError(errno.ENOSPC, "No space left on device", "/out/x.nwb")
    error = as_w2t_error(full, "assembly")
    assert (type(error).__name__, error.exit_code) == ("OutputError", 6)
    assert error.message == "no space left on the device writing /out/x.nwb"
    unexpected = as_w2t_error(KeyError("x"), "synchronization", Path("/o/pipeline.log"))
    assert unexpected.exit_code == 70
    assert unexpected.message == "unexpected KeyError: 'x'"
    assert "the traceback is in /o/pipeline.log" in (unexpected.hint or "")


def test_unreadable_input_fails_in_verification_naming_the_file(root: Path) -> None:
    bpod = sorted((root / RAW / "Bpod").glob("*.mat"))[0]
    bpod.chmod(0)
    try:
        with open(bpod, "rb"):
            pytest.skip("running with permission to read any file (root): cannot test")
    except PermissionError:
        pass
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 4)
    assert f"permission denied reading 1 input file(s):\n  {bpod}" in (result.error or "")
    assert "chmod u+r" in (result.error or "")


# --------------------------------------------------------------------------------------------
# no partial or invalid NWB at the output path; QC and provenance always; stale outputs


def test_disk_full_during_the_write_leaves_no_nwb_and_reports_the_session(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = HDF5IO.write_dataset
    calls = {"n": 0}

    def disk_full_midway(self, *args, **kwargs):  # the 10th dataset hits a full disk
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HDF5IO, "write_dataset", disk_full_midway)
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("assembly", 6)
    assert "No space left on device" in (result.error or "")
    assert "free disk space" in (result.error or "")
    out = root / OUT
    assert sorted(p.name for p in out.iterdir()) == [
        "alignment_stats.json",
        "pipeline.log",
        "provenance.json",
        "qc",
        "status.json",
    ]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["status"]["status"] == "failed"
    assert provenance["status"]["failed_phase"] == "assembly"
    report = (out / "qc/report.html").read_text()
    assert "This session failed in phase assembly" in report
    assert "No space left on device" in report


def test_failed_validation_keeps_the_file_aside_and_the_earlier_run_moves_to_previous(
    root: Path,
) -> None:
    out = root / OUT
    first = process_session(root, "mouse01", "ses01")
    assert first.ok, first.error
    earlier_nwb = (root / NWB).read_bytes()
    session_toml = root / RAW / "session.toml"
    good = session_toml.read_text()
    # a session that starts in the future is a CRITICAL nwbinspector finding
    future = re.sub(r"session_start_time = \d{4}", "session_start_time = 2999", good)
    session_toml.write_text(future)

    failed = process_session(root, "mouse01", "ses01")

    assert (failed.failed_phase, failed.exit_code) == ("finalization", 6)
    invalid = out / "sub-mouse01_ses-ses01.invalid.nwb"
    error = failed.error or ""
    assert f"the file was kept as {invalid} for inspection" in error
    assert "set finalization.fail_on_critical = false to publish the file" in error
    assert not (root / NWB).exists()  # never an invalid file at the output path
    with read_nwb(invalid) as nwb:
        assert nwb.session_start_time.year == 2999
    validation = json.loads((out / "validation.json").read_text())
    assert validation["path"] == str(invalid) and not validation["is_clean"]
    # this run's QC and provenance say it failed
    report = (out / "qc/report.html").read_text()
    assert "This session failed in phase finalization" in report
    assert "check_session_start_time_future_date" in report
    assert json.loads((out / "provenance.json").read_text())["status"]["status"] == "failed"
    # the earlier successful run is kept, whole, but not where it would look current
    previous = out / "previous"
    assert failed.previous_outputs == previous
    assert (previous / "sub-mouse01_ses-ses01.nwb").read_bytes() == earlier_nwb
    assert sorted(str(p.relative_to(previous)) for p in previous.rglob("*") if p.is_file()) == [
        "alignment_stats.json",
        "pipeline.log",
        "provenance.json",
        "qc/report.html",
        "status.json",
        "sub-mouse01_ses-ses01.nwb",
        "validation.json",
    ]
    assert json.loads((previous / "status.json").read_text())["status"] == "succeeded"
    assert _status(root)["previous_outputs"] == str(previous)
    assert sorted(p.name for p in out.iterdir()) == [
        "alignment_stats.json",
        "pipeline.log",
        "previous",
        "provenance.json",
        "qc",
        "status.json",
        "sub-mouse01_ses-ses01.invalid.nwb",
        "validation.json",
    ]

    session_toml.write_text(good)
    again = process_session(root, "mouse01", "ses01")
    assert again.ok, again.error
    assert not previous.exists() and not invalid.exists()
    assert _status(root)["status"] == "succeeded"


def test_failed_rerun_moves_every_earlier_output_aside(root: Path) -> None:
    assert process_session(root, "mouse01", "ses01").ok
    out = root / OUT
    sidecars = [
        "alignment_stats.json",
        "pipeline.log",
        "provenance.json",
        "qc/report.html",
        "status.json",
        "validation.json",
    ]
    earlier = {name: (out / name).read_bytes() for name in sidecars}
    (root / RAW / "Bpod").rename(root / RAW / "Bpod_moved")

    failed = process_session(root, "mouse01", "ses01")

    assert failed.failed_phase == "discovery"
    previous = out / "previous"
    assert {name: (previous / name).read_bytes() for name in sidecars} == earlier
    assert (previous / "sub-mouse01_ses-ses01.nwb").is_file()
    # at the top level only what this run wrote
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(
        [
            "pipeline.log",
            "provenance.json",
            "qc/report.html",
            "status.json",
            *(f"previous/{name}" for name in [*sidecars, "sub-mouse01_ses-ses01.nwb"]),
        ]
    )
    report = (out / "qc/report.html").read_text()
    assert "not reached: the session failed in phase discovery" in report
    # a second failure keeps the last good run, and removes the first failure's leftovers
    (root / RAW / "session.toml").write_text("no_such_key = 1\n")
    assert process_session(root, "mouse01", "ses01").failed_phase == "configuration"
    assert {name: (previous / name).read_bytes() for name in sidecars} == earlier
    assert not (out / "validation.json").exists()
    assert _status(root)["failed_phase"] == "configuration"


def test_successful_rerun_removes_outputs_it_no_longer_writes(root: Path) -> None:
    assert process_session(root, "mouse01", "ses01").ok
    config = root / "configuration.toml"
    replace_once(config, "qc_report = true", "qc_report = false")
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    assert not (root / OUT / "qc/report.html").exists()
    assert (root / NWB).is_file()


# --------------------------------------------------------------------------------------------
# fail fast: metadata, output folder and state names checked in verification


def test_output_folder_that_cannot_be_created_fails_in_verification(root: Path) -> None:
    blocker = root / "data/processed/mouse01"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the subject's output folder belongs")
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 6)
    assert f"output folder {root / OUT}: {blocker} is a file, not a folder" in (result.error or "")


def test_unwritable_output_folder_fails_in_verification(root: Path) -> None:
    processed = root / "data/processed"
    processed.mkdir(parents=True, exist_ok=True)
    processed.chmod(0o555)
    try:
        if os.access(processed, os.W_OK):
            pytest.skip("running with permission to write anywhere (root): cannot test")
        result = process_session(root, "mouse01", "ses01")
    finally:
        processed.chmod(0o755)
    assert (result.failed_phase, result.exit_code) == ("verification", 6)
    assert f"{processed} is not writable (Permission denied)" in (result.error or "")
    assert f"chmod u+w {processed}" in (result.error or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "key 'session_start_time' is missing"),
        ("2024-03-04T09:00:00", "key 'session_start_time' = 2024-03-04T09:00:00 has no UTC offset"),
    ],
)
def test_session_start_time_must_exist_with_an_offset(
    root: Path, value: str | None, expected: str
) -> None:
    session_toml = root / RAW / "session.toml"
    text = re.sub(r"session_start_time = .*\n", "", session_toml.read_text())
    if value is not None:
        text += f"session_start_time = {value}\n"
    session_toml.write_text(text)
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 2)
    assert f"{session_toml}: {expected}" in (result.error or "")
    assert "session_start_time = 2026-05-01T10:00:00+02:00" in (result.error or "")


def test_bpod_states_named_in_metadata_must_exist(root: Path) -> None:
    metadata = root / "data/raw/metadata.toml"
    replace_once(metadata, 'sync_signal = "W2T_Audio"', 'sync_signal = "NoSuchState"')
    replace_once(metadata, 'state = "Reward", outcome = "hit"', 'state = "Rewrd", outcome = "hit"')
    replace_once(metadata, 'Punish = "airpuff"', 'punish = "airpuff"')
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 2)
    error = result.error or ""
    sync_line = f"{metadata}: bpod.sync.trial_types (trial_type 1) sync_signal = 'NoSuchState'\n"
    assert sync_line in error
    assert f"{metadata}: bpod.outcomes (outcome 'hit') state = 'Rewrd'; did you mean 'Reward'?" in (
        error
    )
    assert f"{metadata}: bpod.actions key = 'punish'; did you mean 'Punish'?" in error
    assert "states: A2L_Audio, " in error


def test_video_clock_camera_in_a_ttl_session_is_flagged(root: Path) -> None:
    metadata = root / "data/raw/metadata.toml"
    replace_once(metadata, 'ttl_id = "ttl_cam1"', 'frame_clock = "video"')
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    warning = next(w for w in result.warnings if w.startswith("camera 'cam1'"))
    assert "frame_clock = 'video' in a session whose reference clock is the TTL/DAQ clock" in (
        warning
    )
    assert "NOT aligned to the DAQ" in warning
    with read_nwb(root / NWB) as nwb:
        assert "container's own timestamps" in nwb.acquisition["cam1"].description
        assert "NOT aligned to a TTL/DAQ clock" in nwb.acquisition["cam1"].description
        assert "Exception: camera(s) cam1 (video) have no frame TTL" in nwb.session_description
    assert issubclass(DataQualityWarning, UserWarning)


@pytest.mark.real_data
def test_bonsai_frame_log_as_a_ttl_channel_is_refused(root: Path, real_data: Path) -> None:
    # A Bonsai .ssv log holds the PC's wall-clock times (~1.6e9 s), not DAQ pulses: read as a
    # camera's frame channel it would put every frame decades after session_start_time.
    log = real_data / "ttl/ibllib/ibllib/tests/extractors/data/session_ephys/raw_video_data"
    log = log / "_iblrig_bodyCamera.timestamps.ssv"
    target = root / RAW / "TTLs/cam0_frame.ssv"
    target.symlink_to(log)
    replace_once(root / "data/raw/metadata.toml", '"TTLs/cam0_frame.txt"', '"TTLs/cam0_frame.ssv"')

    result = process_session(root, "mouse01", "ses01")

    assert result.failed_phase == "verification"
    error = result.error or ""
    assert f"TTL channel 'ttl_cam0': {target} is a Bonsai frame log" in error
    assert "not pulses recorded on the acquisition clock" in error
    assert "frame_clock = 'video'" in error
    assert not (root / NWB).exists()


# --------------------------------------------------------------------------------------------
# the output folder: one run at a time, never outside data/processed, nothing created for a
# wrong root


def test_a_second_run_of_the_same_session_is_refused_while_the_first_holds_the_lock(
    root: Path,
) -> None:
    from w2t_bkin.session import session_lock

    assert process_session(root, "mouse01", "ses01").ok
    before = sorted(p.name for p in (root / OUT).iterdir())
    with session_lock(root, "mouse01", "ses01"):
        result = process_session(root, "mouse01", "ses01")
    assert (result.status, result.failed_phase, result.exit_code) == ("busy", None, 6)
    assert "session mouse01/ses01 is being processed by another run (pid " in (result.error or "")
    # the refused run touched nothing: the first run's outputs are exactly where they were
    assert sorted(p.name for p in (root / OUT).iterdir()) == before
    assert _status(root)["status"] == "succeeded"
    assert process_session(root, "mouse01", "ses01").ok  # released


def test_output_folder_linked_into_the_raw_data_is_refused(root: Path) -> None:
    raw_session = root / RAW
    (root / OUT).parent.mkdir(parents=True, exist_ok=True)
    (root / OUT).symlink_to(raw_session, target_is_directory=True)
    user_file = raw_session / "status.json"
    user_file.write_text("the experimenter's own notes")

    result = process_session(root, "mouse01", "ses01")

    assert result.failed_phase == "configuration"
    assert f"output folder {root / OUT} is a symlink" in (result.error or "")
    assert user_file.read_text() == "the experimenter's own notes"
    assert not list(raw_session.glob("*.nwb"))


def test_set_aside_failure_stops_the_run_before_any_work(root: Path) -> None:
    assert process_session(root, "mouse01", "ses01").ok
    (root / OUT / "previous").write_text("a file where the previous/ folder would go")
    nwb_mtime = (root / NWB).stat().st_mtime_ns

    result = process_session(root, "mouse01", "ses01")

    assert result.failed_phase == "configuration"
    assert f"could not set aside the earlier outputs in {root / OUT}" in (result.error or "")
    assert "nothing was processed" in (result.error or "")
    assert (root / NWB).stat().st_mtime_ns == nwb_mtime
    assert _status(root)["status"] == "succeeded"  # still the earlier run's


def test_outputs_behind_a_symlinked_folder_are_not_moved(root: Path, tmp_path: Path) -> None:
    assert process_session(root, "mouse01", "ses01").ok
    elsewhere = tmp_path / "shared_reports"
    elsewhere.mkdir()
    (elsewhere / "report.html").write_text("someone else's report")
    qc = root / OUT / "qc"
    shutil.rmtree(qc)
    qc.symlink_to(elsewhere, target_is_directory=True)

    process_session(root, "mouse01", "ses01")

    assert not (root / OUT / "previous" / "qc").exists()
    assert (elsewhere / "report.html").exists()


def test_wrong_root_or_id_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-experiment"
    result = process_session(missing, "mouse01", "ses01")
    assert result.failed_phase == "configuration"
    assert f"experiment root does not exist: {missing}" in (result.error or "")
    assert not missing.exists()

    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    result = process_session(root, "mouse01\n", "ses01")
    assert "invalid subject ID 'mouse01\\n'" in (result.error or "")
    assert not (root / "data/processed").exists() or not any((root / "data/processed").iterdir())
