"""A call made in a forked child beside this process: result, errors, logs, fallbacks."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.runtime import beside as beside_module
from w2t_bkin.runtime.beside import Beside, start_beside


@pytest.fixture
def forkable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child is forked whatever threads other tests left behind (these calls take no lock)."""
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("this platform cannot fork")
    monkeypatch.setattr(beside_module.threading, "active_count", lambda: 1)
    monkeypatch.setattr(beside_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(beside_module, "_cpus_shared", False)


def _started(call: object) -> Beside[object]:
    started = start_beside(call)  # type: ignore[arg-type]
    assert started is not None, "no child was forked"
    return started


def test_result_is_computed_in_another_process(forkable: None) -> None:
    started = _started(os.getpid)
    child_pid = started.result()
    assert child_pid == started.pid
    assert child_pid != os.getpid()


def test_the_child_freezes_what_it_inherits_and_the_parent_keeps_its_freeze(
    forkable: None,
) -> None:
    import gc

    # A worker froze its preloaded modules for good: a child forked beside a session must not
    # undo that (it once froze everything before the fork and unfroze it after).
    gc.freeze()  # as a worker's preload does
    try:
        frozen_here = gc.get_freeze_count()
        young = [[k] for k in range(20_000)]  # tracked, alive at the fork, not frozen here
        in_child = _started(gc.get_freeze_count).result()
        # (a few frozen objects may be freed meanwhile, here or in the child)
        assert gc.get_freeze_count() > 0.9 * frozen_here
        assert in_child > frozen_here + 0.9 * len(young)
        del young
    finally:
        gc.unfreeze()


def test_large_numpy_result_round_trips(forkable: None) -> None:
    import numpy as np

    values = np.arange(2_000_000, dtype=np.float64) / 7.0
    assert np.array_equal(_started(lambda: values * 3.0).result(), values * 3.0)


def test_error_is_raised_here_with_its_message(forkable: None) -> None:
    def fail() -> None:
        raise ValueError("frame 12 of cam0.mp4 has no timestamp")

    started = _started(fail)
    with pytest.raises(ValueError, match=r"frame 12 of cam0\.mp4 has no timestamp"):
        started.result()


def test_w2t_error_keeps_its_hint_and_path(forkable: None, tmp_path: Path) -> None:
    def fail() -> None:
        raise IngestError("cannot read x.h5", hint="check the file", path=tmp_path / "x.h5")

    with pytest.raises(IngestError, match=r"cannot read x\.h5") as caught:
        _started(fail).result()
    assert caught.value.hint == "check the file"
    assert caught.value.path == tmp_path / "x.h5"


def test_error_that_cannot_be_sent_back_is_raised_by_a_call_here(forkable: None) -> None:
    class LocalError(Exception):  # defined in a function: pickle cannot name it
        pass

    calls: list[int] = []

    def fail() -> None:
        calls.append(os.getpid())
        raise LocalError("bad chunk 3")

    with pytest.raises(LocalError, match="bad chunk 3"):
        _started(fail).result()
    assert calls == [os.getpid()]  # made again here (the child's append happened over there)


def test_child_that_dies_is_replaced_by_a_call_here(forkable: None) -> None:
    parent = os.getpid()

    def die_in_child() -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return 42

    assert _started(die_in_child).result() == 42


def test_child_log_records_are_logged_here_in_order(
    forkable: None, caplog: pytest.LogCaptureFixture
) -> None:
    def talk() -> str:
        log = logging.getLogger("w2t_bkin.test_beside")
        log.info("first from pid %d", os.getpid())
        log.warning("second")
        return "done"

    with caplog.at_level(logging.DEBUG, logger="w2t_bkin.test_beside"):
        started = _started(talk)
        assert started.result() == "done"
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if "test_beside" in r.name]
    assert messages == [
        (logging.INFO, f"first from pid {started.pid}"),
        (logging.WARNING, "second"),
    ]


def test_cancel_stops_the_child(forkable: None) -> None:
    started = _started(lambda: time.sleep(60))
    begun = time.monotonic()
    started.cancel()
    assert time.monotonic() - begun < 10
    with pytest.raises(ProcessLookupError):
        os.kill(started.pid, 0)
    with pytest.raises(RuntimeError, match="already"):
        started.result()


def test_result_twice_is_an_error(forkable: None) -> None:
    started = _started(lambda: 1)
    assert started.result() == 1
    with pytest.raises(RuntimeError, match="already called"):
        started.result()


def test_no_child_where_it_is_not_safe_or_useful(
    forkable: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _started(os.getpid).result()  # the baseline: a child is forked
    monkeypatch.setattr(beside_module.threading, "active_count", lambda: 2)
    assert start_beside(os.getpid) is None  # another thread may hold a lock the child needs
    monkeypatch.setattr(beside_module.threading, "active_count", lambda: 1)
    monkeypatch.setattr(beside_module, "available_cpus", lambda: 1)
    assert start_beside(os.getpid) is None  # no CPU to spare
    monkeypatch.setattr(beside_module, "available_cpus", lambda: 8)
    beside_module.mark_cpus_shared()
    assert start_beside(os.getpid) is None  # the other workers of the batch use the CPUs


def test_really_multithreaded_process_gets_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beside_module, "available_cpus", lambda: 2)  # the thread is the reason
    monkeypatch.setattr(beside_module, "_cpus_shared", False)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert start_beside(os.getpid) is None
    finally:
        stop.set()
        thread.join()


def test_ctrl_c_while_waiting_stops_the_child(forkable: None) -> None:
    started = _started(lambda: time.sleep(60))

    def interrupted() -> None:
        raise KeyboardInterrupt

    started._connection.recv = interrupted  # Ctrl-C arrives while the parent waits
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        started.result()
    assert time.monotonic() - begun < 10  # not the child's 60 s
    with pytest.raises(ProcessLookupError):
        os.kill(started.pid, 0)


def test_two_ends_share_every_index_exactly_once_with_the_child(forkable: None) -> None:
    from w2t_bkin.runtime.beside import TwoEnds

    n = 2000
    ends = TwoEnds(n)

    def take_from_back() -> list[int]:
        return list(iter(ends.take_back, None))

    started = _started(take_from_back)
    mine = list(iter(ends.take_front, None))
    theirs = started.result()
    assert mine == sorted(mine) and theirs == sorted(theirs, reverse=True)
    assert sorted(mine + theirs) == list(range(n))
    assert ends.take_front() is None and ends.take_back() is None


def test_two_ends_in_one_process() -> None:
    from w2t_bkin.runtime.beside import TwoEnds

    ends = TwoEnds(3)
    assert [ends.take_back(), ends.take_front(), ends.take_back(), ends.take_front()] == [
        2,
        0,
        1,
        None,
    ]
    assert TwoEnds(0).take_front() is None
