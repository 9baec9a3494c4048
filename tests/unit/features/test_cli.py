"""``w2t-bkin features run|status|clean|lineage`` and TOML pipelines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unit.features._features import add_linear_track
from w2t_bkin.cli import main
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import PipelineError
from w2t_bkin.features.toml import load_pipeline

PIPELINE = """
dataset = "ds"
max_parallel_steps = 2

[defaults]
parallel_workers = 1

[[steps]]
name = "clean"
feature = "clean-track"
params = { min_confidence = 0.5, max_gap_s = 0.5 }

[[steps]]
name = "kin"
feature = "kinematics"
inputs = ["clean"]
params = { keypoints = ["nose"], with_acceleration = false }

[[steps]]
name = "probe"
feature = "unit.features._features:NoseX"
params = { offset_px = 1.0 }
"""


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    ds = FeatureDataset(tmp_path / "ds")
    add_linear_track(ds, "m1", "s1", speed_px_s=3.0)
    add_linear_track(ds, "m1", "s2", speed_px_s=6.0)
    ds.close()
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE)
    return path


def test_run_then_status_then_lineage(
    pipeline_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["features", "run", str(pipeline_file), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["features", "status", str(pipeline_file), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["state"], r["n_entries"]) for r in rows] == [
        ("clean", "cached", 2),
        ("kin", "cached", 2),
        ("probe", "cached", 2),
    ]
    kin = rows[1]
    dataset = pipeline_file.parent / "ds"
    with FeatureDataset(dataset) as ds:
        from w2t_bkin.features.identity import Result

        frame = ds.load_feature(
            Result(feature="kinematics", run_id=kin["run_id"]), "m1", "s2/top/mouse"
        )
    assert frame is not None
    np.testing.assert_allclose(frame["speed/nose"], 6.0, rtol=1e-5)  # x = 6 px/s * t
    assert (
        main(
            [
                "features",
                "lineage",
                "kinematics",
                kin["run_id"],
                "--dataset",
                str(dataset),
                "--format",
                "json",
            ]
        )
        == 0
    )
    tree = json.loads(capsys.readouterr().out)
    assert tree["upstream"][0]["feature"] == "clean-track"
    assert tree["upstream"][0]["run_id"] == rows[0]["run_id"]


def test_run_with_progress_and_force_from(pipeline_file: Path, capsys) -> None:
    assert main(["features", "run", str(pipeline_file)]) == 0
    capsys.readouterr()
    assert main(["features", "status", str(pipeline_file), "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["features", "run", str(pipeline_file), "--force-from", "kin"]) == 0
    capsys.readouterr()
    assert main(["features", "status", str(pipeline_file), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == before  # recomputed into the same run ids


def test_clean_lists_then_applies(pipeline_file: Path, capsys) -> None:
    assert main(["features", "run", str(pipeline_file), "--no-progress"]) == 0
    pipeline_file.write_text(PIPELINE.replace("offset_px = 1.0", "offset_px = 2.0"))
    assert main(["features", "run", str(pipeline_file), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["features", "clean", str(pipeline_file), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["status"] for r in rows if r["feature"] == "nose-x") == ["keep", "would remove"]
    assert main(["features", "clean", str(pipeline_file), "--apply", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["status"] for r in rows if r["feature"] == "nose-x") == ["keep", "removed"]


def test_unknown_toml_key_names_file_line_and_closest_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.toml"
    path.write_text('dataset = "ds"\n\n[[steps]]\nname = "a"\nfeature = "kinematics"\nparms = {}\n')
    with pytest.raises(
        PipelineError, match=r"p.toml:6: steps\[0\].parms: unknown key \(did you mean 'params'\?\)"
    ):
        load_pipeline(path)
    assert main(["features", "status", str(path)]) == 9
    assert "parms" in capsys.readouterr().err


def test_unknown_feature_and_typo_in_run_options_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('dataset = "ds"\n[[steps]]\nname = "a"\nfeature = "kinematix"\n')
    with pytest.raises(PipelineError, match="unknown feature 'kinematix'"):
        load_pipeline(path)
    path.write_text(
        'dataset = "ds"\n[[steps]]\nname = "a"\nfeature = "kinematics"\n'
        'run = { parallel_mode = "proces", parallel_workers = 2 }\n'
    )
    (tmp_path / "ds").mkdir()
    assert main(["features", "run", str(path), "--no-progress"]) == 9


def test_callback_steps_in_toml_need_a_key(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'dataset = "ds"\n[[steps]]\nname = "a"\nfeature = "kinematics"\n'
        '[[steps]]\nname = "cb"\ncallback = "builtins:print"\ndepends_on = ["a"]\n'
    )
    with pytest.raises(PipelineError, match="needs 'key'"):
        load_pipeline(path)


def test_lineage_of_an_unknown_run_exits_non_zero(tmp_path: Path, capsys) -> None:
    FeatureDataset(tmp_path / "ds").close()
    assert (
        main(["features", "lineage", "kinematics", "0.1-00", "--dataset", str(tmp_path / "ds")])
        == 1
    )
    assert "no run kinematics/0.1-00" in capsys.readouterr().err
    assert main(["features", "lineage", "x", "y", "--dataset", str(tmp_path / "nope")]) == 1
