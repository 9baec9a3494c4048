"""Bpod ``SessionData`` readers: ``.mat`` v5/v7 (scipy), v7.3 (HDF5), legacy r0.5, pybpod jsonable.

Times are seconds on the Bpod clock. Several files of one session are merged onto one continuous
Bpod clock (see :func:`read_bpod_session`).

Formats
-------
Bpod Gen2 ``.mat``
    ``SessionData`` with ``nTrials``, ``TrialStartTimestamp``, ``TrialEndTimestamp``,
    ``RawEvents.Trial{i}.States.<name>`` (``[start stop]`` rows relative to the trial start, NaN
    when the state was not entered, one row per visit) and ``RawEvents.Trial{i}.Events.<name>``
    (times relative to the trial start), ``TrialTypes``, ``TrialSettings``, ``Settings`` and
    ``Info``. MATLAB v5/v7 files are read with scipy, v7.3 (HDF5) files with h5py.
Legacy Bpod r0.5 ``.mat``
    Same ``RawEvents`` layout but no ``Info``, no ``TrialEndTimestamp`` and no ``TrialTypes``.
    The trial end is estimated as the last state exit of the trial, and every trial gets type 1.
    (The r0.5 sample protocol keeps its planned type sequence inside ``TrialSettings``; it is
    kept there untouched rather than guessed into ``trial_types``.)
pybpod / iblrig ``_iblrig_taskData.raw.jsonable``
    One JSON object per trial. ``behavior_data`` holds ``Trial start timestamp`` and
    ``Trial end timestamp`` on the Bpod clock, while ``States timestamps`` and
    ``Events timestamps`` are *relative to the trial start* (checked on the iblrig 5.0.0 sample
    files: every trial's ``trial_start`` state begins at 0 and the last state exit plus the trial
    start equals ``Trial end timestamp``). They are made absolute here by adding the trial start.
    Unlike ibllib, ``Bpod start timestamp`` is *not* subtracted: all times stay on the Bpod
    clock. The other keys of each line become that trial's ``trial_settings``; a sibling
    ``_iblrig_taskSettings.raw.json`` provides ``settings``, ``software_version``
    (``iblrig <IBLRIG_VERSION_TAG>``) and ``session_start`` (``SESSION_DATETIME``, the rig's
    local time, so the datetime is naive).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io

from w2t_bkin.errors import DataQualityWarning, IngestError

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("nTrials", "TrialStartTimestamp", "RawEvents")
"""Fields of ``SessionData`` without which a file cannot be read."""

JSONABLE_SUFFIX = ".jsonable"

INFO_OFFSET_UNCERTAINTY_S = 1.5
"""Largest error of a restarted file's placement by ``Info`` start times: their 1 s resolution
(``SessionStartTime_UTC``) plus 0.5 s between the PC clock reading and the Bpod clock start.
Synchronization fits each such file's true offset from its TTL pulses within this window."""


