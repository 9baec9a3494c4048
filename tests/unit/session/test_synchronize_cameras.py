"""Camera timing at session level: chunk timestamps, names in errors, stats rows."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import DataQualityWarning, MetadataError, SyncError, VerificationError
from w2t_bkin.metadata import CameraMeta
from w2t_bkin.session.synchronize import _camera_stats, _camera_timing
from w2t_bkin.sources.ttl import TTLChannel
from w2t_bkin.sources.video import CameraVideos, VideoProbe
from w2t_bkin.testing.simulate import simulate_camera


def _videos(
    camera_id: str, pts_s: np.ndarray | None, starts: list[int], n_frames: int
) -> CameraVideos:
    """Chunks as the probe returns them: each chunk's pts from its own first frame."""
    bounds = [*starts, n_frames]
    chunks = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        chunk_pts = None if pts_s is None else pts_s[lo:hi] - pts_s[lo]
        chunks.append(
            VideoProbe(
                path=Path(f"Video/{camera_id}/{camera_id}_chunk{k:02d}.mp4"),
                n_frames=hi - lo,
                rate_hz=150.0,
                width=32,
                height=32,
                codec="h264",
                duration_s=(hi - lo) / 150.0,
                method="index",
                frame_pts_s=chunk_pts,
            )
        )
    return CameraVideos(camera_id, tuple(chunks))


def _ttl(truth_pulses: np.ndarray) -> dict[str, TTLChannel]:
    return {"cam0_frame": TTLChannel("cam0_frame", truth_pulses, (Path("TTLs/cam0.txt"),))}


CAMERA = CameraMeta(id="cam0", ttl_id="cam0_frame", fps=150.0)


def test_multi_file_camera_uses_each_chunks_timestamps() -> None:
    # camera drops and lost pulses: without the pts the counts cannot tell them apart
    truth = simulate_camera(
        30.0,
        150.0,
        drift_ppm=50.0,
        jitter_s=1e-4,
        dropped_frame_fraction=0.01,
        missing_pulse_fraction=0.02,
        seed=3,
    )
    videos = _videos("cam0", truth.frame_pts_s, [0, 1500, 3000], truth.n_frames)
    timing = _camera_timing(CAMERA, truth.n_frames, videos, _ttl(truth.pulse_times_s), Config())
    assert timing.alignment is not None and timing.alignment.pts_used
    np.testing.assert_array_equal(timing.alignment.dropped_frames, truth.dropped_frame_idx)
    assert np.max(np.abs(timing.frame_times_s - truth.frame_times_s)) < 0.5e-3
    row = _camera_stats(timing).to_dict()
    assert row["stream_id"] == "cam0" and row["frame_pts"] == "used"
    assert "camera 'cam0' dropped 45 frames" in row["notes"]
    assert json.loads(json.dumps(row)) == row


def test_constant_rate_chunks_are_not_used_and_the_stats_say_why() -> None:
    truth = simulate_camera(20.0, 150.0, dropped_frame_fraction=0.01, seed=1)
    pts = np.arange(truth.n_frames) / 150.0
    videos = _videos("cam0", pts, [0, 1000], truth.n_frames)
    timing = _camera_timing(CAMERA, truth.n_frames, videos, _ttl(truth.pulse_times_s), Config())
    assert timing.alignment is not None and timing.alignment.status == "exact"
    np.testing.assert_array_equal(timing.alignment.dropped_frames, truth.dropped_frame_idx)
    row = _camera_stats(timing).to_dict()
    assert row["frame_pts"].startswith("not used: evenly spaced (6.66667 ms apart")
    assert "constant-frame-rate container" in row["frame_pts"]


