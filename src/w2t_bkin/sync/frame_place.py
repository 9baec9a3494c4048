"""Step 4 of :mod:`w2t_bkin.sync.frames`: frame slots by the best evidence at hand.

The camera's frame counter first, then informative container timestamps, then the counts.
"""

from __future__ import annotations

import numpy as np

from w2t_bkin.sync.frame_counter import _slots_from_counter
from w2t_bkin.sync.frame_grid import _Slots
from w2t_bkin.sync.frame_pts import _slots_from_pts
from w2t_bkin.sync.frame_pulses import _slots_from_counts


def _place(
    n_frames: int,
    pulse_slot: np.ndarray,
    pts: np.ndarray | None,
    counter: np.ndarray | None,
    chunks: np.ndarray,
    gap_factor: float,
) -> _Slots:
    """Frame slots on the pulse slots ``(n_kept,) int64``.

    ``pts`` are informative container timestamps ``(n_frames,) float64`` or ``None``;
    ``counter`` the checked frame counter ``(n_frames,) int64`` or ``None`` (already checked
    against the pts).
    """
    if counter is not None:
        # a counter without a gap says only that every acquired frame was saved: the counts
        # then carry the same information and also handle camera drops
        if bool(np.all(np.diff(counter) == 1)):
            return _slots_from_counts(n_frames, pulse_slot)
        return _slots_from_counter(counter, chunks, pulse_slot)
    if pts is not None:
        return _slots_from_pts(pts, chunks, pulse_slot, gap_factor)
    return _slots_from_counts(n_frames, pulse_slot)
