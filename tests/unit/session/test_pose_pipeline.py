"""``[pose.models]`` through a whole synthetic session: skeleton, provenance, early failure."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(duration_s=3.0, rate_hz=30.0, n_video_chunks=1, n_trials=3, seed=5)
CONFIG = """\
Task: w2t
scorer: tester
date: Nov21
multianimalproject: false
bodyparts: [kp0, kp1, kp2, kp3]
skeleton:
- [kp0, kp2]
- [kp1, kp3]
iteration: 0
default_net_type: resnet_50
"""


def with_model(root: Path, model: dict[str, str]) -> None:
    """Declare model 'top' for cam0 in data/raw/metadata.toml, instead of its skeleton_id."""
    path = root / "data/raw/metadata.toml"
    data = tomllib.loads(path.read_text())
    data["pose"]["models"] = {"top": model}
    camera = data["pose"]["cameras"]["cam0"]
    camera.pop("skeleton_id")
    camera["model_id"] = "top"
    path.write_text(tomli_w.dumps(data))


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    return root


def test_dlc_project_model_gives_skeleton_and_provenance(root: Path) -> None:
    (root / "models/w2t-tester").mkdir(parents=True)
    (root / "models/w2t-tester/config.yaml").write_text(CONFIG)
    with_model(root, {"source": "dlc", "path": "w2t-tester", "software_version": "2.3.9"})

    result = process_session(root, "mouse01", "ses01")

    assert result.ok, result.error
    with read_nwb(result.outputs["nwb"]) as nwb:
        estimation = nwb.processing["behavior"]["PoseEstimation_cam0"]
        np.testing.assert_array_equal(estimation.skeleton.edges[:], [[0, 2], [1, 3]])
        assert estimation.source_software_version == "2.3.9"
        assert (
            f"Model: model 'top' ({root / 'models/w2t-tester'}; DeepLabCut project 'w2t' "
            "(labelled by tester, Nov21, iteration 0, network resnet_50))."
        ) in estimation.description


def test_missing_model_path_fails_before_ingestion(root: Path) -> None:
    with_model(root, {"source": "dlc", "path": "nowhere/config.yaml"})

    result = process_session(root, "mouse01", "ses01")

    assert (result.ok, result.failed_phase, result.exit_code) == (False, "pose generation", 2)
    assert result.error is not None
    assert "pose.models.top.path = 'nowhere/config.yaml': " in result.error
    assert f"{root / 'models/nowhere/config.yaml'} does not exist" in result.error
