"""Real public pose files and their videos through the whole pipeline (no TTL: video clock).

Bundles from the sample data manifest (section B): DeepLabCut single animal, SLEAP two flies,
Lightning Pose (mirror mouse) and multi-animal DeepLabCut. Each must give a DANDI-clean file
(no CRITICAL finding, no best-practice violation) whose tracks equal the source file's.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace

pytestmark = pytest.mark.real_data

LP = "lightning_pose/eks/data/mirror-mouse"
MADLC = "dlc_multi_animal/DeepLabCut/examples/multi_mouse-dlc_team-2022-04-12/videos"
BUNDLES = {
    # camera id: (video, pose file, pose source, expected frames, individuals)
    "openfield": (
        "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4",
        "dlc_single_animal/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5",
        "dlc",
        2330,
        1,
    ),
    "flies": (
        "sleap/sleap/docs/notebooks/analysis_example/20190128_113421.120s.mp4",
        "sleap/sleap/docs/notebooks/analysis_example/predictions.analysis.h5",
        "sleap",
        3000,
        2,
    ),
    # The csv has 2000 rows; its first 1000 are this video's (manifest B.8): the test session
    # gets a copy of those rows, as a user would pair the right rows with the video.
    "mirror": (
        f"{LP}/180607_004.mp4",
        f"{LP}/180607_004.train_frames=75.rng=0.csv",
        "lightning_pose",
        1000,
        1,
    ),
    "mice": (
        f"{MADLC}/m3v1mp4short.mp4",
        f"{MADLC}/m3v1mp4shortDLC_effnet_b0_multi_mouseApr12shuffle1_5_el_filtered.h5",
        "dlc",
        31,
        4,  # three mice, plus DLC's 'single' for the unique bodyparts (arena corners)
    ),
}


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


def _first_rows(source: Path, destination: Path, n_rows: int) -> None:
    """A copy of a DLC-style CSV (3 header lines) with its first ``n_rows`` data rows."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    lines = source.read_text().splitlines(keepends=True)
    destination.write_text("".join(lines[: 3 + n_rows]))


@pytest.mark.parametrize("camera_id", sorted(BUNDLES))
def test_real_pose_and_video_to_nwb(real_data: Path, tmp_path: Path, camera_id: str) -> None:
    video, pose, source, n_frames, n_individuals = BUNDLES[camera_id]
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo("Lab", "Inst", ("Doe, J",)))
    add_subject(root, "animal1", {"species": "Mus musculus", "sex": "U", "age": "P60D"})
    session_toml = add_session(
        root,
        "animal1",
        "s1",
        session_date=date(2024, 1, 1),
        start_time="10:00+00:00",
        description="real sample data",
    )
    session_dir = session_toml.parent
    video_name = Path(video).name
    pose_name = Path(video).stem + "_" + Path(pose).name if source == "sleap" else Path(pose).name
    _link(real_data / video, session_dir / "Video" / video_name)
    pose_path = session_dir / "Pose" / pose_name
    if camera_id == "mirror":
        pose_name = f"{Path(video).stem}.csv"
        pose_path = session_dir / "Pose" / pose_name
        _first_rows(real_data / pose, pose_path, n_frames)
    else:
        _link(real_data / pose, pose_path)
    meta = {
        "cameras": [{"id": camera_id, "paths": [f"Video/{video_name}"], "frame_clock": "video"}],
        "pose": {"cameras": {camera_id: {"source": source, "paths": [f"Pose/{pose_name}"]}}},
    }
    session_toml.write_text(session_toml.read_text() + tomli_w.dumps(meta))

    result = process_session(root, "animal1", "s1")

    assert result.ok, result.error
    expected = read_pose(pose_path)
    assert expected.n_individuals == n_individuals
    with read_nwb(result.outputs["nwb"]) as nwb:
        series = nwb.acquisition[camera_id]
        assert "NOT aligned to a TTL/DAQ clock" in series.description
        assert "no TTL channel exists in this session" in nwb.session_description
        behavior = nwb.processing["behavior"]
        names = sorted(n for n in behavior.data_interfaces if n.startswith("PoseEstimation"))
        assert len(names) == n_individuals  # one PoseEstimation per individual
        for i, individual in enumerate(expected.individual_names):
            suffix = f"_{individual}" if n_individuals > 1 else ""
            series = behavior[f"PoseEstimation_{camera_id}{suffix}"].pose_estimation_series
            for k, keypoint in enumerate(expected.keypoint_names):
                if keypoint not in series:  # a bodypart this individual does not have
                    assert np.isnan(expected.positions[:, i, k, :]).all()
                    continue
                data = np.asarray(series[keypoint].data[:])
                assert data.shape == (n_frames, 2)
                np.testing.assert_array_equal(data, expected.positions[:, i, k, :])
    report = json.loads(result.outputs["validation"].read_text())
    assert report["counts"]["CRITICAL"] == 0, report["findings"]
    assert report["counts"]["BEST_PRACTICE_VIOLATION"] == 0, report["findings"]
    assert report["is_clean"]
