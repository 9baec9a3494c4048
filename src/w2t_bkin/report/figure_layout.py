"""Axes margins of the QC figures, from the text around the axes, without drawing.

``Figure.tight_layout`` measures every tick label, title and legend by laying the text out with
FreeType before the figure is drawn: a quarter of the QC report's drawing time. Here margins
come from the strings themselves (tick labels from each axis' locator and formatter, which is
cheap) at an estimated advance width per character, generous enough for capitals and digits,
so labels never clip; a figure may get a few pixels more white space than tight_layout's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure

CHAR_EM = 0.62
"""Estimated advance width of a character in ems (DejaVu Sans: digits 0.64, lower case ~0.55)."""

LINE_EM = 1.3
"""Height of a line of text in ems, descenders included."""

PAD_IN = 0.1
"""White space between the text and the figure's edge."""

TICK_IN = 7.5 / 72
"""Tick length plus the gap to its label (3.5 pt each by default), and a hair."""

GAP_IN = 0.06
"""Between a tick label and its axis label, or a title and the axes."""

_MATHTEXT = re.compile(r"\\mathdefault|[${}^\\]")


def text_width_in(texts: Iterable[str], size_pt: float) -> float:
    """Width in inches of the longest of ``texts`` at ``size_pt``, estimated from its length."""
    longest = max((len(_MATHTEXT.sub("", t)) for t in texts), default=0)
    return longest * CHAR_EM * size_pt / 72


def line_height_in(size_pt: float) -> float:
    """Height in inches of one line of text at ``size_pt``."""
    return LINE_EM * size_pt / 72


def tick_labels(axis: Axis) -> list[str]:
    """The major tick labels ``axis`` will draw (within its view limits), without drawing."""
    lo, hi = sorted(axis.get_view_interval())
    values = np.asarray(axis.get_major_locator()(), dtype=np.float64)
    eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    values = values[(values >= lo - eps) & (values <= hi + eps)]
    if not values.size:
        return []
    return [str(label) for label in axis.get_major_formatter().format_ticks(list(values))]


@dataclass(frozen=True)
class Margins:
    """What one axes needs around it, in inches."""

    left: float
    bottom: float
    top: float
    right: float


def margins_of(
    ax: Axes,
    *,
    xtick_rotation_deg: float = 0.0,
    right_in: float = 0.0,
    xtick_pt: float | None = None,
    ytick_pt: float | None = None,
) -> Margins:
    """The margins ``ax`` needs for its tick labels, axis labels and title.

    ``xtick_rotation_deg``: the x tick labels' rotation (rotated labels are taller).
    ``right_in``: extra room on the right (a colour bar, a legend beside the axes).
    ``xtick_pt``/``ytick_pt``: the tick labels' size where it was set on the labels themselves
    (``set_xticks(..., fontsize=...)``) rather than with ``tick_params``.
    """
    x_params, y_params = ax.xaxis.get_tick_params(), ax.yaxis.get_tick_params()
    ytick_pt = ytick_pt or float(y_params.get("labelsize", _rc_size("ytick.labelsize")))
    xtick_pt = xtick_pt or float(x_params.get("labelsize", _rc_size("xtick.labelsize")))
    # an axis sharing its labels with a neighbour (label_outer) shows none
    yticks = tick_labels(ax.yaxis) if y_params.get("labelleft", True) else []
    xticks = tick_labels(ax.xaxis) if x_params.get("labelbottom", True) else []
    left = TICK_IN + text_width_in(yticks, ytick_pt)
    if ax.get_ylabel():
        left += GAP_IN + line_height_in(float(ax.yaxis.label.get_fontsize()))
    xtick_w = text_width_in(xticks, xtick_pt)
    if xtick_rotation_deg:
        angle = np.deg2rad(xtick_rotation_deg)
        xtick_h = xtick_w * abs(np.sin(angle)) + line_height_in(xtick_pt) * abs(np.cos(angle))
    else:
        xtick_h = line_height_in(xtick_pt) if xticks else 0.0
    bottom = TICK_IN + xtick_h
    if ax.get_xlabel():
        bottom += GAP_IN + line_height_in(float(ax.xaxis.label.get_fontsize()))
    top = GAP_IN + line_height_in(float(ax.title.get_fontsize())) if ax.get_title() else 0.0
    # the last x tick label is centred on the axes' right end: half of it overhangs
    overhang = 0.0 if xtick_rotation_deg else text_width_in(xticks[-1:], xtick_pt) / 2
    return Margins(left, bottom, top, max(overhang, right_in))


def place_axes(
    fig: Figure,
    grid: Sequence[Sequence[Axes | None]],
    margins: dict[Axes, Margins],
) -> None:
    """Position the axes of a regular grid (``fig.subplots``) to leave each its margins.

    ``grid[row][col]`` is the axes in that cell (``None`` for an empty cell); rows are as high
    as each other and columns as wide (the grid's own ratios are kept). The spaces between
    columns and rows fit the widest left/right and tallest top/bottom margins.
    """
    width_in, height_in = fig.get_size_inches()
    cells = [(r, c, ax) for r, row in enumerate(grid) for c, ax in enumerate(row) if ax]
    n_rows, n_cols = len(grid), max(len(row) for row in grid)

    def widest(
        pick: str, cols: Iterable[int] | None = None, rows: Iterable[int] | None = None
    ) -> float:
        cols, rows = (None if cols is None else set(cols)), (None if rows is None else set(rows))
        chosen = [
            getattr(margins[ax], pick)
            for r, c, ax in cells
            if (cols is None or c in cols) and (rows is None or r in rows)
        ]
        return max(chosen, default=0.0)

    left = PAD_IN + widest("left", cols=[0])
    right = PAD_IN + widest("right", cols=[n_cols - 1])
    top = PAD_IN + widest("top", rows=[0])
    bottom = PAD_IN + widest("bottom", rows=[n_rows - 1])
    # between columns: the right margins of all but the last, the left ones of all but the first
    wspace_in = (
        widest("right", cols=range(n_cols - 1)) + widest("left", cols=range(1, n_cols)) + PAD_IN
        if n_cols > 1
        else 0.0
    )
    hspace_in = (
        widest("bottom", rows=range(n_rows - 1)) + widest("top", rows=range(1, n_rows)) + PAD_IN
        if n_rows > 1
        else 0.0
    )
    inner_w = max(width_in - left - right, 0.5)
    inner_h = max(height_in - top - bottom, 0.5)
    axes_w = max((inner_w - (n_cols - 1) * wspace_in) / n_cols, 0.1)
    axes_h = max((inner_h - (n_rows - 1) * hspace_in) / n_rows, 0.1)
    fig.subplots_adjust(
        left=left / width_in,
        right=1 - right / width_in,
        bottom=bottom / height_in,
        top=1 - top / height_in,
        wspace=wspace_in / axes_w,
        hspace=hspace_in / axes_h,
    )


def place_single(fig: Figure, ax: Axes, **margin_options: float) -> None:
    """:func:`place_axes` for a figure of one axes (``margins_of`` options pass through)."""
    place_axes(fig, [[ax]], {ax: margins_of(ax, **margin_options)})


def _rc_size(key: Literal["xtick.labelsize", "ytick.labelsize"]) -> float:
    from matplotlib import font_manager, rcParams

    value = rcParams[key]
    if isinstance(value, int | float):
        return float(value)
    return float(font_manager.font_scalings[value] * rcParams["font.size"])


__all__ = [
    "Margins",
    "line_height_in",
    "margins_of",
    "place_axes",
    "place_single",
    "text_width_in",
    "tick_labels",
]
