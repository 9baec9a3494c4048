"""Pose provenance in the NWB file: scorer, software version and the model sentence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.nwb.assembly import write_nwb
from w2t_bkin.nwb.inspection import read_nwb

from . import _builders as b

MODEL = (
    "model 'top' (/ws/models/openfield/config.yaml; DeepLabCut project 'openfield' "
    "(labelled by Pranav, Aug20, iteration 0, network resnet_50)); network resnet_50, "
    "snapshot-30000"
)


def written(tmp_path: Path, **pose_fields: object) -> Path:
    session = b.session(tmp_path, videos=False, trials=False)
    top = replace(session.cameras[0], pose=replace(b.pose_data(), **pose_fields))
    session = replace(session, cameras=(top, *session.cameras[1:]))
    return write_nwb(session, tmp_path / "pose.nwb", AssemblyConfig(write_videos=False))


def test_model_provenance_round_trips(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        model_description=MODEL,
        scorer="DLC_resnet50_openfieldAug20shuffle1_30000",
        source_software_version="2.3.9",
    )

    with read_nwb(path) as nwb:
        estimation = nwb.processing["behavior"]["PoseEstimation_cam_top"]
        assert estimation.scorer == "DLC_resnet50_openfieldAug20shuffle1_30000"
        assert estimation.source_software == "DeepLabCut"
        assert estimation.source_software_version == "2.3.9"
        assert estimation.description.startswith(
            "DeepLabCut pose of camera 'cam_top', read from cam_topDLC_resnet50.h5. "
            f"Model: {MODEL}. Timestamps are the camera frame times (ttl clock)."
        )
        np.testing.assert_array_equal(estimation.skeleton.edges[:], np.array(b.EDGES))


def test_no_model_no_version_writes_nothing_invented(tmp_path: Path) -> None:
    path = written(tmp_path, model_description=None, source_software_version=None, scorer=None)

    with read_nwb(path) as nwb:
        estimation = nwb.processing["behavior"]["PoseEstimation_cam_top"]
        assert estimation.source_software_version is None
        assert estimation.scorer is None
        assert "Model:" not in estimation.description
        assert estimation.description.startswith(
            "DeepLabCut pose of camera 'cam_top', read from cam_topDLC_resnet50.h5. Timestamps"
        )
