"""alignment_stats.json rows: every index list the alignments report reaches the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from w2t_bkin.sync import (
    align_frames,
    align_trials,
    stats_for_camera,
    stats_for_untimed_camera,
    stats_from_frames,
    stats_from_trials,
)
from w2t_bkin.testing.simulate import simulate_camera, simulate_trials


def test_frame_stats_list_unassigned_pulses() -> None:
    truth = simulate_camera(5.0, 100.0, dropped_frame_fraction=0.01, jitter_s=1e-4, seed=1)
    n_saved = truth.n_frames - 7  # recording stopped while the trigger kept running
    alignment = align_frames(
        n_saved, truth.pulse_times_s, nominal_rate_hz=100.0, frame_pts_s=truth.frame_pts_s[:n_saved]
    )
    row = json.loads(json.dumps(stats_from_frames("cam0", alignment).to_dict()))
    assert row["unassigned_idx"] == list(range(n_saved, truth.n_frames))
    assert row["dropped_idx"] == truth.dropped_frame_idx.tolist()
    assert row["spurious_idx"] == [] and row["missing_idx"] == []


def test_trial_stats_have_an_empty_unassigned_list() -> None:
    truth = simulate_trials(50, spurious_pulse_fraction=0.1, seed=2)
    row = stats_from_trials("ttl", align_trials(truth.sync_bpod_s, truth.pulse_times_s)).to_dict()
    assert row["unassigned_idx"] == []
    assert row["spurious_idx"] == truth.spurious_pulse_idx.tolist()
    np.testing.assert_array_equal(row["missing_idx"], truth.missing_pulse_trial_idx)


def test_camera_stats_add_frame_pts_and_notes_after_the_stats_keys() -> None:
    truth = simulate_camera(5.0, 100.0, dropped_frame_fraction=0.01, seed=1)
    alignment = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=100.0)
    # the row the session wrote before the camera rows were typed
    expected = stats_from_frames("cam0", alignment).to_dict()
    expected["frame_pts"] = "not used: the video has no container timestamps"
    expected["notes"] = "; ".join(alignment.messages)
    row = stats_for_camera("cam0", alignment).to_dict()
    assert list(row.items()) == list(expected.items())
    assert "camera 'camera' dropped 5 frames" in row["notes"]


@pytest.mark.parametrize(
    ("frame_clock", "frame_pts"),
    [("video", "used"), ("rate", "not used: frame_clock = rate")],
)
def test_untimed_camera_stats_are_the_row_without_clock_figures(
    frame_clock: str, frame_pts: str
) -> None:
    notes = ("first note", "second note")
    stats = stats_for_untimed_camera("side", 300, frame_clock, notes)
    assert not stats.has_clock
    assert list(stats.to_dict().items()) == [
        ("stream_id", "side"),
        ("kind", "camera"),
        ("n_items", 300),
        ("n_pulses", 0),
        ("n_matched", 0),
        ("status", f"no TTL: frame_clock = {frame_clock}"),
        ("frame_pts", frame_pts),
        ("notes", "first note; second note"),
    ]
    assert stats_for_untimed_camera("side", 300, frame_clock, ()).to_dict()["notes"] == ""
