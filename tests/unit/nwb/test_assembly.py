"""Round trips of synthetic sessions through build_nwbfile/write_nwb and back."""

from __future__ import annotations

import errno
from pathlib import Path

import h5py
import numpy as np
import nwbinspector
import pytest
from hdmf.backends.hdf5 import HDF5IO

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import MetadataError, OutputError, VerificationError
from w2t_bkin.nwb.assembly import CameraAssembly, SessionAssembly, stage_nwb, write_nwb
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.nwb.io import publish_file, staged_name_pattern

from . import _builders as b


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[SessionAssembly, Path]:
    root = tmp_path_factory.mktemp("session")
    session = b.session(root)
    out = root / "processed"
    out.mkdir()
    return session, write_nwb(session, out / "sub-mouse1_ses-01.nwb", AssemblyConfig())


@pytest.fixture(scope="module")
def h5(written: tuple[SessionAssembly, Path]):
    with h5py.File(written[1], "r") as f:
        yield f


def blocking_findings(path: Path) -> list[str]:
    messages = nwbinspector.inspect_nwbfile(
        nwbfile_path=path, config=nwbinspector.load_config("dandi")
    )
    blocking = {nwbinspector.Importance.CRITICAL, nwbinspector.Importance.BEST_PRACTICE_VIOLATION}
    return [
        f"{m.importance.name} {m.check_function_name} {m.object_name}: {m.message}"
        for m in messages
        if m is not None and m.importance in blocking
    ]


def trial_rows(trials, column: str, k: int) -> np.ndarray:
    """Rows of the referenced table that trial ``k`` points to through a ragged column."""
    ends = np.asarray(trials[f"{column}_index"].data[:])
    start = 0 if k == 0 else ends[k - 1]
    return np.asarray(trials[f"{column}_index"].target.data[start : ends[k]])


# --------------------------------------------------------------------------------------------
# header, subject, devices


def test_header_fields_and_clock_documentation(written) -> None:
    _, path = written
    with read_nwb(path) as nwb:
        assert nwb.identifier == "sub-mouse1_ses-01_test"
        assert nwb.session_start_time == b.START
        assert nwb.timestamps_reference_time == b.START
        assert nwb.session_description == (
            f"Head-fixed licking task, synthetic test session\n\nTime base: {b.CLOCK}"
        )
        assert list(nwb.experimenter) == ["Doe, Jane"]
        assert list(nwb.keywords[:]) == ["licking", "pose"]
        assert (nwb.lab, nwb.institution, nwb.protocol) == (
            "Test Lab",
            "Test University",
            "IACUC-1",
        )
        assert nwb.session_id == "ses-01"
        assert nwb.notes == "Nothing unusual."


def test_subject_has_dandi_fields(written) -> None:
    with read_nwb(written[1]) as nwb:
        s = nwb.subject
        assert (s.subject_id, s.species, s.sex, s.age, s.age__reference) == (
            "mouse1",
            "Mus musculus",
            "F",
            "P90D",
            "birth",
        )
        assert (s.genotype, s.strain, s.weight, s.description) == (
            "wild type",
            "C57BL/6J",
            "0.025 kg",
            "test mouse",
        )


def test_devices_from_metadata_cameras_bpod_and_daq(written) -> None:
    with read_nwb(written[1]) as nwb:
        assert sorted(nwb.devices) == ["bpod", "cam_side", "daq", "top_camera"]
        top = nwb.devices["top_camera"]
        assert top.serial_number == "SN123"
        assert top.description == "Top-view camera"
        assert (top.model.name, top.model.manufacturer, top.model.model_number) == (
            "Blackfly S",
            "FLIR",
            "BFS-U3-16S2M",
        )
        assert nwb.devices["bpod"].description == "Bpod state machine (software 0.7.9)"
        assert nwb.acquisition["cam_top"].device is top


# --------------------------------------------------------------------------------------------
# TTL


