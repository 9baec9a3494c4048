"""A Bpod session in columnar form: :class:`BpodSession`, and plain-value helpers.

:func:`w2t_bkin.sources.bpod.read_bpod_session` fills :class:`BpodSession` from ``.mat`` and
pybpod/iblrig files; :func:`to_plain` and :func:`flatten_settings` turn the MATLAB/NumPy values
of ``Settings`` into plain Python (the NWB writer flattens settings the same way), and need no
file format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INFO_OFFSET_UNCERTAINTY_S", "BpodSession", "flatten_settings", "to_plain"]

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
        """Number of trials: the length of ``trial_start_s``."""
        return int(self.trial_start_s.shape[0])

    def first_state_onset_s(self, state_name: str) -> np.ndarray:
        """``(n_trials,) float64``: first entry into ``state_name`` per trial; NaN if unvisited."""
        onsets = np.full(self.n_trials, np.inf)
        if state_name in self.state_names:
            rows = self.state_name_idx == self.state_names.index(state_name)
            np.minimum.at(onsets, self.state_trial_idx[rows], self.state_start_s[rows])
        onsets[np.isinf(onsets)] = np.nan
        return onsets


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
