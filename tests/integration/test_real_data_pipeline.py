"""Real public pose files and their videos through the whole pipeline (no TTL: video clock)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace

pytestmark = pytest.mark.real_data

BUNDLES = {
    # camera id: (video, pose file, pose source, expected frames)
    "openfield": (
        "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4",
        "dlc_single_animal/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5",
        "dlc",
        2330,
    ),
    "flies": (
        "sleap/sleap/docs/notebooks/analysis_example/20190128_113421.120s.mp4",
        "sleap/sleap/docs/notebooks/analysis_example/predictions.analysis.h5",
        "sleap",
        3000,
    ),
}


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


@pytest.mark.parametrize("camera_id", sorted(BUNDLES))
def test_real_pose_and_video_to_nwb(real_data: Path, tmp_path: Path, camera_id: str) -> None:
    video, pose, source, n_frames = BUNDLES[camera_id]
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo("Lab", "Inst", ("Doe, J",)))
    add_subject(root, "animal1", {"species": "Mus musculus", "sex": "U", "age": "P60D"})
    session_toml = add_session(root, "animal1", "s1", description="real sample data")
    session_dir = session_toml.parent
    video_name = Path(video).name
    pose_name = Path(video).stem + "_" + Path(pose).name if source == "sleap" else Path(pose).name
    _link(real_data / video, session_dir / "Video" / video_name)
    _link(real_data / pose, session_dir / "Pose" / pose_name)
    meta = {
        "cameras": [{"id": camera_id, "paths": [f"Video/{video_name}"], "frame_clock": "video"}],
        "pose": {"cameras": {camera_id: {"source": source, "paths": [f"Pose/{pose_name}"]}}},
    }
    session_toml.write_text(session_toml.read_text() + tomli_w.dumps(meta))
    result = process_session(root, "animal1", "s1")
    assert result.ok, result.error
    expected = read_pose(real_data / pose)
    with read_nwb(result.outputs["nwb"]) as nwb:
        series = nwb.acquisition[camera_id]
        assert "NOT aligned to a TTL/DAQ clock" in series.description
        modules = nwb.processing["behavior"]
        names = [n for n in modules.data_interfaces if n.startswith("PoseEstimation")]
        assert names
        pe = modules[names[0]]
        first = pe.pose_estimation_series[expected.keypoint_names[0]]
        data = np.asarray(first.data[:])
        assert data.shape[0] == n_frames
        np.testing.assert_array_equal(data, expected.positions[:, 0, 0, :])
    assert (result.outputs["validation"]).is_file()
