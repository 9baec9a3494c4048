"""A Bpod session without ``[bpod].actions``, or whose actions never happened, is published.

Issue 10, finding 1: such sessions used to fail in finalization, because nwbinspector's own table
checks crash on the empty ``ActionsTable`` and the crash counted as a blocking finding.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from w2t_bkin.cli import main
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

# seed 2 draws trial types [1, 2, 1, 2]: the sync state of type 3, Microstim, is never entered
SPEC = ExperimentSpec(duration_s=2.0, n_trials=4, seed=2)
OUT = "data/processed/mouse01/ses01"
NWB = f"{OUT}/sub-mouse01_ses-ses01.nwb"
CRASH = re.compile(r"nwbinspector could not run check (check_\w+): IndexError: [^\n]+")


def _workspace(root: Path, actions: dict[str, str] | None) -> dict[str, Any]:
    """The synthetic experiment with ``[bpod].actions`` replaced (``None``: removed)."""
    truth = write_experiment(root, SPEC)["mouse01/ses01"]
    metadata = root / "data/raw/metadata.toml"
    data = tomllib.loads(metadata.read_text())
    if actions is None:
        del data["bpod"]["actions"]
    else:
        data["bpod"]["actions"] = actions
    metadata.write_text(tomli_w.dumps(data))
    return truth


@pytest.fixture(scope="module")
def no_actions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """Run through the CLI, as a user would: (root, exit code, console output)."""
    root = tmp_path_factory.mktemp("no_actions") / "exp"
    _workspace(root, actions=None)
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        code = main(["run", str(root), "--session", "ses01"])
    return root, code, console.getvalue()


@pytest.fixture(scope="module")
def unvisited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("unvisited") / "exp"
    truth = _workspace(root, actions={"Microstim": "microstim_pulse"})
    assert 3 not in truth["trials"]["trial_types"]  # so Microstim is never entered
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    return root, truth


def _validation(root: Path) -> dict[str, Any]:
    return json.loads((root / OUT / "validation.json").read_text())


def test_session_without_actions_succeeds(no_actions: tuple[Path, int, str]) -> None:
    root, code, console = no_actions
    assert code == 0, console
    status = json.loads((root / OUT / "status.json").read_text())
    assert (status["status"], status["failed_phase"], status["exit_code"]) == ("succeeded", None, 0)
    assert (root / NWB).is_file()
    assert not (root / OUT / "sub-mouse01_ses-ses01.invalid.nwb").exists()


def test_validation_has_no_blocking_finding(no_actions: tuple[Path, int, str]) -> None:
    validation = _validation(no_actions[0])
    assert validation["is_clean"] is True
    assert validation["exit_code"] == 0
    counts = validation["counts"]
    assert counts["CRITICAL"] == counts["ERROR"] == counts["PYNWB_VALIDATION"] == 0
    empty = {
        (f["object_type"], f["object_name"])
        for f in validation["findings"]
        if f["check_name"] == "check_empty_table"
    }
    assert empty == {("ActionsTable", "actions"), ("ActionTypesTable", "action_types")}


def test_crashed_checks_are_one_line_and_not_blocking(no_actions: tuple[Path, int, str]) -> None:
    crashed = [
        f for f in _validation(no_actions[0])["findings"] if f["importance"] == "CHECK_NOT_RUN"
    ]
    # nwbinspector 0.7.2 raises on the zero-row action tables (its issue #728)
    assert {f["check_name"] for f in crashed} == {
        "check_col_not_nan",
        "check_table_values_for_dict",
    }
    for finding in crashed:
        match = CRASH.fullmatch(finding["message"])
        assert match is not None, finding["message"]
        assert match[1] == finding["check_name"]


def test_no_traceback_outside_pipeline_log(no_actions: tuple[Path, int, str]) -> None:
    root, _, console = no_actions
    for text in (
        console,
        (root / OUT / "validation.json").read_text(),
        (root / OUT / "qc/report.html").read_text(),
        (root / OUT / "status.json").read_text(),
    ):
        assert "Traceback" not in text
        assert "subject.toml" not in text
    log = (root / OUT / "pipeline.log").read_text()
    assert "nwbinspector check check_col_not_nan raised while validating" in log
    assert "Traceback (most recent call last)" in log


def test_nwb_round_trip_without_actions(no_actions: tuple[Path, int, str]) -> None:
    with read_nwb(no_actions[0] / NWB) as nwb:
        recording = nwb.acquisition["task_recording"]
        assert len(recording.actions) == 0
        assert len(nwb.lab_meta_data["task"].action_types) == 0
        assert list(nwb.trials["actions_index"].data[:]) == [0, 0, 0, 0]
        assert len(nwb.trials) == SPEC.n_trials
        states_per_trial = np.diff(np.concatenate([[0], nwb.trials["states_index"].data[:]]))
        assert np.all(states_per_trial > 0)
        assert len(recording.states) == int(states_per_trial.sum())


def test_action_never_taken(unvisited: tuple[Path, dict[str, Any]]) -> None:
    root, truth = unvisited
    validation = _validation(root)
    assert validation["is_clean"] is True
    assert validation["counts"]["CRITICAL"] == validation["counts"]["ERROR"] == 0
    with read_nwb(root / NWB) as nwb:
        task = nwb.lab_meta_data["task"]
        assert list(task.action_types["action_name"].data[:]) == ["microstim_pulse"]
        assert "Microstim" in list(task.state_types["state_name"].data[:])
        assert len(nwb.acquisition["task_recording"].actions) == 0
        assert list(nwb.trials["trial_type"].data[:]) == truth["trials"]["trial_types"]
        assert list(nwb.trials["actions_index"].data[:]) == [0, 0, 0, 0]
