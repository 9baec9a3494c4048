"""End to end: processed NWB files -> feature dataset -> TOML pipeline (CLI) -> classifier.

The NWB files are written with our own NWB writer from synthetic pose whose motion and
behaviour labels are known: 'run' frames move at 30 px/s, 'rest' frames stand still.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.identity import Result
from w2t_bkin.features.models import BehaviorClassifier, BehaviorPredict, import_labels, train_model
from w2t_bkin.features.run import run_feature

RATE_HZ = 30.0
N_FRAMES = 120


def _labels() -> np.ndarray:
    return np.where((np.arange(N_FRAMES) // 20) % 2 == 0, "rest", "run")


def _write_session(folder: Path, subject: str, session: str, t0_s: float) -> None:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    from w2t_bkin.config import AssemblyConfig
    from w2t_bkin.model.pose import PoseData
    from w2t_bkin.nwb.devices import ensure_device
    from w2t_bkin.nwb.pose import add_camera_pose

    t_s = t0_s + np.arange(N_FRAMES) / RATE_HZ
    step = np.where(_labels() == "run", 30.0 / RATE_HZ, 0.0)
    x = 100 + np.cumsum(step)
    positions = np.zeros((N_FRAMES, 1, 2, 2), np.float32)
    positions[:, 0, 0, 0] = x  # nose
    positions[:, 0, 1, 0] = x - 20  # tail
    positions[:, 0, :, 1] = 50
    nwbfile = NWBFile(
        session_description="synthetic",
        identifier=f"{subject}-{session}",
        session_id=session,
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
        subject=Subject(subject_id=subject, species="Mus musculus", sex="M", age="P60D"),
    )
    pose = PoseData(
        positions=positions,
        confidence=np.full((N_FRAMES, 1, 2), 0.95, np.float32),
        keypoint_names=("nose", "tail"),
        individual_names=("individual_0",),
        source_software="DeepLabCut",
        source_file=Path("top.h5"),
    )
    add_camera_pose(
        nwbfile,
        camera_id="top",
        pose=pose,
        frame_times_s=t_s,
        frame_clock="ttl",
        device=ensure_device(nwbfile, "top camera", "camera"),
        config=AssemblyConfig(compression="none"),
        image_series=None,
    )
    out = folder / "data" / "processed" / subject / session
    out.mkdir(parents=True)
    with NWBHDF5IO(str(out / f"sub-{subject}_ses-{session}.nwb"), "w") as io:
        io.write(nwbfile)


PIPELINE = """
dataset = "features"
max_parallel_steps = 2

[[steps]]
name = "clean"
feature = "clean-track"
params = { min_confidence = 0.5, smoothing = "median", window_s = 0.1 }

[[steps]]
name = "kin"
feature = "kinematics"
inputs = ["clean"]
params = { keypoints = ["nose"], with_acceleration = false }
run = { parallel_workers = 2, parallel_mode = "thread" }

[[steps]]
name = "body"
feature = "keypoint-distances"
"""


@pytest.mark.slow
def test_nwb_to_features_to_classifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = tmp_path / "experiment"
    for subject, session, t0 in (("m1", "d1", 0.0), ("m1", "d2", 500.0), ("m2", "d1", 20.0)):
        _write_session(experiment, subject, session, t0)
    with FeatureDataset(tmp_path / "features") as ds:
        entries = ds.import_processed(experiment)
    assert [(e.group, e.sequence) for e in entries] == [
        ("m1", "d1/top/individual_0"),
        ("m1", "d2/top/individual_0"),
        ("m2", "d1/top/individual_0"),
    ]
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(PIPELINE)
    assert main(["features", "run", str(pipeline), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["features", "status", str(pipeline), "--format", "json"]) == 0
    steps = {row["step"]: row for row in json.loads(capsys.readouterr().out)}
    assert all(row["cached"] and row["n_entries"] == 3 for row in steps.values())

    with FeatureDataset(tmp_path / "features") as ds:
        kin = Result(feature="kinematics", run_id=steps["kin"]["run_id"])
        speed = ds.load_feature(kin, "m1", "d2/top/individual_0")
        assert speed is not None
        np.testing.assert_allclose(speed["t_s"].iloc[0], 500.0)  # the file's own clock
        labels = _labels()
        inside = (np.arange(N_FRAMES) % 20 >= 4) & (np.arange(N_FRAMES) % 20 < 16)
        np.testing.assert_allclose(speed["speed/nose"][inside & (labels == "run")], 30.0, rtol=1e-4)
        np.testing.assert_allclose(speed["speed/nose"][inside & (labels == "rest")], 0.0, atol=1e-4)

        truth = {(t.group, t.sequence): (np.arange(N_FRAMES), labels) for t in ds.tracks()}
        label_run = import_labels(ds, "annotator", truth)
        model_id = train_model(
            ds,
            BehaviorClassifier,
            {"n_estimators": 10, "n_epochs": 2},
            inputs=[kin],
            labels=label_run,
        )
        predictions = run_feature(
            ds,
            BehaviorPredict(
                {"model": Result(feature="behavior-classifier", run_id=model_id)}, inputs=[kin]
            ),
            parallel_workers=2,
            parallel_mode="process",
        )
        predicted = ds.load_feature(predictions, "m2", "d1/top/individual_0")
        assert predicted is not None
        agreement = np.mean(predicted["predicted_label"].to_numpy()[inside] == labels[inside])
        assert agreement == 1.0

    assert (
        main(
            [
                "features",
                "lineage",
                "behavior-predict",
                predictions.run_id,
                "--dataset",
                str(tmp_path / "features"),
                "--format",
                "json",
            ]
        )
        == 0
    )
    tree = json.loads(capsys.readouterr().out)

    def names(node: dict) -> set[str]:
        return {node["feature"]}.union(*(names(up) for up in node["upstream"]))

    assert names(tree) == {
        "behavior-predict",
        "behavior-classifier",
        "kinematics",
        "clean-track",
        "labels",
    }
