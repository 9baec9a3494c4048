"""Fixtures of the job daemon tests: data folders with synthetic videos of known frame counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from w2t_bkin.jobs.daemon import DaemonConfig, DaemonReport, JobDaemon
from w2t_bkin.jobs.status import StatusFile, load_status_file
from w2t_bkin.testing.video import write_video

FAST = DaemonConfig(
    backend="synthetic", poll_s=0.02, settle_s=0.0, checkpoint_every_frames=100, incoming_wait_s=0.2
)


def make_job(data_dir: Path, job: str, frames: dict[str, int], *, ready: bool = True) -> Path:
    """``data_dir/in/<job>/`` with one synthetic video per ``name: n_frames``."""
    folder = data_dir / "in" / job
    folder.mkdir(parents=True, exist_ok=True)
    for name, n_frames in frames.items():
        codec = "mpeg4" if name.endswith(".avi") else "libx264"
        write_video(folder / name, n_frames, 30.0, codec=codec, seed=len(name))
    if ready:
        (folder / ".ready").write_bytes(b"")
    return folder


def drain(data_dir: Path, config: DaemonConfig = FAST) -> DaemonReport:
    return JobDaemon(data_dir, config).run(once=True)


def status_of(data_dir: Path) -> StatusFile:
    return load_status_file(data_dir / "out" / "status.json")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` until true (a test failure when it never becomes true)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


class DaemonThread:
    """A daemon running in a thread of the test process (stopped with request_stop)."""

    def __init__(self, data_dir: Path, config: DaemonConfig) -> None:
        self.daemon = JobDaemon(data_dir, config)
        self.report: DaemonReport | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.report = self.daemon.run(once=False)

    def __enter__(self) -> DaemonThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.request_stop()
        self.thread.join(60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"
