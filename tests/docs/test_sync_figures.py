"""The synchronization pictures (``docs/hooks/sync_figures.py``) show the ground truth.

Each figure is computed from the synthetic generator and the real sync code; these tests check
that what it marks is what the generator did (dropped frames, lost and spurious pulses, the
clock), that the SVG carries exactly those marks, that rebuilds are byte-identical, and that the
page embeds every figure.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "docs" / "hooks" / "sync_figures.py"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    # loaded as mkdocs loads a hook: by path, registered under its own name
    spec = importlib.util.spec_from_file_location("w2t_docs_sync_figures", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(hook: ModuleType) -> dict[str, tuple[Any, bytes]]:
    return {path: make() for path, make in hook.FIGURES.items()}


def _marks(svg: bytes, gid: str) -> int:
    """Number of markers (``<use>``) or line segments (``<path>``) in the SVG group ``gid``."""
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG_NS}g") if g.get("id") == gid]
    assert len(groups) == 1, f"{gid}: {len(groups)} groups"
    uses = list(groups[0].iter(f"{SVG_NS}use"))
    return len(uses) if uses else len(list(groups[0].iter(f"{SVG_NS}path")))


def test_frames_figure_marks_the_simulated_faults(
    hook: ModuleType, rendered: dict[str, tuple[Any, bytes]]
) -> None:
    data, svg = rendered["figures/sync-frames.svg"]
    truth = data.truth
    # the seed's case holds every fault, as many as the page's caption and alt text say
    faults = (truth.dropped_frame_idx, truth.unsaved_frame_idx, truth.missing_pulse_frame_idx)
    assert [f.size for f in faults] == [3, 1, 2]
    assert truth.spurious_pulse_idx.size == 1
    np.testing.assert_array_equal(data.dropped_slot, truth.missing_frame_idx)
    # unsaved frames are the dropped slots that kept a pulse; camera drops have none
    unsaved = np.isin(truth.missing_frame_idx, truth.unsaved_frame_idx - truth.frame_nominal_idx[0])
    np.testing.assert_array_equal(data.dropped_has_pulse, unsaved)
    np.testing.assert_array_equal(data.interpolated_frame_idx, truth.missing_pulse_frame_idx)
    np.testing.assert_array_equal(data.spurious_pulse_idx, truth.spurious_pulse_idx)
    # frames with a pulse sit on it: within the simulated jitter of their true time
    own = data.alignment.frame_has_pulse
    error_s = np.abs(data.alignment.frame_times_s - truth.frame_times_s)
    assert error_s[own].max() <= hook.FRAMES_JITTER_S
    np.testing.assert_array_equal(data.alignment.frame_slot, truth.frame_nominal_idx)
    assert _marks(svg, "camera-drops") == int((~unsaved).sum())
    assert _marks(svg, "unsaved-frames") == int(unsaved.sum())
    assert _marks(svg, "interpolated-frames") == truth.missing_pulse_frame_idx.size
    assert _marks(svg, "spurious-pulses") == truth.spurious_pulse_idx.size


def test_trials_figure_shows_the_true_clock_and_small_residuals(
    hook: ModuleType, rendered: dict[str, tuple[Any, bytes]]
) -> None:
    data, svg = rendered["figures/sync-trials.svg"]
    truth = data.truth
    clock = data.alignment.clock
    # the case the page describes: 80 trials, 4 lost pulses, 2 without a sync onset
    assert truth.n_trials == 80
    assert (truth.missing_pulse_trial_idx.size, truth.unvisited_trial_idx.size) == (4, 2)
    # the fitted offset and drift are the simulated ones
    assert clock.offset_s == pytest.approx(hook.TRIALS_OFFSET_S, abs=1e-4)
    assert clock.drift_ppm == pytest.approx(hook.TRIALS_DRIFT_PPM, abs=0.5)
    span = np.linspace(truth.trial_start_bpod_s[0], truth.trial_end_bpod_s[-1], 100)
    assert np.abs(clock(span) - truth.bpod_to_reference(span)).max() < 5e-5
    # dots: the trials that kept their pulse; hollow marks: those whose pulse was lost
    expected = np.unique(truth.pulse_trial_idx[truth.pulse_trial_idx >= 0])
    np.testing.assert_array_equal(data.matched_trial_idx, expected)
    np.testing.assert_array_equal(data.no_pulse_trial_idx, truth.missing_pulse_trial_idx)
    # before: an offset alone leaves the drift, drift x session span (~29 ms here)
    span_s = data.bpod_s[-1] - data.bpod_s[0]
    drift_ms = hook.TRIALS_DRIFT_PPM * 1e-6 * span_s * 1e3
    assert data.offset_only_error_ms[-1] == pytest.approx(
        drift_ms, abs=2 * hook.TRIALS_JITTER_S * 1e3
    )
    assert round(data.offset_only_error_ms[-1]) == 29  # as the caption says
    # after: within the pulse jitter plus the fit's own error
    assert np.abs(data.residual_ms).max() <= 1.5 * hook.TRIALS_JITTER_S * 1e3
    np.testing.assert_allclose(
        data.residual_ms,
        data.model_error_ms - data.offset_only_error_ms,
        atol=1e-9,
    )
    assert _marks(svg, "residuals") == data.matched_trial_idx.size
    assert _marks(svg, "trials-without-pulse") == truth.missing_pulse_trial_idx.size


def test_drift_change_figure_shows_why_auto_switches_to_piecewise(
    hook: ModuleType, rendered: dict[str, tuple[Any, bytes]]
) -> None:
    data, svg = rendered["figures/sync-drift-change.svg"]
    truth = data.truth
    clock = data.alignment.clock
    assert clock.kind == "piecewise"  # chosen by 'auto', the default
    assert truth.drift_change_ppm == hook.DRIFT_CHANGE_PPM != 0
    # every trial matched, and the piecewise clock is the true one within the jitter
    assert data.alignment.n_matched == truth.n_trials
    span = np.linspace(truth.trial_start_bpod_s[0], truth.trial_end_bpod_s[-1], 200)
    assert np.abs(clock(span) - truth.bpod_to_reference(span)).max() < hook.DRIFT_JITTER_S
    # one drift misses pulses by more than the match tolerance; segments stay at the jitter
    tolerance_ms = data.alignment.tolerance_s * 1e3
    assert np.abs(data.linear_residual_ms).max() > tolerance_ms
    assert np.abs(data.piecewise_residual_ms).max() <= 2 * hook.DRIFT_JITTER_S * 1e3
    # the linear model's drift is the average of the two true drifts, not either of them
    mean_ppm = hook.DRIFT_PPM + hook.DRIFT_CHANGE_PPM / 2
    assert data.linear.drift_ppm == pytest.approx(mean_ppm, abs=2.0)
    n = data.bpod_s.size
    assert _marks(svg, "linear-residuals") == _marks(svg, "piecewise-residuals") == n
    assert _marks(svg, "knots") == clock.knots_s.size


def test_video_clock_figure_errors_are_drift_and_drops(
    hook: ModuleType, rendered: dict[str, tuple[Any, bytes]]
) -> None:
    data, _ = rendered["figures/sync-video-clock.svg"]
    truth = data.truth
    idx = np.arange(truth.n_frames)
    nominal = truth.frame_nominal_idx - truth.frame_nominal_idx[0]
    period_s = 1.0 / hook.VIDEO_RATE_HZ
    drift = hook.VIDEO_DRIFT_PPM * 1e-6
    # container timestamps with gaps: nominal position / rate, so only the drift is wrong
    np.testing.assert_allclose(data.video_error_s, -nominal * period_s * drift, atol=1e-9)
    # evenly spaced timestamps / nominal rate: every drop before a frame shifts it a period
    expected = idx * period_s - nominal * period_s * (1 + drift)
    np.testing.assert_allclose(data.rate_error_s, expected, atol=1e-9)
    assert truth.dropped_frame_idx.size == 18  # as the caption says
    assert data.rate_error_s[-1] < -truth.dropped_frame_idx.size * period_s
    # TTL: within the pulse jitter (both ends measured, so twice it after removing the first)
    assert np.abs(data.ttl_error_s).max() <= 2 * hook.VIDEO_JITTER_S
    # the steps are drawn exactly: both frames around every drop are plotted
    gaps = np.flatnonzero(np.diff(truth.frame_nominal_idx) > 1)
    assert np.isin(np.r_[gaps, gaps + 1], data.plotted_frame_idx).all()


def test_figures_are_small_deterministic_svgs(
    hook: ModuleType, rendered: dict[str, tuple[Any, bytes]]
) -> None:
    again = hook.render_all()
    assert set(again) == set(rendered)
    for path, (_, svg) in rendered.items():
        assert again[path] == svg, f"{path} differs between two renders"
        assert len(svg) < 150_000, f"{path}: {len(svg)} bytes"
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG_NS}svg"
        assert b"<dc:date>" not in svg  # no build date: rebuilds are byte-identical


def test_the_page_embeds_every_figure_with_alt_text_and_source(hook: ModuleType) -> None:
    page = (REPO / "docs" / "synchronization.md").read_text()
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", page)
    assert sorted(src for _, src in images) == sorted(hook.FIGURES)
    assert all(len(alt) > 30 for alt, _ in images)
    assert page.count("docs/hooks/sync_figures.py") >= len(hook.FIGURES)
