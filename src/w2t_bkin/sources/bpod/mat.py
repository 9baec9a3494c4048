"""Bpod ``SessionData`` in MATLAB ``.mat`` files: v5/v7 (scipy), v7.3 (HDF5, h5py), legacy r0.5."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io

from w2t_bkin.errors import IngestError, warn_data_quality
from w2t_bkin.model.bpod import BpodSession, flatten_settings, to_plain
from w2t_bkin.sources.bpod._columns import (
    ColumnBuilder,
    as_list,
    as_mapping,
    float_vector,
    warn_if_not_monotonic,
)

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("nTrials", "TrialStartTimestamp", "RawEvents")
"""Fields of ``SessionData`` without which a file cannot be read."""


def read_mat(path: Path) -> BpodSession:
    """One Bpod ``.mat`` file (v5/v7 with scipy, v7.3 with h5py) on its own Bpod clock."""
    top = load_mat_v73(path) if h5py.is_hdf5(path) else _load_mat_v5(path)
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
    trials = as_list(raw_events["Trial"])
    starts_s = float_vector(sd["TrialStartTimestamp"])
    n_trials = _trial_count(path, sd, trials, starts_s)
    starts_s = starts_s[:n_trials]
    warn_if_not_monotonic(path, starts_s)

    builder = ColumnBuilder()
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
            as_mapping(trial.get("States")),
            as_mapping(trial.get("Events")),
            where=f"{path.name}: RawEvents.Trial{{{i + 1}}}",
        )

    if "TrialEndTimestamp" in sd:
        ends_s = float_vector(sd["TrialEndTimestamp"])
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

    info = as_mapping(sd.get("Info"))
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
        warn_data_quality(
            f"{path}: nTrials={n_declared} but RawEvents.Trial has {len(trials)} entries and "
            f"TrialStartTimestamp {starts_s.shape[0]} values; reading the first {n_trials} trials",
            stacklevel=4,
        )
    return n_trials


def _trial_types(path: Path, value: Any, n_trials: int) -> np.ndarray:
    """``(n_trials,) int64`` from ``TrialTypes``; 1 everywhere when absent."""
    if value is None:
        return np.ones(n_trials, dtype=np.int64)
    types = float_vector(value)
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
    items = [] if value is None else as_list(value)
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


def load_mat_v73(path: Path) -> dict[str, Any]:
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