def test_ttl_events_round_trip_per_channel(written) -> None:
    session, path = written
    with read_nwb(path) as nwb:
        table = nwb.acquisition["TTLEvents"]
        times = np.asarray(table["timestamp"].data[:])
        codes = np.asarray(table["channel"].data[:])
        meanings = table.get_meanings_table("channel_meanings")
        ids = list(meanings["meaning"].data[:])
        assert codes.dtype == np.uint8
        assert np.all(np.diff(times) >= 0)
        assert list(meanings["value"].data[:]) == [0, 1]
        assert ids == ["ttl_cam", "ttl_bpod"]
        # empty channel descriptions are filled from [[TTLs]] metadata
        assert list(meanings["channel_description"].data[:]) == [
            "top camera frames",
            "Bpod trial sync",
        ]
        assert list(meanings["n_pulses"].data[:]) == [19, 3]
        assert list(meanings["source_files"].data[:]) == ["cam_0.txt;cam_1.txt", "bpod.txt"]
        for channel in session.ttl_channels:
            code = ids.index(channel.channel_id)
            np.testing.assert_array_equal(times[codes == code], channel.times_s)


# --------------------------------------------------------------------------------------------
# videos


def test_external_video_has_relative_paths_chunks_and_frame_timestamps(written) -> None:
    _, path = written
    with read_nwb(path) as nwb:
        video = nwb.acquisition["cam_top"]
        assert list(video.external_file[:]) == [
            "../raw/Video/cam_top_0.mp4",
            "../raw/Video/cam_top_1.mp4",
        ]
        for rel in video.external_file[:]:
            assert (path.parent / rel).is_file()
        assert list(video.starting_frame[:]) == [0, 12]
        assert video.format == "external"
        assert video.rate is None
        np.testing.assert_array_equal(video.timestamps[:], b.frame_times())
        assert list(video.dimension[:]) == [32, 32]
        assert b.CLOCK in video.description
        assert "1 of 20 frame times were interpolated" in video.comments
        assert "cam_side" not in nwb.acquisition  # that camera has no video


def test_interpolated_frames_are_listed_in_sync_module(written) -> None:
    with read_nwb(written[1]) as nwb:
        table = nwb.processing["sync"]["interpolated_frames_cam_top"]
        assert list(table["frame_idx"].data[:]) == [7]
        assert table["timestamp"].data[:].tolist() == [b.frame_times()[7]]


def test_rate_clock_video_stores_rate_and_num_samples(tmp_path: Path) -> None:
    session = b.session(tmp_path, trials=False)
    rate_camera = CameraAssembly(
        camera_id="cam_top",
        frame_times_s=2.0 + np.arange(b.N_FRAMES) / b.RATE_HZ,
        frame_clock="rate",
        videos=session.cameras[0].videos,
        pose=b.pose_data(),
    )
    session = _replace(session, cameras=(rate_camera,))
    path = write_nwb(session, tmp_path / "rate.nwb")
    with read_nwb(path) as nwb:
        video = nwb.acquisition["cam_top"]
        assert video.timestamps is None
        assert video.rate == pytest.approx(b.RATE_HZ, rel=1e-12)
        assert video.starting_time == 2.0
        assert video.num_samples == b.N_FRAMES
        nose = nwb.processing["behavior"]["PoseEstimation_cam_top"]["nose"]
        assert nose.timestamps is None
        assert nose.rate == video.rate
        assert nose.starting_time == 2.0


def test_regular_measured_times_are_stored_as_exact_rate(tmp_path: Path) -> None:
    session = b.session(tmp_path, trials=False)
    times = 0.25 + np.arange(b.N_FRAMES) / 25.0
    camera = _replace(session.cameras[0], frame_times_s=times, frame_clock="video")
    path = write_nwb(_replace(session, cameras=(camera,)), tmp_path / "regular.nwb")
    with read_nwb(path) as nwb:
        video = nwb.acquisition["cam_top"]
        assert video.timestamps is None
        rebuilt = video.starting_time + np.arange(video.num_samples) / video.rate
        assert np.max(np.abs(rebuilt - times)) <= 1e-9
        assert video.num_samples == b.N_FRAMES
    assert blocking_findings(path) == []


# --------------------------------------------------------------------------------------------
# pose


