"""Figures of the QC report, drawn off-screen and returned as PNG bytes.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, never
through ``pyplot``: no global backend switch (``matplotlib.use`` would fight a user's notebook
backend), no global figure registry to leak memory from, and safe in worker threads.

Large inputs are reduced before drawing so a 540,000-frame session plots as fast as a short one:
pulse rasters are drawn as runs of occupied time bins, and confidence statistics come from at
most :data:`MAX_PLOT_FRAMES` frames taken at a regular stride.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

from w2t_bkin.report.figure_layout import margins_of, place_axes, place_single

log = logging.getLogger(__name__)

MAX_PLOT_FRAMES = 50_000
"""Most frames used to draw confidence distributions (regular stride over the session)."""

RASTER_BINS = 4000
"""Time bins of the TTL raster; runs of occupied bins are drawn as bars."""

LOW_CONFIDENCE = 0.5
LOG_COUNTS_FROM = 20
"""Histograms whose tallest bin holds at least this many use a log count axis."""
DPI = 96


@dataclass(frozen=True)
class KeypointConfidenceStats:
    """Per-keypoint confidence summary of one camera.

    All arrays have shape ``(n_keypoints,)`` and dtype float64. Percentiles are computed on at
    most :data:`MAX_PLOT_FRAMES` frames (``n_frames_used``); ``fraction_low`` and
    ``fraction_nan`` use every frame.
    """

    keypoint_names: tuple[str, ...]
    p5: np.ndarray
    q1: np.ndarray
    median: np.ndarray
    q3: np.ndarray
    p95: np.ndarray
    fraction_low: np.ndarray
    fraction_nan: np.ndarray
    n_frames: int
    n_frames_used: int


def stride_subsample(values: np.ndarray, max_rows: int = MAX_PLOT_FRAMES) -> np.ndarray:
    """Every k-th row of ``values`` so that at most ``max_rows`` rows remain (a view)."""
    step = max(1, -(-values.shape[0] // max_rows))  # ceiling division
    return values[::step]


def confidence_stats(
    keypoint_names: Sequence[str],
    confidence: np.ndarray,
    low_threshold: float = LOW_CONFIDENCE,
) -> KeypointConfidenceStats:
    """Summarise a ``(n_frames, n_keypoints)`` confidence array per keypoint.

    NaN (keypoint not detected) is excluded from percentiles and from ``fraction_low``'s
    denominator, and counted in ``fraction_nan``.
    """
    conf = np.asarray(confidence)
    if conf.ndim != 2 or conf.shape[1] != len(keypoint_names):
        raise ValueError(
            f"confidence must have shape (n_frames, {len(keypoint_names)}) to match "
            f"keypoint_names, not {conf.shape}"
        )
    n_frames, n_keypoints = conf.shape
    nan_mask = np.isnan(conf)
    n_valid = n_frames - nan_mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction_low = np.where(
            n_valid > 0, (conf < low_threshold).sum(axis=0) / np.maximum(n_valid, 1), np.nan
        )
        fraction_nan = nan_mask.sum(axis=0) / n_frames if n_frames else np.full(n_keypoints, np.nan)
    sample = stride_subsample(conf).astype(np.float64)
    if sample.size and not np.isnan(sample).all(axis=0).any():
        percentiles = np.nanpercentile(sample, [5, 25, 50, 75, 95], axis=0)
    else:
        percentiles = np.full((5, n_keypoints), np.nan)
        for k in range(n_keypoints):
            column = sample[:, k]
            column = column[~np.isnan(column)]
            if column.size:
                percentiles[:, k] = np.percentile(column, [5, 25, 50, 75, 95])
    return KeypointConfidenceStats(
        keypoint_names=tuple(keypoint_names),
        p5=percentiles[0],
        q1=percentiles[1],
        median=percentiles[2],
        q3=percentiles[3],
        p95=percentiles[4],
        fraction_low=np.asarray(fraction_low, dtype=np.float64),
        fraction_nan=np.asarray(fraction_nan, dtype=np.float64),
        n_frames=n_frames,
        n_frames_used=sample.shape[0],
    )


def ttl_timeline_png(ttl_channels: Mapping[str, np.ndarray]) -> bytes:
    """Raster of every channel's pulses over the session; one row per channel."""
    names = list(ttl_channels)
    times = [np.asarray(ttl_channels[name], dtype=np.float64) for name in names]
    non_empty = [t for t in times if t.size]
    t_min = min(float(t.min()) for t in non_empty) if non_empty else 0.0
    t_max = max(float(t.max()) for t in non_empty) if non_empty else 1.0
    if t_max <= t_min:
        t_max = t_min + 1.0
    edges = np.linspace(t_min, t_max, RASTER_BINS + 1)
    width = edges[1] - edges[0]

    fig = Figure(figsize=(10, 0.5 + 0.45 * max(len(names), 1)), dpi=DPI)
    try:
        ax = fig.add_subplot()
        for row, t in enumerate(times):
            counts, _ = np.histogram(t, bins=edges)
            ax.broken_barh(_occupied_runs(counts, edges, width), (row - 0.35, 0.7), color=f"C{row}")
        ax.set_yticks(range(len(names)), labels=names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlim(t_min, t_max)
        ax.set_xlabel("time (s, acquisition clock)")
        ax.set_title("TTL pulses (gaps show as white)")
        place_single(fig, ax)
        return _png(fig)
    finally:
        fig.clear()


def ipi_histograms_png(ttl_channels: Mapping[str, np.ndarray]) -> bytes:
    """:func:`ipi_histograms_figure` as PNG."""
    fig = ipi_histograms_figure(ttl_channels)
    try:
        return _png(fig)
    finally:
        fig.clear()


def ipi_histograms_figure(ttl_channels: Mapping[str, np.ndarray]) -> Figure:
    """Inter-pulse-interval histogram per channel with at least two pulses.

    Dense channels get log counts (a few long gaps among thousands of regular intervals stay
    visible); sparse ones linear integer counts, and few bins, so no tick label crowds another.
    """
    names = [name for name, t in ttl_channels.items() if np.asarray(t).size >= 2]
    n_cols = min(3, max(len(names), 1))
    n_rows = max(1, -(-len(names) // n_cols))
    fig = Figure(figsize=(3.6 * n_cols, 2.6 * n_rows), dpi=DPI)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ipi_ms = np.diff(np.asarray(ttl_channels[name], dtype=np.float64)) * 1e3
        median_ms = float(np.median(ipi_ms))
        counts, edges = np.histogram(ipi_ms, bins=_hist_bins(ipi_ms, ipi_bin_count(ipi_ms.size)))
        ax.stairs(counts, edges, fill=True, color="C0")
        ax.axvline(median_ms, color="k", lw=0.8, ls="--")
        if counts.max() >= LOG_COUNTS_FROM:
            ax.set_yscale("log")
            ax.set_ylim(0.7, None)
            ax.yaxis.set_major_locator(LogLocator(base=10, numticks=4))
            # No minor ticks: a log axis makes ~10 per decade, each a costly artist, unlabelled.
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylabel("count (log)", fontsize=8)
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            ax.set_ylabel("count", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_title(f"{name}  (median {_duration_text(median_ms)})", fontsize=9)
        ax.set_xlabel("inter-pulse interval (ms)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    shown = [
        [ax if r * n_cols + c < len(names) else None for c, ax in enumerate(row)]
        for r, row in enumerate(axes)
    ]
    place_axes(fig, shown, {ax: margins_of(ax) for row in shown for ax in row if ax})
    return fig


def ipi_bin_count(n_intervals: int) -> int:
    """Histogram bins for ``n_intervals`` values: about twice the square root, 5 to 100."""
    return int(np.clip(np.ceil(2.0 * np.sqrt(max(n_intervals, 1))), 5, 100))


def _duration_text(ms: float) -> str:
    return f"{ms / 1e3:.3g} s" if abs(ms) >= 1e3 else f"{ms:.3g} ms"


def trial_alignment_png(
    trial_idx: np.ndarray,
    offsets_s: np.ndarray,
    alignment_label: np.ndarray | Sequence[str] | None,
    residuals_ms: np.ndarray,
) -> bytes:
    """Left: per-trial offset (reference - Bpod) coloured by label. Right: residual histogram.

    ``trial_idx``, ``offsets_s`` and ``alignment_label`` have shape ``(n_trials,)``;
    ``residuals_ms`` has shape ``(n_matched,)`` (NaN entries are ignored).
    """
    trial_idx = np.asarray(trial_idx)
    offsets_s = np.asarray(offsets_s, dtype=np.float64)
    residuals_ms = np.asarray(residuals_ms, dtype=np.float64)
    label_array = (
        np.asarray(alignment_label, dtype=str)
        if alignment_label is not None
        else np.full(trial_idx.size, "trial")
    )
    fig = Figure(figsize=(10, 3.4), dpi=DPI)
    try:
        ax_offset, ax_resid = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        # Offsets are seconds apart from zero but vary by microseconds: plot the deviation.
        finite_offsets = offsets_s[np.isfinite(offsets_s)]
        median_s = float(np.median(finite_offsets)) if finite_offsets.size else 0.0
        deviation_ms = (offsets_s - median_s) * 1e3
        for colour, label in enumerate(dict.fromkeys(label_array.tolist())):
            mask = label_array == label
            ax_offset.scatter(
                trial_idx[mask], deviation_ms[mask], s=10, color=f"C{colour}", label=label
            )
        ax_offset.set_xlabel("trial")
        ax_offset.set_ylabel("offset - median (ms)")
        ax_offset.set_title(f"trial offsets, reference - Bpod (median {median_s:.6f} s)")
        if label_array.size:
            ax_offset.legend(fontsize=8, loc="best")
        finite = residuals_ms[np.isfinite(residuals_ms)]
        if finite.size:
            n_bins = min(50, max(5, finite.size // 4))
            ax_resid.hist(finite, bins=_hist_bins(finite, n_bins), color="C0")
        ax_resid.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax_resid.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax_resid.set_xlabel("residual after clock fit (ms)")
        ax_resid.set_ylabel("matched trials")
        ax_resid.set_title("fit residuals")
        place_axes(
            fig, [[ax_offset, ax_resid]], {ax: margins_of(ax) for ax in (ax_offset, ax_resid)}
        )
        return _png(fig)
    finally:
        fig.clear()


def pose_confidence_png(camera_id: str, stats: KeypointConfidenceStats) -> bytes:
    """Box plot per keypoint (whiskers at 5th/95th percentile) and fraction of low frames."""
    n = len(stats.keypoint_names)
    fig = Figure(figsize=(max(6.0, 0.45 * n + 2), 4.6), dpi=DPI)
    try:
        ax_box, ax_low = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        boxes = [
            {
                "label": name,
                "whislo": stats.p5[k],
                "q1": stats.q1[k],
                "med": stats.median[k],
                "q3": stats.q3[k],
                "whishi": stats.p95[k],
                "fliers": [],
            }
            for k, name in enumerate(stats.keypoint_names)
            if np.isfinite(stats.median[k])
        ]
        positions = [k + 1 for k in range(n) if np.isfinite(stats.median[k])]
        if boxes:
            ax_box.bxp(boxes, positions=positions, showfliers=False)
        ax_box.axhline(LOW_CONFIDENCE, color="C3", lw=0.8, ls="--")
        ax_box.set_ylabel("confidence")
        ax_box.set_title(
            f"{camera_id}: confidence per keypoint "
            f"({stats.n_frames_used:,} of {stats.n_frames:,} frames)",
            fontsize=10,
        )
        ax_low.bar(np.arange(1, n + 1), np.nan_to_num(stats.fraction_low), color="C3")
        ax_low.set_ylim(0, 1)
        ax_low.set_ylabel(f"< {LOW_CONFIDENCE}", fontsize=8)
        ax_low.set_xticks(np.arange(1, n + 1), labels=stats.keypoint_names, rotation=60, fontsize=7)
        margins = {
            ax_box: margins_of(ax_box),
            ax_low: margins_of(ax_low, xtick_rotation_deg=60, xtick_pt=7),
        }
        place_axes(fig, [[ax_box], [ax_low]], margins)
        return _png(fig)
    finally:
        fig.clear()


def _hist_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """``n_bins + 1`` edges spanning ``values``; a tiny range (a clock-perfect TTL, where all
    intervals differ by rounding only) is widened to +-5 % around the median."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi - lo <= 1e-6 * max(abs(hi), abs(lo), 1e-12):
        centre = float(np.median(values))
        half = 0.05 * abs(centre) if centre != 0 else 0.5
        lo, hi = centre - half, centre + half
    return np.linspace(lo, hi, n_bins + 1)


def _occupied_runs(
    counts: np.ndarray, edges: np.ndarray, width: float
) -> list[tuple[float, float]]:
    # Contiguous occupied bins become one bar: few draw calls even for millions of pulses.
    occupied = np.concatenate(([0], (counts > 0).astype(np.int8), [0]))
    change = np.flatnonzero(np.diff(occupied))
    starts, stops = change[::2], change[1::2]
    return [(float(edges[a]), float((b - a) * width)) for a, b in zip(starts, stops, strict=True)]


PNG_COMPRESS_LEVEL = 1
"""zlib level of the figures' PNGs: plots of flat colours shrink almost as much at 1 as at
PIL's default 6, which took a tenth of the QC report's drawing time."""


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()
