"""Synthetic Bpod sessions with ground truth, written as genuine Bpod Gen2 ``SessionData`` files.

:func:`simulate_bpod_trials` draws a task (wait, a per-trial-type sync state, response with an
optional retry loop, reward *or* punish, ITI) and returns a :class:`BpodTrialsSpec` holding the
true times. :func:`split_into_files` cuts a spec into the files of one session (either keeping
one continuous clock, or restarting the clock in every file with ``Info`` start times that tell
how far apart the files are). :func:`write_bpod_mat` writes a spec as MATLAB v5 (scipy) or v7.3
(HDF5 with MATLAB's layout).

Every time is a multiple of :data:`TIME_QUANTUM_S` (a power of two) and every clock offset is a
whole second, so sums and differences of times are exact in float64: readers can be tested with
exact equality.

The module is a little over 600 lines on purpose: simulation, file splitting and both writers
share that exact-time invariant and the spec's layout, and are read together when either changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import scipy.io

log = logging.getLogger(__name__)

TIME_QUANTUM_S = 2.0**-12
"""Resolution of simulated times (about 0.24 ms): dyadic, so float64 arithmetic stays exact."""

DEFAULT_SYNC_STATES: Mapping[int, str] = {1: "W2T_Audio", 2: "A2L_Audio", 3: "Microstim"}
"""Sync state per trial type: its onset is the event that a TTL line marks."""

DEFAULT_SESSION_START = datetime(2024, 3, 4, 13, 45, 1, tzinfo=UTC)

_MAT_HEADER_BYTES = 128
_USERBLOCK_BYTES = 512


@dataclass(frozen=True)
class SimulatedTrial:
    """One trial's truth.

    Attributes
    ----------
    trial_type
        Bpod trial type.
    start_s, end_s
        Trial start and end on the session's Bpod clock (seconds).
    states
        State name -> ``(n_visits, 2) float64`` ``[entry exit]`` relative to ``start_s``;
        ``[[nan, nan]]`` when the state was not entered (as Bpod writes it).
    events
        Event name -> ``(n,) float64`` times relative to ``start_s``.
    settings
        The trial's ``TrialSettings`` (plain Python values).
    """

    trial_type: int
    start_s: float
    end_s: float
    states: Mapping[str, np.ndarray]
    events: Mapping[str, np.ndarray]
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BpodTrialsSpec:
    """Trials of a Bpod session (or of one of its files) with the true times.

    Attributes
    ----------
    trials
        The trials, in order; times on the *session* clock.
    sync_states
        Trial type -> name of the state whose onset is the sync event.
    session_start
        Wall-clock time (UTC, whole seconds) of t=0 on the session clock.
    clock_offset_s
        Where this file's own Bpod clock started on the session clock (a whole number of
        seconds). Files store ``time - clock_offset_s``; their ``Info`` start time is
        ``session_start + clock_offset_s``.
    settings
        Session-wide ``Settings``.
    """

    trials: tuple[SimulatedTrial, ...]
    sync_states: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_SYNC_STATES))
    session_start: datetime = DEFAULT_SESSION_START
    clock_offset_s: float = 0.0
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def trial_types(self) -> np.ndarray:
        """``(n_trials,) int64``."""
        return np.array([t.trial_type for t in self.trials], dtype=np.int64)

    @property
    def trial_start_s(self) -> np.ndarray:
        """``(n_trials,) float64`` on the session clock."""
        return np.array([t.start_s for t in self.trials], dtype=np.float64)

    @property
    def trial_end_s(self) -> np.ndarray:
        """``(n_trials,) float64`` on the session clock."""
        return np.array([t.end_s for t in self.trials], dtype=np.float64)

    @property
    def file_start(self) -> datetime:
        """Wall-clock start of this file's Bpod clock (what its ``Info`` records)."""
        return self.session_start + timedelta(seconds=self.clock_offset_s)

    def sync_onsets_s(self) -> np.ndarray:
        """``(n_trials,) float64``: onset of each trial's sync state on the session clock."""
        onsets = np.full(self.n_trials, np.nan)
        for i, trial in enumerate(self.trials):
            name = self.sync_states.get(trial.trial_type)
            if name is not None and name in trial.states:
                onsets[i] = trial.start_s + trial.states[name][0, 0]
        return onsets

    def state_visits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every visited state on the session clock, ordered by trial, entry, exit, name.

        Returns
        -------
        trial_idx : (n_visits,) int64
        names : (n_visits,) str
        start_s, stop_s : (n_visits,) float64
        """
        rows = [
            (i, name, t.start_s + a, t.start_s + b)
            for i, t in enumerate(self.trials)
            for name, visits in t.states.items()
            for a, b in visits
            if not math.isnan(a)
        ]
        rows.sort(key=lambda r: (r[0], r[2], r[3], r[1]))
        return _columns4(rows)

    def event_occurrences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every event on the session clock, ordered by trial, time, name.

        Returns
        -------
        trial_idx : (n_events,) int64
        names : (n_events,) str
        time_s : (n_events,) float64
        """
        rows = [
            (i, name, t.start_s + x)
            for i, t in enumerate(self.trials)
            for name, times in t.events.items()
            for x in times
        ]
        rows.sort(key=lambda r: (r[0], r[2], r[1]))
        trial_idx = np.array([r[0] for r in rows], dtype=np.int64)
        names = np.array([r[1] for r in rows], dtype=str)
        return trial_idx, names, np.array([r[2] for r in rows], dtype=np.float64)


