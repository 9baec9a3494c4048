"""Placement of frames on the pulse slots by their container timestamps (pts).

Step 4 of :mod:`w2t_bkin.sync.frames` with informative pts: evenly spaced pts are recognised and
ignored, and the chunks, each slotted by its own pts, are placed on the pulse slots in recording
order by one FFT correlation per chunk and a dynamic programme over the chunks.
"""

from __future__ import annotations

import numpy as np

from w2t_bkin.sync.frame_grid import _chunk_bounds, _Slots, _slots, _within_chunk

#: Relative tolerance of evenly spaced pts when the container's tick is finer than this.
_EVEN_PTS_RTOL = 1e-6
#: Pts placements that put fewer than this fraction of frames on a pulse do not match.
_MIN_PTS_OVERLAP = 0.5


def _informative_pts(
    frame_pts_s: np.ndarray | None, chunks: np.ndarray
) -> tuple[np.ndarray | None, str]:
    """The pts when they can show missing frames, else ``None`` and why not."""
    if frame_pts_s is None:
        return None, "the video has no container timestamps"
    pts = np.asarray(frame_pts_s, dtype=np.float64).ravel()
    if not np.all(np.isfinite(pts)):
        return None, "some container timestamps are not finite"
    step = np.diff(pts)[_within_chunk(chunks, pts.size)]
    if step.size == 0:
        return None, "no chunk has two frames"
    if np.any(step <= 0):
        return None, "container timestamps do not increase within a chunk"
    bounds = _chunk_bounds(chunks, pts.size)
    if all(_evenly_spaced(pts[a:b]) for a, b in bounds):
        return None, (
            f"evenly spaced ({float(np.median(step)) * 1e3:.6g} ms apart within a tick in every "
            "chunk): a constant-frame-rate container, whose timestamps cannot show dropped frames"
        )
    return pts, ""


def _evenly_spaced(pts: np.ndarray) -> bool:
    """Whether every pts is within a tick of the line through the first and last one.

    The tick is the container's time base as seen in the data (the smallest difference between
    distinct intervals); integer ticks make a constant-rate writer's intervals differ by one
    tick (e.g. 6 and 7 ms at 150 Hz in milliseconds), so the test is on positions, not
    intervals. Without visible ticks the tolerance is ``_EVEN_PTS_RTOL`` of the interval, and
    never more than a quarter of it.
    """
    n = pts.size
    if n < 3:
        return True
    period = (pts[-1] - pts[0]) / (n - 1)
    line = pts[0] + np.arange(n) * period
    intervals_ns = np.unique(np.rint(np.diff(pts) * 1e9))
    tick = float(np.min(np.diff(intervals_ns))) * 1e-9 if intervals_ns.size > 1 else 0.0
    tolerance = min(max(tick, _EVEN_PTS_RTOL * period), 0.25 * period)
    return bool(np.max(np.abs(pts - line)) <= tolerance)


def _slots_from_pts(
    pts: np.ndarray, chunks: np.ndarray, pulse_slot: np.ndarray, gap_factor: float
) -> _Slots:
    """Frame slots from each chunk's pts pattern, placed on the pulse slots."""
    bounds = _chunk_bounds(chunks, pts.size)
    period_cam = float(np.median(np.diff(pts)[_within_chunk(chunks, pts.size)]))
    rel = [_slots(pts[a:b], period_cam, gap_factor) for a, b in bounds]
    starts, problem = _place_chunks(rel, pulse_slot)
    if problem:
        return _Slots(np.zeros(0, dtype=np.int64), "pts", problem, fatal=True)
    frame_slot = np.concatenate([r + x for r, x in zip(rel, starts, strict=True)])
    # camera time continuous across chunks: each chunk's pts from where its first frame sits
    camera_time = np.concatenate(
        [pts[a:b] - pts[a] + x * period_cam for (a, b), x in zip(bounds, starts, strict=True)]
    )
    return _Slots(frame_slot.astype(np.int64), "pts", camera_time_s=camera_time)


