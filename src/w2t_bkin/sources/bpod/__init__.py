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

Modules
-------
:mod:`~w2t_bkin.sources.bpod.mat` (``.mat`` v5/v7/v7.3), :mod:`~w2t_bkin.sources.bpod.jsonable`
(pybpod/iblrig), :mod:`~w2t_bkin.sources.bpod.merge` (several files on one clock) and
``_columns`` (per-trial times to columns, shared by both formats). The data type,
:class:`~w2t_bkin.model.bpod.BpodSession`, and :func:`~w2t_bkin.model.bpod.flatten_settings`
live in :mod:`w2t_bkin.model.bpod` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from w2t_bkin.errors import IngestError
from w2t_bkin.model.bpod import INFO_OFFSET_UNCERTAINTY_S, BpodSession, flatten_settings, to_plain
from w2t_bkin.sources.bpod.jsonable import JSONABLE_SUFFIX, read_jsonable
from w2t_bkin.sources.bpod.mat import REQUIRED_FIELDS, read_mat
from w2t_bkin.sources.bpod.merge import concatenate_files, place_files_on_one_clock


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
        return read_jsonable(path)
    return read_mat(path)


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
    offsets_s, alignment = place_files_on_one_clock(parts)
    return concatenate_files(parts, offsets_s, alignment)


__all__ = [
    "INFO_OFFSET_UNCERTAINTY_S",
    "JSONABLE_SUFFIX",
    "REQUIRED_FIELDS",
    "BpodSession",
    "flatten_settings",
    "read_bpod_file",
    "read_bpod_session",
    "to_plain",
]
