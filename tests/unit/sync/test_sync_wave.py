"""A probe clock fitted to the reference through a shared sync wave: known offset and drift
recovered from sample-quantised edges, matched/unmatched counts, status, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.sync_wave import SyncWaveFit, fit_sync_wave, match_sync_edges

from .sync_waves import PROBE_RATE_HZ, REF_RATE_HZ, SyncWave, sync_wave


def fit(wave: SyncWave, **kwargs: Any) -> SyncWaveFit:
    options: dict[str, Any] = {
        "clock_id": "imec0_sync",
        "reference_id": "nidq_sync",
        "tolerance_s": 0.005,
        **kwargs,
    }
    return fit_sync_wave(wave.probe_s, wave.reference_s, **options)


@pytest.mark.parametrize(
    ("offset_s", "drift_ppm", "duration_s"),
    [(0.0123, 12.5, 600.0), (-0.2, -35.0, 3600.0), (0.0004, 100.0, 3600.0)],
)
def test_offset_and_drift_recovered_from_quantised_edges(
    offset_s: float, drift_ppm: float, duration_s: float
) -> None:
    wave = sync_wave(duration_s, offset_s=offset_s, drift_ppm=drift_ppm)

    result = fit(wave)

    # quantisation: each edge is late by up to one sample on each clock (40 us, 33 us)
    assert result.drift_ppm == pytest.approx(drift_ppm, abs=0.02)
    assert result.offset_s == pytest.approx(offset_s, abs=1e-5)
    assert result.n_matched == result.n_source == result.n_reference == wave.reference_s.size
    assert result.n_unmatched_source == result.n_unmatched_reference == 0
    assert result.residual_max_s < 1 / REF_RATE_HZ + 1 / PROBE_RATE_HZ
    assert result.status == "pass"
    # every probe edge mapped to within the quantisation of its true reference time
    mapped = result.to_reference_s(wave.probe_s)
    np.testing.assert_allclose(mapped, wave.reference_s, atol=1 / REF_RATE_HZ + 1 / PROBE_RATE_HZ)


def test_probe_sample_indices_map_to_session_seconds() -> None:
    wave = sync_wave(1200.0, offset_s=0.0031, drift_ppm=-20.0)
    result = fit(wave)
    first_sample = 90_000  # the file starts 3 s into the run
    spike_idx = np.array([0, 1_000_000, 20_000_000, 35_000_000], dtype=np.int64)

    session_s = result.samples_to_reference_s(spike_idx, PROBE_RATE_HZ, first_sample)

    truth = wave.to_reference((spike_idx + first_sample) / PROBE_RATE_HZ)
    np.testing.assert_allclose(session_s, truth, atol=2e-5)  # under one sample at 30 kHz
    # the uncorrected probe times are off by the drift: 20 ppm x 1200 s = 24 ms at the end
    assert abs((spike_idx[-1] + first_sample) / PROBE_RATE_HZ - truth[-1]) > 0.02


def test_edges_only_one_stream_saw_are_unmatched_but_expected() -> None:
    wave = sync_wave(300.0, offset_s=0.001, drift_ppm=8.0, probe_window_s=(5.0, 290.0))
    n_probe = wave.probe_s.size

    result = fit(wave)

    assert result.n_matched == n_probe == 285
    assert result.n_unmatched_source == 0
    assert result.n_unmatched_reference == wave.reference_s.size - n_probe == 15
    assert result.n_unmatched_inside == 0
    assert result.status == "pass"
    assert result.drift_ppm == pytest.approx(8.0, abs=0.05)


def test_a_lost_edge_inside_the_run_warns() -> None:
    wave = sync_wave(300.0, offset_s=0.001, drift_ppm=8.0)
    probe = np.delete(wave.probe_s, 150)
    extra = np.sort(np.append(wave.reference_s, wave.reference_s[200] + 0.5))  # glitch

    result = fit_sync_wave(
        probe, extra, clock_id="p", reference_id="r", tolerance_s=0.005, model="linear"
    )

    assert result.n_matched == 299
    assert result.n_unmatched_source == 0
    assert result.n_unmatched_reference == 2
    assert result.n_unmatched_inside == 2
    assert result.status == "warn"
    assert result.matched_reference_idx[150] == 151  # the edge after the lost one pairs right
    assert result.drift_ppm == pytest.approx(8.0, abs=0.05)


def test_residual_above_tolerance_warns() -> None:
    wave = sync_wave(200.0, offset_s=0.0, drift_ppm=0.0)
    probe = wave.probe_s.copy()
    probe[100] += 0.003  # 3 ms late: inside a 5 ms tolerance, above a 1 ms one

    loose = fit_sync_wave(
        probe, wave.reference_s, clock_id="p", reference_id="r", tolerance_s=0.005
    )
    tight = fit_sync_wave(
        probe, wave.reference_s, clock_id="p", reference_id="r", tolerance_s=0.001
    )

    assert loose.n_matched == 200 and loose.status == "pass"
    assert loose.residual_max_s == pytest.approx(0.003, abs=1e-4)
    # the tight tolerance drops the late edge from the pairs and says so
    assert tight.n_matched == 199 and tight.matched_reference_idx[100] == -1
    assert tight.n_unmatched_inside == 2 and tight.status == "warn"


def test_piecewise_model_follows_a_drift_change() -> None:
    # 10 ppm for the first half, 30 ppm after: one line cannot follow it to sample level
    reference_true = 0.25 + np.arange(1200.0)
    change_s = 600.25
    probe_true = np.where(
        reference_true < change_s,
        reference_true / (1 + 10e-6),
        change_s / (1 + 10e-6) + (reference_true - change_s) / (1 + 30e-6),
    )

    linear = fit_sync_wave(
        probe_true, reference_true, clock_id="p", reference_id="r", tolerance_s=0.005
    )
    piecewise = fit_sync_wave(
        probe_true,
        reference_true,
        clock_id="p",
        reference_id="r",
        tolerance_s=0.005,
        model="piecewise",
        segment_s=300.0,
    )

    assert linear.residual_max_s > 1e-3  # 20 ppm x 300 s bow: ~1.5 ms
    # knots every 300 probe seconds: the change falls 6 ms of probe time off a knot
    assert piecewise.residual_max_s < 1e-6
    np.testing.assert_allclose(piecewise.clock.segment_drift_ppm, [10, 10, 30, 30], atol=1e-3)


def test_match_is_one_to_one_and_respects_the_window() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    source = np.array([0.998, 1.001, 2.2, 3.0004, 9.0])

    matched = match_sync_edges(source, reference, window_s=0.01)

    # 0.998 and 1.001 both want edge 0: the closer keeps it; 2.2 is outside the window
    np.testing.assert_array_equal(matched, [-1, 0, -1, 2, -1])
    np.testing.assert_array_equal(
        match_sync_edges(source, reference, window_s=0.01, offset_s=-0.2), [-1, -1, 1, -1, -1]
    )


def test_waves_that_do_not_pair_name_both_channels() -> None:
    with pytest.raises(SyncError, match=r"'imec0_sync': 0 of its 2 sync edges .* 'nidq_sync'"):
        fit_sync_wave(
            np.array([1.0, 2.0]),
            np.arange(10.0),
            clock_id="imec0_sync",
            reference_id="nidq_sync",
            tolerance_s=0.005,
        )


def test_fit_record_round_trips_to_json_numbers() -> None:
    wave = sync_wave(120.0, offset_s=0.002, drift_ppm=5.0)
    row = fit(wave).to_dict()

    assert row["clock_id"] == "imec0_sync" and row["reference_id"] == "nidq_sync"
    assert row["n_matched"] == 120 and row["status"] == "pass"
    assert row["drift_ppm"] == pytest.approx(5.0, abs=0.1)
    assert row["tolerance_ms"] == pytest.approx(5.0)
    assert row["model"] == "linear" and len(row["knots_s"]) == len(row["delta_s"]) == 2
