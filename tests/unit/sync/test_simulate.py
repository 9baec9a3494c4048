"""The ground-truth simulator is itself consistent and reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.testing.simulate import simulate_camera, simulate_trials


def test_camera_truth_is_consistent() -> None:
    truth = simulate_camera(
        20.0,
        150.0,
        drift_ppm=50.0,
        jitter_s=1e-4,
        dropped_frame_fraction=0.01,
        missing_pulse_fraction=0.02,
        spurious_pulse_fraction=0.01,
        t_start_s=10.0,
        seed=1,
    )
    assert truth.dropped_frame_idx.size == 30
    assert truth.n_frames == 3000 - 30
    assert truth.missing_pulse_frame_idx.size == round(0.02 * truth.n_frames)
    assert truth.spurious_pulse_idx.size == round(0.01 * truth.n_frames)
    assert truth.n_pulses == truth.n_frames - 59 + 30
    assert np.all(np.diff(truth.pulse_times_s) >= 0)
    real = truth.pulse_frame_idx >= 0
    err = truth.pulse_times_s[real] - truth.frame_times_s[truth.pulse_frame_idx[real]]
    assert np.max(np.abs(err)) <= 1e-4
    # pts are on the camera clock: nominal positions over the nominal rate
    np.testing.assert_allclose(truth.frame_pts_s * 150.0, truth.frame_nominal_idx, atol=1e-9)
    assert truth.frame_times_s[0] == 10.0
    assert truth.frame_times_s[-1] == pytest.approx(10.0 + 2999 / 150.0 * (1 + 50e-6))


def test_trials_truth_is_consistent_and_seeded() -> None:
    kwargs = dict(
        bpod_drift_ppm=50.0,
        bpod_offset_s=500.0,
        missing_pulse_fraction=0.02,
        spurious_pulse_fraction=0.05,
        unvisited_fraction=0.02,
        seed=3,
    )
    truth = simulate_trials(200, **kwargs)
    again = simulate_trials(200, **kwargs)
    np.testing.assert_array_equal(truth.pulse_times_s, again.pulse_times_s)
    assert truth.unvisited_trial_idx.size == 4 and truth.missing_pulse_trial_idx.size == 4
    assert truth.spurious_pulse_idx.size == 10
    assert np.sum(truth.pulse_times_s < np.nanmin(truth.sync_reference_s)) == 2
    np.testing.assert_allclose(
        truth.bpod_to_reference(truth.sync_bpod_s), truth.sync_reference_s, equal_nan=True
    )
    assert float(truth.bpod_to_reference(0.0)) == 500.0
    assert set(truth.trial_types.tolist()) == {1}


def test_trials_by_duration_and_drift_change() -> None:
    truth = simulate_trials(
        duration_s=600.0, bpod_drift_ppm=10.0, drift_change_ppm=30.0, trial_types=(1, 2), seed=0
    )
    assert truth.trial_end_bpod_s[-1] <= 601.0
    assert set(truth.trial_types.tolist()) == {1, 2}
    t0 = truth.drift_change_at_bpod_s
    slope_after = (truth.bpod_to_reference(t0 + 10.0) - truth.bpod_to_reference(t0)) / 10.0
    assert slope_after == pytest.approx(1 + 40e-6, abs=1e-12)
    with pytest.raises(ValueError, match="exactly one of n_trials and duration_s"):
        simulate_trials()
