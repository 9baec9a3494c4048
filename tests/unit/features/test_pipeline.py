"""Pipeline: prediction equals execution, caching, staleness, callbacks, branches, clean."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from unit.features._features import Centered, Flaky, NoseX, StateProbe
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import FeatureRunError, PipelineError
from w2t_bkin.features.pipeline import CallbackStep, FeatureStep, Pipeline


def _chain() -> Pipeline:
    return (
        Pipeline()
        .add(FeatureStep("x", NoseX, {"offset_px": 1.0}))
        .add(FeatureStep("centered", Centered, input_names=["x"]))
    )


def test_status_predicts_the_run_ids_that_run_executes(ds: FeatureDataset) -> None:
    pipeline = _chain()
    before = pipeline.status(ds)
    assert before["state"].tolist() == ["missing", "stale"]
    assert before["cached"].tolist() == [False, False]
    results = pipeline.run(ds)
    after = pipeline.status(ds)
    assert after["run_id"].tolist() == before["run_id"].tolist()
    assert [results[s].run_id for s in ("x", "centered")] == before["run_id"].tolist()
    assert after["cached"].tolist() == [True, True]
    assert after["n_entries"].tolist() == [4, 4] and after["n_target"].tolist() == [4, 4]
    assert list(after.columns[:6]) == ["step", "feature", "run_id", "cached", "state", "n_entries"]


def test_cold_scope_dependent_step_predicts_its_run_id(ds: FeatureDataset) -> None:
    pipeline = _chain()
    predicted = pipeline.status(ds).set_index("step").loc["centered", "run_id"]
    assert pipeline.run(ds)["centered"].run_id == predicted


def test_rerun_skips_cached_steps(ds: FeatureDataset, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    pipeline = Pipeline().add(FeatureStep("flaky", Flaky, {"calls_file": str(calls)}))
    pipeline.run(ds)
    pipeline.run(ds)
    assert len(calls.read_text().split()) == 4


def test_load_returns_only_cached_steps(ds: FeatureDataset) -> None:
    pipeline = _chain()
    assert pipeline.load(ds) == {}
    results = pipeline.run(ds)
    assert _chain().load(ds) == results


def test_force_from_reruns_the_step_and_everything_downstream(
    ds: FeatureDataset, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    pipeline = (
        Pipeline()
        .add(FeatureStep("a", NoseX))
        .add(FeatureStep("b", Flaky, {"calls_file": str(calls)}))
        .add(FeatureStep("c", Centered, input_names=["a"]))
    )
    pipeline.run(ds)
    assert pipeline.downstream_of("a") == {"a", "c"}
    pipeline.run(ds, force_from="b")
    assert len(calls.read_text().split()) == 8
    with pytest.raises(PipelineError, match="no step named 'zz'"):
        pipeline.run(ds, force_from="zz")


def test_upstream_change_makes_downstream_stale(ds: FeatureDataset) -> None:
    _chain().run(ds)
    changed = (
        Pipeline()
        .add(FeatureStep("x", NoseX, {"offset_px": 2.0}))
        .add(FeatureStep("centered", Centered, input_names=["x"]))
    )
    assert changed.status(ds)["state"].tolist() == ["missing", "stale"]


def test_partial_step_is_not_cached(ds: FeatureDataset) -> None:
    pipeline = Pipeline().add(FeatureStep("f", Flaky, {"fail_below_px": 4.0}))
    with pytest.raises(FeatureRunError, match="2 entries failed"):
        pipeline.run(ds)
    row = pipeline.status(ds).iloc[0]
    assert (row["state"], row["n_entries"], row["n_target"]) == ("partial", 2, 4)


def test_callback_steps_need_a_key_and_are_cached_by_it(ds: FeatureDataset) -> None:
    calls: list[str] = []

    def note(dataset: FeatureDataset, results: dict) -> None:
        calls.append(results["x"].run_id)

    with pytest.raises(PipelineError, match="needs an explicit key"):
        Pipeline().add(FeatureStep("x", NoseX)).add(CallbackStep("cb", note, ["x"]))

    def build(key: str, offset: float) -> Pipeline:
        return (
            Pipeline()
            .add(FeatureStep("x", NoseX, {"offset_px": offset}))
            .add(CallbackStep("cb", note, ["x"], key=key))
        )

    build("v1", 0.0).run(ds)
    build("v1", 0.0).run(ds)
    assert len(calls) == 1  # cached by key + upstream run ids
    build("v2", 0.0).run(ds)
    assert len(calls) == 2  # a new key reruns it
    build("v2", 1.0).run(ds)
    assert len(calls) == 3  # so does a changed upstream
    assert build("v2", 1.0).status(ds).set_index("step").loc["cb", "state"] == "cached"


def test_steps_are_added_in_topological_order_only() -> None:
    pipeline = Pipeline().add(FeatureStep("x", NoseX))
    with pytest.raises(PipelineError, match="already has a step named 'x'"):
        pipeline.add(FeatureStep("x", NoseX))
    with pytest.raises(PipelineError, match=r"names \['later'\], which are not steps"):
        pipeline.add(FeatureStep("y", Centered, input_names=["later"]))
    with pytest.raises(PipelineError, match=r"unknown run_feature options \['parallel_workerz'\]"):
        pipeline.add(FeatureStep("z", NoseX, run_kwargs={"parallel_workerz": 2}))
    assert pipeline.dag() == {"x": []}


def test_pipeline_builds_features_through_their_own_inputs(ds: FeatureDataset) -> None:
    pipeline = (
        Pipeline()
        .add(FeatureStep("probe", StateProbe, {"log_dir": "/nonexistent"}))
        .add(FeatureStep("centered", Centered, input_names=["probe"]))
    )
    row = pipeline.status(ds).set_index("step").loc["centered"]
    assert row["state"] == "error" and "accepts ['nose-x']" in row["error"]


def test_independent_branches_run_in_parallel(ds: FeatureDataset, tmp_path: Path) -> None:
    pipeline = (
        Pipeline()
        .add(FeatureStep("a", StateProbe, {"log_dir": str(tmp_path), "busy_s": 0.15}))
        .add(FeatureStep("b", NoseX, {"offset_px": 3.0}))
    )
    seen: list[int] = []
    original = pipeline._run_step

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(threading.active_count())
        time.sleep(0.05)
        return original(*args, **kwargs)

    pipeline._run_step = spy  # type: ignore[method-assign]
    pipeline.run(ds, max_parallel_steps=2)
    assert len(seen) == 2 and max(seen) >= 3  # main + two step threads alive together
    assert pipeline.status(ds)["cached"].tolist() == [True, True]


def test_failed_step_skips_its_downstream_but_not_other_branches(ds: FeatureDataset) -> None:
    pipeline = (
        Pipeline()
        .add(FeatureStep("bad", Flaky, {"fail_below_px": 100.0}))
        .add(FeatureStep("after", Centered, input_names=["bad"]))
        .add(FeatureStep("other", NoseX))
    )
    with pytest.raises(FeatureRunError) as info:
        pipeline.run(ds)
    assert set(info.value.failed) == {"bad", "after"}
    assert "skipped" in info.value.failed["after"]
    assert pipeline.status(ds).set_index("step").loc["other", "cached"]


def test_clean_removes_unused_runs_of_the_pipelines_features(ds: FeatureDataset) -> None:
    old = Pipeline().add(FeatureStep("x", NoseX, {"offset_px": 9.0}))
    old_id = old.run(ds)["x"].run_id
    pipeline = _chain()
    results = pipeline.run(ds)
    dry = pipeline.clean(ds).set_index("run_id")
    assert dry.loc[old_id, "status"] == "would remove"
    assert dry.loc[results["x"].run_id, "status"] == "keep"
    assert ds.run_dir("nose-x", old_id).is_dir()  # dry run deletes nothing
    done = pipeline.clean(ds, dry_run=False).set_index("run_id")
    assert done.loc[old_id, "status"] == "removed"
    assert not ds.run_dir("nose-x", old_id).exists()
    assert not ds.registry.has_run("nose-x", old_id)
    assert pipeline.status(ds)["cached"].tolist() == [True, True]


def test_clean_finds_orphan_run_folders(ds: FeatureDataset) -> None:
    pipeline = _chain()
    pipeline.run(ds)
    orphan = ds.run_dir("some-old-feature", "0.3-deadbeef")
    (orphan / "entries").mkdir(parents=True)
    (orphan / "entries" / "x.parquet").write_bytes(b"1234")
    report = pipeline.clean(ds).set_index("run_id")
    assert report.loc["0.3-deadbeef", "status"] == "orphan (would remove)"
    assert report.loc["0.3-deadbeef", "n_files"] == 1
    pipeline.clean(ds, dry_run=False)
    assert not orphan.exists()


def test_clean_keeps_runs_other_runs_depend_on(ds: FeatureDataset) -> None:
    other = (
        Pipeline()
        .add(FeatureStep("x", NoseX, {"offset_px": 5.0}))
        .add(FeatureStep("c", Centered, input_names=["x"]))
    )
    other_ids = other.run(ds)
    pipeline = Pipeline().add(FeatureStep("x", NoseX))
    pipeline.run(ds)
    report = pipeline.clean(ds, dry_run=False).set_index("run_id")
    assert report.loc[other_ids["x"].run_id, "status"] == "keep"  # 'centered' still uses it
    assert ds.run_dir("nose-x", other_ids["x"].run_id).is_dir()


def test_a_failing_callback_fails_its_step_and_is_not_cached(ds: FeatureDataset) -> None:
    def broken(dataset: FeatureDataset, results: dict) -> None:
        raise OSError("disk full")

    pipeline = (
        Pipeline().add(FeatureStep("x", NoseX)).add(CallbackStep("export", broken, ["x"], key="v1"))
    )
    with pytest.raises(FeatureRunError, match="OSError: disk full") as info:
        pipeline.run(ds)
    assert list(info.value.failed) == ["export"]
    assert pipeline.status(ds)["state"].tolist() == ["cached", "missing"]
