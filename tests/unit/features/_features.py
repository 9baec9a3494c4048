"""Features defined for the tests (importable, so process-mode workers can rebuild them)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
import pandas as pd

from w2t_bkin.features.base import Artifacts, BaseFeature, InputStream
from w2t_bkin.features.dataset import FeatureDataset, TrackEntry
from w2t_bkin.features.identity import HashExclude, Inputs, Params, Result


def add_linear_track(
    ds: FeatureDataset,
    subject: str,
    session: str,
    *,
    n_frames: int = 20,
    rate_hz: float = 10.0,
    speed_px_s: float = 5.0,
    camera: str = "top",
    individual: str = "mouse",
    t0_s: float = 0.0,
    frame_idx: np.ndarray | None = None,
    t_s: np.ndarray | None = None,
) -> TrackEntry:
    """A track whose keypoint ``nose`` moves along x at ``speed_px_s`` (``x = speed * t``)."""
    if t_s is None:
        t_s = t0_s + np.arange(n_frames) / rate_hz
    n = t_s.shape[0]
    positions = np.zeros((n, 2, 2), dtype=np.float32)
    positions[:, 0, 0] = speed_px_s * (t_s - t_s[0])
    positions[:, 1, 1] = 1.0
    return ds.add_track(
        subject=subject,
        session=session,
        camera=camera,
        individual=individual,
        t_s=t_s,
        positions=positions,
        confidence=np.full((n, 2), 0.9, dtype=np.float32),
        keypoints=["nose", "tail"],
        frame_idx=frame_idx,
    )


class NoseX(BaseFeature):
    """Copies the nose x coordinate (a per-frame feature with known output)."""

    name = "nose-x"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        offset_px: float = 0.0
        workers_hint: Annotated[int, HashExclude()] = 1

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = self.keys(frame)
        out["x"] = frame["x/nose"].to_numpy() + self.params.offset_px  # type: ignore[attr-defined]
        return out


class RowsPerKeypoint(BaseFeature):
    """Long output with two rows per frame (one per keypoint, column ``item``)."""

    name = "rows-per-keypoint"
    version = "0.1"
    scope_dependent = False

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for item in ("nose", "tail"):
            part = self.keys(frame)
            part["item"] = item
            part["x"] = frame[f"x/{item}"].to_numpy()
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


class CountFrames(BaseFeature):
    """Records how many distinct frames and rows of each segment ``apply`` saw."""

    name = "count-frames"
    version = "0.1"
    scope_dependent = False

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = self.keys(frame).drop_duplicates(["frame_idx", "segment"]).reset_index(drop=True)
        for seg in (-1, 0, 1):
            part = frame[frame["segment"] == seg]
            out[f"frames_{seg}"] = part["frame_idx"].nunique()
            out[f"rows_{seg}"] = len(part)
        return out


class Centered(BaseFeature):
    """Scope-dependent fit: subtracts the mean ``x`` over every entry in scope."""

    name = "centered"
    version = "0.1"
    scope_dependent = True

    class Inputs(Inputs):
        require: ClassVar[Literal["nonempty", "empty", "any"]] = "nonempty"
        accepts: ClassVar[tuple[str, ...] | None] = ("nose-x",)

    mean_x: float = float("nan")

    def fit(self, inputs: InputStream) -> None:
        values = [frame["x"].to_numpy() for _, _, frame in inputs()]
        self.mean_x = float(np.concatenate(values).mean())

    def save_state(self, artifacts: Artifacts) -> None:
        artifacts.write_json("mean.json", {"mean_x": self.mean_x})

    def load_state(self, artifacts: Artifacts) -> bool:
        if not artifacts.exists("mean.json"):
            return False
        self.mean_x = json.loads(artifacts.read_bytes("mean.json"))["mean_x"]
        return True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = self.keys(frame)
        out["x_centered"] = frame["x"].to_numpy() - self.mean_x
        return out


class Flaky(BaseFeature):
    """Fails on entries whose last nose x is below ``fail_below_px``; empty when it is 0."""

    name = "flaky"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        fail_below_px: Annotated[float, HashExclude()] = -1.0
        calls_file: Annotated[str, HashExclude()] = ""

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        p = self.params
        x_last = float(frame["x/nose"].iloc[-1])
        if p.calls_file:  # type: ignore[attr-defined]
            with open(p.calls_file, "a") as f:  # type: ignore[attr-defined]
                f.write(f"{x_last:g}\n")
        if x_last == 0.0:
            return None  # empty by design: a track that never moves
        if x_last < p.fail_below_px:  # type: ignore[attr-defined]
            raise ValueError(f"planned failure at x={x_last:g}")
        return self.keys(frame).assign(x_last=x_last)


class StateProbe(BaseFeature):
    """Logs every ``load_state`` (pid) and every ``apply`` (pid, instance) into ``log_dir``."""

    name = "state-probe"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        log_dir: Annotated[str, HashExclude()]
        busy_s: Annotated[float, HashExclude()] = 0.0

    def load_state(self, artifacts: Artifacts) -> bool:
        log = Path(self.params.log_dir) / f"load-{os.getpid()}-{id(self)}-{time.time_ns()}"  # type: ignore[attr-defined]
        log.write_text("")
        return True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        time.sleep(self.params.busy_s)  # type: ignore[attr-defined]
        out = self.keys(frame)
        out["pid"] = os.getpid()
        out["instance"] = id(self)
        out["thread"] = threading.get_ident()
        return out


class Burn(BaseFeature):
    """CPU-bound per entry (a pure-Python loop holding the GIL), for process-mode scaling."""

    name = "burn"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        loops: int = 200_000

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        total = 0
        for i in range(self.params.loops):  # type: ignore[attr-defined]
            total = (total + i * i) % 1_000_003
        out = self.keys(frame)
        out["checksum"] = total
        return out


class NestedKnobs(Params):
    chunk_rows: Annotated[int, HashExclude()] = 1000
    window: int = 3


class WithNested(BaseFeature):
    """Params with a nested model (a nested throughput knob) and a nested reference."""

    name = "with-nested"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        knobs: NestedKnobs = NestedKnobs()
        reference: Result | None = None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.keys(frame)


class Summary(BaseFeature):
    """Artifact-only global feature: writes ``summary.json`` and no per-entry outputs."""

    name = "summary"
    version = "0.1"
    scope_dependent = True
    artifact_only = True

    n_rows: int = 0

    def fit(self, inputs: InputStream) -> None:
        self.n_rows = sum(len(frame) for _, _, frame in inputs())

    def save_state(self, artifacts: Artifacts) -> None:
        artifacts.write_json("summary.json", {"n_rows": self.n_rows})

    def load_state(self, artifacts: Artifacts) -> bool:
        return artifacts.exists("summary.json")


class FailsInWorkers(BaseFeature):
    """Its state loads in the coordinating process and fails in every worker process."""

    name = "fails-in-workers"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        coordinator_pid: Annotated[int, HashExclude()]

    def load_state(self, artifacts: Artifacts) -> bool:
        if os.getpid() != self.params.coordinator_pid:  # type: ignore[attr-defined]
            raise RuntimeError("state cannot load in a worker")
        return True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.keys(frame)


def _blas_threads() -> int:
    """The largest thread count among the BLAS/OpenMP pools loaded in this process."""
    from threadpoolctl import threadpool_info

    return max(int(pool["num_threads"]) for pool in threadpool_info())


def _kill_before_rename(src: object, dst: object) -> None:
    """Stands in for ``os.replace`` in a worker: lists the entry folder, then dies (SIGKILL)."""
    import signal

    folder = Path(str(dst)).parent
    (folder.parent / f"seen-at-kill-{os.getpid()}.json").write_text(
        json.dumps(sorted(p.name for p in folder.iterdir()))
    )
    os.kill(os.getpid(), signal.SIGKILL)


class WorkerProbe(BaseFeature):
    """``x = nose x + offset_px`` plus who computed it (pid, thread, BLAS threads).

    ``load_state`` leaves a ``load-<pid>-...`` marker in ``log_dir``. With ``await_worker``
    the coordinator's first entry waits until a worker process has loaded its state, so
    process workers are sure to get entries however fast the coordinator is. With
    ``kill_in_worker`` a worker process dies after writing an output's temporary file and
    before renaming it (the worst moment for a torn output); with ``fail_in_worker`` every
    entry computed in a worker process raises.
    """

    name = "worker-probe"
    version = "0.1"
    scope_dependent = False

    class Params(Params):
        offset_px: float = 0.0
        log_dir: Annotated[str, HashExclude()]
        coordinator_pid: Annotated[int, HashExclude()]
        await_worker: Annotated[bool, HashExclude()] = False
        kill_in_worker: Annotated[bool, HashExclude()] = False
        fail_in_worker: Annotated[bool, HashExclude()] = False

    def load_state(self, artifacts: Artifacts) -> bool:
        log = Path(self.params.log_dir) / f"load-{os.getpid()}-{id(self)}-{time.time_ns()}"  # type: ignore[attr-defined]
        log.write_text("")
        return True

    def _is_worker_process(self) -> bool:
        return os.getpid() != self.params.coordinator_pid  # type: ignore[attr-defined]

    def _wait_for_a_worker(self) -> None:
        mine = str(self.params.coordinator_pid)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            loads = Path(self.params.log_dir).glob("load-*")  # type: ignore[attr-defined]
            if any(p.name.split("-")[1] != mine for p in loads):
                return
            time.sleep(0.01)
        raise TimeoutError("no worker process loaded its state within 60 s")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        if not self._is_worker_process() and p.await_worker:  # type: ignore[attr-defined]
            self._wait_for_a_worker()
        if self._is_worker_process() and p.kill_in_worker:  # type: ignore[attr-defined]
            import types

            from w2t_bkin.features import store

            store.os = types.SimpleNamespace(  # type: ignore[assignment]
                **{**vars(os), "replace": _kill_before_rename}
            )
        if self._is_worker_process() and p.fail_in_worker:  # type: ignore[attr-defined]
            raise ValueError(f"planned failure in worker {os.getpid()}")
        out = self.keys(frame)
        out["x"] = frame["x/nose"].to_numpy() + p.offset_px  # type: ignore[attr-defined]
        out["pid"] = os.getpid()
        out["thread"] = threading.get_ident()
        out["blas_threads"] = _blas_threads()
        out["omp_env"] = os.environ.get("OMP_NUM_THREADS", "")
        return out