def _columns4(
    rows: list[tuple[int, str, float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=str),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.float64),
    )


def _quantize(x: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) / TIME_QUANTUM_S) * TIME_QUANTUM_S


def simulate_bpod_trials(
    n_trials: int,
    *,
    trial_types: Sequence[int] = (1, 2, 3),
    seed: int = 0,
    iti_s: tuple[float, float] = (1.0, 2.0),
    first_trial_start_s: float = 0.5,
    sync_states: Mapping[int, str] = DEFAULT_SYNC_STATES,
    wait_state: str = "WaitForCue",
    response_state: str = "WaitForResponse",
    retry_state: str = "Grace",
    reward_state: str = "Reward",
    punish_state: str = "Punish",
    iti_state: str = "ITI",
    p_reward: float = 0.6,
    p_retry: float = 0.3,
    session_start: datetime = DEFAULT_SESSION_START,
) -> BpodTrialsSpec:
    """Draw a Bpod session with known state and event times (pure; no I/O).

    Each trial runs ``wait_state`` -> the sync state of its type -> ``response_state``
    (entered twice, around one ``retry_state`` visit, with probability ``p_retry``) ->
    ``reward_state`` or ``punish_state`` (the other one unvisited) -> ``iti_state``. The sync
    states of the other types are unvisited. Events: ``Tup`` at timer exits, ``BNC1High`` at the
    sync-state onset, and ``Port1In``/``Port1Out`` twice per trial during the response window.

    Parameters
    ----------
    n_trials
        Number of trials (>= 1).
    trial_types
        Types drawn uniformly for each trial; each needs an entry in ``sync_states``.
    seed
        Seed of the random generator.
    iti_s
        ``(low, high)`` duration of the ITI state, drawn uniformly.
    first_trial_start_s
        Start of the first trial on the Bpod clock.
    sync_states
        Trial type -> sync state name.
    wait_state, response_state, retry_state, reward_state, punish_state, iti_state
        State names.
    p_reward, p_retry
        Probabilities of a rewarded trial and of a retry loop.
    session_start
        Wall-clock time of t=0 on the Bpod clock (UTC; microseconds are dropped).

    Returns
    -------
    BpodTrialsSpec
        With ``clock_offset_s == 0``.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    unknown = sorted(set(trial_types) - set(sync_states))
    if unknown:
        raise ValueError(f"trial types {unknown} have no sync state in sync_states")
    rng = np.random.default_rng(seed)
    all_sync = list(dict.fromkeys(sync_states.values()))
    nan_row = np.full((1, 2), np.nan)
    trials: list[SimulatedTrial] = []
    start_s = float(_quantize(first_trial_start_s))
    for i in range(n_trials):
        trial_type = int(rng.choice(np.asarray(trial_types)))
        sync_name = sync_states[trial_type]
        d = _quantize(rng.uniform([0.2, 0.1, 0.3, 0.1, 0.2, 0.05], [0.8, 0.3, 1.0, 0.4, 0.6, 0.3]))
        wait_d, cue_d, resp_d, retry_d, resp2_d, outcome_d = (float(x) for x in d)
        iti_d = float(_quantize(rng.uniform(*iti_s)))
        t = 0.0
        states: dict[str, np.ndarray] = {}
        states[wait_state] = np.array([[t, t + wait_d]])
        t += wait_d
        for name in all_sync:
            states[name] = nan_row.copy()
        states[sync_name] = np.array([[t, t + cue_d]])
        cue_on, t = t, t + cue_d
        response = [[t, t + resp_d]]
        t += resp_d
        if rng.random() < p_retry:
            states[retry_state] = np.array([[t, t + retry_d]])
            t += retry_d
            response.append([t, t + resp2_d])
            t += resp2_d
        else:
            states[retry_state] = nan_row.copy()
        states[response_state] = np.array(response)
        rewarded = bool(rng.random() < p_reward)
        states[reward_state if rewarded else punish_state] = np.array([[t, t + outcome_d]])
        states[punish_state if rewarded else reward_state] = nan_row.copy()
        t += outcome_d
        states[iti_state] = np.array([[t, t + iti_d]])
        end_rel = t + iti_d

        # Two licks inside the first response window, each followed by its release.
        r0, r1 = response[0]
        licks = np.sort(_quantize(rng.uniform(r0, r0 + 0.8 * (r1 - r0), size=2)))
        if licks[1] - licks[0] < 4 * TIME_QUANTUM_S:
            licks[1] = licks[0] + 4 * TIME_QUANTUM_S
        events = {
            "Tup": np.array([wait_d, cue_on + cue_d, end_rel - iti_d, end_rel]),
            "BNC1High": np.array([cue_on]),
            "Port1In": licks,
            "Port1Out": licks + 2 * TIME_QUANTUM_S,
        }
        settings = {
            "TrialNumber": float(i + 1),
            "CueName": sync_name,
            "GUI": {"RewardAmount": 3.0, "CueDuration": cue_d},
        }
        trials.append(
            SimulatedTrial(trial_type, start_s, start_s + end_rel, states, events, settings)
        )
        start_s = float(_quantize(start_s + end_rel + rng.uniform(0.01, 0.05)))
    return BpodTrialsSpec(
        trials=tuple(trials),
        sync_states=dict(sync_states),
        session_start=session_start.replace(microsecond=0),
        settings={"GUI": {"RewardAmount": 3.0, "ITIRange": list(iti_s)}, "Protocol": "W2T"},
    )


def split_into_files(
    spec: BpodTrialsSpec, n_files: int, *, restart_clock: bool = False
) -> tuple[BpodTrialsSpec, ...]:
    """Cut a session into ``n_files`` consecutive files (trials split as evenly as possible).

    Parameters
    ----------
    spec
        The whole session.
    n_files
        Number of files, 1 <= n_files <= n_trials.
    restart_clock
        False: every file keeps the session clock (``clock_offset_s = 0``) and the same ``Info``
        (a session saved in parts). True: each later file's clock restarts at the whole second
        before its first trial (``clock_offset_s = floor(first start)``), so its stored
        timestamps restart near 0 and only ``Info`` start times place it.

    Returns
    -------
    tuple of BpodTrialsSpec
        Trial times stay on the session clock; :func:`write_bpod_mat` subtracts the offsets.
    """
    if not 1 <= n_files <= spec.n_trials:
        raise ValueError(f"n_files must be in 1..{spec.n_trials}, got {n_files}")
    parts = np.array_split(np.arange(spec.n_trials), n_files)
    out = []
    for k, idx in enumerate(parts):
        trials = tuple(spec.trials[i] for i in idx)
        offset_s = float(math.floor(trials[0].start_s)) if restart_clock and k > 0 else 0.0
        out.append(replace(spec, trials=trials, clock_offset_s=offset_s))
    return tuple(out)


def bpod_info(
    start: datetime, *, software_version: str = "1.00", state_machine: str = "Bpod 2.0"
) -> dict[str, Any]:
    """A Gen2 ``SessionData.Info`` for a session whose Bpod clock started at ``start`` (UTC).

    ``SessionStartTime_MATLAB`` is a MATLAB datenum of the same instant (MATLAB writes local
    time there; the synthetic rig runs on UTC).
    """
    start_utc = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
    naive = start_utc.replace(tzinfo=None)
    datenum = (naive - datetime(1, 1, 1)).total_seconds() / 86400.0 + 367.0
    return {
        "BpodSoftwareVersion": software_version,
        "StateMachineVersion": state_machine,
        "SessionDate": naive.strftime("%d-%b-%Y"),
        "SessionStartTime_UTC": naive.strftime("%H:%M:%S"),
        "SessionStartTime_MATLAB": datenum,
    }


class _StructArray(list):  # type: ignore[type-arg]
    """A list of dicts with the same fields, written as a MATLAB struct array (not a cell)."""


def session_data_struct(
    spec: BpodTrialsSpec,
    *,
    info: Mapping[str, Any] | Literal["auto"] | None = "auto",
    settings: Mapping[str, Any] | None = None,
    legacy_r05: bool = False,
) -> dict[str, Any]:
    """The ``SessionData`` struct of a spec, as nested dicts / lists / arrays.

    Times are written relative to the file's clock (``time - spec.clock_offset_s``).
    ``legacy_r05=True`` leaves out ``Info``, ``TrialEndTimestamp`` and ``TrialTypes`` like Bpod
    r0.5 did.
    """
    offset_s = spec.clock_offset_s
    trials = [
        {
            "States": {k: np.asarray(v, dtype=np.float64) for k, v in t.states.items()},
            "Events": {k: np.asarray(v, dtype=np.float64) for k, v in t.events.items()},
        }
        for t in spec.trials
    ]
    sd: dict[str, Any] = {
        "nTrials": float(spec.n_trials),
        "RawEvents": {"Trial": trials},
        "TrialStartTimestamp": spec.trial_start_s - offset_s,
        "TrialSettings": _StructArray(dict(t.settings) for t in spec.trials),
        "Settings": dict(spec.settings if settings is None else settings),
    }
    if not legacy_r05:
        sd["TrialEndTimestamp"] = spec.trial_end_s - offset_s
        sd["TrialTypes"] = spec.trial_types.astype(np.float64)
        if info == "auto":
            sd["Info"] = bpod_info(spec.file_start)
        elif info is not None:
            sd["Info"] = dict(info)
    return sd


def write_bpod_mat(
    path: str | Path,
    trials: BpodTrialsSpec,
    *,
    version: Literal["v5", "v7.3"] = "v5",
    info: Mapping[str, Any] | Literal["auto"] | None = "auto",
    settings: Mapping[str, Any] | None = None,
    legacy_r05: bool = False,
) -> Path:
    """Write a spec as a Bpod ``SessionData`` ``.mat`` file.

    Parameters
    ----------
    path
        Output file.
    trials
        The trials (one file's part of a session, see :func:`split_into_files`).
    version
        ``"v5"`` (scipy.io.savemat; MATLAB structs and cells) or ``"v7.3"`` (HDF5 with a
        512-byte MATLAB userblock, groups for structs, object-reference cell arrays and
        ``MATLAB_class`` attributes).
    info
        ``"auto"``: :func:`bpod_info` of the file's clock start; a mapping: written as is;
        None: no ``Info``.
    settings
        ``SessionData.Settings``; defaults to ``trials.settings``.
    legacy_r05
        Write the Bpod r0.5 layout (no ``Info``, ``TrialEndTimestamp``, ``TrialTypes``).

    Returns
    -------
    Path
        ``path``.
    """
    sd = session_data_struct(trials, info=info, settings=settings, legacy_r05=legacy_r05)
    path = write_mat_variables(path, {"SessionData": sd}, version=version)
    log.debug("wrote %d Bpod trials to %s (%s)", trials.n_trials, path, version)
    return path


def write_mat_variables(
    path: str | Path, variables: Mapping[str, Any], *, version: Literal["v5", "v7.3"] = "v5"
) -> Path:
    """Write top-level MATLAB variables (e.g. an edited :func:`session_data_struct`).

    Dicts become structs, lists become cells, numbers become doubles, strings become char.
    """
    path = Path(path)
    if version == "v5":
        scipy.io.savemat(path, {k: _to_v5(v) for k, v in variables.items()}, oned_as="row")
    elif version == "v7.3":
        _write_v73(path, variables)
    else:
        raise ValueError(f"version must be 'v5' or 'v7.3', got {version!r}")
    return path


def write_bpod_session(
    folder: str | Path,
    spec: BpodTrialsSpec,
    *,
    n_files: int = 1,
    restart_clock: bool = False,
    version: Literal["v5", "v7.3"] = "v5",
    subject: str = "mouse01",
    protocol: str = "W2T",
) -> list[Path]:
    """Write a session as ``n_files`` Bpod files named like Bpod does, in recording order.

    Names are ``<subject>_<protocol>_<YYYYMMDD>_<HHMMSS>.mat`` with the wall-clock time of each
    file's first trial, so they sort in recording order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in split_into_files(spec, n_files, restart_clock=restart_clock):
        first = spec.session_start + timedelta(seconds=math.floor(part.trials[0].start_s))
        name = f"{subject}_{protocol}_{first:%Y%m%d_%H%M%S}.mat"
        paths.append(write_bpod_mat(folder / name, part, version=version))
    return paths


# --------------------------------------------------------------------------------------------
# MATLAB v5 via scipy


def _to_v5(value: Any) -> Any:
    """Nested dicts/lists to what scipy.io.savemat writes as MATLAB structs/cells/doubles."""
    if isinstance(value, _StructArray):
        items = [_to_v5(v) for v in value]
        if len(items) == 1:
            return items[0]
        names = list(items[0]) if items else []
        arr = np.empty((1, len(items)), dtype=[(n, object) for n in names])
        for j, item in enumerate(items):
            arr[0, j] = tuple(item[n] for n in names)
        return arr
    if isinstance(value, Mapping):
        return {k: _to_v5(v) for k, v in value.items()}
    if isinstance(value, list):
        cell = np.empty((1, len(value)), dtype=object)
        for j, item in enumerate(value):
            cell[0, j] = _to_v5(item)
        return cell
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)  # Bpod stores doubles
    return value


