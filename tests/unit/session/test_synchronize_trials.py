"""Bpod trials at session level: files whose clock restarted, several sync channels, errors."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import SyncError
from w2t_bkin.metadata import BpodMeta
from w2t_bkin.session.synchronize import _trial_timing
from w2t_bkin.sources.bpod import BpodSession, read_bpod_session
from w2t_bkin.sources.ttl import TTLChannel
from w2t_bkin.sync import stats_from_trials
from w2t_bkin.testing.bpod import BpodTrialsSpec, simulate_bpod_trials, write_bpod_mat

OFFSET_S = 250.0
DRIFT = 40e-6
RULES = [
    {"trial_type": 1, "sync_signal": "W2T_Audio", "sync_ttl": "ttl_a"},
    {"trial_type": 2, "sync_signal": "A2L_Audio", "sync_ttl": "ttl_a"},
    {"trial_type": 3, "sync_signal": "Microstim", "sync_ttl": "ttl_b"},
]


def _daq(bpod_session_s: np.ndarray) -> np.ndarray:
    return OFFSET_S + (1 + DRIFT) * bpod_session_s


def _restarted_session(
    tmp_path: Path, error_s: float, *, later_type: int | None = None
) -> tuple[BpodSession, BpodTrialsSpec]:
    """Two files; the second restarted its Bpod clock ``error_s`` after a whole second.

    Its ``Info`` start time keeps whole seconds, so merging places it ``error_s`` too early.
    """
    spec = simulate_bpod_trials(60, seed=3)
    later = tuple(
        replace(
            t, start_s=t.start_s + 7.0, end_s=t.end_s + 7.0, trial_type=later_type or t.trial_type
        )
        for t in spec.trials[30:]
    )
    truth = replace(spec, trials=spec.trials[:30] + later)
    restart_s = math.floor(later[0].start_s) - 1 + error_s  # true start of file 2's clock
    paths = [
        write_bpod_mat(tmp_path / "a.mat", replace(truth, trials=truth.trials[:30])),
        write_bpod_mat(tmp_path / "b.mat", replace(truth, trials=later, clock_offset_s=restart_s)),
    ]
    return read_bpod_session(paths), truth


def _ttl(truth: BpodTrialsSpec, keep_until_s: float = math.inf) -> dict[str, TTLChannel]:
    onsets = truth.sync_onsets_s()
    pulses = _daq(onsets) + np.random.default_rng(0).uniform(-1e-4, 1e-4, onsets.size)
    out = {}
    for ttl_id, types in (("ttl_a", (1, 2)), ("ttl_b", (3,))):
        rows = np.isin(truth.trial_types, types) & np.isfinite(pulses) & (onsets < keep_until_s)
        out[ttl_id] = TTLChannel(ttl_id, pulses[rows], (Path(f"TTLs/{ttl_id}.txt"),))
    return out


@pytest.mark.parametrize("error_s", [0.0, 0.37, 0.81])
def test_sub_second_clock_restart_is_fitted_from_the_pulses(tmp_path: Path, error_s) -> None:  # type: ignore[no-untyped-def]
    bpod, truth = _restarted_session(tmp_path, error_s)
    assert bpod.file_alignment == ("first", "info")
    meta = BpodMeta(path=["*.mat"], sync={"trial_types": RULES})
    timing = _trial_timing(bpod, meta, _ttl(truth), Config())
    clock = timing.to_reference
    assert set(timing.alignment_label) == {"matched"}
    assert clock.step_s[0] == pytest.approx(error_s, abs=1e-4)
    assert clock.drift_ppm == pytest.approx(40.0, abs=1.0)
    # every Bpod time, not only trial starts, lands on the DAQ clock after the restart
    start_err = np.abs(clock(bpod.trial_start_s) - _daq(truth.trial_start_s))
    assert np.max(start_err) < 0.5e-3
    _, _, state_start_s, _ = truth.state_visits()
    assert np.max(np.abs(clock(bpod.state_start_s) - _daq(state_start_s))) < 0.5e-3


def test_several_channels_report_the_one_clock_that_is_applied(tmp_path: Path) -> None:
    bpod, truth = _restarted_session(tmp_path, 0.37)
    meta = BpodMeta(path=["*.mat"], sync={"trial_types": RULES})
    timing = _trial_timing(bpod, meta, _ttl(truth), Config())
    assert sorted(timing.per_channel) == ["ttl_a", "ttl_b"]
    for ttl_id, alignment in timing.per_channel.items():
        row = stats_from_trials(f"bpod:{ttl_id}", alignment).to_dict()
        assert alignment.clock is timing.to_reference
        assert row["drift_ppm"] == timing.to_reference.drift_ppm
        assert row["offset_s"] == timing.to_reference.offset_s
        assert row["residual_max_ms"] < 0.2
        rows = alignment.bpod_trial_idx
        np.testing.assert_array_equal(
            alignment.residuals_s,
            timing.to_reference(alignment.bpod_sync_times_s)
            - _ttl(truth)[ttl_id].times_s[alignment.matched_pulse_idx],
        )
        np.testing.assert_array_equal(timing.residuals_s[rows], alignment.residuals_s)


def test_restarted_file_without_pulses_names_channel_and_files(tmp_path: Path) -> None:
    bpod, truth = _restarted_session(tmp_path, 0.37)
    meta = BpodMeta(path=["*.mat"], sync={"trial_types": RULES})
    ttl = _ttl(truth, keep_until_s=truth.trials[30].start_s)  # the TTL stopped after file a
    with pytest.raises(SyncError) as e:
        _trial_timing(bpod, meta, ttl, Config())
    assert str(e.value).startswith(
        "sync TTL channel 'ttl_a' and Bpod file(s) a.mat, b.mat: Bpod part after the clock "
        "restart of b.mat: none of its"
    )


def test_restarted_file_of_trials_without_a_sync_rule_cannot_be_placed(tmp_path: Path) -> None:
    bpod, truth = _restarted_session(tmp_path, 0.37, later_type=4)
    meta = BpodMeta(path=["*.mat"], sync={"trial_types": RULES})
    with pytest.raises(SyncError, match=r"30 trials of the Bpod file restarted at b\.mat \(from "):
        _trial_timing(bpod, meta, _ttl(truth), Config())


def test_clock_model_defaults_to_auto_and_reaches_the_alignment(tmp_path: Path) -> None:
    assert Config().synchronization.clock_model == "auto"
    bpod, truth = _restarted_session(tmp_path, 0.37)
    meta = BpodMeta(path=["*.mat"], sync={"trial_types": RULES})
    config = Config.model_validate(
        {"synchronization": {"clock_model": "piecewise", "piecewise_segment_s": 60.0}}
    )
    timing = _trial_timing(bpod, meta, _ttl(truth), config)
    # a 60 s segment over a ~6 min session: the applied clock is piecewise with several knots
    assert timing.to_reference.kind == "piecewise"
    assert timing.to_reference.knots_s.size > 3
    assert timing.to_reference.step_s[0] == pytest.approx(0.37, abs=1e-4)
