"""The hook the Prefect flows use: the session driver runs each phase through ``run_phase``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.runtime.tasks import reset_phase_runner, run_phase, set_phase_runner
from w2t_bkin.session import PHASES, process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment


def test_run_phase_without_a_runner_returns_the_value_and_raises_the_error() -> None:
    assert run_phase("ingestion", lambda: 42) == 42
    with pytest.raises(KeyError, match="missing"):
        run_phase("ingestion", lambda: {}["missing"])


def test_a_bound_runner_runs_every_phase_of_a_session_in_order(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=1.0, rate_hz=20.0, n_trials=4, seed=5))
    fast = root / "fast.toml"
    text = (root / "configuration.toml").read_text()
    fast.write_text(
        text.replace("validate_nwb = true", "validate_nwb = false").replace(
            "qc_report = true", "qc_report = false"
        )
    )
    seen: list[str] = []

    def runner(name: str, step: Callable[[], Any]) -> Any:
        seen.append(name)
        return step()

    token = set_phase_runner(runner)
    try:
        result = process_session(root, "mouse01", "ses01", config_path=fast)
    finally:
        reset_phase_runner(token)
    assert result.status == "succeeded", result.error
    assert seen == list(PHASES)
    assert set(result.phase_durations_s) == set(PHASES)
    # outside the token's scope the driver runs phases directly again
    assert run_phase("x", lambda: "direct") == "direct"


def test_a_runner_that_raises_fails_the_session_in_that_phase(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=1.0, rate_hz=20.0, n_trials=4, seed=6))

    def runner(name: str, step: Callable[[], Any]) -> Any:
        if name == "ingestion":
            raise OSError(5, "orchestrator lost the phase")
        return step()

    token = set_phase_runner(runner)
    try:
        result = process_session(root, "mouse01", "ses01")
    finally:
        reset_phase_runner(token)
    assert (result.status, result.failed_phase) == ("failed", "ingestion")
    assert "orchestrator lost the phase" in (result.error or "")
    assert not (root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb").exists()