# --------------------------------------------------------------------------------------------
# MATLAB v7.3 via h5py


def _write_v73(path: Path, variables: Mapping[str, Any]) -> None:
    with h5py.File(path, "w", userblock_size=_USERBLOCK_BYTES, libver="earliest") as f:
        writer = _MatlabH5Writer(f)
        for name, value in variables.items():
            writer.write(f, name, value)
    header = (
        f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
        f"{datetime.now(UTC):%a %b %d %H:%M:%S %Y} HDF5 schema 1.00 ."
    ).encode("ascii")
    block = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    assert len(block) == _MAT_HEADER_BYTES
    with path.open("r+b") as fh:
        fh.write(block)


@dataclass
class _MatlabH5Writer:
    """Writes Python values in the layout MATLAB uses for v7.3 files."""

    f: h5py.File
    _n_refs: int = 0

    def _refs(self) -> h5py.Group:
        return self.f.require_group("#refs#")

    def _new_ref_name(self) -> str:
        self._n_refs += 1
        return f"r{self._n_refs}"

    def write(self, parent: h5py.Group, name: str, value: Any) -> h5py.HLObject:
        if isinstance(value, _StructArray):
            if len(value) == 1:
                return self.write(parent, name, value[0])
            return self._struct_array(parent, name, list(value))
        if isinstance(value, Mapping):
            group = parent.create_group(name)
            _set_class(group, "struct")
            _set_fields(group, list(value))
            for key, item in value.items():
                self.write(group, key, item)
            return group
        if isinstance(value, list):
            refs = [self.write(self._refs(), self._new_ref_name(), v).ref for v in value]
            ds = parent.create_dataset(
                name, data=np.array(refs, dtype=h5py.ref_dtype).reshape(len(refs), 1)
            )
            _set_class(ds, "cell")
            return ds
        if isinstance(value, str):
            if not value:
                return _empty(parent, name, "char")
            codes = np.frombuffer(value.encode("utf-16-le"), dtype=np.uint16)
            ds = parent.create_dataset(name, data=codes.reshape(-1, 1))
            _set_class(ds, "char")
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
            return ds
        if isinstance(value, bool):
            ds = parent.create_dataset(name, data=np.array([[value]], dtype=np.uint8))
            _set_class(ds, "logical")
            ds.attrs["MATLAB_int_decode"] = np.int32(1)
            return ds
        arr = np.asarray(value, dtype=np.float64)
        if arr.size == 0:
            return _empty(parent, name, "double")
        matlab = arr.reshape(1, -1) if arr.ndim < 2 else arr  # vectors are MATLAB rows
        ds = parent.create_dataset(name, data=matlab.T)
        _set_class(ds, "double")
        return ds

    def _struct_array(
        self, parent: h5py.Group, name: str, items: list[Mapping[str, Any]]
    ) -> h5py.Group:
        group = parent.create_group(name)
        _set_class(group, "struct")
        _set_fields(group, list(items[0]))
        for key in items[0]:
            refs = [self.write(self._refs(), self._new_ref_name(), item[key]).ref for item in items]
            group.create_dataset(key, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
        return group


def _set_class(obj: h5py.HLObject, cls: str) -> None:
    obj.attrs.create("MATLAB_class", np.bytes_(cls))


def _set_fields(group: h5py.Group, keys: list[str]) -> None:
    """MATLAB's field order: variable-length arrays of single characters (HDF5 sorts names)."""
    names = np.empty(len(keys), dtype=h5py.vlen_dtype(np.dtype("S1")))
    for j, key in enumerate(keys):
        names[j] = np.frombuffer(key.encode(), dtype="S1")
    group.attrs["MATLAB_fields"] = names


def _empty(parent: h5py.Group, name: str, cls: str) -> h5py.Dataset:
    ds = parent.create_dataset(name, data=np.zeros(2, dtype=np.uint64))
    _set_class(ds, cls)
    ds.attrs["MATLAB_empty"] = np.uint8(1)
    return ds


__all__ = [
    "DEFAULT_SYNC_STATES",
    "TIME_QUANTUM_S",
    "BpodTrialsSpec",
    "SimulatedTrial",
    "bpod_info",
    "session_data_struct",
    "simulate_bpod_trials",
    "split_into_files",
    "write_bpod_mat",
    "write_bpod_session",
    "write_mat_variables",
]
