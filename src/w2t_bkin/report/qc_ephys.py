"""The QC report's "Ephys clocks" section: each probe clock's fit onto the reference clock.

One row per probe (offset, drift, residuals, matched and unmatched sync edges, a pass/warn
status against the session's match tolerance) and one figure per probe: the probe clock's
offset from the reference over the session (its drift) and the residual of every matched
edge after the fit. The section exists only when the session has a probe clock fit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from w2t_bkin.report.figure_layout import margins_of, place_axes
from w2t_bkin.report.html import badge_html, badge_only_html, esc, figure_html, num_text, table_html
from w2t_bkin.report.qc_figures import DPI, _png, stride_subsample
from w2t_bkin.report.qc_inputs import ProbeClockQC

__all__ = ["probe_clock_badges", "probe_clock_png", "probe_clocks_html"]

_COLUMNS = (
    "probe sync channel",
    "reference channel",
    "model",
    "offset (s)",
    "drift (ppm)",
    "residual RMS (ms)",
    "residual max (ms)",
    "tolerance (ms)",
    "edges probe / reference",
    "matched",
    "unmatched probe / reference",
    "lost inside",
    "status",
)


def probe_clocks_html(clocks: Sequence[ProbeClockQC]) -> str:
    """The section body: a table of every probe clock fit and one figure per probe."""
    rows = []
    for clock in clocks:
        cells = [
            esc(clock.clock_id),
            esc(clock.reference_id),
            esc(clock.model),
            num_text(clock.offset_s, ".6f"),
            num_text(clock.drift_ppm, ".3f"),
            num_text(clock.residual_rms_ms, ".4f"),
            num_text(clock.residual_max_ms, ".4f"),
            num_text(clock.tolerance_ms, "g"),
            f"{clock.n_source_edges} / {clock.n_reference_edges}",
            str(clock.n_matched),
            f"{clock.n_unmatched_source} / {clock.n_unmatched_reference}",
            str(clock.n_unmatched_inside),
            badge_only_html(clock.status),
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    figures = [
        figure_html(
            functools.partial(probe_clock_png, clock),
            f"clock fit of {clock.clock_id} onto {clock.reference_id}",
        )
        for clock in clocks
    ]
    note = (
        '<p class="meta">Each probe samples on its own clock; its sync-wave edges are paired '
        "with the same wave's edges on the reference and fitted (reference = probe + offset + "
        "drift &times; probe time). Edges only one stream recorded before or after the other "
        "are unmatched but expected; edges lost inside the common span, or a residual above the "
        "tolerance, turn the status to warn.</p>"
    )
    return note + table_html(_COLUMNS, rows) + "".join(figures)


def probe_clock_badges(clocks: Sequence[ProbeClockQC]) -> list[str]:
    """One summary badge per probe clock: status, drift and worst residual."""
    return [
        badge_html(
            f"ephys clock {clock.clock_id}",
            clock.status,
            f"{clock.drift_ppm:+.2f} ppm, max {clock.residual_max_ms:.3f} ms",
        )
        for clock in clocks
    ]


def probe_clock_png(clock: ProbeClockQC) -> bytes:
    """Left: reference minus probe time over the session (the drift). Right: residual of each
    matched edge after the fit, with the tolerance.

    Arrays are ``(n_matched,) float64``; long runs are thinned by a regular stride, except the
    edges beyond the tolerance, which are all drawn.
    """
    t_s = np.asarray(clock.matched_reference_s, dtype=np.float64)
    source_s = np.asarray(clock.matched_source_s, dtype=np.float64)
    residual_ms = np.asarray(clock.residuals_ms, dtype=np.float64)
    fig = Figure(figsize=(10, 3.2), dpi=DPI)
    try:
        ax_delta, ax_resid = fig.subplots(1, 2)
        shown = stride_subsample(np.arange(t_s.size))
        # reference - probe is seconds away from 0 but changes by ms: plot it from its start
        delta_ms = (t_s - source_s) * 1e3
        start_ms = float(delta_ms[0]) if delta_ms.size else 0.0
        ax_delta.plot(t_s[shown], delta_ms[shown] - start_ms, ".", ms=2, color="C0")
        ax_delta.set_xlabel("reference time (s)")
        ax_delta.set_ylabel("offset change (ms)")
        ax_delta.set_title(
            f"{clock.clock_id}: reference - probe (start {start_ms:.3f} ms, "
            f"drift {clock.drift_ppm:+.3f} ppm)"
        )
        over = np.flatnonzero(np.abs(residual_ms) > clock.tolerance_ms)
        ax_resid.plot(t_s[shown], residual_ms[shown], ".", ms=2, color="C0", label="matched edge")
        if over.size:
            ax_resid.plot(t_s[over], residual_ms[over], "x", color="C3", label="above tolerance")
        for sign in (-1, 1):
            ax_resid.axhline(sign * clock.tolerance_ms, color="C3", lw=0.8, ls="--")
        largest = max(float(np.max(np.abs(residual_ms))) if residual_ms.size else 0.0, 1e-6)
        # zoom on the residuals unless one exceeds the tolerance (then show the band too)
        limit = 1.2 * max(largest, clock.tolerance_ms if over.size else largest)
        ax_resid.set_ylim(-limit, limit)
        ax_resid.set_xlabel("reference time (s)")
        ax_resid.set_ylabel("residual (ms)")
        ax_resid.set_title(f"fit residuals ({clock.model}; tolerance ±{clock.tolerance_ms:g} ms)")
        if over.size:
            ax_resid.legend(fontsize=8, loc="best")
        place_axes(fig, [[ax_delta, ax_resid]], {ax: margins_of(ax) for ax in (ax_delta, ax_resid)})
        return _png(fig)
    finally:
        fig.clear()