@dataclass(frozen=True)
class BpodSession:
    """A Bpod session in columnar form.

    Attributes
    ----------
    source_files
        Files merged into this session, in order.
    trial_start_s, trial_end_s
        ``(n_trials,) float64`` trial start and end on the continuous Bpod clock (seconds).
        ``trial_end_s`` is estimated from the last state exit where the file has no
        ``TrialEndTimestamp`` (legacy r0.5).
    trial_types
        ``(n_trials,) int64`` from ``TrialTypes`` (1 for every trial when absent).
    state_names
        Names of all states seen in the session, sorted. A state that is defined in the files
        but never entered is listed too (it has no rows).
    state_trial_idx, state_name_idx
        ``(n_visits,) int64``: trial index and index into ``state_names`` of each state visit.
        Every visit of a state is one row (states entered several times in a trial have
        several rows); states never visited in a trial have no row. Rows are ordered by trial,
        then by entry time, exit time and name.
    state_start_s, state_stop_s
        ``(n_visits,) float64``: visit entry and exit on the continuous Bpod clock.
    event_names
        Names of all events seen in the session, sorted.
    event_trial_idx, event_name_idx
        ``(n_events,) int64``: trial index and event name index of each event occurrence.
        Rows are ordered by trial, then by time (then name).
    event_time_s
        ``(n_events,) float64``: event times on the continuous Bpod clock.
    trial_settings
        One dict per trial (``TrialSettings``), empty dicts when absent. Values are plain Python
        (numbers, strings, lists, nested dicts).
    settings
        Session-wide ``Settings`` / task settings, flattened to ``"a.b.c"`` keys with plain
        Python values.
    session_start
        Start of the first file (``Info.SessionDate`` + ``SessionStartTime_UTC``, timezone UTC),
        when known. Naive (rig local time) for iblrig files.
    software_version
        ``Info.BpodSoftwareVersion`` or the pybpod/iblrig version, when known.
    file_first_trial
        ``(n_files,) int64``: index of the first trial contributed by each source file.
    file_offset_s
        ``(n_files,) float64``: shift added to each file's own timestamps to place it on the
        session clock (0 for the first file and for files already on one clock).
    file_alignment
        How each file was placed on the session clock: ``"first"``, ``"continuous"`` (its
        timestamps already follow the previous file) or ``"info"`` (its clock restarted; shifted by
        the difference of ``Info`` start times, good to :data:`INFO_OFFSET_UNCERTAINTY_S`).
    """

    source_files: tuple[Path, ...]
    trial_start_s: np.ndarray
    trial_end_s: np.ndarray
    trial_types: np.ndarray
    state_names: tuple[str, ...]
    state_trial_idx: np.ndarray
    state_name_idx: np.ndarray
    state_start_s: np.ndarray
    state_stop_s: np.ndarray
    event_names: tuple[str, ...]
    event_trial_idx: np.ndarray
    event_name_idx: np.ndarray
    event_time_s: np.ndarray
    trial_settings: tuple[dict[str, Any], ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    session_start: datetime | None = None
    software_version: str | None = None
    file_first_trial: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    file_offset_s: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.float64))
    file_alignment: tuple[str, ...] = ("first",)

    @property
    def n_trials(self) -> int:
        return int(self.trial_start_s.shape[0])

    def first_state_onset_s(self, state_name: str) -> np.ndarray:
        """``(n_trials,) float64``: first entry into ``state_name`` per trial; NaN if unvisited."""
        onsets = np.full(self.n_trials, np.inf)
        if state_name in self.state_names:
            rows = self.state_name_idx == self.state_names.index(state_name)
            np.minimum.at(onsets, self.state_trial_idx[rows], self.state_start_s[rows])
        onsets[np.isinf(onsets)] = np.nan
        return onsets


# --------------------------------------------------------------------------------------------
# public API


