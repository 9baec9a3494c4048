"""Bpod readers: exact synthetic round trips, real r0.5 and iblrig files, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.bpod import BpodSession, read_bpod_file, read_bpod_session
from w2t_bkin.testing.bpod import (
    DEFAULT_SESSION_START,
    BpodTrialsSpec,
    bpod_info,
    session_data_struct,
    simulate_bpod_trials,
    split_into_files,
    write_bpod_mat,
    write_bpod_session,
    write_mat_variables,
)

VERSIONS = ["v5", "v7.3"]
R05_DIR = Path("bpod/Bpod_r0_5/Data/Dummy Subject/AudGonogo/Session Data")
IBL_DIR = Path("bpod/ibllib/ibllib/tests/extractors/data")


@pytest.fixture(scope="module")
def spec() -> BpodTrialsSpec:
    return simulate_bpod_trials(14, seed=7)


def assert_matches_truth(session: BpodSession, spec: BpodTrialsSpec) -> None:
    """Every trial, state visit and event equals the simulated truth exactly."""
    np.testing.assert_array_equal(session.trial_start_s, spec.trial_start_s)
    np.testing.assert_array_equal(session.trial_end_s, spec.trial_end_s)
    np.testing.assert_array_equal(session.trial_types, spec.trial_types)
    trial_idx, names, start_s, stop_s = spec.state_visits()
    np.testing.assert_array_equal(session.state_trial_idx, trial_idx)
    np.testing.assert_array_equal(np.array(session.state_names)[session.state_name_idx], names)
    np.testing.assert_array_equal(session.state_start_s, start_s)
    np.testing.assert_array_equal(session.state_stop_s, stop_s)
    ev_trial_idx, ev_names, ev_time_s = spec.event_occurrences()
    np.testing.assert_array_equal(session.event_trial_idx, ev_trial_idx)
    np.testing.assert_array_equal(np.array(session.event_names)[session.event_name_idx], ev_names)
    np.testing.assert_array_equal(session.event_time_s, ev_time_s)
    assert session.trial_settings == tuple(dict(t.settings) for t in spec.trials)
    assert session.trial_types.dtype == np.int64
    assert session.state_start_s.dtype == np.float64


# ----------------------------------------------------------------------------------------------
# the simulator itself


def test_simulation_covers_the_cases_readers_must_handle(spec: BpodTrialsSpec) -> None:
    assert set(spec.trial_types) == {1, 2, 3}
    response_visits = [t.states["WaitForResponse"].shape[0] for t in spec.trials]
    assert set(response_visits) == {1, 2}  # some trials enter the response state twice
    for t in spec.trials:
        reward_nan = np.isnan(t.states["Reward"][0, 0])
        assert reward_nan != np.isnan(t.states["Punish"][0, 0])  # exactly one outcome
        assert t.events["Port1In"].shape == (2,)
        assert t.end_s == t.start_s + t.states["ITI"][0, 1]
    assert np.all(spec.trial_start_s[1:] > spec.trial_end_s[:-1])
    again = simulate_bpod_trials(14, seed=7)
    np.testing.assert_array_equal(again.state_visits()[2], spec.state_visits()[2])
    assert not np.array_equal(simulate_bpod_trials(14, seed=8).trial_end_s, spec.trial_end_s)


def test_sync_onsets_are_the_sync_state_entries(spec: BpodTrialsSpec) -> None:
    onsets = spec.sync_onsets_s()
    for trial, onset in zip(spec.trials, onsets, strict=True):
        name = spec.sync_states[trial.trial_type]
        assert onset == trial.start_s + trial.states[name][0, 0]
        assert onset == trial.start_s + trial.events["BNC1High"][0]


def test_split_into_files_restart_clock_offsets_are_whole_seconds(spec: BpodTrialsSpec) -> None:
    parts = split_into_files(spec, 3, restart_clock=True)
    assert [p.n_trials for p in parts] == [5, 5, 4]
    assert parts[0].clock_offset_s == 0.0
    for part in parts[1:]:
        assert part.clock_offset_s == np.floor(part.trials[0].start_s)
        assert part.file_start == spec.session_start + timedelta(seconds=part.clock_offset_s)
    assert all(p.clock_offset_s == 0.0 for p in split_into_files(spec, 3))
    with pytest.raises(ValueError, match=r"n_files must be in 1\.\.14"):
        split_into_files(spec, 15)


# ----------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("version", VERSIONS)
def test_single_file_round_trip_is_exact(tmp_path: Path, spec: BpodTrialsSpec, version) -> None:
    path = write_bpod_mat(tmp_path / "s.mat", spec, version=version)
    session = read_bpod_file(path)
    assert_matches_truth(session, spec)
    assert session.source_files == (path,)
    assert session.session_start == datetime(2024, 3, 4, 13, 45, 1, tzinfo=UTC)
    assert session.software_version == "1.00"
    assert session.settings == {
        "GUI.RewardAmount": 3.0,
        "GUI.ITIRange": [1.0, 2.0],
        "Protocol": "W2T",
    }
    np.testing.assert_array_equal(session.file_first_trial, [0])
    assert session.state_names == (
        "A2L_Audio",
        "Grace",
        "ITI",
        "Microstim",
        "Punish",
        "Reward",
        "W2T_Audio",
        "WaitForCue",
        "WaitForResponse",
    )
    assert session.event_names == ("BNC1High", "Port1In", "Port1Out", "Tup")


@pytest.mark.parametrize("version", VERSIONS)
def test_v73_file_has_matlab_header_and_layout(tmp_path: Path, spec, version) -> None:
    path = write_bpod_mat(tmp_path / "s.mat", spec, version=version)
    head = path.read_bytes()[:128]
    if version == "v5":
        assert head.startswith(b"MATLAB 5.0 MAT-file")
        return
    assert head.startswith(b"MATLAB 7.3 MAT-file")
    assert head[124:128] == b"\x00\x02IM"
    with h5py.File(path, "r") as f:
        assert f.userblock_size == 512
        assert f["SessionData"].attrs["MATLAB_class"] == b"struct"
        trials = f["SessionData/RawEvents/Trial"]
        assert trials.attrs["MATLAB_class"] == b"cell"
        assert trials.dtype == h5py.ref_dtype and trials.shape == (14, 1)
        date = f["SessionData/Info/SessionDate"]
        assert date.attrs["MATLAB_class"] == b"char" and date.dtype == np.uint16
        assert "".join(map(chr, date[()].ravel())) == "04-Mar-2024"


@pytest.mark.parametrize("version", VERSIONS)
def test_first_state_onset_gives_sync_times_and_nan_when_unvisited(tmp_path, spec, version) -> None:
    session = read_bpod_file(write_bpod_mat(tmp_path / "s.mat", spec, version=version))
    truth = spec.sync_onsets_s()
    for trial_type, name in spec.sync_states.items():
        onsets = session.first_state_onset_s(name)
        is_type = spec.trial_types == trial_type
        np.testing.assert_array_equal(onsets[is_type], truth[is_type])
        assert np.all(np.isnan(onsets[~is_type]))
    # a state entered twice: the first entry wins
    twice = [i for i, t in enumerate(spec.trials) if t.states["WaitForResponse"].shape[0] == 2]
    onsets = session.first_state_onset_s("WaitForResponse")
    for i in twice:
        visits = spec.trials[i].states["WaitForResponse"]
        assert onsets[i] == spec.trials[i].start_s + visits[0, 0]
        rows = (session.state_trial_idx == i) & (
            session.state_name_idx == session.state_names.index("WaitForResponse")
        )
        np.testing.assert_array_equal(
            session.state_stop_s[rows], spec.trials[i].start_s + visits[:, 1]
        )
    assert np.all(np.isnan(session.first_state_onset_s("NoSuchState")))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("restart_clock", [False, True])
def test_two_file_session_merges_onto_one_clock(tmp_path, spec, version, restart_clock) -> None:
    paths = write_bpod_session(
        tmp_path, spec, n_files=2, restart_clock=restart_clock, version=version
    )
    if restart_clock:  # the second file really restarts near zero
        assert read_bpod_file(paths[1]).trial_start_s[0] < 1.0
    session = read_bpod_session(paths)
    assert_matches_truth(session, spec)
    assert session.source_files == tuple(paths)
    np.testing.assert_array_equal(session.file_first_trial, [0, 7])
    second_offset_s = np.floor(spec.trials[7].start_s) if restart_clock else 0.0
    np.testing.assert_array_equal(session.file_offset_s, [0.0, second_offset_s])
    assert session.file_alignment == ("first", "info" if restart_clock else "continuous")
    assert session.session_start == DEFAULT_SESSION_START


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n_trials=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    split=st.integers(1, 4),
    restart_clock=st.booleans(),
)
def test_any_split_round_trips_exactly(tmp_path_factory, n_trials, seed, split, restart_clock):
    spec = simulate_bpod_trials(n_trials, seed=seed, trial_types=(1, 3))
    folder = tmp_path_factory.mktemp("split")
    n_files = min(split, n_trials)
    paths = write_bpod_session(folder, spec, n_files=n_files, restart_clock=restart_clock)
    session = read_bpod_session(paths)
    assert_matches_truth(session, spec)
    assert len(session.file_first_trial) == n_files


def test_three_files_mixed_v5_and_v73_restart(tmp_path: Path, spec: BpodTrialsSpec) -> None:
    parts = split_into_files(spec, 3, restart_clock=True)
    paths = [
        write_bpod_mat(tmp_path / f"p{k}.mat", part, version=VERSIONS[k % 2])
        for k, part in enumerate(parts)
    ]
    session = read_bpod_session(paths)
    assert_matches_truth(session, spec)
    np.testing.assert_array_equal(session.file_first_trial, [0, 5, 10])
    assert session.file_alignment == ("first", "info", "info")


@pytest.mark.parametrize("version", VERSIONS)
def test_single_trial_file_is_not_squeezed_away(tmp_path: Path, version) -> None:
    one = simulate_bpod_trials(1, seed=11)
    session = read_bpod_file(write_bpod_mat(tmp_path / "one.mat", one, version=version))
    assert session.n_trials == 1
    assert_matches_truth(session, one)
    assert session.trial_start_s.shape == (1,)


@pytest.mark.parametrize("version", VERSIONS)
def test_single_visit_single_event_trials(tmp_path: Path, version) -> None:
    spec = simulate_bpod_trials(3, seed=2, p_retry=0.0)
    write_bpod_mat(tmp_path / "s.mat", spec, version=version)
    session = read_bpod_file(tmp_path / "s.mat")
    assert_matches_truth(session, spec)
    # BNC1High has exactly one occurrence per trial (a squeezed scalar in the file)
    rows = session.event_name_idx == session.event_names.index("BNC1High")
    np.testing.assert_array_equal(session.event_trial_idx[rows], [0, 1, 2])


@pytest.mark.parametrize("version", VERSIONS)
def test_legacy_r05_layout_estimates_trial_end_from_last_state(tmp_path, spec, version) -> None:
    path = write_bpod_mat(tmp_path / "old.mat", spec, version=version, legacy_r05=True)
    session = read_bpod_file(path)
    # the simulated trial ends when ITI exits, so the estimate is exact
    np.testing.assert_array_equal(session.trial_end_s, spec.trial_end_s)
    np.testing.assert_array_equal(session.trial_types, np.ones(14, dtype=np.int64))
    assert session.session_start is None
    assert session.software_version is None


def test_preallocated_trial_types_are_cut_to_ntrials(tmp_path: Path, spec) -> None:
    sd = session_data_struct(spec)
    sd["TrialTypes"] = np.concatenate([spec.trial_types, [2, 2, 2, 2]]).astype(float)
    session = read_bpod_file(write_mat_variables(tmp_path / "s.mat", {"SessionData": sd}))
    np.testing.assert_array_equal(session.trial_types, spec.trial_types)


def test_trial_types_shorter_than_ntrials_is_an_error(tmp_path: Path, spec) -> None:
    sd = session_data_struct(spec)
    sd["TrialTypes"] = spec.trial_types[:5].astype(float)
    path = write_mat_variables(tmp_path / "s.mat", {"SessionData": sd})
    with pytest.raises(IngestError, match=r"TrialTypes has 5 values, expected at least nTrials=14"):
        read_bpod_file(path)


def test_ntrials_larger_than_stored_trials_warns_and_reads_what_is_there(tmp_path, spec) -> None:
    sd = session_data_struct(spec)
    sd["nTrials"] = 20.0
    path = write_mat_variables(tmp_path / "s.mat", {"SessionData": sd})
    with pytest.warns(DataQualityWarning, match=r"nTrials=20 but RawEvents.Trial has 14"):
        session = read_bpod_file(path)
    assert session.n_trials == 14


def test_info_matlab_datenum_used_when_utc_strings_absent(tmp_path: Path, spec) -> None:
    info = bpod_info(DEFAULT_SESSION_START)
    del info["SessionDate"], info["SessionStartTime_UTC"]
    session = read_bpod_file(write_bpod_mat(tmp_path / "s.mat", spec, info=info))
    assert session.session_start is not None
    assert session.session_start.tzinfo is None  # datenum is local time
    assert abs(session.session_start - datetime(2024, 3, 4, 13, 45, 1)) < timedelta(milliseconds=1)


# ----------------------------------------------------------------------------------------------
# merge failures


def test_restarted_clock_without_info_cannot_be_merged(tmp_path: Path, spec) -> None:
    parts = split_into_files(spec, 2, restart_clock=True)
    paths = [write_bpod_mat(tmp_path / f"p{k}.mat", p, info=None) for k, p in enumerate(parts)]
    with pytest.raises(IngestError, match=r"Bpod clock restarted.*missing in: p0.mat, p1.mat") as e:
        read_bpod_session(paths)
    assert "separate sessions" in str(e.value.hint)
    assert e.value.path == paths[1]


def test_files_given_in_the_wrong_order_are_refused(tmp_path: Path, spec) -> None:
    paths = write_bpod_session(tmp_path, spec, n_files=2, restart_clock=True)
    with pytest.raises(IngestError, match=r"Info start times place .* before the end of"):
        read_bpod_session(paths[::-1])


def test_info_that_contradicts_the_timestamps_is_refused(tmp_path: Path, spec) -> None:
    parts = split_into_files(spec, 2, restart_clock=True)
    first = write_bpod_mat(tmp_path / "a.mat", parts[0])
    # second file claims the same start as the first although its clock restarted
    second = write_bpod_mat(tmp_path / "b.mat", parts[1], info=bpod_info(DEFAULT_SESSION_START))
    with pytest.raises(IngestError, match=r"before the end of a.mat"):
        read_bpod_session([first, second])


def test_empty_path_list_is_an_error() -> None:
    with pytest.raises(IngestError, match="no Bpod files given"):
        read_bpod_session([])


# ----------------------------------------------------------------------------------------------
# not a Bpod file


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="Bpod file not found") as e:
        read_bpod_file(tmp_path / "nope.mat")
    assert e.value.path == tmp_path / "nope.mat"


@pytest.mark.parametrize("version", VERSIONS)
def test_mat_without_session_data(tmp_path: Path, version) -> None:
    path = write_mat_variables(
        tmp_path / "other.mat", {"x": 1.0, "Data": {"a": 2.0}}, version=version
    )
    with pytest.raises(IngestError, match=r"expected a 'SessionData' variable, found Data, x"):
        read_bpod_file(path)


@pytest.mark.parametrize(
    "content", [b"\x00\x01garbage" * 50, b"just some text\nnot matlab\n"], ids=["binary", "text"]
)
def test_random_file_with_mat_extension(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mat"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=r"fake.mat.*cannot read as a MATLAB .mat file"):
        read_bpod_file(path)


@pytest.mark.parametrize("missing", ["RawEvents", "nTrials", "TrialStartTimestamp"])
@pytest.mark.parametrize("version", VERSIONS)
def test_session_data_missing_required_field(tmp_path, spec, missing, version) -> None:
    sd = session_data_struct(spec)
    del sd[missing]
    path = write_mat_variables(tmp_path / "s.mat", {"SessionData": sd}, version=version)
    with pytest.raises(IngestError, match=rf"s.mat.*SessionData has no field '{missing}'"):
        read_bpod_file(path)


def test_session_data_that_is_not_a_struct(tmp_path: Path) -> None:
    path = write_mat_variables(tmp_path / "s.mat", {"SessionData": 3.0})
    with pytest.raises(IngestError, match="'SessionData' is a float, expected a MATLAB struct"):
        read_bpod_file(path)


def test_state_that_is_not_start_stop_pairs(tmp_path: Path, spec) -> None:
    sd = session_data_struct(spec)
    sd["RawEvents"]["Trial"][2]["States"]["ITI"] = np.array([1.0, 2.0, 3.0])
    path = write_mat_variables(tmp_path / "s.mat", {"SessionData": sd})
    with pytest.raises(IngestError, match=r"Trial\{3\}.States.ITI: expected \[start stop\] pairs"):
        read_bpod_file(path)


# ----------------------------------------------------------------------------------------------
# iblrig jsonable (synthetic errors)


def _jsonable_line(start_s: float) -> str:
    behavior = {
        "Trial start timestamp": start_s,
        "Trial end timestamp": start_s + 2.0,
        "States timestamps": {"a": [[0, 1.0]], "b": [[1.0, 2.0]], "c": [[None, None]]},
        "Events timestamps": {"Tup": [1.0, 2.0]},
    }
    return json.dumps({"trial_num": 1, "behavior_data": behavior}).replace("null", "NaN")


def test_jsonable_states_are_relative_to_trial_start(tmp_path: Path) -> None:
    path = tmp_path / "_iblrig_taskData.raw.jsonable"
    path.write_text(_jsonable_line(10.0) + "\n\n" + _jsonable_line(13.0) + "\n")
    session = read_bpod_file(path)
    np.testing.assert_array_equal(session.trial_start_s, [10.0, 13.0])
    np.testing.assert_array_equal(session.state_start_s, [10.0, 11.0, 13.0, 14.0])
    np.testing.assert_array_equal(session.event_time_s, [11.0, 12.0, 14.0, 15.0])
    assert session.state_names == ("a", "b", "c")
    assert session.trial_settings == ({"trial_num": 1}, {"trial_num": 1})
    assert session.settings == {} and session.software_version is None


def test_jsonable_line_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "_iblrig_taskData.raw.jsonable"
    path.write_text(_jsonable_line(1.0) + "\n" + _jsonable_line(4.0) + '\n{"behavior_data": \n')
    with pytest.raises(IngestError, match=r"line 3 is not valid JSON"):
        read_bpod_file(path)


def test_jsonable_line_without_behavior_data(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonable"
    path.write_text(_jsonable_line(1.0) + "\n" + json.dumps({"trial_num": 2}) + "\n")
    with pytest.raises(IngestError, match=r"line 2: expected 'behavior_data'"):
        read_bpod_file(path)


# ----------------------------------------------------------------------------------------------
# real files


def _r05_files(real_data: Path) -> list[Path]:
    files = sorted((real_data / R05_DIR).glob("*.mat"))
    assert len(files) == 8
    return files


@pytest.mark.real_data
def test_real_r05_files_trial_counts_and_timestamps(real_data: Path) -> None:
    for path in _r05_files(real_data):
        raw = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["SessionData"]
        session = read_bpod_file(path)
        assert session.n_trials == int(raw.nTrials)
        np.testing.assert_array_equal(session.trial_start_s, np.atleast_1d(raw.TrialStartTimestamp))
        assert session.session_start is None and session.software_version is None
        np.testing.assert_array_equal(session.trial_types, np.ones(session.n_trials, np.int64))
    assert [read_bpod_file(p).n_trials for p in _r05_files(real_data)] == [10, 5, 3, 2, 7, 7, 5, 3]


@pytest.mark.real_data
def test_real_r05_session1_values(real_data: Path) -> None:
    path = _r05_files(real_data)[0]
    raw = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["SessionData"]
    session = read_bpod_file(path)
    assert session.trial_start_s[0] == 1332.465
    trial0 = raw.RawEvents.Trial[0]
    # r0.5 has no TrialEndTimestamp: the estimate is the ITI exit (the last state)
    assert session.trial_end_s[0] == 1332.465 + trial0.States.ITI[1]
    assert session.first_state_onset_s("DeliverStimulus")[0] == 1332.465 + 3.00002
    # trial 7 (index 6) entered InitialDelay 7 times, RestartInitialDelay 6 times
    initial = session.state_names.index("InitialDelay")
    rows = (session.state_trial_idx == 6) & (session.state_name_idx == initial)
    start_6 = raw.TrialStartTimestamp[6]
    np.testing.assert_array_equal(
        session.state_start_s[rows], start_6 + raw.RawEvents.Trial[6].States.InitialDelay[:, 0]
    )
    assert rows.sum() == 7
    assert np.all(np.isnan(session.first_state_onset_s("DeliverPunish")[:1]))
    tup = session.event_names.index("Tup")
    rows = (session.event_trial_idx == 0) & (session.event_name_idx == tup)
    np.testing.assert_array_equal(session.event_time_s[rows], 1332.465 + trial0.Events.Tup)
    assert session.event_names == ("Port1In", "Port1Out", "Tup")
    assert session.trial_settings[0]["GUI"]["RewardAmount"] == 5
    assert session.settings == {}


@pytest.mark.real_data
def test_real_r05_files_on_one_rig_clock_merge_as_continuous(real_data: Path) -> None:
    files = _r05_files(real_data)
    session = read_bpod_session(files)
    assert session.n_trials == 42
    np.testing.assert_array_equal(session.file_first_trial, [0, 10, 15, 18, 20, 27, 34, 39])
    assert session.file_alignment == ("first",) + ("continuous",) * 7
    np.testing.assert_array_equal(session.file_offset_s, np.zeros(8))
    assert session.trial_start_s[10] == read_bpod_file(files[1]).trial_start_s[0]


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "n_trials", "start"),
    [
        ("session_training_ge5", 12, datetime(2019, 7, 1, 12, 15, 18, 145140)),
        ("session_biased_ge5", 8, datetime(2019, 7, 1, 12, 18, 14, 602640)),
    ],
)
def test_real_iblrig_jsonable(real_data: Path, name: str, n_trials: int, start) -> None:
    path = real_data / IBL_DIR / name / "raw_behavior_data" / "_iblrig_taskData.raw.jsonable"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    session = read_bpod_file(path)
    assert session.n_trials == n_trials == len(lines)
    behavior = [line["behavior_data"] for line in lines]
    np.testing.assert_array_equal(
        session.trial_start_s, [b["Trial start timestamp"] for b in behavior]
    )
    np.testing.assert_array_equal(session.trial_end_s, [b["Trial end timestamp"] for b in behavior])
    # states are stored relative to the trial start: stim_on becomes start + relative onset
    stim_on = [
        b["Trial start timestamp"] + b["States timestamps"]["stim_on"][0][0] for b in behavior
    ]
    np.testing.assert_array_equal(session.first_state_onset_s("stim_on"), stim_on)
    # and trial_start (relative 0) coincides with the trial start timestamp
    np.testing.assert_array_equal(session.first_state_onset_s("trial_start"), session.trial_start_s)
    port1in = session.event_names.index("Port1In")
    rows = (session.event_trial_idx == 0) & (session.event_name_idx == port1in)
    assert rows.sum() == len(behavior[0]["Events timestamps"]["Port1In"])
    assert session.software_version == "iblrig 5.0.0"
    assert session.session_start == start
    assert session.settings["PYBPOD_PROTOCOL"].startswith("_iblrig_tasks_")
    assert session.trial_settings[0]["trial_num"] == 1
    assert "behavior_data" not in session.trial_settings[0]


@pytest.mark.real_data
def test_real_iblrig_first_values(real_data: Path) -> None:
    path = (
        real_data / IBL_DIR / "session_training_ge5/raw_behavior_data/_iblrig_taskData.raw.jsonable"
    )
    session = read_bpod_file(path)
    assert session.trial_start_s[0] == 1.76791
    assert session.trial_end_s[0] == 5.995712
    assert session.first_state_onset_s("stim_on")[0] == 1.76791 + 1.4762000000000002
    assert np.isnan(session.first_state_onset_s("error")[0])
