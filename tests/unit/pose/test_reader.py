"""Generated .npz outputs read through the pose reader registry, as ingestion reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.results import write_predictions
from w2t_bkin.sources.pose.io import detect_pose_source, read_pose
from w2t_bkin.sources.pose.predictions import read_predictions_pose
from w2t_bkin.testing.video import write_video


def test_registry_reads_what_pose_process_wrote(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.mp4", 20, 30.0)
    predictions = process_video(video, make_estimator("synthetic", missing_every=3))
    path = write_predictions(predictions, tmp_path / "cam.synthetic.pose.npz")
    assert detect_pose_source(path) == "synthetic"
    pose = read_pose(path, "synthetic")
    expected = predictions.to_pose_data()
    np.testing.assert_array_equal(pose.positions, expected.positions)
    np.testing.assert_array_equal(pose.confidence, expected.confidence)
    assert pose.keypoint_names == expected.keypoint_names
    assert pose.skeleton_edges == expected.skeleton_edges
    assert pose.source_software == expected.source_software == "w2t-bkin synthetic"
    assert pose.model_description == expected.model_description


def test_other_npz_is_not_claimed_and_not_read(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", keypoints_px=np.zeros((1, 1, 1, 2), dtype=np.float32))
    assert detect_pose_source(tmp_path / "x.npz") is None
    with pytest.raises(IngestError, match="not a w2t-bkin pose predictions file"):
        read_predictions_pose(tmp_path / "x.npz")