def read_bpod_file(path: str | Path) -> BpodSession:
    """Read one Bpod file (``.mat`` v5/v7/v7.3, or pybpod/iblrig ``.jsonable``).

    Parameters
    ----------
    path
        The file. ``*.jsonable`` is read as iblrig JSON lines, anything else as MATLAB.

    Returns
    -------
    BpodSession
        Times on the file's own Bpod clock.

    Raises
    ------
    IngestError
        The file is missing, unreadable, not a Bpod session, or lacks a required field.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(
            "Bpod file not found",
            path=path,
            hint="check the [bpod] paths in session.toml",
        )
    if path.suffix.lower() == JSONABLE_SUFFIX:
        return _read_jsonable(path)
    return _read_mat(path)


def read_bpod_session(paths: Sequence[str | Path]) -> BpodSession:
    """Read the files of ONE Bpod session and merge them onto one continuous Bpod clock.

    Files are merged in the given order (file modification times are never used). A later file
    whose first ``TrialStartTimestamp`` is at or after the previous file's last trial end is
    already on the session clock and kept as is. Otherwise its clock restarted, and it is shifted
    by the difference between its ``Info`` start (``SessionDate`` + ``SessionStartTime_UTC``,
    1 s resolution) and the first file's. That shift is only good to
    :data:`INFO_OFFSET_UNCERTAINTY_S`: synchronization re-fits the offset of every ``"info"``
    file from its own TTL pulses (see :class:`w2t_bkin.sync.trials.ClockRestart`).

    Parameters
    ----------
    paths
        The session's files, in recording order.

    Returns
    -------
    BpodSession
        All trials on the first file's clock; ``file_first_trial``, ``file_offset_s`` and
        ``file_alignment`` tell where each file went.

    Raises
    ------
    IngestError
        No files, an unreadable file, or files that cannot be placed on one clock.
    """
    if len(paths) == 0:
        raise IngestError(
            "no Bpod files given for the session",
            hint="check the [bpod] paths glob in session.toml",
        )
    parts = [read_bpod_file(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    offsets_s, alignment = _place_files_on_one_clock(parts)
    return _concatenate(parts, offsets_s, alignment)


# --------------------------------------------------------------------------------------------
# merging


def _place_files_on_one_clock(parts: Sequence[BpodSession]) -> tuple[np.ndarray, list[str]]:
    """Shift of each file onto the first file's clock, and how it was found."""
    offsets_s = np.zeros(len(parts), dtype=np.float64)
    alignment = ["first"]
    for k in range(1, len(parts)):
        prev, cur = parts[k - 1], parts[k]
        prev_end_s = _last_end_s(prev)
        cur_start_s = _first_start_s(cur)
        if math.isnan(prev_end_s) or math.isnan(cur_start_s) or cur_start_s >= prev_end_s:
            # Raw timestamps already follow each other: same clock as the previous file.
            offsets_s[k] = offsets_s[k - 1]
            alignment.append("continuous")
            log.debug("%s continues the clock of %s", cur.source_files[0], prev.source_files[0])
            continue
        offsets_s[k] = _info_offset_s(parts[0], cur, prev_end_s, cur_start_s)
        shifted_prev_end_s = prev_end_s + offsets_s[k - 1]
        if cur_start_s + offsets_s[k] < shifted_prev_end_s:
            raise IngestError(
                f"Info start times place {cur.source_files[0].name} (first trial at "
                f"{cur_start_s + offsets_s[k]:.3f} s on the session clock) before the end of "
                f"{prev.source_files[0].name} ({shifted_prev_end_s:.3f} s)",
                path=cur.source_files[0],
                hint="check the file order and Info.SessionStartTime_UTC, or process the files "
                "as separate sessions",
            )
        alignment.append("info")
        log.info(
            "%s restarted the Bpod clock; shifted by %.3f s using Info start times",
            cur.source_files[0],
            offsets_s[k],
        )
    return offsets_s, alignment


def _info_offset_s(
    first: BpodSession, cur: BpodSession, prev_end_s: float, cur_start_s: float
) -> float:
    """Shift of ``cur`` onto the clock of ``first`` from their session start times."""
    start0, start_k = first.session_start, cur.session_start
    if start0 is None or start_k is None or (start0.tzinfo is None) != (start_k.tzinfo is None):
        missing = [p.source_files[0].name for p in (first, cur) if p.session_start is None] or [
            "(start times not comparable: one has a timezone, the other not)"
        ]
        raise IngestError(
            f"cannot place {cur.source_files[0].name} on the clock of "
            f"{first.source_files[0].name}: its first TrialStartTimestamp ({cur_start_s:.3f} s) "
            f"is before the previous file's last trial end ({prev_end_s:.3f} s), so the Bpod "
            f"clock restarted, and the session start time needed to shift it is missing in: "
            f"{', '.join(missing)}",
            path=cur.source_files[0],
            hint="process the files as separate sessions, or provide Info.SessionDate and "
            "Info.SessionStartTime_UTC in every file",
        )
    return (start_k - start0).total_seconds()


def _first_start_s(part: BpodSession) -> float:
    return float(part.trial_start_s[0]) if part.n_trials else math.nan


def _last_end_s(part: BpodSession) -> float:
    return float(np.fmax.reduce(part.trial_end_s)) if part.n_trials else math.nan


