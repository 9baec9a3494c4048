"""The camera simulator's unsaved frames and constant-rate container timestamps."""

from __future__ import annotations

import numpy as np

from w2t_bkin.testing.simulate import simulate_camera

FAULTS = dict(
    drift_ppm=50.0,
    jitter_s=1e-4,
    dropped_frame_fraction=0.01,
    missing_pulse_fraction=0.02,
    spurious_pulse_fraction=0.01,
    t_start_s=10.0,
)


def test_unsaved_frames_keep_their_pulse_and_leave_a_pts_gap() -> None:
    truth = simulate_camera(20.0, 150.0, unsaved_frame_fraction=0.01, seed=1, **FAULTS)
    n_acquired = 3000 - 30
    assert truth.unsaved_frame_idx.size == round(0.01 * n_acquired) == 30
    assert truth.n_frames == n_acquired - 30
    # every acquired frame emitted a pulse; lost ones are gone, spurious ones added
    assert truth.n_pulses == n_acquired - round(0.02 * n_acquired) + round(0.01 * n_acquired)
    assert not np.intersect1d(truth.unsaved_frame_idx, truth.dropped_frame_idx).size
    assert not np.intersect1d(truth.unsaved_frame_idx, truth.frame_nominal_idx).size
    np.testing.assert_array_equal(
        truth.missing_frame_idx, np.union1d(truth.dropped_frame_idx, truth.unsaved_frame_idx)
    )
    # the pulse of an unsaved frame lies at its nominal position on the DAQ clock
    period_daq_s = (1 + 50e-6) / 150.0
    unsaved_times = truth.pulse_times_s[truth.unsaved_pulse_idx]
    np.testing.assert_allclose(
        unsaved_times, 10.0 + truth.unsaved_frame_idx * period_daq_s, rtol=0, atol=1e-4
    )
    assert np.all(truth.pulse_frame_idx[truth.unsaved_pulse_idx] == -1)
    assert not np.intersect1d(truth.unsaved_pulse_idx, truth.spurious_pulse_idx).size
    # saved frames' pulses point at the right saved frame
    real = truth.pulse_frame_idx >= 0
    err = truth.pulse_times_s[real] - truth.frame_times_s[truth.pulse_frame_idx[real]]
    assert np.max(np.abs(err)) <= 1e-4
    # lost pulses are of saved frames
    assert np.all(truth.missing_pulse_frame_idx < truth.n_frames)
    assert not np.isin(truth.missing_pulse_frame_idx, truth.pulse_frame_idx).any()
    # variable-frame-rate pts show every missing position as a gap
    np.testing.assert_allclose(truth.frame_pts_s * 150.0, truth.frame_nominal_idx, atol=1e-9)


def test_unsaved_frames_leave_the_other_faults_of_a_seed_unchanged() -> None:
    plain = simulate_camera(20.0, 150.0, seed=3, **FAULTS)
    unsaved = simulate_camera(20.0, 150.0, unsaved_frame_fraction=0.01, seed=3, **FAULTS)
    assert plain.unsaved_frame_idx.size == 0 and plain.unsaved_pulse_idx.size == 0
    np.testing.assert_array_equal(plain.pulse_times_s, unsaved.pulse_times_s)
    np.testing.assert_array_equal(plain.dropped_frame_idx, unsaved.dropped_frame_idx)
    np.testing.assert_array_equal(plain.spurious_pulse_idx, unsaved.spurious_pulse_idx)
    saved = ~np.isin(plain.frame_nominal_idx, unsaved.unsaved_frame_idx)
    np.testing.assert_array_equal(plain.frame_times_s[saved], unsaved.frame_times_s)


def test_constant_rate_pts_hide_every_gap() -> None:
    truth = simulate_camera(
        10.0, 100.0, unsaved_frame_fraction=0.01, constant_rate_pts=True, seed=2, **FAULTS
    )
    assert truth.missing_frame_idx.size == 10 + 10
    np.testing.assert_array_equal(truth.frame_pts_s, np.arange(truth.n_frames) / 100.0)
