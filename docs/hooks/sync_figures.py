"""mkdocs hook: the pictures of ``synchronization.md``, computed at every build (never drawn).

Each figure simulates a recording with the synthetic generator (:mod:`w2t_bkin.testing.simulate`,
fixed seeds, known ground truth), runs the real synchronization code (:mod:`w2t_bkin.sync`) on
what the DAQ "recorded", and plots the result next to the truth:

* ``figures/sync-frames.svg``: camera frames placed on their TTL pulses, with camera drops,
  unsaved frames, lost pulses and a spurious pulse told apart (:func:`frames_figure`).
* ``figures/sync-trials.svg``: Bpod sync onsets against the DAQ pulses: what an offset alone
  leaves, the fitted clock model (offset + drift) and the residuals after it
  (:func:`trials_figure`).
* ``figures/sync-drift-change.svg``: a Bpod clock whose drift changes mid-session: the linear
  model against the piecewise-linear one ``clock_model = "auto"`` switches to
  (:func:`drift_change_figure`).
* ``figures/sync-video-clock.svg``: one camera timed by its TTL pulses, by its own container
  timestamps, and by its nominal rate, each against the true DAQ times: why cameras without TTL
  are labelled as not on the DAQ clock (:func:`video_clock_figure`).

The files exist only in the build (``File.generated``): nothing generated is committed. Each
figure function returns the data it plots next to the SVG bytes, so
``tests/docs/test_sync_figures.py`` checks the marks against the truth. SVGs are byte-identical
from build to build: fixed seeds, a fixed ``svg.hashsalt`` (clip-path ids), no date, text kept
as text (small files).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    from w2t_bkin.sync import ClockModel, FrameAlignment, TrialAlignment
    from w2t_bkin.testing.simulate import CameraTruth, TrialsTruth

_Data = TypeVar("_Data")

#: rcParams of every figure: what makes the SVG bytes reproducible and small.
SVG_RC: dict[Any, Any] = {
    "svg.hashsalt": "w2t-bkin-sync-figures",  # clip-path and marker ids, else random per run
    "svg.fonttype": "none",  # text as <text>, not glyph paths: a fraction of the size
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: Colours (colour-blind safe, Okabe-Ito) shared by the figures.
BLUE, ORANGE, VERMILION, PURPLE, GREY = "#0072B2", "#E69F00", "#D55E00", "#CC79A7", "#999999"

# -- figure 1: frames onto pulses ----------------------------------------------------------------

FRAMES_RATE_HZ = 30.0
FRAMES_JITTER_S = 0.002


@dataclass(frozen=True, eq=False)
class FramesPlot:
    """What ``sync-frames.svg`` shows.

    Attributes
    ----------
    truth
        The simulated camera (:func:`~w2t_bkin.testing.simulate.simulate_camera`).
    alignment
        :func:`~w2t_bkin.sync.align_frames` on the recorded pulses and container timestamps.
    slot_times_s
        ``(n_slots,) float64``: DAQ time of every slot of the nominal trigger train, from the
        first saved frame to the last (first frame time + slot x period).
    dropped_slot
        ``(n_dropped,) int64``: slots marked as dropped frames (``alignment.dropped_frames``).
    dropped_has_pulse
        ``(n_dropped,) bool``: dropped slots that hold a pulse (unsaved frames), against camera
        drops (no pulse).
    interpolated_frame_idx
        ``(n_lost,) int64``: frames marked as timed without a pulse of their own.
    spurious_pulse_idx
        ``(n_spurious,) int64``: pulses marked as spurious (removed).
    """

    truth: CameraTruth
    alignment: FrameAlignment
    slot_times_s: np.ndarray
    dropped_slot: np.ndarray
    dropped_has_pulse: np.ndarray
    interpolated_frame_idx: np.ndarray
    spurious_pulse_idx: np.ndarray


def frames_data(seed: int = 3) -> FramesPlot:
    """Simulate 1.5 s of a 30 Hz camera with every frame fault and align it."""
    from w2t_bkin.sync import align_frames
    from w2t_bkin.testing.simulate import simulate_camera

    truth = simulate_camera(
        1.5,
        FRAMES_RATE_HZ,
        jitter_s=FRAMES_JITTER_S,
        dropped_frame_fraction=0.06,
        missing_pulse_fraction=0.04,
        spurious_pulse_fraction=0.03,
        unsaved_frame_fraction=0.03,
        seed=seed,
    )
    alignment = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=FRAMES_RATE_HZ,
        frame_pts_s=truth.frame_pts_s,  # a variable-frame-rate container: gaps show
        camera_id="cam0",
        ttl_id="ttl_cam0",
    )
    n_slots = int(alignment.frame_slot[-1]) + 1
    slot_times = alignment.frame_times_s[0] + np.arange(n_slots) * alignment.period_s
    return FramesPlot(
        truth=truth,
        alignment=alignment,
        slot_times_s=slot_times,
        dropped_slot=alignment.dropped_frames.copy(),
        dropped_has_pulse=alignment.dropped_pulse_idx >= 0,
        interpolated_frame_idx=np.flatnonzero(~alignment.frame_has_pulse).astype(np.int64),
        spurious_pulse_idx=alignment.spurious_pulse_idx.copy(),
    )


def frames_figure(seed: int = 3) -> tuple[FramesPlot, bytes]:
    """``sync-frames.svg``: the trigger train, the DAQ pulses and where each frame went."""
    data = frames_data(seed)
    return data, _render(_draw_frames, data)


def _draw_frames(data: FramesPlot) -> Figure:
    from matplotlib.collections import LineCollection

    al = data.alignment
    pulses = data.truth.pulse_times_s
    fig, (ax,) = _figure(1, height_in=3.0)
    y_slot, y_pulse, y_frame = 2.0, 1.0, 0.0
    ax.vlines(data.slot_times_s, y_slot - 0.25, y_slot + 0.25, color=GREY, lw=1.0)
    real = np.setdiff1d(np.arange(pulses.size), data.spurious_pulse_idx)
    ax.vlines(pulses[real], y_pulse - 0.3, y_pulse + 0.3, color="black", lw=1.2)
    spurious = ax.vlines(
        pulses[data.spurious_pulse_idx], y_pulse - 0.3, y_pulse + 0.3, color=ORANGE, lw=2.0
    )
    spurious.set_gid("spurious-pulses")
    # each frame linked to the pulse that timed it: one collection, not one line per frame
    own = al.frame_pulse_idx >= 0
    links = np.zeros((int(own.sum()), 2, 2))
    links[:, 0, 0], links[:, 0, 1] = pulses[al.frame_pulse_idx[own]], y_pulse - 0.3
    links[:, 1, 0], links[:, 1, 1] = al.frame_times_s[own], y_frame + 0.2
    ax.add_collection(LineCollection(list(links), colors=BLUE, linewidths=0.5, alpha=0.6))
    timed = ax.plot(al.frame_times_s[own], np.full(own.sum(), y_frame), "s", color=BLUE, ms=4.5)[0]
    lost = ax.plot(
        al.frame_times_s[data.interpolated_frame_idx],
        np.full(data.interpolated_frame_idx.size, y_frame),
        "s",
        mfc="white",
        mec=BLUE,
        mew=1.2,
        ms=4.5,
    )[0]
    lost.set_gid("interpolated-frames")
    drop_t = data.slot_times_s[data.dropped_slot]
    camera_drop = ax.plot(
        drop_t[~data.dropped_has_pulse],
        np.full(int((~data.dropped_has_pulse).sum()), y_frame),
        "x",
        color=VERMILION,
        ms=7,
        mew=1.8,
    )[0]
    camera_drop.set_gid("camera-drops")
    unsaved = ax.plot(
        drop_t[data.dropped_has_pulse],
        np.full(int(data.dropped_has_pulse.sum()), y_frame),
        "x",
        color=PURPLE,
        ms=7,
        mew=1.8,
    )[0]
    unsaved.set_gid("unsaved-frames")
    ax.set_yticks(
        [y_frame, y_pulse, y_slot],
        ["saved frames", "DAQ pulses", "trigger train"],
    )
    ax.set_ylim(-0.6, 2.5)
    ax.set_xlabel("DAQ time (s)")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(
        [timed, lost, spurious, camera_drop, unsaved],
        [
            "frame timed by its pulse",
            "lost pulse: frame time interpolated",
            "spurious pulse (removed)",
            "camera drop (no frame, no pulse)",
            "unsaved frame (pulse, no frame)",
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.32),
        ncol=2,
        frameon=False,
    )
    ax.set_title(
        f"{al.n_frames} frames, {al.n_pulses} pulses: {data.dropped_slot.size} dropped frames, "
        f"{data.interpolated_frame_idx.size} lost pulses, {data.spurious_pulse_idx.size} spurious "
        "pulse",
        loc="left",
    )
    return fig


# -- figure 2: Bpod trials onto the DAQ clock ----------------------------------------------------

TRIALS_DRIFT_PPM = 60.0
TRIALS_OFFSET_S = 42.0
TRIALS_JITTER_S = 0.0002


@dataclass(frozen=True, eq=False)
class TrialsPlot:
    """What ``sync-trials.svg`` shows.

    Attributes
    ----------
    truth
        The simulated Bpod session (:func:`~w2t_bkin.testing.simulate.simulate_trials`).
    alignment
        :func:`~w2t_bkin.sync.align_trials` on the sync onsets and the recorded pulses.
    matched_trial_idx
        ``(n_matched,) int64``: trials with their own pulse (the dots).
    bpod_s
        ``(n_matched,) float64``: their sync onsets on the Bpod clock (x axis).
    offset_only_error_ms
        ``(n_matched,) float64``: pulse minus onset placed by a constant offset (that of the
        first matched trial), in ms: what drift leaves without a clock model (top panel).
    model_error_ms
        ``(n_matched,) float64``: the fitted model's curve at the onsets, minus the same
        constant offset, in ms (top panel line).
    residual_ms
        ``(n_matched,) float64``: model minus pulse after the fit, in ms (bottom panel).
    no_pulse_trial_idx
        ``(n_missing,) int64``: trials with a sync onset but no pulse, placed by the model
        (hollow marks).
    offset_s
        The constant offset subtracted in the top panel: DAQ minus Bpod time of the first
        matched trial.
    """

    truth: TrialsTruth
    alignment: TrialAlignment
    matched_trial_idx: np.ndarray
    bpod_s: np.ndarray
    offset_only_error_ms: np.ndarray
    model_error_ms: np.ndarray
    residual_ms: np.ndarray
    no_pulse_trial_idx: np.ndarray
    offset_s: float


def trials_data(seed: int = 3) -> TrialsPlot:
    """Simulate 80 Bpod trials (Bpod started 42 s after the DAQ, 60 ppm drift) and align them."""
    from w2t_bkin.sync import align_trials
    from w2t_bkin.testing.simulate import simulate_trials

    truth = simulate_trials(
        n_trials=80,
        bpod_drift_ppm=TRIALS_DRIFT_PPM,
        bpod_offset_s=TRIALS_OFFSET_S,
        jitter_s=TRIALS_JITTER_S,
        missing_pulse_fraction=0.05,
        spurious_pulse_fraction=0.05,
        unvisited_fraction=0.03,
        seed=seed,
    )
    alignment = align_trials(
        truth.sync_bpod_s, truth.pulse_times_s, trial_start_s=truth.trial_start_bpod_s
    )
    matched = np.flatnonzero(alignment.matched_pulse_idx >= 0).astype(np.int64)
    bpod = alignment.bpod_sync_times_s[matched]
    pulse = truth.pulse_times_s[alignment.matched_pulse_idx[matched]]
    offset_s = pulse[0] - bpod[0]  # an offset alone: the first matched trial lined up
    return TrialsPlot(
        truth=truth,
        alignment=alignment,
        matched_trial_idx=matched,
        bpod_s=bpod,
        offset_only_error_ms=(pulse - bpod - offset_s) * 1e3,
        model_error_ms=(alignment.clock(bpod) - bpod - offset_s) * 1e3,
        residual_ms=alignment.residuals_s[matched] * 1e3,
        no_pulse_trial_idx=alignment.missing_pulse_trial_idx.copy(),
        offset_s=float(offset_s),
    )


def trials_figure(seed: int = 3) -> tuple[TrialsPlot, bytes]:
    """``sync-trials.svg``: offset-only error and fitted clock (top), residuals after (bottom)."""
    data = trials_data(seed)
    return data, _render(_draw_trials, data)


def _draw_trials(data: TrialsPlot) -> Figure:
    clock = data.alignment.clock
    fig, (top, bottom) = _figure(2, height_in=4.2, sharex=True)
    top.plot(data.bpod_s, data.offset_only_error_ms, "o", color=BLUE, ms=3.5, label="sync pulse")
    span = np.linspace(data.bpod_s[0], data.bpod_s[-1], 50)
    truth = data.truth
    top.plot(
        span,
        (clock.delta(span) - data.offset_s) * 1e3,
        color=VERMILION,
        lw=1.2,
        label=f"fitted clock: offset {clock.offset_s:.4f} s, drift {clock.drift_ppm:.1f} ppm "
        f"(true: {truth.offset_s:g} s, {truth.drift_ppm:g} ppm)",
    )
    missing = data.no_pulse_trial_idx
    missing_bpod = data.alignment.bpod_sync_times_s[missing]
    no_pulse = top.plot(
        missing_bpod,
        (clock.delta(missing_bpod) - data.offset_s) * 1e3,
        "o",
        mfc="white",
        mec=VERMILION,
        ms=4.5,
        label="no pulse: placed by the model",
    )[0]
    no_pulse.set_gid("trials-without-pulse")
    top.set_ylabel("DAQ − Bpod − offset (ms)")
    top.set_title(
        "An offset alone (first trial lined up) drifts; the fitted offset + drift follows every "
        "pulse",
        loc="left",
    )
    top.legend(frameon=False, loc="upper left")
    residuals = bottom.plot(data.bpod_s, data.residual_ms, "o", color=BLUE, ms=3.5)[0]
    residuals.set_gid("residuals")
    bottom.axhline(0.0, color=GREY, lw=0.8)
    bound_ms = TRIALS_JITTER_S * 1e3
    bottom.axhspan(-bound_ms, bound_ms, color=GREY, alpha=0.2, lw=0)
    bottom.set_ylim(-3 * bound_ms, 3 * bound_ms)
    bottom.set_ylabel("residual after (ms)")
    bottom.set_xlabel("sync onset, Bpod clock (s)")
    bottom.set_title(
        f"After the fit, model − pulse: rms {data.alignment.residual_rms_s * 1e3:.3f} ms, max "
        f"{data.alignment.residual_max_s * 1e3:.3f} ms (grey: the ±{bound_ms:.1f} ms simulated "
        "jitter)",
        loc="left",
    )
    return fig


# -- figure 4: a drift that changes -------------------------------------------------------------

DRIFT_PPM = 40.0
DRIFT_CHANGE_PPM = -30.0
DRIFT_JITTER_S = 0.0002


@dataclass(frozen=True, eq=False)
class DriftChangePlot:
    """What ``sync-drift-change.svg`` shows.

    Attributes
    ----------
    truth
        A simulated 30 min Bpod session whose drift changes by ``DRIFT_CHANGE_PPM`` half way.
    alignment
        :func:`~w2t_bkin.sync.align_trials` with ``model="auto"`` (the default).
    linear
        :func:`~w2t_bkin.sync.fit_clock` with ``model="linear"`` on the same matched pairs:
        what a constant drift would give.
    bpod_s
        ``(n_matched,) float64``: sync onsets of the matched trials, Bpod clock.
    offset_s
        DAQ minus Bpod time of the first matched trial, subtracted in the top panel.
    delta_ms
        ``(n_matched,) float64``: pulse minus onset minus ``offset_s``, in ms (every 4th is a dot).
    linear_residual_ms, piecewise_residual_ms
        ``(n_matched,) float64``: model minus pulse of each model, in ms (bottom panel).
    """

    truth: TrialsTruth
    alignment: TrialAlignment
    linear: ClockModel
    bpod_s: np.ndarray
    offset_s: float
    delta_ms: np.ndarray
    linear_residual_ms: np.ndarray
    piecewise_residual_ms: np.ndarray


def drift_change_data(seed: int = 5) -> DriftChangePlot:
    """Simulate 30 min of trials whose Bpod drift changes half way; align with 'auto'."""
    from w2t_bkin.sync import align_trials, fit_clock
    from w2t_bkin.testing.simulate import simulate_trials

    truth = simulate_trials(
        duration_s=1800.0,
        bpod_drift_ppm=DRIFT_PPM,
        bpod_offset_s=TRIALS_OFFSET_S,
        drift_change_ppm=DRIFT_CHANGE_PPM,
        jitter_s=DRIFT_JITTER_S,
        seed=seed,
    )
    alignment = align_trials(truth.sync_bpod_s, truth.pulse_times_s, model="auto")
    matched = np.flatnonzero(alignment.matched_pulse_idx >= 0)
    bpod = alignment.bpod_sync_times_s[matched]
    pulse = truth.pulse_times_s[alignment.matched_pulse_idx[matched]]
    linear = fit_clock(bpod, pulse, model="linear")
    offset_s = float(pulse[0] - bpod[0])
    return DriftChangePlot(
        truth=truth,
        alignment=alignment,
        linear=linear,
        bpod_s=bpod,
        offset_s=offset_s,
        delta_ms=(pulse - bpod - offset_s) * 1e3,
        linear_residual_ms=linear.residuals_s * 1e3,
        piecewise_residual_ms=alignment.residuals_s[matched] * 1e3,
    )


def drift_change_figure(seed: int = 5) -> tuple[DriftChangePlot, bytes]:
    """``sync-drift-change.svg``: linear and piecewise-linear clocks when the drift changes."""
    data = drift_change_data(seed)
    return data, _render(_draw_drift_change, data)


def _draw_drift_change(data: DriftChangePlot) -> Figure:
    clock = data.alignment.clock
    fig, (top, bottom) = _figure(2, height_in=4.2, sharex=True)
    # every 4th pulse: the bend shows as well, in a quarter of the file
    top.plot(
        data.bpod_s[::4], data.delta_ms[::4], "o", color=GREY, ms=2.5, label="sync pulse (1 in 4)"
    )
    span = np.linspace(data.bpod_s[0], data.bpod_s[-1], 200)
    top.plot(
        span,
        (data.linear.delta(span) - data.offset_s) * 1e3,
        color=ORANGE,
        lw=1.4,
        label=f"linear: one drift ({data.linear.drift_ppm:.1f} ppm)",
    )
    top.plot(
        span,
        (clock.delta(span) - data.offset_s) * 1e3,
        color=BLUE,
        lw=1.2,
        label=f"piecewise-linear: one drift per {np.diff(clock.knots_s)[0]:.0f} s segment",
    )
    knots = top.plot(
        clock.knots_s, (clock.delta(clock.knots_s) - data.offset_s) * 1e3, "|", color=BLUE, ms=9
    )[0]
    knots.set_gid("knots")
    top.axvline(data.truth.drift_change_at_bpod_s, color=VERMILION, lw=0.8, ls="--")
    top.set_ylabel("DAQ − Bpod − offset (ms)")
    top.set_title(
        f"The drift changes from {DRIFT_PPM:g} to {DRIFT_PPM + DRIFT_CHANGE_PPM:g} ppm at the "
        f"dashed line: clock_model 'auto' chose {clock.kind}",
        loc="left",
    )
    top.legend(frameon=False, loc="lower right")
    linear = bottom.plot(
        data.bpod_s, data.linear_residual_ms, "o", color=ORANGE, ms=2.5, label="linear"
    )[0]
    linear.set_gid("linear-residuals")
    piecewise = bottom.plot(
        data.bpod_s, data.piecewise_residual_ms, "o", color=BLUE, ms=2.5, label="piecewise-linear"
    )[0]
    piecewise.set_gid("piecewise-residuals")
    tolerance_ms = data.alignment.tolerance_s * 1e3
    for sign in (-1, 1):
        bottom.axhline(sign * tolerance_ms, color=GREY, lw=0.8, ls=":")
    bottom.set_ylabel("residual (ms)")
    bottom.set_xlabel("sync onset, Bpod clock (s)")
    bottom.set_title(
        f"Residuals: linear up to {np.abs(data.linear_residual_ms).max():.1f} ms (dotted: the "
        f"{tolerance_ms:g} ms match tolerance), piecewise up to "
        f"{np.abs(data.piecewise_residual_ms).max():.2f} ms",
        loc="left",
    )
    bottom.legend(frameon=False, loc="upper center", ncol=2)
    return fig


# -- figure 3: a camera on its own clock ---------------------------------------------------------

VIDEO_RATE_HZ = 30.0
VIDEO_DRIFT_PPM = 150.0
VIDEO_START_S = 3.2
VIDEO_JITTER_S = 0.0005
_PLOT_POINTS = 400  # per line; the error curves are piecewise linear


@dataclass(frozen=True, eq=False)
class VideoClockPlot:
    """What ``sync-video-clock.svg`` shows: frame-time errors against the true DAQ times.

    Every error is ``frame time - true DAQ time`` of each saved frame, in seconds, after
    removing the first frame's error (the camera's own clocks start at 0 s at the first frame,
    which the DAQ saw at ``truth.frame_times_s[0]``: that offset comes on top).

    Attributes
    ----------
    truth
        The simulated camera: 5 min at 30 Hz, 150 ppm slow, some dropped frames.
    true_s
        ``(n_frames,) float64``: true DAQ time of every saved frame.
    ttl_error_s
        Frames timed by their TTL pulses (``frame_clock = "ttl"``, :func:`align_frames`).
    video_error_s
        Frames timed by container timestamps that show the gaps (``frame_clock = "video"``,
        a variable-frame-rate writer).
    rate_error_s
        Frames timed by evenly spaced timestamps or the nominal rate (``frame_clock =
        "video"`` with a constant-rate writer, or ``"rate"``): index / rate.
    plotted_frame_idx
        ``(n_plotted,) int64``: frames drawn (a regular subset plus both sides of every drop,
        so that the steps are exact).
    """

    truth: CameraTruth
    true_s: np.ndarray
    ttl_error_s: np.ndarray
    video_error_s: np.ndarray
    rate_error_s: np.ndarray
    plotted_frame_idx: np.ndarray


def video_clock_data(seed: int = 1) -> VideoClockPlot:
    """Simulate a 5 min camera with drift and drops; time it with and without its pulses."""
    from w2t_bkin.sync import align_frames, frame_times_from_rate, frame_times_from_video
    from w2t_bkin.testing.simulate import simulate_camera

    truth = simulate_camera(
        300.0,
        VIDEO_RATE_HZ,
        drift_ppm=VIDEO_DRIFT_PPM,
        jitter_s=VIDEO_JITTER_S,
        dropped_frame_fraction=0.002,
        t_start_s=VIDEO_START_S,
        seed=seed,
    )
    true_s = truth.frame_times_s
    ttl = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=VIDEO_RATE_HZ)
    video = frame_times_from_video(truth.frame_pts_s)
    rate = frame_times_from_rate(truth.n_frames, VIDEO_RATE_HZ)

    def error(times_s: np.ndarray) -> np.ndarray:
        e = times_s - true_s
        return e - e[0]

    gaps = np.flatnonzero(np.diff(truth.frame_nominal_idx) > 1)
    stride = max(truth.n_frames // _PLOT_POINTS, 1)
    plotted = np.union1d(
        np.r_[np.arange(0, truth.n_frames, stride), truth.n_frames - 1], np.r_[gaps, gaps + 1]
    )
    return VideoClockPlot(
        truth=truth,
        true_s=true_s,
        ttl_error_s=error(ttl.frame_times_s),
        video_error_s=error(video),
        rate_error_s=error(rate),
        plotted_frame_idx=plotted.astype(np.int64),
    )


def video_clock_figure(seed: int = 1) -> tuple[VideoClockPlot, bytes]:
    """``sync-video-clock.svg``: frame-time error of three frame clocks over 5 minutes."""
    data = video_clock_data(seed)
    return data, _render(_draw_video_clock, data)


def _draw_video_clock(data: VideoClockPlot) -> Figure:
    idx = data.plotted_frame_idx
    t = data.true_s[idx] - data.true_s[0]
    n_dropped = int(data.truth.dropped_frame_idx.size)
    fig, (top, bottom) = _figure(2, height_in=4.4, sharex=True)
    rate_line = top.plot(t, data.rate_error_s[idx] * 1e3, color=VERMILION, lw=1.2)[0]
    rate_line.set_gid("rate-error")
    top.set_ylabel("error (ms)")
    top.set_title(
        f"Evenly spaced timestamps or nominal rate: one frame period lost at each of the "
        f"{n_dropped} drops",
        loc="left",
    )
    video_line = bottom.plot(
        t, data.video_error_s[idx] * 1e3, color=ORANGE, lw=1.4, label="container timestamps"
    )[0]
    video_line.set_gid("video-error")
    ttl_line = bottom.plot(
        t, data.ttl_error_s[idx] * 1e3, color=BLUE, lw=0.8, label="TTL pulses (DAQ clock)"
    )[0]
    ttl_line.set_gid("ttl-error")
    bottom.set_ylabel("error (ms)")
    bottom.set_xlabel("time since the first frame, DAQ clock (s)")
    bottom.set_title(
        f"Timestamps with gaps: the camera clock's {VIDEO_DRIFT_PPM:.0f} ppm drift; TTL: "
        f"pulse jitter only (±{VIDEO_JITTER_S * 1e3:.1f} ms)",
        loc="left",
    )
    bottom.legend(frameon=False, loc="lower left")
    fig.suptitle(
        f"Frame time − true DAQ time, after the start offset (the DAQ saw frame 0 at "
        f"{data.true_s[0]:.1f} s; the camera's clocks say 0 s)",
        x=0.01,
        ha="left",
        fontsize=9.5,
    )
    return fig


# -- shared ----------------------------------------------------------------------------------------

FIGURES: dict[str, Callable[[], tuple[Any, bytes]]] = {
    "figures/sync-frames.svg": frames_figure,
    "figures/sync-trials.svg": trials_figure,
    "figures/sync-drift-change.svg": drift_change_figure,
    "figures/sync-video-clock.svg": video_clock_figure,
}
"""Site path of every figure and the function that computes it."""


def render_all() -> dict[str, bytes]:
    """Every figure's SVG bytes by site path."""
    return {path: make()[1] for path, make in FIGURES.items()}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from mkdocs.structure.files import File

    for path, svg in render_all().items():
        files.append(File.generated(config, path, content=svg))
    return files


def _figure(n_rows: int, *, height_in: float, sharex: bool = False) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_rows`` axes, 8 inches wide, never through pyplot (no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, height_in), layout="constrained")
    axes = fig.subplots(n_rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, list(axes)


def _render(draw: Callable[[_Data], Figure], data: _Data) -> bytes:
    """``draw(data)`` as SVG bytes, identical from run to run.

    The style applies while the artists are made (fonts, spines) and while they are written
    (hash salt), so both happen inside one ``rc_context``.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig = draw(data)
        FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None})
    return buffer.getvalue()
