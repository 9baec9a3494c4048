"""Camera timing at session level: chunk timestamps, names in errors, stats rows."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.metadata import CameraMeta
from w2t_bkin.session_sync import _camera_stats, _camera_timing
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
    row = _camera_stats(timing)
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
    row = _camera_stats(timing)
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
    row = _camera_stats(timing)
    assert row["frame_pts"] == "used" and "the time between files is unknown" in row["notes"]
    single = _videos("side", pts, [0], 300)
    timing = _camera_timing(camera, 300, single, {}, Config())  # no warning: one file
    assert _camera_stats(timing)["notes"] == ""