def test_multi_file_mismatch_names_camera_and_channel_with_a_true_hint() -> None:
    truth = simulate_camera(
        20.0, 150.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=2
    )
    videos = _videos("cam0", None, [0, 1000], truth.n_frames)  # chunks without timestamps
    with pytest.raises(SyncError) as info:
        _camera_timing(CAMERA, truth.n_frames, videos, _ttl(truth.pulse_times_s), Config())
    error = info.value
    assert error.message.startswith(
        f"camera 'cam0' has {truth.n_frames} frames but its TTL channel 'cam0_frame' has "
        f"{truth.n_pulses} pulses"
    )
    assert "Container timestamps not used: the video has no container timestamps" in error.message
    assert error.hint is not None and "provide container timestamps" not in error.hint


def test_video_clock_chunks_warn_about_the_unknown_time_between_files() -> None:
    camera = CameraMeta(id="side", frame_clock="video")
    pts = np.arange(300) / 150.0
    videos = _videos("side", pts, [0, 100, 200], 300)
    with pytest.warns(
        DataQualityWarning, match="camera 'side': frame_clock = 'video' with 3 video"
    ):
        timing = _camera_timing(camera, 300, videos, {}, Config())
    # each file assumed to start one frame period after the previous file's last frame
    np.testing.assert_allclose(timing.frame_times_s, np.arange(300) / 150.0, rtol=0, atol=1e-12)
    row = _camera_stats(timing).to_dict()
    assert row["frame_pts"] == "used" and "the time between files is unknown" in row["notes"]
    single = _videos("side", pts, [0], 300)
    timing = _camera_timing(camera, 300, single, {}, Config())  # no warning: one file
    assert _camera_stats(timing).notes == ""


# -- embedded frame counter ----------------------------------------------------------------------

#: frames the simulated camera acquired but never saved, and saved frames whose pulse was lost
UNSAVED_SLOTS = np.array([10, 11, 40])
LOST_PULSE_FRAMES = np.array([25, 50])


def _camera_with_unsaved_frames(session_dir: Path, truth: dict) -> np.ndarray:
    """Rewrite cam0's TTL file as if 3 acquired frames were never saved; return true times.

    The synthetic video's 60 frames stay; the pulse train gets one pulse per ACQUIRED frame
    (63), minus the lost pulses of 2 saved frames, so the DAQ has more pulses than frames.
    """
    cam = truth["cameras"]["cam0"]
    n_frames = cam["n_frames"]
    t0 = cam["frame_times_s"][0]
    period_s = 1.0 / truth["spec"]["rate_hz"]
    slots = np.setdiff1d(np.arange(n_frames + UNSAVED_SLOTS.size), UNSAVED_SLOTS)
    pulses = t0 + np.arange(n_frames + UNSAVED_SLOTS.size) * period_s
    pulses = np.delete(pulses, slots[LOST_PULSE_FRAMES])
    np.savetxt(session_dir / "TTLs" / "cam0_frame.txt", pulses, fmt="%.9f")
    counter = (slots + 16696704).astype("<f8")  # the counter of a camera running for a while
    counter.tofile(session_dir / "Video" / "cam0" / "cam0_chunk00.frame_counter.bin")
    return t0 + slots * period_s


