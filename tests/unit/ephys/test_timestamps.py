"""Streamed timestamp checks: exact counts on synthetic time vectors, independent of chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.ephys.timestamps import TimestampRules, check_time_chunks, iter_chunks

FS_HZ = 30_000.0


def _check(times_s: np.ndarray, chunk: int, **rules: float):
    def read(start: int, stop: int) -> np.ndarray:
        return times_s[start:stop]

    return check_time_chunks(
        iter_chunks(read, times_s.size, chunk),
        TimestampRules(chunk_samples=chunk, **rules),  # type: ignore[arg-type]
        band="ap",
        segment=0,
        source="time_vector",
    )


def _regular(n: int) -> np.ndarray:
    return np.arange(n) / FS_HZ


@pytest.mark.parametrize("chunk", [2, 7, 1000, 10**6])
def test_regular_times_pass_for_any_chunk_size(chunk: int) -> None:
    check = _check(_regular(5000), chunk)
    assert check.n_samples == 5000
    assert check.failed_rules == ()
    assert check.n_negative_steps == check.n_zero_steps == check.n_gaps == 0
    assert check.max_step_s == pytest.approx(1 / FS_HZ)


@pytest.mark.parametrize("chunk", [2, 3, 64, 10**6])
def test_counts_are_exact_and_chunk_independent(chunk: int) -> None:
    times = _regular(1000)
    times[500:] += 0.010  # one 10 ms gap between samples 499 and 500
    times[100] = times[99]  # one zero step (100) ...
    times[200:] -= 0.001  # ... and a step of -0.97 ms at 200 (< -0.2 ms)
    check = _check(times, chunk)
    assert (check.n_gaps, check.n_zero_steps, check.n_negative_steps) == (1, 1, 1)
    assert check.first_gap_s == pytest.approx(times[499])
    assert check.failed_rules == ("gap",)
    assert check.max_step_s == pytest.approx(0.010 + 1 / FS_HZ)


def test_gap_across_a_chunk_boundary_is_counted_once() -> None:
    times = _regular(100)
    times[50:] += 1.0
    for chunk in (50, 51):  # the step 49 -> 50 at the end / start of a chunk
        assert _check(times, chunk).n_gaps == 1


def test_more_than_max_negative_steps_fails() -> None:
    times = _regular(200)
    for k in range(20, 31):  # 11 backward jumps of 1 ms, each followed by a gap back
        times[k * 5] -= 0.001
    ok = _check(times, 64, max_gap_s=1.0, max_negative_count=11)
    bad = _check(times, 64, max_gap_s=1.0, max_negative_count=10)
    assert ok.n_negative_steps == bad.n_negative_steps == 11
    assert ok.failed_rules == ()
    assert bad.failed_rules == ("negative_steps",)


def test_zero_step_fraction_rule_uses_the_threshold() -> None:
    times = _regular(101)  # 100 steps
    times[1:3] = times[0]  # steps 0 and 1 are zero: 2 %
    assert _check(times, 16).failed_rules == ("zero_steps",)
    assert _check(times, 16, max_zero_fraction=0.03).failed_rules == ()


def test_iter_chunks_covers_every_sample_once_with_overlap() -> None:
    data = np.arange(10.0)
    chunks = list(iter_chunks(lambda a, b: data[a:b], 10, 4))
    assert [c.tolist() for c in chunks] == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert [c.tolist() for c in iter_chunks(lambda a, b: data[a:b], 1, 4)] == [[0.0]]
    assert list(iter_chunks(lambda a, b: data[a:b], 0, 4)) == []


def test_gap_threshold_is_at_least_two_sample_periods() -> None:
    times = np.arange(100) / 200.0  # 200 Hz: every step is 5 ms, above upstream's 2 ms
    assert _check(times, 64).n_gaps == 99  # the fixed threshold flags every sample
    chunks = iter_chunks(lambda a, b: times[a:b], times.size, 64)
    check = check_time_chunks(
        chunks, TimestampRules(), band="lfp", segment=0, source="time_vector", rate_hz=200.0
    )
    assert (check.n_gaps, check.failed_rules) == (0, ())


def test_side_timestamps_of_another_length_fail_the_length_rule(tmp_path: Path) -> None:
    import spikeinterface as si

    from w2t_bkin.ephys.timestamps import check_recording_segment

    recording = si.generate_recording(num_channels=2, sampling_frequency=1000.0, durations=[0.1])
    path = tmp_path / "timestamps.npy"
    np.save(path, np.arange(100) / 1000.0)
    assert (
        check_recording_segment(
            recording, 0, TimestampRules(), band="ap", timestamps_file=path
        ).failed_rules
        == ()
    )
    np.save(path, np.arange(90) / 1000.0)
    check = check_recording_segment(recording, 0, TimestampRules(), band="ap", timestamps_file=path)
    assert (check.n_samples, check.failed_rules) == (90, ("length",))
