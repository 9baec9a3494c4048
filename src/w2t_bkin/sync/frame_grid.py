"""The vocabulary every frame placement shares: who is aligned, input checks, chunks and slots.

A *slot* is a position on the nominal trigger train, one frame period apart; pulses and frames
both get slots, and a frame whose slot holds a pulse takes that pulse's time. See "Model" and
"Algorithm" in :mod:`w2t_bkin.sync.frames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2t_bkin.errors import SyncError


@dataclass(frozen=True)
class _Who:
    """The camera and its TTL channel, for messages."""

    camera_id: str
    ttl_id: str

    def __str__(self) -> str:
        return f"camera {self.camera_id!r} (TTL channel {self.ttl_id!r})"


@dataclass(frozen=True, eq=False)
class _Slots:
    """Frame slots and how they were decided."""

    frame_slot: np.ndarray
    how: str
    problem: str = ""
    #: an ambiguity no policy may resolve
    fatal: bool = False
    #: ``(n_frames,) float64`` continuous camera time when pts placed the frames
    camera_time_s: np.ndarray | None = None


def _check_inputs(
    n_frames: int, pulses: np.ndarray, pts: np.ndarray | None, policy: str, who: _Who
) -> None:
    if policy not in ("fail", "warn", "repair"):
        raise SyncError(
            f"{who}: unknown frame/pulse policy {policy!r}",
            hint="verification.frame_pulse_policy is 'fail', 'warn' or 'repair'",
        )
    if n_frames < 2:
        raise SyncError(
            f"{who}: cannot time a video of {n_frames} frame(s) from pulses",
            hint="check the video probe; at least two frames are needed",
        )
    if pulses.size < 2:
        raise SyncError(
            f"{who}: the TTL channel has {pulses.size} pulse(s) for {n_frames} frames",
            hint="check the camera's ttl_id and that the TTL file holds this camera's pulses",
        )
    if not np.all(np.isfinite(pulses)) or np.any(np.diff(pulses) < 0):
        raise SyncError(
            f"{who}: pulse times must be finite and sorted",
            hint="read pulses with w2t_bkin.sources.ttl, which sorts and de-duplicates them",
        )
    if pts is not None and np.asarray(pts).size != n_frames:
        raise SyncError(
            f"{who}: frame_pts_s has {np.asarray(pts).size} timestamps for {n_frames} frames",
            hint="pass one container timestamp per frame, all chunks concatenated",
        )


def _chunk_starts(chunk_starting_frame: np.ndarray | None, n_frames: int, who: _Who) -> np.ndarray:
    if chunk_starting_frame is None:
        return np.zeros(1, dtype=np.int64)
    starts = np.asarray(chunk_starting_frame, dtype=np.int64).ravel()
    if starts.size == 0 or starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > n_frames:
        raise SyncError(
            f"{who}: chunk_starting_frame {starts.tolist()[:10]} is not increasing from 0 "
            f"within {n_frames} frames",
            hint="use CameraVideos.starting_frame",
        )
    return starts


def _chunk_bounds(chunks: np.ndarray, n_frames: int) -> list[tuple[int, int]]:
    """``(first, end)`` frame of every non-empty chunk."""
    ends = np.append(chunks[1:], n_frames)
    return [(int(a), int(b)) for a, b in zip(chunks, ends, strict=True) if b > a]


def _within_chunk(chunks: np.ndarray, n_frames: int) -> np.ndarray:
    """``(n_frames - 1,) bool``: frame intervals that do not cross a chunk boundary."""
    within = np.ones(n_frames - 1, dtype=bool)
    starts = chunks[(chunks > 0) & (chunks < n_frames)]
    within[starts - 1] = False
    return within


def _slots(times_s: np.ndarray, period_s: float, gap_factor: float) -> np.ndarray:
    """``(n,) int64`` position of each event on a nominal train of period ``period_s``."""
    ipi = np.diff(times_s)
    step = np.where(ipi > gap_factor * period_s, np.maximum(np.rint(ipi / period_s), 2), 1)
    return np.concatenate([[0], np.cumsum(step)]).astype(np.int64)
