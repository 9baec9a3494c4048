"""Raw synthetic session → NWB, checked against the generator's ground truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import PHASES, process_session
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.testing.experiment import DLC_SCORER

FAULTY = ExperimentSpec(
    duration_s=6.0,
    rate_hz=50.0,
    n_video_chunks=2,
    camera_drift_ppm=20.0,
    bpod_drift_ppm=50.0,
    jitter_s=1e-4,
    dropped_frame_fraction=0.02,
    n_trials=8,
    seed=3,
)


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("exp") / "exp"
    truth = write_experiment(root, FAULTY)["mouse01/ses01"]
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    return root, truth


def test_outputs_exist(processed: tuple[Path, dict]) -> None:
    root, _ = processed
    out = root / "data/processed/mouse01/ses01"
    for name in (
        "sub-mouse01_ses-ses01.nwb",
        "pipeline.log",
        "alignment_stats.json",
        "validation.json",
        "provenance.json",
        "qc/report.html",
        "status.json",
    ):
        assert (out / name).is_file(), name
    status = json.loads((out / "status.json").read_text())
    assert (status["status"], status["failed_phase"], status["exit_code"]) == ("succeeded", None, 0)
    assert status["outputs"]["nwb"] == str(out / "sub-mouse01_ses-ses01.nwb")
    assert sorted(status["phase_durations_s"]) == sorted(PHASES)
    assert not (out / "previous").exists()
    log = (out / "pipeline.log").read_text()
    for phase in ("configuration", "discovery", "verification", "ingestion", "synchronization"):
        assert f"phase {phase}: end" in log
    assert not list(out.glob("*.partial*"))
    # the QC frame table says how frames were counted: the MP4 sample index, no decoding
    report = (out / "qc/report.html").read_text()
    assert "<th>counted by</th>" in report
    assert report.count("<td>index</td>") == 2  # one row per camera
    # pose confidence of both cameras, missing keypoints counted from positions
    assert report.count("<th>% frames missing (no position)</th>") == 2
    assert '<span class="label">session</span>succeeded</span>' in report


def test_frame_times_match_truth_and_drops_are_localised(processed: tuple[Path, dict]) -> None:
    root, truth = processed
    stats = json.loads((root / "data/processed/mouse01/ses01/alignment_stats.json").read_text())
    by_id = {s["stream_id"]: s for s in stats["streams"]}
    with read_nwb(root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb") as nwb:
        for camera_id, cam in truth["cameras"].items():
            series = nwb.acquisition[camera_id]
            times = np.asarray(series.timestamps[:])
            true_times = np.asarray(cam["frame_times_s"])
            assert times.shape == true_times.shape
            # 0.1 ms pulse jitter: every frame time within the jitter bound (goal < 0.5 ms)
            assert np.max(np.abs(times - true_times)) <= 1e-4 + 1e-9
            assert list(series.starting_frame[:]) == cam["chunk_starting_frame"]
            assert all(not Path(p).is_absolute() for p in series.external_file[:])
            assert by_id[camera_id]["dropped_idx"] == cam["dropped_frames"]


def test_trials_on_reference_clock(processed: tuple[Path, dict]) -> None:
    root, truth = processed
    trials_truth = truth["trials"]
    with read_nwb(root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb") as nwb:
        trials = nwb.trials
        start = np.asarray(trials["start_time"][:])
        stop = np.asarray(trials["stop_time"][:])
        # Every sync pulse is within +-jitter of the truth; a line fitted to them strays at most
        # about 1.6 x jitter at the ends of the session, so 2 x jitter bounds every trial.
        bound_s = 2 * FAULTY.jitter_s
        assert np.max(np.abs(start - trials_truth["trial_start_reference_s"])) < bound_s
        assert np.max(np.abs(stop - trials_truth["trial_stop_reference_s"])) < bound_s
        assert list(trials["trial_type"][:]) == trials_truth["trial_types"]
        assert set(trials["alignment"][:]) <= {"matched", "interpolated", "extrapolated"}


def test_ttl_events_match_the_raw_files_and_the_truth(processed: tuple[Path, dict]) -> None:
    root, truth = processed
    ttl_dir = root / "data/raw/mouse01/ses01/TTLs"
    files = {
        "ttl_cam0": "cam0_frame.txt",
        "ttl_cam1": "cam1_frame.txt",
        "ttl_cue": "cue.txt",
        "ttl_outcome": "outcome.txt",
    }
    with read_nwb(root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb") as nwb:
        events = nwb.acquisition["TTLEvents"]
        times_s = np.asarray(events["timestamp"].data[:])
        code = np.asarray(events["channel"].data[:])
        meanings = events.meanings_tables["channel_meanings"]
        names = list(meanings["meaning"].data[:])
        n_pulses = list(meanings["n_pulses"].data[:])
    assert sorted(names) == sorted(files)
    assert np.all(np.diff(times_s) >= 0)  # one table sorted by time
    for k, name in enumerate(names):
        pulses_s = times_s[code == k]
        # exactly the recorded pulses: no pulse lost, added or moved
        np.testing.assert_array_equal(pulses_s, np.loadtxt(ttl_dir / files[name]))
        assert n_pulses[k] == pulses_s.size
    for camera_id, camera in truth["cameras"].items():
        pulses_s = times_s[code == names.index(f"ttl_{camera_id}")]
        assert pulses_s.size == camera["n_pulses"]
        # each frame pulse within the generator's jitter of the frame's true time
        assert np.max(np.abs(pulses_s - camera["frame_times_s"])) <= FAULTY.jitter_s + 1e-9
    cue_s = times_s[code == names.index("ttl_cue")]
    sync_s = [t for t in truth["trials"]["sync_reference_s"] if t is not None]
    assert cue_s.size == len(sync_s)
    assert np.max(np.abs(cue_s - sync_s)) <= FAULTY.jitter_s + 1e-9


def test_pose_round_trips_exactly(processed: tuple[Path, dict]) -> None:
    root, _ = processed
    session = root / "data/raw/mouse01/ses01"
    chunks = sorted((session / "Pose/cam0").glob("*DLC_*.h5"))
    expected = np.concatenate([read_pose(p).positions[:, 0] for p in chunks])
    with read_nwb(root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb") as nwb:
        pe = nwb.processing["behavior"]["PoseEstimation_cam0"]
        assert pe.scorer == DLC_SCORER  # the scorer inside the .h5, as in its file name
        assert sorted(pe.pose_estimation_series) == [f"kp{k}" for k in range(expected.shape[1])]
        for k in range(expected.shape[1]):
            data = np.asarray(pe.pose_estimation_series[f"kp{k}"].data[:])
            np.testing.assert_array_equal(data, expected[:, k])


def test_validation_is_dandi_clean(processed: tuple[Path, dict]) -> None:
    root, _ = processed
    report = json.loads((root / "data/processed/mouse01/ses01/validation.json").read_text())
    assert report["counts"]["CRITICAL"] == 0
    assert report["counts"]["BEST_PRACTICE_VIOLATION"] == 0


def test_frame_pulse_mismatch_fails_cleanly_in_verification_phase(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    ttl = root / "data/raw/mouse01/ses01/TTLs/cam0_frame.txt"
    lines = ttl.read_text().splitlines()
    ttl.write_text("\n".join([*lines[:20], "not-a-number", *lines[20:]]) + "\n")
    result = process_session(root, "mouse01", "ses01")
    assert not result.ok and result.failed_phase == "verification"
    assert "cam0_frame.txt" in (result.error or "") and "line 21" in (result.error or "")
    assert not (root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb").exists()


def test_missing_dandi_subject_fields_fail_before_expensive_work(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    (root / "data/raw/mouse01/subject.toml").write_text('[subject]\nsubject_id = "mouse01"\n')
    result = process_session(root, "mouse01", "ses01")
    assert (result.failed_phase, result.exit_code) == ("verification", 2)
    subject_toml = root / "data/raw/mouse01/subject.toml"
    assert (
        "metadata lacks fields DANDI requires: subject.species, subject.sex, "
        f"subject.age (or subject.date_of_birth) in {subject_toml} ([subject] table)"
    ) in (result.error or "")
    assert set(result.phase_durations_s) == {"configuration", "discovery"}  # nothing expensive


def test_run_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0, n_sessions=2))
    (root / "data/raw/mouse01/ses02/Bpod").rename(root / "data/raw/mouse01/ses02/Bpod_moved")
    assert main(["run", str(root)]) == 4
    captured = capsys.readouterr()
    assert "failed mouse01/ses02 in phase discovery" in captured.err
    assert "Traceback" not in captured.err
    assert main(["run", str(root), "--session", "ses01"]) == 0
    nwb = root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb"
    assert main(["validate", str(nwb)]) == 0
    assert main(["inspect", str(nwb)]) == 0


def test_qc_report_says_validation_did_not_run_when_it_is_off(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    config = root / "configuration.toml"
    config.write_text(config.read_text().replace("validate_nwb = true", "validate_nwb = false"))
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    assert "validation" not in result.outputs
    report = result.outputs["qc_report"].read_text()
    assert "NWB validation was not run" in report
    assert "not run</span>" in report  # the summary badge, not "clean"
    assert "report no findings" not in report


@pytest.fixture(params=["here", "beside"])
def validation_where(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[object]]:
    """Validate in this process, or in a child forked beside it while the QC figures are drawn
    (forced on whatever threads other tests left behind). Yields the mode and the children."""
    from w2t_bkin.runtime import beside
    from w2t_bkin.session import finalize

    started: list[object] = []
    if request.param == "here":
        monkeypatch.setattr(finalize, "start_beside", lambda call: None)
    else:
        monkeypatch.setattr(beside.threading, "active_count", lambda: 1)
        monkeypatch.setattr(beside, "available_cpus", lambda: 2)
        monkeypatch.setattr(beside, "_cpus_shared", False)

        def spy(call: object) -> object:
            started.append(beside.start_beside(call))  # type: ignore[arg-type]
            return started[-1]

        monkeypatch.setattr(finalize, "start_beside", spy)
    return request.param, started


def test_blocking_validation_finding_fails_finalization(
    tmp_path: Path, validation_where: tuple[str, list[object]]
) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    session = root / "data/raw/mouse01/ses01/session.toml"
    # a session that starts in the future is a CRITICAL nwbinspector finding
    text = re.sub(r"session_start_time = \d{4}", "session_start_time = 2999", session.read_text())
    session.write_text(text)
    result = process_session(root, "mouse01", "ses01")
    assert result.failed_phase == "finalization"
    assert result.exit_code == 6  # NWBValidationError: the output failed validation
    assert "blocking validation finding" in (result.error or "")
    assert "check_session_start_time_future_date" in (result.error or "")
    report = json.loads(result.outputs["validation"].read_text())
    assert report["counts"]["CRITICAL"] >= 1 and not report["is_clean"]
    mode, started = validation_where
    assert len(started) == (1 if mode == "beside" else 0) and None not in started


def test_validation_beside_the_qc_figures_gives_the_same_sidecars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forked child validates, then draws QC sections from the back of the list while this
    # process draws from the front. Whoever draws what, and if the child dies holding sections,
    # the sidecars are those of a session that did everything itself.
    import os

    from w2t_bkin.runtime import beside
    from w2t_bkin.session import finalize, sidecars

    monkeypatch.setattr(beside.threading, "active_count", lambda: 1)
    monkeypatch.setattr(beside, "available_cpus", lambda: 2)
    monkeypatch.setattr(beside, "_cpus_shared", False)
    parent = os.getpid()
    drawers = tmp_path / "drawers.txt"  # one line per QC task drawn: the drawing process

    real_tasks = sidecars.qc_data_tasks

    def logged_tasks(*args: object) -> object:
        tasks, join = real_tasks(*args)  # type: ignore[arg-type]

        def logged(task: object) -> object:
            def draw() -> str:
                with drawers.open("a") as log:
                    log.write(f"{'parent' if os.getpid() == parent else 'child'}\n")
                return task()  # type: ignore[operator,no-any-return]

            return draw

        return [logged(t) for t in tasks], join

    monkeypatch.setattr(finalize, "qc_data_tasks", logged_tasks)

    class ChildDrawsAll(beside.TwoEnds):
        def take_front(self) -> int | None:
            return None if os.getpid() == parent else super().take_front()

    class ChildDiesHoldingTwo(ChildDrawsAll):
        taken = 0

        def take_back(self) -> int | None:
            if os.getpid() != parent:
                if self.taken == 2:
                    os._exit(1)  # killed with two sections taken and not delivered
                self.taken += 1
            return super().take_back()

    started: list[object] = []

    def spy(call: object) -> object:
        started.append(beside.start_beside(call))  # type: ignore[arg-type]
        return started[-1]

    outputs = {}
    for mode in ("here", "shared", "child draws all", "child dies"):
        monkeypatch.setattr(
            finalize, "start_beside", (lambda call: None) if mode == "here" else spy
        )
        monkeypatch.setattr(
            finalize,
            "TwoEnds",
            {"child draws all": ChildDrawsAll, "child dies": ChildDiesHoldingTwo}.get(
                mode, beside.TwoEnds
            ),
        )
        drawers.unlink(missing_ok=True)
        root = tmp_path / "exp"  # the same path: the sidecars name it
        if root.exists():
            import shutil

            shutil.rmtree(root)
        write_experiment(root, FAULTY)
        result = process_session(root, "mouse01", "ses01")
        assert result.ok, (mode, result.error)
        outputs[mode] = {
            "validation": json.loads(result.outputs["validation"].read_text()),
            "qc": re.sub(
                r"generated \S+ by", "generated ... by", result.outputs["qc_report"].read_text()
            ),
            # the staged file's random name differs from run to run
            "log": re.sub(
                r"\.\w+\.partial\.nwb",
                ".STAGED.partial.nwb",
                result.outputs["pipeline_log"].read_text(),
            ),
            "drawers": drawers.read_text().split(),
        }
    assert len(started) == 3 and None not in started  # every run but the first forked
    n_tasks = len(outputs["here"]["drawers"])
    assert n_tasks >= 7 and set(outputs["here"]["drawers"]) == {"parent"}
    assert outputs["child draws all"]["drawers"] == ["child"] * n_tasks
    # the dead child drew two; the parent drew them again and all the rest
    assert sorted(outputs["child dies"]["drawers"]) == ["child"] * 2 + ["parent"] * n_tasks
    for mode in ("shared", "child draws all", "child dies"):
        assert len(outputs[mode]["drawers"]) >= n_tasks, mode
        assert outputs[mode]["validation"] == outputs["here"]["validation"], mode
        assert outputs[mode]["qc"] == outputs["here"]["qc"], mode
    assert "<img" in outputs["here"]["qc"]  # figures drawn
    # the child's log lines reach the session log, as when validating here
    validated = [ln for ln in outputs["here"]["log"].splitlines() if "validat" in ln.lower()]
    assert validated
    for line in validated:
        text = line.split(" ", 2)[-1]  # without the time stamp
        assert any(text in ln for ln in outputs["shared"]["log"].splitlines()), line


def test_every_dataset_is_the_same_through_the_parallel_gzip_writer(tmp_path: Path) -> None:
    # Numeric arrays are compressed by our threads (ChunkedGzipIO) and written after hdmf
    # created the file (a 1-hour session's TTL table once read back as zeros). Without
    # compression every array goes through HDF5's own path: both files must hold the same.
    import h5py

    paths = {}
    for compression in ("none", "gzip"):
        root = tmp_path / compression
        write_experiment(root, FAULTY)
        config = root / "configuration.toml"
        text = config.read_text()
        assert 'compression = "gzip"' in text
        config.write_text(text.replace('compression = "gzip"', f'compression = "{compression}"'))
        result = process_session(root, "mouse01", "ses01")
        assert result.ok, result.error
        paths[compression] = result.outputs["nwb"]

    def numeric_datasets(path: Path) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, obj: (
                    found.__setitem__(name, obj[()])
                    if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iufb" and obj.size > 1
                    else None
                )
            )
        return found

    plain, parallel = numeric_datasets(paths["none"]), numeric_datasets(paths["gzip"])
    assert plain.keys() == parallel.keys()
    assert "acquisition/TTLEvents/timestamp" in plain  # the tables are compared too
    for name, values in plain.items():
        np.testing.assert_array_equal(parallel[name], values, err_msg=name)
    with h5py.File(paths["gzip"], "r") as handle:
        column = handle["acquisition/TTLEvents/timestamp"]
        assert column.compression == "gzip" and column.id.get_storage_size() > 0
    with h5py.File(paths["none"], "r") as handle:
        assert handle["acquisition/TTLEvents/timestamp"].compression is None


def test_pose_waiting_on_disk_gives_the_same_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long session's pose arrays wait on disk from ingestion to assembly (spill_array); this
    # short session's go there too with the threshold at 1 byte: same NWB file, same QC report,
    # and no file left behind.
    import h5py

    from w2t_bkin.session import ingest

    spilled_shapes: list[tuple[int, ...]] = []
    real_spill = ingest.spill_array

    def spill(array: np.ndarray, folder: Path) -> np.ndarray:
        spilled_shapes.append(array.shape)
        return real_spill(array, folder)  # type: ignore[no-any-return]

    monkeypatch.setattr(ingest, "spill_array", spill)
    outputs = {}
    for threshold in (ingest.SPILL_MIN_BYTES, 1):
        monkeypatch.setattr(ingest, "SPILL_MIN_BYTES", threshold)
        root = tmp_path / "exp"  # the same path: the reports name it
        if root.exists():
            import shutil

            shutil.rmtree(root)
        write_experiment(root, FAULTY)
        result = process_session(root, "mouse01", "ses01")
        assert result.ok, result.error
        with h5py.File(result.outputs["nwb"], "r") as handle:
            pose = {
                name: handle[f"processing/behavior/{name}"][()] for name in _pose_datasets(handle)
            }
        processed = result.outputs["nwb"].parent
        outputs[threshold] = {
            "pose": pose,
            "qc": re.sub(
                r"generated \S+ by", "generated ... by", result.outputs["qc_report"].read_text()
            ),
            "files": sorted(p.relative_to(processed).as_posix() for p in processed.rglob("*")),
        }
    # positions and confidence of both cameras, in the second run only
    assert [len(shape) for shape in spilled_shapes] == [4, 3, 4, 3]
    default, spilled = outputs[ingest.SPILL_MIN_BYTES], outputs[1]
    assert len(default["pose"]) >= 4 and default["pose"].keys() == spilled["pose"].keys()
    for name, values in default["pose"].items():
        np.testing.assert_array_equal(spilled["pose"][name], values, err_msg=name)
    assert spilled["qc"] == default["qc"]
    assert spilled["files"] == default["files"]


def _pose_datasets(handle: object) -> list[str]:
    import h5py

    found: list[str] = []
    group = handle["processing/behavior"]  # type: ignore[index]
    group.visititems(
        lambda name, obj: (
            found.append(name)
            if isinstance(obj, h5py.Dataset) and name.endswith(("/data", "/confidence"))
            else None
        )
    )
    return found
