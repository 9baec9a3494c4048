"""Columns from per-trial relative times, and value helpers shared by every Bpod format."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.errors import IngestError, warn_data_quality


@dataclass
class ColumnBuilder:
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


def warn_if_not_monotonic(path: Path, starts_s: np.ndarray) -> None:
    back = np.flatnonzero(np.diff(starts_s) < 0)
    if back.size:
        warn_data_quality(
            f"{path}: TrialStartTimestamp goes backwards at trial {int(back[0]) + 2} "
            f"({starts_s[back[0]]:.6f} s -> {starts_s[back[0] + 1]:.6f} s); the file may hold "
            "several Bpod runs",
            stacklevel=4,
        )


def as_list(value: Any) -> list[Any]:
    """A MATLAB cell/struct array as a list; a squeezed single element becomes ``[element]``."""
    if isinstance(value, list):
        return value
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.reshape(-1))
    return [value]


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def float_vector(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)