def _declare_counter(session_dir: Path) -> None:
    with (session_dir / "session.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[cameras]]\nid = "cam0"\nframe_counter = ["Video/cam0/*frame_counter.bin"]\n')


def test_session_frame_counter_times_unsaved_frames_exactly(tmp_path: Path) -> None:
    from w2t_bkin.nwb.inspection import read_nwb
    from w2t_bkin.session import process_session
    from w2t_bkin.testing import ExperimentSpec, write_experiment

    root = tmp_path / "exp"
    truth = write_experiment(root, ExperimentSpec(duration_s=2.0))["mouse01/ses01"]
    session_dir = root / "data/raw/mouse01/ses01"
    true_times = _camera_with_unsaved_frames(session_dir, truth)

    # without the counter nothing says which of the 61 pulses have no saved frame
    failed = process_session(root, "mouse01", "ses01")
    assert not failed.ok and failed.exit_code == 5
    assert "camera 'cam0' has 60 frames but its TTL channel 'ttl_cam0' has 61 pulses" in (
        failed.error or ""
    )

    _declare_counter(session_dir)
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    out = root / "data/processed/mouse01/ses01"
    with read_nwb(out / "sub-mouse01_ses-ses01.nwb") as nwb:
        times = np.asarray(nwb.acquisition["cam0"].timestamps[:])
    # pulses written with 1 ns resolution; the 2 frames without a pulse are interpolated
    assert np.max(np.abs(times - true_times)) < 2e-9
    stats = json.loads((out / "alignment_stats.json").read_text())
    row = {s["stream_id"]: s for s in stats["streams"]}["cam0"]
    assert row["dropped_idx"] == UNSAVED_SLOTS.tolist()
    assert row["frame_pts"] == "not used: the frame counter placed the frames"
    assert "frames placed by the camera's embedded frame counter" in row["notes"]
    assert "2 frames had no pulse of their own" in row["notes"]


def test_session_frame_counter_count_mismatch_names_both_files(tmp_path: Path) -> None:
    from w2t_bkin.session import process_session
    from w2t_bkin.testing import ExperimentSpec, write_experiment

    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    session_dir = root / "data/raw/mouse01/ses01"
    counter_file = session_dir / "Video" / "cam0" / "cam0_chunk00.frame_counter.bin"
    np.arange(59, dtype="<f8").tofile(counter_file)
    _declare_counter(session_dir)

    result = process_session(root, "mouse01", "ses01")
    assert not result.ok and result.exit_code == 5
    assert (
        f"camera 'cam0': frame counter file {counter_file} has 59 values but "
        f"{session_dir / 'Video/cam0/cam0_chunk00.mp4'} has 60 frames"
    ) in (result.error or "")


def test_frame_counter_files_must_match_the_video_files(tmp_path: Path) -> None:
    truth = simulate_camera(2.0, 150.0, seed=0)
    videos = _videos("cam0", None, [0, 100, 200], truth.n_frames)
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"c{k}.bin")
        np.arange(100, dtype="<f8").tofile(paths[-1])
    with pytest.raises(VerificationError) as exc:
        _camera_timing(CAMERA, truth.n_frames, videos, _ttl(truth.pulse_times_s), Config(), paths)
    assert exc.value.message.startswith(
        f"camera 'cam0': 2 frame counter files ({paths[0]}, {paths[1]}) for 3 video files"
    )


def test_frame_counter_per_video_file_is_concatenated(tmp_path: Path) -> None:
    truth = simulate_camera(
        10.0, 150.0, unsaved_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=5
    )
    starts = [0, 500, 1000]
    videos = _videos("cam0", None, starts, truth.n_frames)
    paths = []
    for k, (lo, hi) in enumerate(itertools.pairwise([*starts, truth.n_frames])):
        paths.append(tmp_path / f"cam0_{k}.frame_counter.bin")
        truth.frame_nominal_idx[lo:hi].astype("<f8").tofile(paths[-1])
    timing = _camera_timing(
        CAMERA, truth.n_frames, videos, _ttl(truth.pulse_times_s), Config(), paths
    )
    a = timing.alignment
    assert a is not None and a.counter_used and a.policy_applied == "frame_counter"
    assert np.max(np.abs(timing.frame_times_s - truth.frame_times_s)) < 1e-9
    # unsaved frames inside a file are dropped frames; at a file boundary, a gap between files
    inside = np.concatenate([a.dropped_frames, a.frame_slot[a.chunk_gap_after_frame_idx] + 1])
    np.testing.assert_array_equal(np.sort(inside), truth.unsaved_frame_idx)


def test_frame_counter_needs_a_ttl_clock(tmp_path: Path) -> None:
    camera = CameraMeta(
        id="cam0", fps=150.0, frame_clock="rate", frame_counter="Video/cam0/*counter.bin"
    )
    assert camera.frame_counter == ["Video/cam0/*counter.bin"]
    with pytest.raises(MetadataError) as exc:
        _camera_timing(camera, 10, None, {}, Config(), [tmp_path / "counter.bin"])
    assert exc.value.message == (
        "camera 'cam0': frame_counter places frames on the camera's TTL pulses, but its "
        "frame_clock is 'rate'"
    )