def test_pose_positions_and_confidence_round_trip_exactly(written) -> None:
    session, path = written
    pose = session.cameras[0].pose
    with read_nwb(path) as nwb:
        estimation = nwb.processing["behavior"]["PoseEstimation_cam_top"]
        assert sorted(estimation.pose_estimation_series) == sorted(b.KEYPOINTS)
        for k, name in enumerate(b.KEYPOINTS):
            series = estimation.pose_estimation_series[name]
            data = series.data[:]
            assert data.dtype == np.float32
            np.testing.assert_array_equal(data, pose.positions[:, 0, k, :])
            np.testing.assert_array_equal(series.confidence[:], pose.confidence[:, 0, k])
            assert series.unit == "pixels"
            assert series.reference_frame.startswith("(0,0) is the top-left corner")
        assert np.isnan(estimation["ear_left"].data[3]).all()
        assert np.isnan(estimation["tail_base"].data[0]).all()


def test_pose_metadata_skeleton_and_links(written) -> None:
    with read_nwb(written[1]) as nwb:
        behavior = nwb.processing["behavior"]
        estimation = behavior["PoseEstimation_cam_top"]
        skeleton = behavior["Skeletons"]["mouse_top_cam_top"]
        assert list(skeleton.nodes[:]) == list(b.KEYPOINTS)
        edges = skeleton.edges[:]
        assert edges.dtype == np.uint8
        np.testing.assert_array_equal(edges, np.array(b.EDGES))
        assert skeleton.subject is nwb.subject
        assert estimation.skeleton is skeleton
        assert estimation.device is nwb.devices["top_camera"]
        assert estimation.source_video is nwb.acquisition["cam_top"]
        assert estimation.source_software == "DeepLabCut"
        assert estimation.source_software_version == "2.3.9"
        assert estimation.scorer == "DLC_resnet50_demoMay1shuffle1_1000"


def test_pose_timestamps_link_to_video_timestamps_dataset(written, h5) -> None:
    video_ts = h5["acquisition/cam_top/timestamps"]
    for name in b.KEYPOINTS:
        path = f"processing/behavior/PoseEstimation_cam_top/{name}/timestamps"
        assert isinstance(h5.get(path, getlink=True), h5py.SoftLink)
        assert h5[path] == video_ts


def test_camera_without_video_gets_per_individual_pose_and_note(written) -> None:
    with read_nwb(written[1]) as nwb:
        behavior = nwb.processing["behavior"]
        names = sorted(n for n in behavior.data_interfaces if n.startswith("PoseEstimation"))
        assert names == [
            "PoseEstimation_cam_side_mouse0",
            "PoseEstimation_cam_side_mouse1",
            "PoseEstimation_cam_top",
        ]
        side = behavior["PoseEstimation_cam_side_mouse1"]
        assert "video was not available" in side.description
        assert side.source_video is None
        assert side.device is nwb.devices["cam_side"]
        assert side.skeleton is behavior["Skeletons"]["skeleton_cam_side_mouse1"]
        # frame_clock 'rate': nominal times are stored as rate + starting time
        assert side["nose"].rate == pytest.approx(b.RATE_HZ, rel=1e-12)
        assert side["nose"].starting_time == 0.0
        expected = b.pose_data(n_individuals=2, seed=3).positions[:, 1, 2, :]
        np.testing.assert_array_equal(side["tail_base"].data[:], expected)


def test_without_video_first_pose_series_owns_timestamps_and_others_link(tmp_path: Path) -> None:
    session = b.session(tmp_path, trials=False)
    path = write_nwb(session, tmp_path / "novideo.nwb", AssemblyConfig(write_videos=False))
    with h5py.File(path, "r") as f:
        assert "cam_top" not in f["acquisition"]
        group = f["processing/behavior/PoseEstimation_cam_top"]
        owners = [
            name
            for name in group
            if isinstance(group.get(f"{name}/timestamps", getlink=True), h5py.HardLink)
        ]
        assert len(owners) == 1
        owner_ts = group[f"{owners[0]}/timestamps"]
        np.testing.assert_array_equal(owner_ts[:], b.frame_times())
        for name in b.KEYPOINTS:
            assert group[f"{name}/timestamps"] == owner_ts
    with read_nwb(path) as nwb:
        description = nwb.processing["behavior"]["PoseEstimation_cam_top"].description
        assert "write_videos = false" in description


