"""Figures of the QC report that follow the session in time: frame intervals per camera, pose
confidence over time, and the Bpod states of every trial around its sync pulse.

Like :mod:`w2t_bkin.report.qc_figures` they are drawn with :class:`matplotlib.figure.Figure`
and the Agg canvas, never ``pyplot``. Long series are thinned with
:func:`~w2t_bkin.report.qc_figures.stride_subsample` before drawing, while the findings (dropped
frames, interpolated times) are all drawn, from the full arrays: thinning must hide none.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from w2t_bkin.report.figure_layout import (
    GAP_IN,
    TICK_IN,
    line_height_in,
    place_single,
    text_width_in,
)
from w2t_bkin.report.qc_figures import DPI, _png, stride_subsample
from w2t_bkin.report.qc_inputs import FrameTimeline, TrialStates

TIME_BINS = 240
"""Columns of the confidence-over-time heat map."""

MAX_TRIAL_ROWS = 200
"""Trials drawn in the Bpod state raster (a regular stride over the session beyond that)."""


def frame_intervals_png(timeline: FrameTimeline) -> bytes:
    """:func:`frame_intervals_figure` as PNG."""
    return _png_once(frame_intervals_figure(timeline))


def frame_intervals_figure(timeline: FrameTimeline) -> Figure:
    """Interval between consecutive frames over the session, drops and interpolations marked.

    Intervals across a video-file boundary are the pause between files, not a frame interval:
    they are left out of the trace and the boundary is drawn as a dotted line.
    """
    times_s = np.asarray(timeline.frame_times_s, dtype=np.float64)
    if times_s.size < 2:
        raise ValueError(f"camera {timeline.camera_id!r} has {times_s.size} frame(s): no interval")
    interval_ms = np.diff(times_s) * 1e3  # (n_frames - 1,): interval k follows frame k
    starts = np.asarray(timeline.chunk_starting_frame, dtype=np.int64)
    boundary = starts[(starts > 0) & (starts < times_s.size)] - 1
    interval_ms[boundary] = np.nan
    x_s = times_s[1:]
    fig = Figure(figsize=(10, 2.8), dpi=DPI)
    ax = fig.add_subplot()
    shown = stride_subsample(np.arange(interval_ms.size))
    ax.plot(x_s[shown], interval_ms[shown], lw=0.7, color="C0", label="frame interval")
    finite = interval_ms[np.isfinite(interval_ms)]
    median_ms = float(np.median(finite)) if finite.size else float("nan")
    if finite.size:
        ax.axhline(median_ms, color="k", lw=0.6, ls="--", label=f"median {median_ms:.4g} ms")
    gaps = np.asarray(timeline.dropped_after_frame_idx, dtype=np.int64)
    gaps = gaps[(gaps >= 0) & (gaps < interval_ms.size)]
    if gaps.size:
        n_dropped = int(np.sum(np.asarray(timeline.dropped_per_gap, dtype=np.int64)))
        ax.scatter(
            x_s[gaps],
            interval_ms[gaps],
            marker="v",
            s=28,
            color="C3",
            zorder=3,
            label=f"dropped frames ({n_dropped} in {gaps.size} gaps)",
        )
    interpolated = np.asarray(timeline.interpolated_frame_idx, dtype=np.int64)
    interpolated = interpolated[(interpolated >= 1) & (interpolated < times_s.size)]
    if interpolated.size:
        ax.scatter(
            times_s[interpolated],
            interval_ms[interpolated - 1],
            marker="o",
            s=30,
            facecolors="none",
            edgecolors="C1",
            linewidths=1.2,
            zorder=4,
            label=f"interpolated time, no pulse ({interpolated.size})",
        )
    for k, b in enumerate(boundary):
        ax.axvline(
            times_s[b + 1],
            color="0.55",
            ls=":",
            lw=0.9,
            label="next video file" if k == 0 else None,
        )
    top = float(np.max(finite)) if finite.size else 1.0
    ax.set_ylim(0, top * 1.15)
    ax.set_xlim(times_s[0], times_s[-1])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel("time (s, reference clock)")
    ax.set_ylabel("interval (ms)")
    ax.set_title(f"{timeline.camera_id}: frame interval over time ({times_s.size:,} frames)")
    ax.legend(fontsize=8, loc="lower right", ncol=2, framealpha=0.9)
    place_single(fig, ax)
    return fig


def confidence_over_time_png(
    label: str,
    keypoint_names: tuple[str, ...] | list[str],
    confidence: np.ndarray,
    frame_times_s: np.ndarray | None = None,
) -> bytes:
    """Heat map of the mean confidence per keypoint over time.

    ``confidence`` is ``(n_frames, n_keypoints)`` (NaN: no score); ``frame_times_s``
    ``(n_frames,)`` places the frames in time (``None``: frame numbers). Frames are thinned to a
    regular stride, then averaged in :data:`TIME_BINS` time bins; bins without a score are grey.
    """
    conf = np.asarray(confidence)
    n_frames, n_keypoints = conf.shape
    rows = stride_subsample(np.arange(n_frames))
    sample = conf[rows].astype(np.float64)  # the thinned rows only: no full-size copy
    x = (
        np.asarray(frame_times_s, dtype=np.float64)[rows]
        if frame_times_s is not None
        else rows.astype(np.float64)
    )
    lo, hi = float(x[0]), float(x[-1])
    if hi <= lo:
        hi = lo + 1.0
    n_bins = max(1, min(TIME_BINS, rows.size))
    edges = np.linspace(lo, hi, n_bins + 1)
    bin_of = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    scored = ~np.isnan(sample)
    sums = np.zeros((n_bins, n_keypoints))
    counts = np.zeros((n_bins, n_keypoints))
    np.add.at(sums, bin_of, np.where(scored, sample, 0.0))
    np.add.at(counts, bin_of, scored.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    cmap = colormaps["viridis"].with_extremes(bad="0.8")
    fig = Figure(figsize=(10, 1.3 + 0.24 * n_keypoints), dpi=DPI)
    try:
        ax = fig.add_subplot()
        image = ax.imshow(
            np.ma.masked_invalid(mean.T),
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            extent=(lo, hi, n_keypoints - 0.5, -0.5),
        )
        ax.set_yticks(range(n_keypoints), labels=[str(n) for n in keypoint_names], fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
        ax.set_xlabel("time (s, reference clock)" if frame_times_s is not None else "frame")
        width = (hi - lo) / n_bins
        unit = "s" if frame_times_s is not None else "frames"
        ax.set_title(
            f"{label}: mean confidence per {width:.3g} {unit} (grey: no score)", fontsize=10
        )
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04).set_label("confidence", fontsize=8)
        # the colour bar's ticks (0.0-1.0) and its label stand right of the axes
        colorbar_in = TICK_IN + text_width_in(["0.00"], 10) + GAP_IN + line_height_in(8)
        place_single(fig, ax, ytick_pt=7, right_in=colorbar_in)
        return _png(fig)
    finally:
        fig.clear()


def trial_states_png(states: TrialStates) -> bytes:
    """:func:`trial_states_figure` as PNG."""
    return _png_once(trial_states_figure(states))


def trial_states_figure(states: TrialStates) -> Figure:
    """One row per trial: its Bpod state visits as bars, time 0 at the trial's sync pulse.

    A trial without a recorded sync pulse (anchored by the clock model) is marked with a white
    diamond at 0. Beyond :data:`MAX_TRIAL_ROWS` trials a regular stride of them is drawn.
    """
    n_trials = states.n_trials
    shown = stride_subsample(np.arange(n_trials), MAX_TRIAL_ROWS)
    row_of = np.full(n_trials, -1, dtype=np.int64)
    row_of[shown] = np.arange(shown.size)
    trial = np.asarray(states.visit_trial_idx, dtype=np.int64)
    state = np.asarray(states.visit_state_idx, dtype=np.int64)
    start_s = np.asarray(states.visit_start_s, dtype=np.float64)
    stop_s = np.asarray(states.visit_stop_s, dtype=np.float64)
    drawn = (row_of[trial] >= 0) & np.isfinite(start_s) & np.isfinite(stop_s)
    palette = colormaps["tab20"]
    fig = Figure(figsize=(10, float(np.clip(1.4 + 0.16 * shown.size, 2.6, 9.0))), dpi=DPI)
    ax = fig.add_subplot()
    for s, name in enumerate(states.state_names):
        mask = drawn & (state == s)
        if not mask.any():
            continue
        # One collection per state, not one artist per bar: hundreds of trials draw at once.
        bars = _bar_vertices(
            row_of[trial[mask]], start_s[mask], np.maximum(stop_s[mask], start_s[mask])
        )
        ax.add_collection(
            PolyCollection(list(bars), facecolors=palette(s % 20), linewidths=0, label=name)
        )
    if drawn.any():
        # 0 (the sync pulse line) always shows, as autoscaling did with one artist per bar.
        lo, hi = min(0.0, float(start_s[drawn].min())), max(0.0, float(stop_s[drawn].max()))
        ax.set_xlim(*_padded(lo, hi))
    ax.axvline(0.0, color="k", lw=0.9, label="sync pulse")
    kinds = np.asarray(states.anchor_kind, dtype=str)[shown]
    no_pulse = np.flatnonzero(kinds != "pulse")
    if no_pulse.size:
        ax.scatter(
            np.zeros(no_pulse.size),
            no_pulse,
            marker="D",
            s=26,
            facecolors="white",
            edgecolors="k",
            linewidths=1.0,
            zorder=3,
            label="no pulse: clock model",
        )
    locator = MaxNLocator(nbins=8, integer=True)
    ticks = np.asarray(locator.tick_values(0, max(shown.size - 1, 0)), dtype=np.float64)
    ticks = ticks[(ticks >= 0) & (ticks < shown.size)].astype(np.int64)
    ax.set_yticks(ticks, labels=[str(int(shown[t])) for t in ticks])
    ax.set_ylim(shown.size - 0.5, -0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
    ax.set_ylabel("trial")
    ax.set_xlabel("time from the trial's sync pulse (s, reference clock)")
    every = "" if shown.size == n_trials else f", {shown.size} at a regular stride shown"
    ax.set_title(f"Bpod states of {n_trials} trials{every}", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    n_cols = 1 + len(labels) // 22
    ax.legend(
        handles,
        labels,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=n_cols,
        frameon=False,
    )
    # the legend stands right of the axes: per column a handle (2 em), its gap and the text
    legend_in = 0.1 + n_cols * (text_width_in(labels, 7) + 3.5 * 7 / 72)
    place_single(fig, ax, right_in=legend_in)
    return fig


def _bar_vertices(row: np.ndarray, start_s: np.ndarray, stop_s: np.ndarray) -> np.ndarray:
    """``(n_bars, 4, 2)`` corners of horizontal bars 0.8 rows high centred on ``row``."""
    top, bottom = row - 0.4, row + 0.4
    return np.stack(
        [
            np.column_stack([start_s, top]),
            np.column_stack([stop_s, top]),
            np.column_stack([stop_s, bottom]),
            np.column_stack([start_s, bottom]),
        ],
        axis=1,
    )


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """The x range of the bars with matplotlib's default 5% margins (collections set none)."""
    margin = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - margin, hi + margin


def _png_once(fig: Figure) -> bytes:
    try:
        return _png(fig)
    finally:
        fig.clear()
