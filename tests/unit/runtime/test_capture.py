"""Per-run capture: records and warnings reach the run whose context raised them, and only it."""

from __future__ import annotations

import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from w2t_bkin.errors import DataQualityWarning, warn_data_quality
from w2t_bkin.runtime.capture import CONSOLE_ONLY, capture_run, current_run, run_in_context

log = logging.getLogger("w2t_bkin.tests.capture")


def _run(name: str, folder: Path, barrier: threading.Barrier) -> list[str]:
    with capture_run(folder / f"{name}.log") as run:
        barrier.wait(timeout=30)  # both runs are inside before either logs
        for k in range(50):
            log.info("%s record %d", name, k)
            warnings.warn(f"{name} quality {k}", DataQualityWarning, stacklevel=1)
        barrier.wait(timeout=30)  # and both are still inside while the other logs
        return [str(w.message) for w in run.warnings_snapshot()]


def test_two_runs_in_threads_get_only_their_own_records_and_warnings(tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(_run, name, tmp_path, barrier) for name in ("a", "b")}
        caught = {name: f.result(timeout=60) for name, f in futures.items()}
    for name, other in (("a", "b"), ("b", "a")):
        assert caught[name] == [f"{name} quality {k}" for k in range(50)]
        lines = (tmp_path / f"{name}.log").read_text().splitlines()
        assert [ln.split(": ", 1)[1] for ln in lines] == [f"{name} record {k}" for k in range(50)]
        assert all(" INFO w2t_bkin.tests.capture: " in ln for ln in lines)
        assert not any(f"{other} record" in ln for ln in lines)


def test_level_console_only_and_write(tmp_path: Path) -> None:
    with capture_run(tmp_path / "run.log", logger_name="w2t_bkin.session") as run:
        log.debug("hidden at INFO")
        log.info("shown", extra={CONSOLE_ONLY: True})  # console only: not in the log
        run.write(logging.WARNING, "written %s", "directly")
        run.set_level("ERROR")
        log.warning("below ERROR")
        run.write(logging.WARNING, "also below ERROR")
        run.set_level("DEBUG")
        log.debug("now shown")
    text = (tmp_path / "run.log").read_text()
    assert "hidden at INFO" not in text and "shown" not in text.replace("now shown", "")
    assert "WARNING w2t_bkin.session: written directly" in text
    assert "below ERROR" not in text
    assert "DEBUG w2t_bkin.tests.capture: now shown" in text


def test_outside_runs_nothing_is_routed_and_shared_state_is_restored(tmp_path: Path) -> None:
    logger = logging.getLogger("w2t_bkin")
    level, handlers, showwarning = logger.level, list(logger.handlers), warnings.showwarning
    filters = list(warnings.filters)
    with capture_run(tmp_path / "one.log"), capture_run(tmp_path / "nested.log") as inner:
        assert current_run() is inner
        assert logger.level == logging.DEBUG
    assert current_run() is None
    assert (logger.level, logger.handlers, warnings.showwarning) == (level, handlers, showwarning)
    assert warnings.filters == filters
    with pytest.warns(DataQualityWarning, match="outside"):  # reaches the usual machinery
        warnings.warn("outside any run", DataQualityWarning, stacklevel=1)


def test_worker_threads_reach_the_run_only_through_run_in_context(tmp_path: Path) -> None:
    with capture_run(tmp_path / "run.log") as run, ThreadPoolExecutor(1) as pool:
        pool.submit(run_in_context(log.warning), "from a bound worker").result()
        pool.submit(log.warning, "from an unbound worker").result()
        pool.submit(run_in_context(warnings.warn), "bound warning", DataQualityWarning).result()
        caught = [str(w.message) for w in run.warnings_snapshot()]
    text = (tmp_path / "run.log").read_text()
    assert "from a bound worker" in text
    assert "from an unbound worker" not in text
    assert caught == ["bound warning"]


def test_an_unwritable_log_sends_records_nowhere(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with capture_run(blocker / "run.log") as run:
        log.info("lost")
        warnings.warn("still caught", DataQualityWarning, stacklevel=1)
    assert run.log_path is None
    assert [str(w.message) for w in run.caught] == ["still caught"]


def test_data_quality_findings_survive_another_threads_warning_filters(tmp_path: Path) -> None:
    # Another thread ignores every warning (as readers and libraries do around noisy calls):
    # while it is inside, the process-wide filters drop anything that passes through them.
    inside, done = threading.Event(), threading.Event()

    def silenced() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inside.set()
            assert done.wait(timeout=30)

    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(silenced)
        assert inside.wait(timeout=30)
        with capture_run(tmp_path / "run.log") as run:
            warn_data_quality("3 frames dropped")
            warnings.warn("a library's own warning", UserWarning, stacklevel=1)  # filtered out
        done.set()
        other.result(timeout=30)
    assert [(w.category, str(w.message)) for w in run.caught] == [
        (DataQualityWarning, "3 frames dropped")
    ]


def test_outside_a_run_a_finding_is_an_ordinary_warning_naming_the_caller() -> None:
    with pytest.warns(DataQualityWarning, match="lost pulses") as record:
        warn_data_quality("lost pulses")
    assert record[0].filename == __file__
