"""Placement of frames by the camera's embedded frame counter.

See "Frame counter" in :mod:`w2t_bkin.sync.frames`: the counter gives the frame slots when the
pulses span exactly the counted frames, and informative pts must show the same gaps.
"""

from __future__ import annotations

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.frame_grid import _chunk_bounds, _Slots, _slots, _Who, _within_chunk


def _check_counter(
    frame_counter: np.ndarray | None, n_frames: int, chunks: np.ndarray, who: _Who
) -> np.ndarray | None:
    """``(n_frames,) int64`` frame counter, strictly increasing within every chunk, or None."""
    if frame_counter is None:
        return None
    counter = np.asarray(frame_counter).ravel()
    if counter.size != n_frames:
        raise SyncError(
            f"{who}: the frame counter has {counter.size} values for {n_frames} frames",
            hint="pass one counter value per saved frame, all chunks concatenated",
        )
    if not np.issubdtype(counter.dtype, np.integer):
        raise SyncError(
            f"{who}: the frame counter must hold integers, got {counter.dtype}",
            hint="read it with w2t_bkin.sources.camera_logs.read_frame_counter",
        )
    counter = counter.astype(np.int64)
    step = np.diff(counter)
    bad = np.flatnonzero((step <= 0) & _within_chunk(chunks, n_frames))
    if bad.size:
        i = int(bad[0])
        raise SyncError(
            f"{who}: the frame counter does not increase within a video chunk: frame {i} has "
            f"counter {int(counter[i])}, frame {i + 1} has {int(counter[i + 1])}",
            hint="read it with w2t_bkin.sources.camera_logs.read_frame_counter, one counter "
            "file per video file in the same order, or one file for the whole camera",
        )
    return counter


def _check_pts_agree(
    pts: np.ndarray, counter: np.ndarray, chunks: np.ndarray, gap_factor: float, who: _Who
) -> None:
    """Raise unless informative pts show the same gaps as the frame counter in every chunk."""
    period_cam = float(np.median(np.diff(pts)[_within_chunk(chunks, pts.size)]))
    for c, (a, b) in enumerate(_chunk_bounds(chunks, pts.size)):  # loop over chunks, not frames
        by_pts = _slots(pts[a:b], period_cam, gap_factor)
        by_counter = counter[a:b] - counter[a]
        differ = np.flatnonzero(by_pts != by_counter)
        if differ.size:
            i = int(differ[0])
            raise SyncError(
                f"camera {who.camera_id!r}: its frame counter and its container timestamps "
                f"disagree in video chunk {c}: frame {a + i} is {int(by_counter[i])} frames "
                f"after the chunk's first frame by the counter but {int(by_pts[i])} trigger "
                "periods after it by the timestamps",
                hint="the counter counts acquired frames and the timestamps run on the camera "
                "clock: a difference is frames the camera never acquired (missed triggers) or "
                "a counter file that belongs to another video; check that the counter files "
                "match the video files, in the same order",
            )


def _slots_from_counter(counter: np.ndarray, chunks: np.ndarray, pulse_slot: np.ndarray) -> _Slots:
    """Frame slots from the frame counter, when the pulses span exactly the counted frames.

    Frames acquired but not saved keep their pulse, so the counter's gaps leave no mark in the
    pulses and cannot register the frames on them (every shift puts as many frames on a
    pulse). What places them is the extent: the pulses must span exactly as many trigger
    periods as the counter counts acquired frames. Then the first and last frame have their
    pulse, no trigger was missed (a missed trigger, a camera drop, adds a period without a
    pulse and without a count) and every empty pulse slot is a lost pulse.
    """
    for a, _ in _chunk_bounds(chunks, counter.size)[1:]:
        if counter[a] <= counter[a - 1]:
            return _Slots(
                np.zeros(0, dtype=np.int64),
                "frame_counter",
                f"the frame counter restarts at frame {a}, the first of a video chunk ("
                f"{int(counter[a])} after {int(counter[a - 1])}): the camera restarted between "
                "the files, and the number of trigger periods between them is unknown",
                fatal=True,
            )
    rel = counter - counter[0]
    n_acquired = int(rel[-1]) + 1
    n_periods = int(pulse_slot[-1] - pulse_slot[0]) + 1
    if n_periods != n_acquired:
        n_empty = n_periods - pulse_slot.size
        return _Slots(
            np.zeros(0, dtype=np.int64),
            "frame_counter",
            f"the frame counter counts {n_acquired} acquired frames from the first saved "
            f"frame to the last ({n_acquired - counter.size} of them not saved) but the pulses "
            f"span {n_periods} trigger periods ({n_empty} without a pulse): the counter does not "
            "count triggers the camera missed (camera drops), nor pulses recorded before the "
            "video started or after it stopped, so nothing places the frames on the pulses",
            fatal=True,
        )
    return _Slots((rel + pulse_slot[0]).astype(np.int64), "frame_counter")
