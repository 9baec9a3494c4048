"""Bpod ``SessionData`` readers: ``.mat`` v5/v7 (scipy), v7.3 (HDF5), legacy r0.5, pybpod jsonable.

Times are seconds on the Bpod clock. Several files of one session are merged onto one continuous
Bpod clock (see :func:`read_bpod_session`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np


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
        Names of all states seen in the session, sorted.
    state_trial_idx, state_name_idx
        ``(n_visits,) int64``: trial index and index into ``state_names`` of each state visit.
        Every visit of a state is one row (states entered several times in a trial have
        several rows); states never visited in a trial have no row.
    state_start_s, state_stop_s
        ``(n_visits,) float64``: visit entry and exit on the continuous Bpod clock.
    event_names
        Names of all events seen in the session, sorted.
    event_trial_idx, event_name_idx
        ``(n_events,) int64``: trial index and event name index of each event occurrence.
    event_time_s
        ``(n_events,) float64``: event times on the continuous Bpod clock.
    trial_settings
        One dict per trial (``TrialSettings``), empty dicts when absent.
    settings
        Session-wide ``Settings`` / task settings, flattened to plain Python values.
    session_start
        Start of the first file (``Info.SessionDate`` + ``SessionStartTime_UTC``), when known.
    software_version
        ``Info.BpodSoftwareVersion`` or the pybpod/iblrig version, when known.
    file_first_trial
        ``(n_files,) int64``: index of the first trial contributed by each source file.
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

    @property
    def n_trials(self) -> int:
        return int(self.trial_start_s.shape[0])

    def first_state_onset_s(self, state_name: str) -> np.ndarray:
        """``(n_trials,) float64``: first entry into ``state_name`` per trial, NaN if not visited."""
        onsets = np.full(self.n_trials, np.inf)
        if state_name in self.state_names:
            rows = self.state_name_idx == self.state_names.index(state_name)
            np.minimum.at(onsets, self.state_trial_idx[rows], self.state_start_s[rows])
        onsets[np.isinf(onsets)] = np.nan
        return onsets
