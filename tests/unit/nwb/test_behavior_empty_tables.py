"""Bpod sessions with nothing for a table: valid NWB, read back by pynwb, nothing blocking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.nwb.assembly import write_nwb
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.nwb.validation import CHECK_NOT_RUN, ValidationReport, validate_nwb

from . import _builders as b

# nwbinspector 0.7.2's table checks that raise IndexError on a zero-row column (issue #728)
CRASHING_TABLE_CHECKS = {
    "check_col_not_nan",
    "check_column_binary_capability",
    "check_table_values_for_dict",
}


def _write(tmp_path: Path, bpod: BpodSession, actions: dict[str, str]) -> Path:
    session = b.session(tmp_path, videos=False)
    assert session.trials is not None
    trials = dataclasses.replace(session.trials, bpod=bpod, actions=actions)
    session = dataclasses.replace(session, trials=trials, cameras=())
    return write_nwb(session, tmp_path / "sub-mouse1_ses-01.nwb", AssemblyConfig())


def _assert_valid(report: ValidationReport, empty: set[tuple[str, str]]) -> None:
    """No blocking finding; ``empty`` (type, name) tables flagged as empty; crashes named."""
    assert report.blocking_findings == ()
    assert report.counts["CRITICAL"] == report.counts["ERROR"] == 0
    assert report.counts["PYNWB_VALIDATION"] == 0
    flagged = {
        (f["object_type"], f["object_name"])
        for f in report.findings
        if f["check_name"] == "check_empty_table"
    }
    assert flagged == empty
    for finding in report.findings:
        if finding["importance"] == CHECK_NOT_RUN:
            assert finding["check_name"] in CRASHING_TABLE_CHECKS
            assert str(finding["message"]).startswith(
                f"nwbinspector could not run check {finding['check_name']}: IndexError: "
            )
            assert "\n" not in str(finding["message"])


def _trial_rows(trials, column: str) -> list[int]:
    """Rows per trial of a ragged reference column, from its index."""
    ends = np.asarray(trials[f"{column}_index"].data[:])
    return np.diff(np.concatenate([[0], ends])).tolist()


def test_without_actions_every_action_table_is_written_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, b.bpod_session(), actions={})
    with read_nwb(path) as nwb:
        recording = nwb.acquisition["task_recording"]
        task = nwb.lab_meta_data["task"]
        assert len(recording.actions) == 0
        assert set(recording.actions.colnames) == {"timestamp", "duration", "action_type", "value"}
        assert len(task.action_types) == 0
        assert list(task.action_types["action_name"].data[:]) == []
        assert _trial_rows(nwb.trials, "actions") == [0, 0, 0]
        # states and events are untouched
        assert _trial_rows(nwb.trials, "states") == [4, 4, 4]
        assert _trial_rows(nwb.trials, "events") == [2, 1, 3]
        assert len(recording.states) == 12
    report = validate_nwb(path)
    _assert_valid(report, {("ActionsTable", "actions"), ("ActionTypesTable", "action_types")})
    assert report.counts[CHECK_NOT_RUN] > 0  # nwbinspector 0.7.2 raises on the empty tables


def test_action_whose_state_is_never_visited(tmp_path: Path) -> None:
    bpod = b.bpod_session()
    visited = {bpod.state_names[k] for k in bpod.state_name_idx}
    bpod = dataclasses.replace(bpod, state_names=(*bpod.state_names, "Timeout"))
    assert "Timeout" not in visited
    path = _write(tmp_path, bpod, actions={"Timeout": "airpuff"})
    with read_nwb(path) as nwb:
        task = nwb.lab_meta_data["task"]
        assert list(task.action_types["action_name"].data[:]) == ["airpuff"]
        assert list(task.state_types["state_name"].data[:]) == [
            "ITI",
            "Reward",
            "Stimulus",
            "WaitForLick",
            "Timeout",
        ]
        assert len(nwb.acquisition["task_recording"].actions) == 0
        assert _trial_rows(nwb.trials, "actions") == [0, 0, 0]
    _assert_valid(validate_nwb(path), {("ActionsTable", "actions")})


def test_session_without_events(tmp_path: Path) -> None:
    # Before: hdmf could not write the empty event_types column (untyped empty list).
    bpod = dataclasses.replace(
        b.bpod_session(),
        event_names=(),
        event_trial_idx=np.zeros(0, dtype=np.int64),
        event_name_idx=np.zeros(0, dtype=np.int64),
        event_time_s=np.zeros(0),
    )
    path = _write(tmp_path, bpod, actions={"Reward": "reward_valve_open"})
    with read_nwb(path) as nwb:
        recording = nwb.acquisition["task_recording"]
        assert len(recording.events) == 0
        assert len(nwb.lab_meta_data["task"].event_types) == 0
        assert _trial_rows(nwb.trials, "events") == [0, 0, 0]
        assert _trial_rows(nwb.trials, "actions") == [1, 0, 1]
        np.testing.assert_array_equal(
            recording.actions["timestamp"].data[:], b.to_reference(np.array([1.20, 7.00]))
        )
    empty = {("EventsTable", "events"), ("EventTypesTable", "event_types")}
    _assert_valid(validate_nwb(path), empty)


def test_event_type_that_never_occurred_keeps_its_type_row(tmp_path: Path) -> None:
    bpod = dataclasses.replace(b.bpod_session(), event_names=("Port1In", "Port1Out", "Port2In"))
    path = _write(tmp_path, bpod, actions={"Reward": "reward_valve_open"})
    with read_nwb(path) as nwb:
        names = list(nwb.lab_meta_data["task"].event_types["event_name"].data[:])
        assert names == ["Port1In", "Port1Out", "Port2In"]
        events = nwb.acquisition["task_recording"].events
        assert sorted(set(events["value"].data[:])) == ["Port1In", "Port1Out"]
        assert len(events) == 6
    report = validate_nwb(path)
    _assert_valid(report, set())
    assert report.counts[CHECK_NOT_RUN] == 0


def test_trial_without_states(tmp_path: Path) -> None:
    bpod = b.bpod_session()
    keep = bpod.state_trial_idx != 1
    bpod = dataclasses.replace(
        bpod,
        state_trial_idx=bpod.state_trial_idx[keep],
        state_name_idx=bpod.state_name_idx[keep],
        state_start_s=bpod.state_start_s[keep],
        state_stop_s=bpod.state_stop_s[keep],
    )
    path = _write(tmp_path, bpod, actions={"Reward": "reward_valve_open"})
    with read_nwb(path) as nwb:
        assert _trial_rows(nwb.trials, "states") == [4, 0, 4]
        assert _trial_rows(nwb.trials, "actions") == [1, 0, 1]
        np.testing.assert_array_equal(
            nwb.acquisition["task_recording"].states["start_time"].data[:],
            b.to_reference(np.array([0.0, 0.5, 1.2, 1.3, 6.0, 6.5, 7.0, 7.1])),
        )
    report = validate_nwb(path)
    _assert_valid(report, set())
    assert report.counts[CHECK_NOT_RUN] == 0


@pytest.mark.parametrize("n_names", [0, 2])
def test_type_tables_hold_text_also_without_rows(tmp_path: Path, n_names: int) -> None:
    names = ("Port1In", "Port1Out")[:n_names]
    bpod = b.bpod_session()
    if n_names == 0:
        bpod = dataclasses.replace(
            bpod,
            event_names=(),
            event_trial_idx=np.zeros(0, dtype=np.int64),
            event_name_idx=np.zeros(0, dtype=np.int64),
            event_time_s=np.zeros(0),
        )
    path = _write(tmp_path, bpod, actions={})
    with h5py.File(path, "r") as handle:
        dataset = handle["general/task/event_types/event_name"]
        assert h5py.check_string_dtype(dataset.dtype) is not None
        assert [v.decode() for v in dataset[:]] == list(names)
