"""``BpodSession`` state onsets and the plain-value helpers the NWB writer shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.model.bpod import BpodSession, flatten_settings, to_plain


def _session() -> BpodSession:
    """Three trials; 'Reward' entered twice in trial 0, never in trial 2; 'Unused' never."""
    return BpodSession(
        source_files=(Path("s.mat"),),
        trial_start_s=np.array([0.0, 10.0, 20.0]),
        trial_end_s=np.array([5.0, 15.0, 25.0]),
        trial_types=np.array([1, 2, 1], dtype=np.int64),
        state_names=("Reward", "Unused", "WaitForPoke"),
        state_trial_idx=np.array([0, 0, 0, 1, 1, 2], dtype=np.int64),
        state_name_idx=np.array([2, 0, 0, 2, 0, 2], dtype=np.int64),
        state_start_s=np.array([0.0, 1.0, 3.0, 10.0, 12.5, 20.0]),
        state_stop_s=np.array([1.0, 2.0, 4.0, 12.5, 13.0, 25.0]),
        event_names=("Port1In",),
        event_trial_idx=np.array([0], dtype=np.int64),
        event_name_idx=np.array([0], dtype=np.int64),
        event_time_s=np.array([0.9]),
    )


def test_first_state_onset_per_trial_is_nan_where_unvisited() -> None:
    session = _session()
    assert session.n_trials == 3
    np.testing.assert_array_equal(session.first_state_onset_s("Reward"), [1.0, 12.5, np.nan])
    np.testing.assert_array_equal(session.first_state_onset_s("WaitForPoke"), [0.0, 10.0, 20.0])
    assert np.isnan(session.first_state_onset_s("Unused")).all()
    assert np.isnan(session.first_state_onset_s("NotAState")).all()


def test_single_file_defaults_place_it_first_at_offset_zero() -> None:
    session = _session()
    assert session.file_alignment == ("first",)
    np.testing.assert_array_equal(session.file_first_trial, [0])
    np.testing.assert_array_equal(session.file_offset_s, [0.0])
    assert (session.settings, session.trial_settings) == ({}, ())


def test_to_plain_turns_matlab_values_into_python() -> None:
    cell = np.empty(2, dtype=object)
    cell[0], cell[1] = np.float64(1.5), b"abc"
    value = {"a": np.arange(3), "b": np.int64(2), "c": cell, 4: (np.bool_(True),)}
    plain = to_plain(value)
    assert plain == {"a": [0, 1, 2], "b": 2, "c": [1.5, "abc"], "4": [True]}
    assert type(plain["b"]) is int and type(plain["c"][0]) is float


def test_flatten_settings_joins_nested_keys_and_keeps_empty_dicts_as_leaves() -> None:
    settings = {"GUI": {"RewardAmount": np.float64(5.0), "Sub": {"x": 1}}, "Empty": {}, "n": 3}
    assert flatten_settings(settings) == {
        "GUI.RewardAmount": 5.0,
        "GUI.Sub.x": 1,
        "Empty": {},
        "n": 3,
    }
    assert flatten_settings(7) == {}
    assert flatten_settings(7, prefix="value") == {"value": 7}