# --------------------------------------------------------------------------------------------
# Bpod


def test_trials_times_and_columns(written) -> None:
    session, path = written
    bpod = session.trials.bpod
    with read_nwb(path) as nwb:
        trials = nwb.trials
        assert type(trials).__name__ == "TrialsTable"
        np.testing.assert_array_equal(
            trials["start_time"].data[:], b.to_reference(bpod.trial_start_s)
        )
        np.testing.assert_array_equal(trials["stop_time"].data[:], b.to_reference(bpod.trial_end_s))
        assert list(trials["trial_type"].data[:]) == [1, 2, 1]
        assert list(trials["trial_type_name"].data[:]) == ["go", "nogo", "go"]
        assert list(trials["outcome"].data[:]) == ["hit", "miss", "hit"]
        assert list(trials["alignment"].data[:]) == ["matched", "interpolated", "matched"]


def test_states_every_visit_on_reference_clock_grouped_by_trial(written) -> None:
    with read_nwb(written[1]) as nwb:
        trials = nwb.trials
        recording = nwb.acquisition["task_recording"]
        states = recording.states
        names = list(nwb.lab_meta_data["task"].state_types["state_name"].data[:])
        assert names == ["ITI", "Reward", "Stimulus", "WaitForLick"]
        state_type = np.asarray(states["state_type"].data[:])
        start = np.asarray(states["start_time"].data[:])
        stop = np.asarray(states["stop_time"].data[:])
        per_trial = [
            [names[i] for i in state_type[trial_rows(trials, "states", k)]] for k in range(3)
        ]
        assert per_trial == [
            ["Stimulus", "WaitForLick", "Reward", "ITI"],
            ["Stimulus", "WaitForLick", "WaitForLick", "ITI"],
            ["Stimulus", "WaitForLick", "Reward", "ITI"],
        ]
        rows1 = trial_rows(trials, "states", 1)
        np.testing.assert_array_equal(start[rows1], b.to_reference(np.array([3.0, 3.5, 3.95, 4.6])))
        np.testing.assert_array_equal(stop[rows1], b.to_reference(np.array([3.5, 3.9, 4.6, 6.0])))
        assert len(states) == 12


def test_events_and_actions(written) -> None:
    with read_nwb(written[1]) as nwb:
        trials = nwb.trials
        task = nwb.lab_meta_data["task"]
        events = nwb.acquisition["task_recording"].events
        np.testing.assert_array_equal(
            events["timestamp"].data[:],
            b.to_reference(np.array([1.10, 1.19, 3.80, 6.70, 6.95, 7.05])),
        )
        assert list(events["value"].data[:]) == [
            "Port1In",
            "Port1Out",
            "Port1Out",
            "Port1In",
            "Port1Out",
            "Port1In",
        ]
        assert [len(trial_rows(trials, "events", k)) for k in range(3)] == [2, 1, 3]
        assert trial_rows(trials, "events", 2).tolist() == [3, 4, 5]
        action_names = list(task.action_types["action_name"].data[:])
        assert action_names == ["reward_valve_open", "tone"]
        actions = nwb.acquisition["task_recording"].actions
        assert list(actions["value"].data[:]) == [
            "Stimulus",
            "Reward",
            "Stimulus",
            "Stimulus",
            "Reward",
        ]
        assert [action_names[i] for i in actions["action_type"].data[:]] == [
            "tone",
            "reward_valve_open",
            "tone",
            "tone",
            "reward_valve_open",
        ]
        start = np.array([0.0, 1.2, 3.0, 6.0, 7.0])
        stop = np.array([0.5, 1.3, 3.5, 6.5, 7.1])
        np.testing.assert_array_equal(actions["timestamp"].data[:], b.to_reference(start))
        np.testing.assert_array_equal(
            actions["duration"].data[:], b.to_reference(stop) - b.to_reference(start)
        )
        assert [len(trial_rows(trials, "actions", k)) for k in range(3)] == [2, 1, 2]