def _place_chunks(rel: list[np.ndarray], pulse_slot: np.ndarray) -> tuple[list[int], str]:
    """Start slot of every chunk: the ordered placement that puts the most frames on a pulse.

    ``rel[c]`` are chunk ``c``'s frame slots from its first frame (0). Chunks stay in recording
    order (a chunk starts after the previous one ends), so chunk ``c`` can only start within a
    window: after every earlier chunk fits, before every later one must. For every start in its
    window, the number of the chunk's frames on a pulse comes from one FFT correlation; a
    dynamic programme over the chunks finds the best total and counts the placements that
    reach it (capped at 2) to detect ties.

    Returns the start slots, or ``[]`` and the problem when the best placement is not unique
    or puts too few frames on a pulse.
    """
    n_slots = int(pulse_slot[-1]) + 1
    lengths = np.array([int(r[-1]) + 1 for r in rel], dtype=np.int64)
    n_frames = sum(r.size for r in rel)
    # the first chunk may start before the first pulse and the last end after the last one
    lower = -(lengths[0] - 1) + np.concatenate([[0], np.cumsum(lengths[:-1])])
    upper = n_slots - 1 - np.concatenate([np.cumsum(lengths[:-1][::-1])[::-1], [0]])
    if lower[0] > upper[0]:
        return [], (
            f"the {len(rel)} chunks' timestamps span more frame positions than the pulses: they "
            "do not match the pulses"
        )
    pad = int(lengths.max())
    occupied = np.zeros(n_slots + 2 * pad)
    occupied[pulse_slot + pad] = 1.0
    tables: list[np.ndarray] = []
    overlaps: list[np.ndarray] = []
    ways = np.ones(0, dtype=np.int64)
    for c, r in enumerate(rel):
        frames = np.zeros(int(lengths[c]))
        frames[r] = 1.0
        window = occupied[lower[c] + pad : upper[c] + lengths[c] + pad]
        # frames on a pulse for each start slot lower[c] .. upper[c] (integers; FFT error ~1e-9)
        overlap = np.rint(_correlate_valid(window, frames))
        overlaps.append(overlap.astype(np.int64))
        total = overlap.astype(np.int64)
        if c == 0:
            ways = np.ones(total.size, dtype=np.int64)
        else:
            # the previous chunk ends before start x when its own start is at most x - its
            # length: index j of this window is index j of the previous one (clipped)
            best_before, ways_before = _prefix_best(tables[-1], ways)
            idx = np.minimum(np.arange(total.size), best_before.size - 1)
            total += best_before[idx]
            ways = ways_before[idx]
        tables.append(total)

    total = tables[-1]
    best = int(total.max())
    if best < _MIN_PTS_OVERLAP * n_frames:
        return [], (
            f"the container timestamps do not match the pulses: their best placement puts "
            f"only {best} of {n_frames} frames on a pulse"
        )
    if int(ways[total == best].sum()) > 1:
        if len(rel) == 1:
            tied = np.flatnonzero(total == best) + lower[0]
            where = ", ".join(str(int(t)) for t in tied[:5]) + (", ..." if tied.size > 5 else "")
            return [], (
                "container timestamps match the pulses equally well at several frame shifts "
                f"(first frame on pulse slot {where}; {best} frames on a pulse each)"
            )
        return [], (
            f"container timestamps of the {len(rel)} chunks match the pulses equally well with "
            f"several placements of the chunks ({best} frames on a pulse each; the time between "
            "chunks is unknown, so a chunk whose timestamps show no gap can slide over extra "
            "pulses)"
        )
    j = int(np.argmax(total))
    starts = [j + int(lower[-1])]
    for c in range(len(rel) - 2, -1, -1):
        table = tables[c]
        j = int(np.argmax(table[: min(j, table.size - 1) + 1]))
        starts.insert(0, j + int(lower[c]))
    return starts, _placement_margin_problem(starts, overlaps, rel, lengths, lower, upper)


