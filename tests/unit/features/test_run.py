"""run_feature: identity, caching, filters, overlap, failures and parallel modes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from unit.features._features import (
    Centered,
    CountFrames,
    FailsInWorkers,
    Flaky,
    NoseX,
    RowsPerKeypoint,
    StateProbe,
    Summary,
    WithNested,
    add_linear_track,
)
from w2t_bkin.features.base import BaseFeature
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import (
    FeatureDefinitionError,
    FeatureInputError,
    FeatureRunError,
    IdentityCollisionError,
)
from w2t_bkin.features.identity import DIGEST_HEX_DIGITS, Result
from w2t_bkin.features.keys import make_entry_key
from w2t_bkin.features.run import plan_run, run_feature
from w2t_bkin.features.store import entry_path


def _x(ds: FeatureDataset, result: Result, group: str, sequence: str) -> np.ndarray:
    frame = ds.load_feature(result, group, sequence)
    assert frame is not None
    return frame["x"].to_numpy()


def test_per_frame_feature_output_equals_known_values(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX({"offset_px": 1.0}))
    # track m1/s2 moves at 2 px/s sampled at 10 Hz: x = 2 * t + offset
    np.testing.assert_allclose(_x(ds, result, "m1", "s2/top/mouse"), 2.0 * np.arange(20) / 10 + 1)
    assert result.failed_entries == () and not result.cache_hit
    assert ds.registry.entry_count("nose-x", result.run_id) == 4
    assert ds.registry.run_is_finished("nose-x", result.run_id)


def test_run_id_is_version_and_a_64_bit_digest(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX())
    version, digest = result.run_id.split("-")
    assert version == "0.1" and len(digest) == DIGEST_HEX_DIGITS == 16
    assert int(digest, 16) >= 0


def test_rerun_is_a_cache_hit_that_reads_no_input(ds: FeatureDataset, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    first = run_feature(ds, Flaky({"calls_file": str(calls)}))
    n_calls = len(calls.read_text().split())
    second = run_feature(ds, Flaky({"calls_file": str(calls)}))
    assert second.run_id == first.run_id and second.cache_hit
    assert len(calls.read_text().split()) == n_calls == 4


def test_cache_hit_writes_nothing(ds: FeatureDataset) -> None:
    run_feature(ds, NoseX())
    before = {p: p.stat().st_mtime_ns for p in (ds.root / "features").rglob("*")}
    run_feature(ds, NoseX())
    after = {p: p.stat().st_mtime_ns for p in (ds.root / "features").rglob("*")}
    assert after == before  # no log file per attempt, no rewritten index


def test_params_change_the_run_id_but_throughput_knobs_do_not(ds: FeatureDataset) -> None:
    base = run_feature(ds, NoseX()).run_id
    assert run_feature(ds, NoseX({"workers_hint": 8})).run_id == base
    assert run_feature(ds, NoseX({"offset_px": 0.5})).run_id != base


def test_unknown_params_are_refused_with_the_valid_names() -> None:
    with pytest.raises(FeatureInputError, match=r"offset_pixels.*Extra inputs") as info:
        NoseX({"offset_pixels": 1.0})
    assert "offset_px" in (info.value.hint or "")
    assert info.value.exit_code == 9


def test_feature_without_scope_declaration_is_refused() -> None:
    class Undeclared(BaseFeature):
        name = "undeclared"
        version = "0.1"

    with pytest.raises(FeatureDefinitionError, match="must declare scope_dependent"):
        Undeclared()


def test_nested_params_exclude_nested_knobs_and_record_nested_references(
    ds: FeatureDataset,
) -> None:
    upstream = run_feature(ds, NoseX())
    a = run_feature(ds, WithNested({"knobs": {"chunk_rows": 10}, "reference": upstream}))
    b = run_feature(ds, WithNested({"knobs": {"chunk_rows": 99}, "reference": upstream}))
    c = run_feature(ds, WithNested({"knobs": {"window": 4}, "reference": upstream}))
    assert a.run_id == b.run_id != c.run_id
    assert ds.registry.get_dependencies("with-nested", a.run_id) == [("nose-x", upstream.run_id)]
    with pytest.raises(FeatureInputError, match=r"params\.reference refers to feature 'nose-x'"):
        run_feature(ds, WithNested({"reference": {"feature": "nose-x"}}))


def test_pinning_returns_copies_and_never_mutates(ds: FeatureDataset) -> None:
    upstream = run_feature(ds, NoseX())
    unpinned = Result(feature="nose-x")
    feature = Centered(inputs=[unpinned])
    result = run_feature(ds, feature)
    assert unpinned.run_id is None and feature.inputs.root[0] == unpinned
    assert ds.registry.get_dependencies("centered", result.run_id) == [("nose-x", upstream.run_id)]


def test_identity_payload_is_compared_on_reuse(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX())
    record = ds.run_dir("nose-x", result.run_id) / "run.json"
    data = json.loads(record.read_text())
    data["payload"]["params"]["offset_px"] = 123.0  # what a digest collision would look like
    record.write_text(json.dumps(data))
    with pytest.raises(IdentityCollisionError, match="different identity payload"):
        run_feature(ds, NoseX())


def test_parallel_mode_typo_is_rejected(ds: FeatureDataset) -> None:
    with pytest.raises(FeatureInputError, match=r"parallel_mode must be one of.*'proces'"):
        run_feature(ds, NoseX(), parallel_workers=2, parallel_mode="proces")
    assert not (ds.root / "features").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": []}, r"groups=\[\] selects nothing"),
        ({"sequences": ["s9/top/mouse"]}, "unknown entries selected"),
        ({"parallel_workers": 0}, "parallel_workers must be"),
        ({"overlap_frames": 2, "filter_start_frame": 3}, "cannot be combined"),
        ({"filter_start_time": 2.0, "filter_end_time": 1.0}, "must be greater"),
    ],
)
def test_bad_run_options_are_refused(ds: FeatureDataset, kwargs: dict, message: str) -> None:
    with pytest.raises(FeatureInputError, match=message):
        run_feature(ds, NoseX(), **kwargs)


def test_scope_selectors_intersect(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX(), groups=["m1"], sequences=["s1/top/mouse", "s3/top/mouse"])
    entries = ds.registry.list_entries("nose-x", result.run_id)
    assert list(zip(entries["group"], entries["sequence"], strict=True)) == [
        ("m1", "s1/top/mouse"),
        ("m1", "s3/top/mouse"),
    ]


def test_frame_filter_is_start_inclusive_end_exclusive(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX(), filter_start_frame=5, filter_end_frame=8)
    frame = ds.load_feature(result, "m1", "s1/top/mouse")
    assert frame is not None and frame["frame_idx"].tolist() == [5, 6, 7]


def test_time_filters_use_real_timestamps(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    # 10 Hz camera, and a 25 Hz camera that dropped frames 10..14 and starts at t = 0.3 s
    add_linear_track(ds, "m", "s1", camera="slow", rate_hz=10.0, n_frames=30)
    frames = np.r_[0:10, 15:40]
    add_linear_track(ds, "m", "s1", camera="fast", frame_idx=frames, t_s=0.3 + frames / 25.0)
    result = run_feature(ds, NoseX(), filter_start_time=0.5, filter_end_time=1.0)
    slow = ds.load_feature(result, "m", "s1/slow/mouse")
    fast = ds.load_feature(result, "m", "s1/fast/mouse")
    assert slow is not None and fast is not None
    assert slow["frame_idx"].tolist() == [5, 6, 7, 8, 9]
    # 0.5 <= 0.3 + f / 25 < 1.0  ->  5 <= f < 17.5, minus the dropped 10..14
    assert fast["frame_idx"].tolist() == [5, 6, 7, 8, 9, 15, 16, 17]
    np.testing.assert_allclose(fast["t_s"], 0.3 + fast["frame_idx"] / 25.0)
    ds.close()


def test_overlap_is_counted_in_frames_not_rows(ds: FeatureDataset) -> None:
    long = run_feature(ds, RowsPerKeypoint())  # two rows per frame
    result = run_feature(ds, CountFrames(inputs=[long]), overlap_frames=3)
    middle = ds.load_feature(result, "m1", "s2/top/mouse")
    assert middle is not None
    row = middle.iloc[0]
    assert (row["frames_-1"], row["rows_-1"]) == (3, 6)
    assert (row["frames_1"], row["rows_1"]) == (3, 6)
    assert (row["frames_0"], row["rows_0"]) == (20, 40)
    # trimmed by the segment column: only the entry's own 20 frames remain
    assert middle["frame_idx"].tolist() == list(range(20))
    first = ds.load_feature(result, "m1", "s1/top/mouse")
    assert first is not None and first.iloc[0]["frames_-1"] == 0  # no earlier session


def test_overlap_context_comes_from_the_right_frames(ds: FeatureDataset) -> None:
    seen = run_feature(ds, RowsPerKeypoint())
    # m1/s1 (1 px/s) precedes s2: its last 2 frames are frames 18, 19 at x = 1.8, 1.9 px
    tasks_result = run_feature(ds, CountFrames(inputs=[seen]), overlap_frames=2)
    assert tasks_result.failed_entries == ()
    from w2t_bkin.features.run import _task, load_entry_input

    plan = plan_run(ds, CountFrames(inputs=[seen]))
    frame = load_entry_input(_task(plan, Path("/unused"), ("m1", "s2/top/mouse"), 2))
    assert frame is not None
    before = frame[(frame["segment"] == -1) & (frame["item"] == "nose")]
    np.testing.assert_allclose(before["x"], [1.8, 1.9], rtol=1e-6)


def test_overlap_neighbours_use_natural_order(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    for session, speed in (("s10", 10.0), ("s2", 2.0), ("s1", 1.0)):
        add_linear_track(ds, "m", session, speed_px_s=speed)
    plan = plan_run(ds, NoseX())
    assert plan.neighbours[("m", "s2/top/mouse")] == (("m", "s1/top/mouse"), ("m", "s10/top/mouse"))
    ds.close()


def test_feature_that_drops_the_segment_column_fails_clearly(ds: FeatureDataset) -> None:
    class DropsKeys(BaseFeature):
        name = "drops-keys"
        version = "0.1"
        scope_dependent = False

        def apply(self, frame):  # type: ignore[no-untyped-def]
            return frame[["frame_idx"]].copy()

    with pytest.raises(FeatureRunError, match="dropped the 'segment' column"):
        run_feature(ds, DropsKeys(), overlap_frames=1)


def test_per_entry_failures_are_isolated_and_listed(ds: FeatureDataset) -> None:
    # last x of each track: m1/s1 1.9, s2 3.8, s3 5.7, m2/s1 7.6 px; fail below 4
    result = run_feature(ds, Flaky({"fail_below_px": 4.0}))
    assert result.failed_entries == tuple(
        sorted([make_entry_key("m1", "s1/top/mouse"), make_entry_key("m1", "s2/top/mouse")])
    )
    entries = ds.registry.list_entries("flaky", result.run_id).set_index("sequence")
    assert entries.loc["s3/top/mouse", "status"] == "done"
    assert "planned failure at x=1.9" in entries.set_index("group").loc["m1"].iloc[0]["error"]
    assert not ds.registry.run_is_finished("flaky", result.run_id)


def test_failed_entries_resume_without_recomputing_done_ones(
    ds: FeatureDataset, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    run_feature(ds, Flaky({"fail_below_px": 4.0, "calls_file": str(calls)}))
    calls.write_text("")
    result = run_feature(ds, Flaky({"calls_file": str(calls)}))  # the cause is fixed
    assert sorted(calls.read_text().split()) == ["1.9", "3.8"]  # only the failed two ran
    assert result.failed_entries == ()
    assert ds.registry.run_is_finished("flaky", result.run_id)


def test_all_entries_failed_raises_with_the_causes(ds: FeatureDataset) -> None:
    with pytest.raises(FeatureRunError, match="all 4 entries failed") as info:
        run_feature(ds, Flaky({"fail_below_px": 100.0}))
    assert len(info.value.failed) == 4


def test_empty_by_design_output_counts_as_done(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    add_linear_track(ds, "m", "still", speed_px_s=0.0)
    add_linear_track(ds, "m", "moving", speed_px_s=1.0)
    calls = tmp_path / "calls.txt"
    first = run_feature(ds, Flaky({"calls_file": str(calls)}))
    assert ds.load_feature(first, "m", "still/top/mouse") is None
    assert not entry_path(
        ds.run_dir("flaky", first.run_id), make_entry_key("m", "still/top/mouse")
    ).exists()
    assert ds.registry.run_is_finished("flaky", first.run_id)
    second = run_feature(ds, Flaky({"calls_file": str(calls)}))
    assert second.cache_hit and len(calls.read_text().split()) == 2
    ds.close()


def test_torn_entry_output_is_recomputed(ds: FeatureDataset) -> None:
    result = run_feature(ds, NoseX())
    path = entry_path(ds.run_dir("nose-x", result.run_id), make_entry_key("m1", "s2/top/mouse"))
    path.write_bytes(path.read_bytes()[:40])  # a torn write
    again = run_feature(ds, NoseX())
    assert not again.cache_hit
    np.testing.assert_allclose(_x(ds, again, "m1", "s2/top/mouse"), 2.0 * np.arange(20) / 10)


def test_changed_track_recomputes_only_its_entry(ds: FeatureDataset, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    first = run_feature(ds, Flaky({"calls_file": str(calls)}))
    add_linear_track(ds, "m1", "s2", speed_px_s=20.0)  # re-imported with new data
    calls.write_text("")
    second = run_feature(ds, Flaky({"calls_file": str(calls)}))
    assert second.run_id == first.run_id  # per-frame features keep their id
    assert calls.read_text().split() == ["38"]


def test_scope_dependent_run_id_follows_the_entry_set(ds: FeatureDataset) -> None:
    upstream = run_feature(ds, NoseX())
    all_entries = run_feature(ds, Centered(inputs=[upstream]))
    only_m1 = run_feature(ds, Centered(inputs=[upstream]), groups=["m1"])
    per_frame_all = run_feature(ds, NoseX()).run_id
    per_frame_m1 = run_feature(ds, NoseX(), groups=["m1"]).run_id
    assert all_entries.run_id != only_m1.run_id
    assert per_frame_all == per_frame_m1
    # the fit saw m1's three tracks only: mean of x over speeds 1, 2, 3 = 2 * mean(t)
    centred = ds.load_feature(only_m1, "m1", "s2/top/mouse")
    assert centred is not None
    t = np.arange(20) / 10
    np.testing.assert_allclose(centred["x_centered"], 2 * t - 2 * t.mean(), atol=1e-6)


def test_inputs_are_validated_by_the_features_own_inputs_class(ds: FeatureDataset) -> None:
    with pytest.raises(FeatureInputError, match=r"accepts \['nose-x'\]"):
        Centered(inputs=["tracks"])


def test_artifacts_are_not_mixed_with_entry_outputs(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    # a sequence named like the artifact file must not collide with it
    add_linear_track(ds, "mean.json", "artifacts")
    upstream = run_feature(ds, NoseX())
    result = run_feature(ds, Centered(inputs=[upstream]))
    run_dir = ds.run_dir("centered", result.run_id)
    assert sorted(p.name for p in (run_dir / "artifacts").iterdir()) == [
        "fit_scope.json",
        "mean.json",
    ]
    assert [p.name for p in (run_dir / "entries").iterdir()] == [
        f"{make_entry_key('mean.json', 'artifacts/top/mouse')}.parquet"
    ]
    assert sorted(p.name for p in run_dir.iterdir()) == ["artifacts", "entries", "run.json"]
    ds.close()


def test_artifact_only_feature_writes_no_entry_outputs(ds: FeatureDataset) -> None:
    result = run_feature(ds, Summary())
    run_dir = ds.run_dir("summary", result.run_id)
    assert not (run_dir / "entries").exists()
    assert json.loads((run_dir / "artifacts" / "summary.json").read_text()) == {"n_rows": 80}
    assert ds.registry.run_is_finished("summary", result.run_id)
    assert run_feature(ds, Summary()).cache_hit


def test_storage_folder_does_not_grow_with_chain_depth(ds: FeatureDataset) -> None:
    first = run_feature(ds, NoseX())
    second = run_feature(ds, Centered(inputs=[first]))
    assert ds.run_dir("centered", second.run_id).relative_to(ds.root).parts == (
        "features",
        "centered",
        second.run_id,
    )


def test_different_chains_get_different_run_ids(ds: FeatureDataset) -> None:
    a = run_feature(ds, NoseX())
    b = run_feature(ds, NoseX({"offset_px": 1.0}))
    # same feature names in both chains; the upstream run id separates them
    assert (
        run_feature(ds, Centered(inputs=[a])).run_id != run_feature(ds, Centered(inputs=[b])).run_id
    )


def test_lineage_is_recorded_on_every_run(ds: FeatureDataset) -> None:
    upstream = run_feature(ds, NoseX())
    result = run_feature(ds, Centered(inputs=[upstream]))
    ds.registry._db.execute("DELETE FROM dependencies")  # an older registry without edges
    ds.registry._db.commit()
    assert run_feature(ds, Centered(inputs=[upstream])).cache_hit
    assert ds.registry.lineage("centered", result.run_id) == {
        "feature": "centered",
        "run_id": result.run_id,
        "upstream": [{"feature": "nose-x", "run_id": upstream.run_id, "upstream": []}],
    }


def test_thread_mode_gives_each_thread_its_own_instance(ds: FeatureDataset, tmp_path: Path) -> None:
    feature = StateProbe({"log_dir": str(tmp_path), "busy_s": 0.05})
    result = run_feature(ds, feature, parallel_workers=2, parallel_mode="thread")
    frames = [ds.load_feature(result, t.group, t.sequence) for t in ds.tracks()]
    instances = {int(f["instance"].iloc[0]) for f in frames if f is not None}
    assert id(feature) not in instances and 1 <= len(instances) <= 2
    # one instance per thread, never two threads on one instance
    by_instance = {}
    for f in frames:
        assert f is not None
        by_instance.setdefault(int(f["instance"].iloc[0]), set()).add(int(f["thread"].iloc[0]))
    assert all(len(threads) == 1 for threads in by_instance.values())


def test_process_mode_loads_state_once_per_worker(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    for i in range(6):
        add_linear_track(ds, "m", f"s{i}")
    logs = tmp_path / "logs"
    logs.mkdir()
    result = run_feature(
        ds, StateProbe({"log_dir": str(logs)}), parallel_workers=2, parallel_mode="process"
    )
    frames = [ds.load_feature(result, t.group, t.sequence) for t in ds.tracks()]
    loads = [p.name.split("-")[1] for p in logs.iterdir()]
    worker_loads = [pid for pid in loads if int(pid) != os.getpid()]
    # 2 workers: one process (the coordinator is the other), loading once for 6 entries
    assert len(worker_loads) == 1
    # the coordinator: its readiness check, then the instance of its own worker thread
    assert loads.count(str(os.getpid())) == 2
    computed_by = {int(f["pid"].iloc[0]) for f in frames if f is not None}
    assert computed_by <= {os.getpid(), int(worker_loads[0])}
    ds.close()


def test_process_mode_refuses_a_class_workers_cannot_import(ds: FeatureDataset) -> None:
    class Local(NoseX):
        name = "local"

    with pytest.raises(FeatureInputError, match="importable by worker processes"):
        run_feature(ds, Local(), parallel_workers=2, parallel_mode="process")


def test_a_worker_that_cannot_start_fails_the_run_clearly(ds: FeatureDataset) -> None:
    feature = FailsInWorkers({"coordinator_pid": os.getpid()})
    with pytest.raises(FeatureRunError, match="a process worker died or could not start"):
        run_feature(ds, feature, parallel_workers=2, parallel_mode="process")


def test_load_state_errors_name_the_feature_and_run(ds: FeatureDataset) -> None:
    feature = FailsInWorkers({"coordinator_pid": -1})
    with pytest.raises(FeatureRunError, match="'fails-in-workers': load_state failed"):
        run_feature(ds, feature)


def test_upstream_run_must_exist(ds: FeatureDataset) -> None:
    with pytest.raises(FeatureInputError, match="is not a run"):
        run_feature(ds, Centered(inputs=[Result(feature="nose-x", run_id="0.1-0000")]))
