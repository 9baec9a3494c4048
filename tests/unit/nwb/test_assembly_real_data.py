"""Assembly of a real video + DeepLabCut output (DLC open-field bundle of the sample data)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.nwb.assembly import CameraAssembly, write_nwb
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.sources.pose.dlc import read_dlc_table
from w2t_bkin.sources.video import CameraVideos, probe_video

from . import _builders as b
from .test_assembly import blocking_findings

VIDEO = "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"
POSE = "dlc_single_animal/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5"


@pytest.mark.real_data
def test_real_video_and_dlc_pose_round_trip(real_data: Path, tmp_path: Path) -> None:
    probe = probe_video(real_data / VIDEO)
    pose = read_dlc_table(real_data / POSE)
    assert probe.n_frames == pose.n_frames == 2330
    assert probe.frame_pts_s is not None
    frame_times_s = 3.0 + probe.frame_pts_s  # container clock shifted onto a reference clock
    camera = CameraAssembly(
        camera_id="cam_top",
        frame_times_s=frame_times_s,
        frame_clock="video",
        videos=CameraVideos(camera_id="cam_top", chunks=(probe,)),
        pose=pose,
    )
    session = b.session(tmp_path, videos=False)
    session = type(session)(**{**session.__dict__, "cameras": (camera,)})
    path = write_nwb(session, tmp_path / "real.nwb", AssemblyConfig())
    with read_nwb(path) as nwb:
        video = nwb.acquisition["cam_top"]
        rel = os.path.relpath(real_data / VIDEO, tmp_path)
        assert list(video.external_file[:]) == [Path(rel).as_posix()]
        # A constant-rate container: the times are stored as a rate that reproduces each of them.
        assert video.timestamps is None
        rebuilt = video.starting_time + np.arange(video.num_samples) / video.rate
        assert np.max(np.abs(rebuilt - frame_times_s)) <= 1e-9
        assert "regular to 1e-09 s" in video.comments
        assert list(video.dimension[:]) == [probe.width, probe.height]
        estimation = nwb.processing["behavior"]["PoseEstimation_cam_top"]
        for k, name in enumerate(pose.keypoint_names):
            series = estimation.pose_estimation_series[name]
            np.testing.assert_array_equal(series.data[:], pose.positions[:, 0, k, :])
            np.testing.assert_array_equal(series.confidence[:], pose.confidence[:, 0, k])
            assert (series.rate, series.starting_time) == (video.rate, video.starting_time)
    assert blocking_findings(path) == []
