"""Sessions run at once -- threads of one process, or processes -- keep their records apart.

Ground truth is the same sessions run one after another: run concurrently, each session's
``pipeline.log``, ``status.json``, ``provenance.json`` and QC report hold exactly its own
records and warnings, and the same ones as when it ran alone.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.model.results import SessionResult
from w2t_bkin.session import driver, process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

SESSIONS = ("ses01", "ses02")
SPEC = ExperimentSpec(
    n_sessions=2,
    duration_s=4.0,
    rate_hz=40.0,
    n_video_chunks=2,
    camera_drift_ppm=20.0,
    bpod_drift_ppm=40.0,
    jitter_s=1e-4,
    dropped_frame_fraction=0.03,
    missing_sync_fraction=0.34,
    n_trials=6,
    seed=11,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "exp"
    write_experiment(root, SPEC)
    # One more lost sync pulse in ses02: its data-quality warning differs from ses01's.
    cue = root / "data/raw/mouse01/ses02/TTLs/cue.txt"
    cue.write_text("".join(cue.read_text().splitlines(keepends=True)[:-1]))
    return root


@pytest.fixture(scope="module")
def alone(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, SessionResult]:
    """Each session run on its own, one after the other: the expected records."""
    root = tmp_path_factory.mktemp("alone") / "exp"
    shutil.copytree(pristine, root)
    results = {s: process_session(root, "mouse01", s, invocation=["test"]) for s in SESSIONS}
    for result in results.values():
        assert result.ok, result.error
    # The sessions differ in what they warn about, so a crossed record would show.
    assert results["ses01"].warnings and results["ses02"].warnings
    assert set(results["ses01"].warnings).isdisjoint(results["ses02"].warnings)
    return results


def _copy(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    shutil.copytree(pristine, root)
    return root


def _check_isolated(root: Path, results: dict[str, SessionResult], alone: dict[str, Any]) -> None:
    for session in SESSIONS:
        other = next(s for s in SESSIONS if s != session)
        result, expected = results[session], alone[session]
        assert result.ok, result.error
        assert result.warnings == expected.warnings
        assert result.stats == expected.stats
        out = root / "data/processed/mouse01" / session

        log = (out / "pipeline.log").read_text()
        assert f"session mouse01/{session} succeeded" in log
        assert f"mouse01/{other}" not in log and f"ses-{other}" not in log
        quality = sorted(re.findall(r"WARNING w2t_bkin\.session: data quality: (.*)", log))
        assert quality == sorted(expected.warnings)
        assert log.count("phase synchronization: start") == 1

        status = json.loads((out / "status.json").read_text())
        assert (status["session"], status["status"]) == (session, "succeeded")
        assert status["warnings"] == expected.warnings

        provenance = json.loads((out / "provenance.json").read_text())
        inputs = [entry["path"] for entry in provenance["inputs"]]
        assert inputs and all(f"/mouse01/{session}/" in path for path in inputs)
        assert provenance["command_line"] == ["test"]

        report = (out / "qc" / "report.html").read_text()
        assert f"ses-{other}" not in report and f"mouse01/{other}" not in report
        for text in alone[other].warnings:
            assert text not in report


def _meeting_in(phase: Callable[..., Any], parties: int) -> Callable[..., Any]:
    """``phase`` entered by ``parties`` threads together: all wait for all, then run at once."""
    barrier = threading.Barrier(parties, timeout=120)

    def together(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return phase(*args, **kwargs)

    return together


def test_two_sessions_in_threads_keep_their_logs_warnings_and_sidecars_apart(
    pristine: Path, alone: dict[str, SessionResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(pristine, tmp_path)
    # Both runs are inside synchronization (where the data-quality warnings arise) at once.
    monkeypatch.setattr(driver, "synchronize", _meeting_in(driver.synchronize, 2))
    with ThreadPoolExecutor(2) as pool:
        futures = {
            s: pool.submit(process_session, root, "mouse01", s, invocation=["test"])
            for s in SESSIONS
        }
        results = {s: f.result(timeout=300) for s, f in futures.items()}
    _check_isolated(root, results, alone)


def test_two_sessions_in_two_processes_share_one_workspace(
    pristine: Path, alone: dict[str, SessionResult], tmp_path: Path
) -> None:
    root = _copy(pristine, tmp_path)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            s: pool.submit(process_session, root, "mouse01", s, invocation=["test"])
            for s in SESSIONS
        }
        results = {s: f.result(timeout=300) for s, f in futures.items()}
    _check_isolated(root, results, alone)


def test_a_second_run_of_the_same_session_in_another_thread_is_refused(
    pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(pristine, tmp_path)
    inside, release = threading.Event(), threading.Event()
    real = driver.synchronize

    def held(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(timeout=120)
        return real(*args, **kwargs)

    monkeypatch.setattr(driver, "synchronize", held)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(process_session, root, "mouse01", "ses01")
        assert inside.wait(timeout=120)
        second = process_session(root, "mouse01", "ses01")
        release.set()
        first_result = first.result(timeout=300)
    assert first_result.ok, first_result.error
    assert (second.status, second.exit_code) == ("busy", 6)
    assert "session mouse01/ses01 is being processed by another run (pid " in (second.error or "")
    # The refused run touched nothing: the first run's log is whole and its own.
    log = (root / "data/processed/mouse01/ses01/pipeline.log").read_text()
    assert log.count("phase configuration: start") == 1
    assert "session mouse01/ses01 succeeded" in log
