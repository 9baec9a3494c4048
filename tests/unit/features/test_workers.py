"""Process workers kept between runs: reused by the next run of the same size, state reloaded for
every run, replaced when a worker died or the size changes, stopped when idle."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from unit.features._features import WorkerProbe, add_linear_track
from w2t_bkin.features import _workers
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import FeatureRunError
from w2t_bkin.features.run import run_feature


@pytest.fixture
def four(tmp_path: Path) -> Iterator[FeatureDataset]:
    dataset = FeatureDataset(tmp_path / "four")
    for i in range(4):
        add_linear_track(dataset, "m1", f"s{i}", speed_px_s=float(i + 1))
    yield dataset
    dataset.close()


@pytest.fixture(autouse=True)
def no_pool_before_or_after() -> Iterator[None]:
    _workers.shutdown_workers()
    yield
    _workers.shutdown_workers()


def _probe(log_dir: Path, **params: object) -> WorkerProbe:
    log_dir.mkdir(exist_ok=True)
    return WorkerProbe({"log_dir": str(log_dir), "coordinator_pid": os.getpid(), **params})


def _worker_loads(log_dir: Path) -> list[int]:
    pids = [int(p.name.split("-")[1]) for p in log_dir.glob("load-*")]
    return sorted(pid for pid in pids if pid != os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _wait_gone(pids: list[int], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_the_next_run_reuses_the_workers_and_reloads_the_state(
    four: FeatureDataset, tmp_path: Path
) -> None:
    first = run_feature(
        four, _probe(tmp_path / "a", await_worker=True), parallel_workers=2, parallel_mode="process"
    )
    pids = _workers.current_pids()
    assert len(pids) == 1 and _worker_loads(tmp_path / "a") == pids  # loaded once, 4 entries

    again = run_feature(
        four,
        _probe(tmp_path / "b", await_worker=True),
        overwrite=True,  # refit: a worker must never compute with the first run's instance
        parallel_workers=2,
        parallel_mode="process",
    )
    assert again.run_id == first.run_id
    assert _workers.current_pids() == pids  # the same process, not a new one ...
    assert _worker_loads(tmp_path / "b") == pids  # ... loading this run's state once
    frames = [four.load_feature(again, t.group, t.sequence) for t in four.tracks()]
    assert {int(f["pid"].iloc[0]) for f in frames if f is not None} <= {*pids, os.getpid()}


def test_another_number_of_workers_replaces_the_pool(four: FeatureDataset, tmp_path: Path) -> None:
    run_feature(four, _probe(tmp_path / "a"), parallel_workers=2, parallel_mode="process")
    two = _workers.current_pids()
    run_feature(
        four, _probe(tmp_path / "b"), overwrite=True, parallel_workers=3, parallel_mode="process"
    )
    three = _workers.current_pids()
    assert len(two) == 1 and len(three) == 2 and not set(two) & set(three)
    assert _wait_gone(two)


def test_a_killed_worker_is_replaced_by_a_fresh_pool(four: FeatureDataset, tmp_path: Path) -> None:
    killer = _probe(tmp_path / "a", await_worker=True, kill_in_worker=True)
    with pytest.raises(FeatureRunError, match="a process worker died"):
        run_feature(four, killer, parallel_workers=2, parallel_mode="process")
    assert _workers.current_pids() == []  # the broken pool was stopped, not kept

    result = run_feature(
        four,
        _probe(tmp_path / "b", await_worker=True),
        overwrite=True,
        parallel_workers=2,
        parallel_mode="process",
    )
    assert not result.failed_entries
    assert len(_workers.current_pids()) == 1


def test_idle_workers_exit(
    four: FeatureDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_workers, "IDLE_SHUTDOWN_S", 0.2)
    run_feature(four, _probe(tmp_path / "a"), parallel_workers=2, parallel_mode="process")
    pids = _workers.current_pids()
    assert len(pids) == 1
    assert _wait_gone(pids)
    assert _workers.current_pids() == []


def test_shutdown_stops_the_workers_now(four: FeatureDataset, tmp_path: Path) -> None:
    run_feature(four, _probe(tmp_path / "a"), parallel_workers=2, parallel_mode="process")
    pids = _workers.current_pids()
    _workers.shutdown_workers()
    assert _workers.current_pids() == [] and _wait_gone(pids)


def test_a_pipeline_starts_the_workers_of_a_later_step_while_an_earlier_one_computes(
    four: FeatureDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unit.features._features import NoseX
    from w2t_bkin.features.pipeline import FeatureStep, Pipeline

    events: list[str] = []
    real_warm, real_apply = _workers.warm, NoseX.apply

    def warm(n_processes: int, module: str) -> None:
        events.append(f"warm {n_processes}")
        real_warm(n_processes, module)

    def apply(self: NoseX, frame):  # type: ignore[no-untyped-def]
        events.append("nose-x entry")
        return real_apply(self, frame)

    monkeypatch.setattr(_workers, "warm", warm)
    monkeypatch.setattr(NoseX, "apply", apply)
    (tmp_path / "logs").mkdir()
    probe_params = {
        "log_dir": str(tmp_path / "logs"),
        "coordinator_pid": os.getpid(),
        "await_worker": True,
    }
    pipeline = (
        Pipeline()
        .add(FeatureStep("nose", NoseX, {}))
        .add(
            FeatureStep(
                "probe",
                WorkerProbe,
                probe_params,
                run_kwargs={"parallel_workers": 2, "parallel_mode": "process"},
            )
        )
    )
    pipeline.run(four)

    # the probe step's worker was started before the first step computed its first entry
    assert events[0] == "warm 1" and "nose-x entry" in events
    assert _worker_loads(tmp_path / "logs") == _workers.current_pids()