def _placement_margin_problem(
    starts: list[int],
    overlaps: list[np.ndarray],
    rel: list[np.ndarray],
    lengths: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> str:
    """Why the best placement does not stand out clearly enough from a shifted one ("" if it does).

    A chunk shifted by whole slots keeps most frames on pulses; what tells the true start is
    the few frames that land on empty pulse slots (lost pulses) or on a gap of the video
    (camera drops, unsaved frames). When the chunk itself leaves ``n_off`` frames off a pulse,
    how many frames other starts leave off varies by about ``sqrt(n_off)`` by chance, so the
    best start must beat every other start the neighbouring chunks allow by
    ``max(1, sqrt(n_off))`` frames; otherwise a coincidence could have chosen it. (With a
    perfect fit, ``n_off = 0``, a lead of one frame is the video's first or last frame falling
    off the pulse train: the recording started and stopped with its pulses.)
    """
    for c, start in enumerate(starts):
        lo = starts[c - 1] + int(lengths[c - 1]) if c > 0 else int(lower[c])
        hi = starts[c + 1] - int(lengths[c]) if c + 1 < len(starts) else int(upper[c])
        overlap = overlaps[c]
        idx = np.arange(max(lo, int(lower[c])), min(hi, int(upper[c])) + 1) - int(lower[c])
        chosen = start - int(lower[c])
        others = overlap[idx[idx != chosen]]
        if others.size == 0:
            continue
        n_off = int(rel[c].size - overlap[chosen])
        margin = int(overlap[chosen] - others.max())
        needed = max(1, int(np.ceil(np.sqrt(n_off))))
        if margin < needed:
            runner_up = int(idx[idx != chosen][int(np.argmax(others))] + lower[c])
            return (
                f"the container timestamps of chunk {c} place it on the pulses almost as well "
                f"starting at pulse slot {runner_up} as at {start} ({int(others.max())} vs "
                f"{int(overlap[chosen])} of its {rel[c].size} frames on a pulse; a clear "
                f"placement needs a lead of {needed}): too many lost pulses or too few gaps "
                "in the video to tell"
            )
    return ""


def _prefix_best(total: np.ndarray, ways: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum of ``total`` and how many placements reach it (capped at 2)."""
    best = np.maximum.accumulate(total)
    count = np.cumsum(np.where(total == best, ways, 0))
    # restart the count where the running maximum rises
    rises = np.ones(total.size, dtype=bool)
    rises[1:] = best[1:] != best[:-1]
    run_start = np.maximum.accumulate(np.where(rises, np.arange(total.size), 0))
    base = np.where(run_start > 0, count[run_start - 1], 0)
    return best, np.minimum(count - base, 2)


def _correlate_valid(window: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[k] = sum_j window[k + j] * kernel[j]`` for ``k = 0 .. len(window) - len(kernel)``.

    SciPy's ``correlate(..., mode="valid", method="fft")``, by NumPy's FFT: importing
    ``scipy.signal`` costs seconds. A circular correlation of length ``n >= len(window)`` has no
    wrap-around at these lags, so no padding beyond the next fast FFT length is needed.

    Parameters
    ----------
    window
        ``(n_window,) float64``.
    kernel
        ``(n_kernel,) float64``, ``n_kernel <= n_window``.

    Returns
    -------
    numpy.ndarray
        ``(n_window - n_kernel + 1,) float64``.
    """
    n_valid = window.size - kernel.size + 1
    n = _fast_fft_length(window.size)
    spectrum = np.fft.rfft(window, n) * np.conj(np.fft.rfft(kernel, n))
    return np.fft.irfft(spectrum, n)[:n_valid]


def _fast_fft_length(n: int) -> int:
    """The smallest 5-smooth integer (only factors 2, 3, 5) at least ``n``: a fast FFT size."""
    best = 1 << max(0, (n - 1).bit_length())  # a power of two always qualifies
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35 << max(0, (-(-n // power35) - 1).bit_length())
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best
