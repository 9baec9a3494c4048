"""Spike sample indices of a probe put on the session clock from the fit recorded in
``alignment_stats.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.ephys.session_clock import probe_samples_to_session_s, read_probe_clock
from w2t_bkin.errors import IngestError
from w2t_bkin.session.synchronize import SyncedSession
from w2t_bkin.sync.sync_wave import SyncWaveFit, fit_sync_wave

from ..sync.sync_waves import PROBE_RATE_HZ, SyncWave, sync_wave


def _stats_file(tmp_path: Path, model: str = "linear") -> tuple[Path, SyncWaveFit, SyncWave]:
    wave = sync_wave(1800.0, offset_s=0.0042, drift_ppm=-31.0)
    fit = fit_sync_wave(
        wave.probe_s,
        wave.reference_s,
        clock_id="imec0_sync",
        reference_id="nidq_sync",
        tolerance_s=0.005,
        model=model,  # type: ignore[arg-type]
    )
    path = tmp_path / "alignment_stats.json"
    stats = SyncedSession({}, None, probe_clocks={"imec0_sync": fit}).alignment_stats_json()
    path.write_text(json.dumps(stats))
    return path, fit, wave


@pytest.mark.parametrize("model", ["linear", "piecewise"])
def test_recorded_fit_maps_spikes_like_the_fit_itself(tmp_path: Path, model: str) -> None:
    path, fit, wave = _stats_file(tmp_path, model)
    spike_idx = np.array([0, 123_456, 9_000_000, 53_000_000], dtype=np.int64)
    first_sample = 3_000

    clock = read_probe_clock(path, "imec0_sync")
    session_s = probe_samples_to_session_s(clock, spike_idx, PROBE_RATE_HZ, first_sample)

    expected = fit.samples_to_reference_s(spike_idx, PROBE_RATE_HZ, first_sample)
    np.testing.assert_allclose(session_s, expected, rtol=0, atol=1e-12)
    truth = wave.to_reference((spike_idx + first_sample) / PROBE_RATE_HZ)
    np.testing.assert_allclose(session_s, truth, rtol=0, atol=3e-5)  # one sample at 30 kHz


def test_unknown_clock_names_the_clocks_in_the_file(tmp_path: Path) -> None:
    path, _, _ = _stats_file(tmp_path)

    with pytest.raises(
        IngestError, match=r"no probe clock 'imec1_sync'; the file has 'imec0_sync'"
    ):
        read_probe_clock(path, "imec1_sync")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"streams": []}))
    with pytest.raises(IngestError, match="none \\(no probe was fitted"):
        read_probe_clock(empty, "imec0_sync")
    with pytest.raises(IngestError, match="cannot read the alignment statistics"):
        read_probe_clock(tmp_path / "missing.json", "imec0_sync")