def test_task_arguments_are_flattened_with_types(written) -> None:
    with read_nwb(written[1]) as nwb:
        table = nwb.lab_meta_data["task"].task_arguments
        rows = {
            name: (expr, kind)
            for name, expr, kind in zip(
                table["argument_name"].data[:],
                table["expression"].data[:],
                table["expression_type"].data[:],
                strict=True,
            )
        }
        assert rows == {
            "RewardAmount_ul": ("3.5", "float"),
            "nTrials": ("3", "integer"),
            "GUI.Sound": ("true", "boolean"),
            "GUI.Port": ("COM3", "string"),
            "Delays": ("[0.1, 0.2]", "array"),
        }


# --------------------------------------------------------------------------------------------
# alignment statistics


def test_alignment_statistics_table(written) -> None:
    with read_nwb(written[1]) as nwb:
        table = nwb.processing["sync"]["alignment_statistics"]
        assert list(table.colnames) == [
            "stream_id",
            "kind",
            "n_items",
            "n_pulses",
            "n_matched",
            "residual_rms_ms",
            "residual_max_ms",
            "drift_ppm",
            "offset_s",
            "status",
            "dropped_idx",
            "frame_pts",
            "missing_idx",
            "notes",
            "spurious_idx",
            "unassigned_idx",
        ]
        assert list(table["stream_id"].data[:]) == ["cam_top", "bpod:ttl_cue"]
        assert list(table["n_matched"].data[:]) == [19, 3]
        drift = table["drift_ppm"].data[:]
        assert np.isnan(drift[0]) and drift[1] == 20.0
        assert list(table["status"].data[:]) == ["repaired", "exact"]
        assert list(table["missing_idx"].data[:]) == ["[7]", "[]"]
        assert list(table["frame_pts"].data[:]) == ["used", ""]


# --------------------------------------------------------------------------------------------
# validation, configuration


def test_nwbinspector_dandi_has_no_blocking_findings(written) -> None:
    assert blocking_findings(written[1]) == []


def test_gzip_compression_and_chunks_take_effect(h5) -> None:
    for name in (
        "acquisition/TTLEvents/timestamp",
        "acquisition/cam_top/timestamps",
        "processing/behavior/PoseEstimation_cam_top/nose/data",
        "processing/behavior/PoseEstimation_cam_top/nose/confidence",
    ):
        assert h5[name].compression == "gzip", name
        assert h5[name].compression_opts == 4, name
        assert h5[name].shuffle, name
    assert h5["processing/behavior/PoseEstimation_cam_top/nose/data"].chunks == (20, 2)


def test_no_compression_and_level_are_honoured(tmp_path: Path) -> None:
    session = b.session(tmp_path, trials=False)
    plain = write_nwb(session, tmp_path / "plain.nwb", AssemblyConfig(compression="none"))
    strong = write_nwb(
        session, tmp_path / "l9.nwb", AssemblyConfig(compression_level=9, shuffle=False)
    )
    name = "processing/behavior/PoseEstimation_cam_top/nose/data"
    with h5py.File(plain, "r") as f:
        assert f[name].compression is None
        assert f["acquisition/TTLEvents/timestamp"].compression is None
    with h5py.File(strong, "r") as f:
        assert f[name].compression_opts == 9
        assert not f[name].shuffle


def test_write_flags_leave_out_modalities(tmp_path: Path) -> None:
    session = b.session(tmp_path)
    config = AssemblyConfig(write_ttl=False, write_bpod=False, write_pose=False)
    path = write_nwb(session, tmp_path / "video_only.nwb", config)
    with read_nwb(path) as nwb:
        assert sorted(nwb.acquisition) == ["cam_top"]
        assert nwb.trials is None
        assert "task" not in nwb.lab_meta_data
        assert "behavior" not in nwb.processing
        assert sorted(nwb.devices) == ["top_camera"]
    assert blocking_findings(path) == []


# --------------------------------------------------------------------------------------------
# input checks