def _concatenate(
    parts: Sequence[BpodSession], offsets_s: np.ndarray, alignment: Sequence[str]
) -> BpodSession:
    """One session from per-file sessions, their shifts applied and names re-indexed."""
    n_trials = np.array([p.n_trials for p in parts], dtype=np.int64)
    first_trial = np.concatenate([[0], np.cumsum(n_trials)[:-1]]).astype(np.int64)
    state_names = tuple(sorted(set().union(*(p.state_names for p in parts))))
    event_names = tuple(sorted(set().union(*(p.event_names for p in parts))))

    def remap(names: tuple[str, ...], local: tuple[str, ...], idx: np.ndarray) -> np.ndarray:
        lut = np.array([names.index(n) for n in local], dtype=np.int64)
        return lut[idx] if idx.size else idx.astype(np.int64)

    def shifted(name: str) -> np.ndarray:  # times of every file on the session clock
        return np.concatenate(
            [getattr(p, name) + o for p, o in zip(parts, offsets_s, strict=True)]
        ).astype(np.float64)

    def in_session(name: str) -> np.ndarray:  # per-file trial indices as session trial indices
        return np.concatenate(
            [getattr(p, name) + f for p, f in zip(parts, first_trial, strict=True)]
        ).astype(np.int64)

    return BpodSession(
        source_files=tuple(f for p in parts for f in p.source_files),
        trial_start_s=shifted("trial_start_s"),
        trial_end_s=shifted("trial_end_s"),
        trial_types=np.concatenate([p.trial_types for p in parts]).astype(np.int64),
        state_names=state_names,
        state_trial_idx=in_session("state_trial_idx"),
        state_name_idx=np.concatenate(
            [remap(state_names, p.state_names, p.state_name_idx) for p in parts]
        ),
        state_start_s=shifted("state_start_s"),
        state_stop_s=shifted("state_stop_s"),
        event_names=event_names,
        event_trial_idx=in_session("event_trial_idx"),
        event_name_idx=np.concatenate(
            [remap(event_names, p.event_names, p.event_name_idx) for p in parts]
        ),
        event_time_s=shifted("event_time_s"),
        trial_settings=tuple(s for p in parts for s in p.trial_settings),
        settings=parts[0].settings,
        session_start=parts[0].session_start,
        software_version=parts[0].software_version,
        file_first_trial=first_trial,
        file_offset_s=np.asarray(offsets_s, dtype=np.float64),
        file_alignment=tuple(alignment),
    )


# --------------------------------------------------------------------------------------------
# columns from per-trial relative times (shared by every format)


@dataclass
class _ColumnBuilder:
    """Accumulates per-trial state and event times (relative to trial start) into columns."""

    state_names: set[str] = field(default_factory=set)
    event_names: set[str] = field(default_factory=set)
    _states: list[tuple[int, str, np.ndarray]] = field(default_factory=list)
    _events: list[tuple[int, str, np.ndarray]] = field(default_factory=list)

    def add_trial(
        self,
        trial_idx: int,
        start_s: float,
        states: Mapping[str, Any],
        events: Mapping[str, Any],
        where: str,
    ) -> float:
        """Add one trial; returns its last state exit on the Bpod clock (NaN if none)."""
        last_exit_s = math.nan
        for name, value in states.items():
            self.state_names.add(name)
            visits = _state_visits(value, f"{where}.States.{name}")
            visits = visits[~np.isnan(visits[:, 0])]
            if visits.shape[0]:
                absolute = visits + start_s
                self._states.append((trial_idx, name, absolute))
                # fmax ignores NaN without the all-NaN RuntimeWarning of nanmax.
                last_exit_s = float(np.fmax(last_exit_s, np.fmax.reduce(absolute[:, 1])))
        for name, value in events.items():
            self.event_names.add(name)
            times = np.asarray(value, dtype=np.float64).reshape(-1)
            times = times[~np.isnan(times)]
            if times.size:
                self._events.append((trial_idx, name, times + start_s))
        return last_exit_s

    def columns(self) -> dict[str, Any]:
        state_names = tuple(sorted(self.state_names))
        event_names = tuple(sorted(self.event_names))
        s_trial, s_name, s_times = _stack(self._states, state_names, width=2)
        e_trial, e_name, e_times = _stack(self._events, event_names, width=1)
        # Ties (e.g. a Tup and a BNC edge at the same instant) are broken by name so that the
        # row order does not depend on the field order of the file (HDF5 sorts names).
        s_order = np.lexsort((s_name, s_times[:, 1], s_times[:, 0], s_trial))
        e_order = np.lexsort((e_name, e_times[:, 0], e_trial))
        return {
            "state_names": state_names,
            "state_trial_idx": s_trial[s_order],
            "state_name_idx": s_name[s_order],
            "state_start_s": np.ascontiguousarray(s_times[s_order, 0]),
            "state_stop_s": np.ascontiguousarray(s_times[s_order, 1]),
            "event_names": event_names,
            "event_trial_idx": e_trial[e_order],
            "event_name_idx": e_name[e_order],
            "event_time_s": np.ascontiguousarray(e_times[e_order, 0]),
        }


