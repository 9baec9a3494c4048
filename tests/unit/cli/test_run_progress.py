"""The live progress view of ``w2t-bkin run`` stops its thread while a session forks."""

from __future__ import annotations

import os
import threading

import pytest

from w2t_bkin.cli.run_cmd import _Progress
from w2t_bkin.runtime import beside


def _progress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "w2t-progress"]


def test_live_view_redraws_in_a_thread_that_pauses_and_resumes() -> None:
    with _Progress(enabled=True) as progress:
        assert len(_progress_threads()) == 1
        assert progress in beside._pausables
        progress.pause()
        assert _progress_threads() == []
        progress.resume()
        assert len(_progress_threads()) == 1
    assert _progress_threads() == []
    assert progress not in beside._pausables


def test_a_session_forks_beside_while_the_live_view_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beside, "available_cpus", lambda: 2)
    monkeypatch.setattr(beside, "_cpus_shared", False)
    # Threads other tests left behind are not counted: this thread plus those started here.
    before = set(threading.enumerate()) - {threading.current_thread()}
    monkeypatch.setattr(
        beside.threading, "active_count", lambda: len(set(threading.enumerate()) - before)
    )
    with _Progress(enabled=True):
        assert beside.threading.active_count() == 2
        started = beside.start_beside(os.getpid)
        assert started is not None
        assert len(_progress_threads()) == 1  # started again after the fork
        assert started.result() == started.pid != os.getpid()


def test_plain_output_starts_no_thread() -> None:
    with _Progress(enabled=False) as progress:
        assert _progress_threads() == []
        assert progress not in beside._pausables