def test_pose_frame_count_mismatch_is_rejected(tmp_path: Path) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    camera = session.cameras[0]
    short = _replace(camera, frame_times_s=camera.frame_times_s[:-1], frame_has_pulse=None)
    with pytest.raises(VerificationError, match=r"cam_top.*20 frames.*19 frame times"):
        write_nwb(_replace(session, cameras=(short,)), tmp_path / "bad.nwb")
    assert not (tmp_path / "bad.nwb").exists()


def test_video_frame_count_mismatch_is_rejected(tmp_path: Path) -> None:
    session = b.session(tmp_path, trials=False)
    camera = _replace(session.cameras[0], pose=None, frame_has_pulse=None)
    camera = _replace(camera, frame_times_s=camera.frame_times_s[:15])
    with pytest.raises(VerificationError, match=r"videos have 20 frames but 15 frame times"):
        write_nwb(_replace(session, cameras=(camera,)), tmp_path / "bad.nwb")


def test_naive_session_start_time_is_rejected(tmp_path: Path) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    naive = _replace(session, session_start_time=b.START.replace(tzinfo=None))
    with pytest.raises(MetadataError, match="has no time zone"):
        write_nwb(naive, tmp_path / "bad.nwb")


# --------------------------------------------------------------------------------------------
# atomic write


def test_disk_full_midway_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = b.session(tmp_path, trials=False)
    out = tmp_path / "out"
    out.mkdir()
    original = HDF5IO.write_dataset
    calls = {"n": 0}

    def failing_write_dataset(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HDF5IO, "write_dataset", failing_write_dataset)
    target = out / "sub-mouse1_ses-01.nwb"
    with pytest.raises(OutputError, match=r"sub-mouse1_ses-01\.nwb.*No space left") as info:
        write_nwb(session, target)
    assert "free disk space" in str(info.value)
    assert calls["n"] == 10
    assert list(out.iterdir()) == []


def test_failed_rewrite_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    target = tmp_path / "keep.nwb"
    target.write_bytes(b"previous complete file")

    def failing(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(HDF5IO, "write_dataset", failing)
    with pytest.raises(OutputError):
        write_nwb(session, target)
    assert target.read_bytes() == b"previous complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nwb"]


def test_staged_file_is_complete_and_appears_at_the_path_only_when_published(
    tmp_path: Path,
) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    target = tmp_path / "out" / "sub-mouse1_ses-01.nwb"
    target.parent.mkdir()
    staged = stage_nwb(session, target)
    assert staged.parent == target.parent and staged.name.startswith(".sub-mouse1_ses-01.")
    assert list(target.parent.glob(staged_name_pattern(target))) == [staged]
    assert not target.exists()
    with read_nwb(staged) as nwb:  # complete: readable before the rename
        assert nwb.identifier == "sub-mouse1_ses-01_test"
    assert publish_file(staged, target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    with read_nwb(target) as nwb:
        assert nwb.identifier == "sub-mouse1_ses-01_test"


def test_missing_output_folder_gives_output_error(tmp_path: Path) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    with pytest.raises(OutputError, match=r"folder .*missing does not exist"):
        write_nwb(session, tmp_path / "missing" / "x.nwb")


def test_unwritable_output_folder_gives_output_error(tmp_path: Path) -> None:
    session = b.session(tmp_path, videos=False, trials=False)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    # A path whose parent is a regular file cannot be written, even by root.
    with pytest.raises(OutputError, match="not_a_folder"):
        write_nwb(session, blocker / "x.nwb")


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_bpod_without_actions_writes_empty_action_tables(tmp_path: Path) -> None:
    # [bpod.actions] is optional: a task whose states trigger no declared action.
    session = b.session(tmp_path)
    assert session.trials is not None
    trials = session.trials.__class__(**{**vars(session.trials), "actions": {}})
    session = session.__class__(**{**vars(session), "trials": trials})
    out = tmp_path / "processed"
    out.mkdir()

    path = write_nwb(session, out / "sub-mouse1_ses-01.nwb", AssemblyConfig())

    with read_nwb(path) as nwb:
        recording = nwb.acquisition["task_recording"]
        assert len(recording.actions) == 0
        assert len(nwb.lab_meta_data["task"].action_types) == 0
        assert len(recording.states) > 0
