"""``CameraVideos``: frame totals and the first frame of each chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.model.video import CameraVideos, VideoProbe


def _probe(name: str, n_frames: int) -> VideoProbe:
    return VideoProbe(
        path=Path(name),
        n_frames=n_frames,
        rate_hz=30.0,
        width=64,
        height=48,
        codec="h264",
        duration_s=n_frames / 30.0,
        method="index",
    )


def test_chunks_add_up_and_start_where_the_previous_one_ended() -> None:
    videos = CameraVideos("cam0", (_probe("a.mp4", 12), _probe("b.mp4", 0), _probe("c.mp4", 8)))
    assert videos.n_frames == 20
    np.testing.assert_array_equal(videos.starting_frame, [0, 12, 12])
    assert videos.starting_frame.dtype == np.int64


def test_probe_has_no_frame_times_unless_given() -> None:
    assert _probe("a.mp4", 3).frame_pts_s is None
