"""QC figure margins set from the text around the axes: every label inside the figure, none over
another plot, the tick labels those drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from w2t_bkin.report import qc_figures, qc_time_figures
from w2t_bkin.report.figure_layout import tick_labels
from w2t_bkin.report.qc_inputs import FrameTimeline, TrialStates

LONG = ["left_forepaw_digit_tip", "right_hindpaw_heel", "nose", "tail_base_and_root_WW", "M"]


def assert_laid_out(fig: Figure) -> None:
    """Each plot with everything drawn around it (tick labels, axis labels, title, legend) lies
    inside the figure and off every other plot."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    figure_box = Bbox.from_bounds(-1, -1, fig.bbox.width + 2, fig.bbox.height + 2)
    plots = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    for ax in plots:
        drawn = ax.get_tightbbox(renderer)
        assert drawn is not None
        name = ax.get_title() or ax.get_label() or "a plot"
        assert figure_box.containsx(drawn.x0) and figure_box.containsx(drawn.x1), (name, drawn)
        assert figure_box.containsy(drawn.y0) and figure_box.containsy(drawn.y1), (name, drawn)
        for other in plots:
            if other is ax or {ax.get_label(), other.get_label()} & {"<colorbar>"}:
                continue  # a colour bar sits against its plot by design
            frame = other.get_window_extent().shrunk(0.98, 0.98)
            assert not drawn.overlaps(frame), f"{name} covers {other.get_title()!r}"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Figures the *_png functions draw, checked before they are cleared."""
    figures: list[Figure] = []

    def capture(fig: Figure) -> bytes:
        assert_laid_out(fig)
        figures.append(fig)
        return b""

    monkeypatch.setattr(qc_figures, "_png", capture)
    monkeypatch.setattr(qc_time_figures, "_png", capture)
    return figures


def states(names: list[str], n_trials: int) -> TrialStates:
    rng = np.random.default_rng(2)
    trial = np.repeat(np.arange(n_trials), len(names))
    state = np.tile(np.arange(len(names)), n_trials)
    start = rng.uniform(-0.5, 2.0, trial.size)
    return TrialStates(
        state_names=tuple(names),
        visit_trial_idx=trial,
        visit_state_idx=state,
        visit_start_s=start,
        visit_stop_s=start + rng.uniform(0.05, 0.5, trial.size),
        anchor_kind=np.where(np.arange(n_trials) % 7 == 0, "model", "pulse"),
        sync_states=(names[0],),
    )


FIGURES: dict[str, Callable[[list[str]], object]] = {
    "ttl timeline": lambda names: qc_figures.ttl_timeline_png(
        {n: np.sort(np.random.default_rng(1).uniform(0, 3.6e3, 500)) for n in names}
    ),
    "ipi histograms": lambda names: qc_figures.ipi_histograms_png(
        {n: np.cumsum(np.full(50 * (k + 1), 0.0333)) for k, n in enumerate(names)}
    ),
    "trial alignment": lambda names: qc_figures.trial_alignment_png(
        np.arange(600), 1234.5 + np.linspace(0, 2e-5, 600), None, np.linspace(-0.02, 0.02, 600)
    ),
    "pose confidence": lambda names: qc_figures.pose_confidence_png(
        "camera_" + names[0],
        qc_figures.confidence_stats(names, np.random.default_rng(3).random((3000, len(names)))),
    ),
    "confidence over time": lambda names: qc_time_figures.confidence_over_time_png(
        "camera_" + names[0],
        names,
        np.random.default_rng(4).random((3000, len(names))),
        np.arange(3000) / 150.0,
    ),
    "frame intervals": lambda names: qc_time_figures.frame_intervals_png(
        FrameTimeline(
            names[0],
            np.cumsum(np.full(5000, 1 / 150.0)) + 1e4,
            dropped_after_frame_idx=np.array([100, 2000]),
            dropped_per_gap=np.array([1, 3]),
        )
    ),
    "trial states": lambda names: qc_time_figures.trial_states_png(states(names, 300)),
}


@pytest.mark.parametrize("names", [["a", "b", "cam0", "cue"], LONG], ids=["short", "long"])
@pytest.mark.parametrize("figure", sorted(FIGURES))
def test_every_label_is_inside_the_figure_and_off_other_plots(
    captured: list[Figure], figure: str, names: list[str]
) -> None:
    FIGURES[figure](names)
    assert len(captured) == 1


@pytest.mark.parametrize(
    "setup",
    [
        lambda ax: ax.plot([0, 1e6], [0, 0.0012]),
        lambda ax: ax.plot([-3.5, 7.25], [1e-9, 4e-9]),
        lambda ax: (ax.plot([1, 2], [1, 5e4]), ax.set_yscale("log")),
        lambda ax: ax.set_yticks([0, 1, 2], labels=["nose", "left_ear", "tail"]),
    ],
    ids=["large-x small-y", "offset", "log", "fixed labels"],
)
def test_tick_labels_are_those_drawn(setup: Callable[[Any], object]) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    setup(ax)
    predicted = {axis: tick_labels(axis) for axis in (ax.xaxis, ax.yaxis)}
    FigureCanvasAgg(fig).draw()
    for axis, labels in predicted.items():
        lo, hi = sorted(axis.get_view_interval())
        drawn = [
            tick.label1.get_text()
            for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False)
            if lo - 1e-12 * max(abs(lo), abs(hi)) <= loc <= hi + 1e-12 * max(abs(lo), abs(hi))
        ]
        assert labels == drawn
