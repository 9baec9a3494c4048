"""Several files of one Bpod session on one continuous Bpod clock."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.bpod import BpodSession

log = logging.getLogger(__name__)


def place_files_on_one_clock(parts: Sequence[BpodSession]) -> tuple[np.ndarray, list[str]]:
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


def concatenate_files(
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