def _stack(
    rows: list[tuple[int, str, np.ndarray]], names: tuple[str, ...], width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trial index, name index and ``(n, width)`` times of accumulated per-trial blocks."""
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros((0, width), dtype=np.float64)
    lookup = {name: i for i, name in enumerate(names)}
    counts = np.array([r[2].shape[0] for r in rows], dtype=np.int64)
    trial_idx = np.repeat(np.array([r[0] for r in rows], dtype=np.int64), counts)
    name_idx = np.repeat(np.array([lookup[r[1]] for r in rows], dtype=np.int64), counts)
    times = np.concatenate([r[2].reshape(-1, width) for r in rows]).astype(np.float64)
    return trial_idx, name_idx, times


def _state_visits(value: Any, where: str) -> np.ndarray:
    """``(n_visits, 2) float64`` from a Bpod state entry (``[start stop]`` or n x 2)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size % 2:
        raise IngestError(
            f"{where}: expected [start stop] pairs (n_visits x 2), found shape {arr.shape}",
            hint="the file is not a standard Bpod SessionData; re-export it from Bpod",
        )
    if arr.ndim == 2 and arr.shape[1] != 2 and arr.shape[0] == 2:
        arr = arr.T  # a 2 x n layout written by some exporters
    return arr.reshape(-1, 2)


# --------------------------------------------------------------------------------------------
# MATLAB


def _read_mat(path: Path) -> BpodSession:
    top = _load_mat_v73(path) if h5py.is_hdf5(path) else _load_mat_v5(path)
    if "SessionData" not in top:
        found = ", ".join(sorted(k for k in top if not k.startswith("__"))) or "nothing"
        raise IngestError(
            f"not a Bpod session file: expected a 'SessionData' variable, found {found}",
            path=path,
            hint="point [bpod] paths at the files Bpod saved under Data/<subject>/<protocol>/"
            "Session Data/",
        )
    session_data = top["SessionData"]
    if not isinstance(session_data, Mapping):
        raise IngestError(
            f"'SessionData' is a {type(session_data).__name__}, expected a MATLAB struct",
            path=path,
            hint="the file is not a Bpod session; check the [bpod] paths",
        )
    return _session_from_struct(path, session_data)


def _load_mat_v5(path: Path) -> dict[str, Any]:
    try:
        return dict(scipy.io.loadmat(path, simplify_cells=True))
    except Exception as exc:  # scipy raises many types (ValueError, TypeError, MatReadError)
        raise IngestError(
            f"cannot read as a MATLAB .mat file (expected a Bpod SessionData file): {exc}",
            path=path,
            hint="check that the file is a Bpod .mat and was copied completely",
        ) from exc


def _session_from_struct(path: Path, sd: Mapping[str, Any]) -> BpodSession:
    for name in REQUIRED_FIELDS:
        if name not in sd:
            raise IngestError(
                f"SessionData has no field '{name}' (required fields: {', '.join(REQUIRED_FIELDS)};"
                f" found: {', '.join(sorted(sd))})",
                path=path,
                hint="the file is incomplete or not a Bpod session; re-save it from Bpod",
            )
    raw_events = sd["RawEvents"]
    if not isinstance(raw_events, Mapping) or "Trial" not in raw_events:
        raise IngestError(
            "SessionData.RawEvents has no field 'Trial'",
            path=path,
            hint="the file is incomplete or not a Bpod session; re-save it from Bpod",
        )
    trials = _as_list(raw_events["Trial"])
    starts_s = _float_vector(sd["TrialStartTimestamp"])
    n_trials = _trial_count(path, sd, trials, starts_s)
    starts_s = starts_s[:n_trials]
    _warn_if_not_monotonic(path, starts_s)

    builder = _ColumnBuilder()
    last_exit_s = np.full(n_trials, np.nan)
    for i in range(n_trials):
        trial = trials[i]
        if not isinstance(trial, Mapping):
            raise IngestError(
                f"RawEvents.Trial{{{i + 1}}} is a {type(trial).__name__}, expected a struct with "
                "States and Events",
                path=path,
                hint="the file is not a standard Bpod SessionData",
            )
        last_exit_s[i] = builder.add_trial(
            i,
            float(starts_s[i]),
            _as_mapping(trial.get("States")),
            _as_mapping(trial.get("Events")),
            where=f"{path.name}: RawEvents.Trial{{{i + 1}}}",
        )

    if "TrialEndTimestamp" in sd:
        ends_s = _float_vector(sd["TrialEndTimestamp"])
        if ends_s.shape[0] < n_trials:
            raise IngestError(
                f"TrialEndTimestamp has {ends_s.shape[0]} values, expected nTrials={n_trials}",
                path=path,
                hint="the file is truncated; re-save it from Bpod",
            )
        ends_s = ends_s[:n_trials]
    else:
        # Legacy r0.5: no trial end is stored; the last state exit is the closest estimate.
        log.debug("%s has no TrialEndTimestamp; using the last state exit", path)
        ends_s = last_exit_s

    info = _as_mapping(sd.get("Info"))
    return BpodSession(
        source_files=(path,),
        trial_start_s=starts_s.copy(),
        trial_end_s=np.asarray(ends_s, dtype=np.float64),
        trial_types=_trial_types(path, sd.get("TrialTypes"), n_trials),
        trial_settings=_trial_settings(sd.get("TrialSettings"), n_trials),
        settings=flatten_settings(to_plain(sd.get("Settings", {}))),
        session_start=_info_session_start(path, info),
        software_version=_version_string(info.get("BpodSoftwareVersion")),
        **builder.columns(),
    )


def _trial_count(path: Path, sd: Mapping[str, Any], trials: list[Any], starts_s: np.ndarray) -> int:
    """``nTrials``, checked against the per-trial arrays."""
    try:
        n_declared = int(np.asarray(sd["nTrials"]).reshape(-1)[0])
    except (ValueError, TypeError, IndexError) as exc:
        raise IngestError(
            f"SessionData.nTrials is not a number: {sd['nTrials']!r}",
            path=path,
            hint="the file is not a standard Bpod SessionData",
        ) from exc
    n_trials = min(n_declared, len(trials), starts_s.shape[0])
    if n_trials != n_declared:
        warnings.warn(
            f"{path}: nTrials={n_declared} but RawEvents.Trial has {len(trials)} entries and "
            f"TrialStartTimestamp {starts_s.shape[0]} values; reading the first {n_trials} trials",
            DataQualityWarning,
            stacklevel=4,
        )
    return n_trials


def _warn_if_not_monotonic(path: Path, starts_s: np.ndarray) -> None:
    back = np.flatnonzero(np.diff(starts_s) < 0)
    if back.size:
        warnings.warn(
            f"{path}: TrialStartTimestamp goes backwards at trial {int(back[0]) + 2} "
            f"({starts_s[back[0]]:.6f} s -> {starts_s[back[0] + 1]:.6f} s); the file may hold "
            "several Bpod runs",
            DataQualityWarning,
            stacklevel=4,
        )


def _trial_types(path: Path, value: Any, n_trials: int) -> np.ndarray:
    """``(n_trials,) int64`` from ``TrialTypes``; 1 everywhere when absent."""
    if value is None:
        return np.ones(n_trials, dtype=np.int64)
    types = _float_vector(value)
    # Protocols often pre-allocate TrialTypes for the maximum trial count.
    if types.shape[0] < n_trials:
        raise IngestError(
            f"TrialTypes has {types.shape[0]} values, expected at least nTrials={n_trials}",
            path=path,
            hint="the file is truncated or TrialTypes was not updated by the protocol",
        )
    types = types[:n_trials]
    if not np.all(np.isfinite(types)) or not np.array_equal(types, np.round(types)):
        raise IngestError(
            "TrialTypes must hold whole numbers; found non-integer or NaN values",
            path=path,
            hint="fix the protocol's TrialTypes, or map trial types in metadata",
        )
    return types.astype(np.int64)


def _trial_settings(value: Any, n_trials: int) -> tuple[dict[str, Any], ...]:
    items = [] if value is None else _as_list(value)
    out: list[dict[str, Any]] = []
    for i in range(n_trials):
        plain = to_plain(items[i]) if i < len(items) else {}
        out.append(plain if isinstance(plain, dict) else {"value": plain})
    return tuple(out)


def _info_session_start(path: Path, info: Mapping[str, Any]) -> datetime | None:
    """Session start (UTC) from ``Info.SessionDate`` and ``Info.SessionStartTime_UTC``."""
    date, time_utc = info.get("SessionDate"), info.get("SessionStartTime_UTC")
    if isinstance(date, str) and isinstance(time_utc, str):
        try:
            return datetime.strptime(f"{date} {time_utc}", "%d-%b-%Y %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            log.warning(
                "%s: unreadable Info.SessionDate/SessionStartTime_UTC %r %r", path, date, time_utc
            )
    datenum = info.get("SessionStartTime_MATLAB")
    if isinstance(datenum, (int, float)) and math.isfinite(datenum):
        # MATLAB datenum counts days from year 0; it is the rig's local time, hence naive.
        return datetime(1, 1, 1) + timedelta(days=float(datenum) - 367.0)
    return None


def _version_string(value: Any) -> str | None:
    if value is None:
        return None
    plain = to_plain(value)
    return plain if isinstance(plain, str) else str(plain)


# --------------------------------------------------------------------------------------------
# MATLAB v7.3 (HDF5)


def _load_mat_v73(path: Path) -> dict[str, Any]:
    """Top-level variables of a v7.3 .mat file, converted like ``loadmat(simplify_cells=True)``."""
    try:
        with h5py.File(path, "r") as f:
            return {name: _h5_value(f, f[name]) for name in f if not name.startswith("#")}
    except IngestError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, TypeError on broken files
        raise IngestError(
            f"cannot read as a MATLAB v7.3 (HDF5) .mat file: {exc}",
            path=path,
            hint="check that the file is a Bpod .mat and was copied completely",
        ) from exc


def _matlab_class(obj: h5py.HLObject) -> str:
    value = obj.attrs.get("MATLAB_class", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_value(f: h5py.File, obj: h5py.HLObject) -> Any:
    if isinstance(obj, h5py.Group):
        return _h5_struct(f, obj)
    return _h5_dataset(f, obj)


def _h5_struct(f: h5py.File, group: h5py.Group) -> Any:
    fields = _h5_field_order(group)
    children = [group[k] for k in fields]
    is_array = bool(children) and all(
        isinstance(c, h5py.Dataset) and c.dtype == h5py.ref_dtype and _matlab_class(c) != "cell"
        for c in children
    )
    if not is_array:
        return {k: _h5_value(f, c) for k, c in zip(fields, children, strict=True)}
    # Struct array: each field holds one object reference per element.
    columns = {k: np.asarray(c[()]).T.reshape(-1) for k, c in zip(fields, children, strict=True)}
    n = len(next(iter(columns.values())))
    elements = [{k: _h5_value(f, f[columns[k][i]]) for k in fields} for i in range(n)]
    return elements[0] if n == 1 else elements


def _h5_field_order(group: h5py.Group) -> list[str]:
    """Field names in MATLAB's order (``MATLAB_fields``) where recorded; HDF5 sorts them."""
    names = sorted(group.keys())
    recorded = group.attrs.get("MATLAB_fields")
    if recorded is None:
        return names
    try:
        ordered = [b"".join(np.asarray(chars).tolist()).decode() for chars in recorded]
    except (TypeError, ValueError, UnicodeDecodeError):
        return names
    return ordered if sorted(ordered) == names else names


def _h5_dataset(f: h5py.File, ds: h5py.Dataset) -> Any:
    kind = ds.dtype
    # Attribute look-ups dominate the cost of v7.3 files (tens of thousands of small
    # datasets), so they are only made where the dtype leaves the MATLAB class open.
    if kind == h5py.ref_dtype:  # cell array
        items = [_h5_value(f, f[ref]) for ref in np.asarray(ds[()]).T.reshape(-1)]
        return items[0] if len(items) == 1 else items
    cls = "double" if kind == np.float64 else _matlab_class(ds)
    if kind == np.uint64 and "MATLAB_empty" in ds.attrs and ds.attrs["MATLAB_empty"]:
        return {"char": "", "cell": [], "struct": {}}.get(cls, np.zeros(0))
    data = np.asarray(ds[()]).T  # MATLAB is column-major; h5py shows the reversed shape
    if cls == "char":
        rows = ["".join(map(chr, row)) for row in np.atleast_2d(data)]
        return rows[0] if len(rows) == 1 else rows
    if cls == "logical":
        data = data.astype(bool)
    data = np.squeeze(data)
    return data.item() if data.ndim == 0 else data


# --------------------------------------------------------------------------------------------
# pybpod / iblrig jsonable


def _read_jsonable(path: Path) -> BpodSession:
    builder = _ColumnBuilder()
    starts: list[float] = []
    ends: list[float] = []
    trial_settings: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            trial = _jsonable_line(path, line_no, line)
            behavior = trial["behavior_data"]
            i = len(starts)
            starts.append(float(behavior["Trial start timestamp"]))
            ends.append(float(behavior["Trial end timestamp"]))
            builder.add_trial(
                i,
                starts[-1],
                behavior.get("States timestamps", {}),
                behavior.get("Events timestamps", {}),
                where=f"{path.name} line {line_no}",
            )
            trial_settings.append({k: v for k, v in trial.items() if k != "behavior_data"})
    starts_s = np.asarray(starts, dtype=np.float64)
    _warn_if_not_monotonic(path, starts_s)
    settings, version, session_start = _iblrig_settings(path)
    return BpodSession(
        source_files=(path,),
        trial_start_s=starts_s,
        trial_end_s=np.asarray(ends, dtype=np.float64),
        trial_types=np.ones(len(starts), dtype=np.int64),
        trial_settings=tuple(trial_settings),
        settings=settings,
        session_start=session_start,
        software_version=version,
        **builder.columns(),
    )


def _jsonable_line(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        trial = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"line {line_no} is not valid JSON ({exc.msg} at column {exc.colno}); expected one "
            "JSON object per trial",
            path=path,
            hint="the file may be truncated by a crash; remove the broken line and re-run",
        ) from exc
    behavior = trial.get("behavior_data") if isinstance(trial, dict) else None
    missing = [
        k
        for k in ("Trial start timestamp", "Trial end timestamp")
        if not isinstance(behavior, dict) or k not in behavior
    ]
    if missing:
        raise IngestError(
            f"line {line_no}: expected 'behavior_data' with {', '.join(repr(k) for k in missing)}",
            path=path,
            hint="the file is not a pybpod/iblrig _iblrig_taskData.raw.jsonable",
        )
    return trial


def _iblrig_settings(path: Path) -> tuple[dict[str, Any], str | None, datetime | None]:
    """Settings, version and (naive, rig-local) start from a sibling iblrig settings file."""
    settings_path = path.with_name(
        path.name.replace("taskData.raw.jsonable", "taskSettings.raw.json")
    )
    if settings_path == path or not settings_path.is_file():
        return {}, None, None
    try:
        raw = json.loads(settings_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable iblrig settings %s: %s", settings_path, exc)
        return {}, None, None
    if not isinstance(raw, dict):
        return {}, None, None
    tag = raw.get("IBLRIG_VERSION_TAG")
    version = f"iblrig {tag}" if tag else None
    start = None
    if isinstance(raw.get("SESSION_DATETIME"), str):
        try:
            start = datetime.fromisoformat(raw["SESSION_DATETIME"])
        except ValueError:
            log.warning(
                "%s: unreadable SESSION_DATETIME %r", settings_path, raw["SESSION_DATETIME"]
            )
    return flatten_settings(raw), version, start


# --------------------------------------------------------------------------------------------
# plain values


def to_plain(value: Any) -> Any:
    """Convert MATLAB/NumPy values to plain Python (dict, list, str, int, float, bool, None).

    Numeric arrays become (nested) lists, NumPy scalars become Python scalars, object arrays
    (MATLAB cells) become lists, ``bytes`` are decoded.
    """
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [to_plain(v) for v in value.reshape(-1)]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def flatten_settings(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to ``{"GUI.RewardAmount": 5, ...}``; non-dict leaves kept as is."""
    if not isinstance(value, Mapping):
        return {prefix: to_plain(value)} if prefix else {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            out.update(flatten_settings(item, name))
        else:
            out[name] = to_plain(item)
    return out


def _as_list(value: Any) -> list[Any]:
    """A MATLAB cell/struct array as a list; a squeezed single element becomes ``[element]``."""
    if isinstance(value, list):
        return value
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.reshape(-1))
    return [value]


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _float_vector(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)


__all__ = [
    "INFO_OFFSET_UNCERTAINTY_S",
    "BpodSession",
    "flatten_settings",
    "read_bpod_file",
    "read_bpod_session",
    "to_plain",
]
