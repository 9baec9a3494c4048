"""StreamStats: the exact alignment_stats.json rows, and rows read back into equal objects."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from w2t_bkin.model.stats import StreamStats

TIMED_KEYS = [
    "stream_id",
    "kind",
    "n_pulses",
    "n_items",
    "n_matched",
    "residual_rms_ms",
    "residual_max_ms",
    "drift_ppm",
    "offset_s",
    "dropped_idx",
    "spurious_idx",
    "missing_idx",
    "status",
    "unassigned_idx",
]


def _trials() -> StreamStats:
    return StreamStats(
        stream_id="bpod_sync",
        kind="trials",
        n_pulses=12,
        n_items=11,
        n_matched=10,
        residual_rms_ms=0.25,
        residual_max_ms=0.5,
        drift_ppm=12.5,
        offset_s=3.0,
        dropped_idx=np.zeros(0, dtype=np.int64),
        spurious_idx=np.array([0, 7], dtype=np.int64),
        missing_idx=np.array([4], dtype=np.int64),
        status="repaired",
        unassigned_idx=np.zeros(0, dtype=np.int64),
    )


def _ttl_camera() -> StreamStats:
    return StreamStats(
        stream_id="cam0",
        kind="camera",
        n_pulses=100,
        n_items=99,
        n_matched=98,
        residual_rms_ms=float("nan"),
        residual_max_ms=float("nan"),
        drift_ppm=-3.0,
        offset_s=0.125,
        dropped_idx=np.array([10, 11], dtype=np.int64),
        spurious_idx=np.zeros(0, dtype=np.int64),
        missing_idx=np.array([50], dtype=np.int64),
        status="repaired",
        unassigned_idx=np.array([99], dtype=np.int64),
        frame_pts="not used: the video has no container timestamps",
        notes="camera 'cam0' dropped 2 frames in 1 gaps: 2 after frame 9",
    )


def _untimed_camera() -> StreamStats:
    return StreamStats(
        stream_id="side",
        kind="camera",
        n_pulses=0,
        n_items=300,
        n_matched=0,
        status="no TTL: frame_clock = video",
        frame_pts="used",
        notes="",
    )


def test_trials_row_has_the_stats_keys_only() -> None:
    row = _trials().to_dict()
    assert list(row.items()) == [
        ("stream_id", "bpod_sync"),
        ("kind", "trials"),
        ("n_pulses", 12),
        ("n_items", 11),
        ("n_matched", 10),
        ("residual_rms_ms", 0.25),
        ("residual_max_ms", 0.5),
        ("drift_ppm", 12.5),
        ("offset_s", 3.0),
        ("dropped_idx", []),
        ("spurious_idx", [0, 7]),
        ("missing_idx", [4]),
        ("status", "repaired"),
        ("unassigned_idx", []),
    ]


def test_ttl_camera_row_ends_with_frame_pts_and_notes_and_writes_nan_as_null() -> None:
    row = _ttl_camera().to_dict()
    assert list(row) == [*TIMED_KEYS, "frame_pts", "notes"]
    assert row == {
        "stream_id": "cam0",
        "kind": "camera",
        "n_pulses": 100,
        "n_items": 99,
        "n_matched": 98,
        "residual_rms_ms": None,
        "residual_max_ms": None,
        "drift_ppm": -3.0,
        "offset_s": 0.125,
        "dropped_idx": [10, 11],
        "spurious_idx": [],
        "missing_idx": [50],
        "status": "repaired",
        "unassigned_idx": [99],
        "frame_pts": "not used: the video has no container timestamps",
        "notes": "camera 'cam0' dropped 2 frames in 1 gaps: 2 after frame 9",
    }
    assert json.loads(json.dumps(row)) == row


def test_camera_without_ttl_row_keeps_its_own_keys_in_their_order() -> None:
    stats = _untimed_camera()
    assert not stats.has_clock and _ttl_camera().has_clock
    assert list(stats.to_dict().items()) == [
        ("stream_id", "side"),
        ("kind", "camera"),
        ("n_items", 300),
        ("n_pulses", 0),
        ("n_matched", 0),
        ("status", "no TTL: frame_clock = video"),
        ("frame_pts", "used"),
        ("notes", ""),
    ]


@pytest.mark.parametrize("make", [_trials, _ttl_camera, _untimed_camera])
def test_from_dict_round_trips(make: Callable[[], StreamStats]) -> None:
    stats = make()
    assert StreamStats.from_dict(stats.to_dict()) == stats
    # through JSON as well: lists back to int64 arrays, null back to NaN
    again = StreamStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again == stats
    assert again.to_dict() == stats.to_dict()
    if stats.has_clock:
        assert again.dropped_idx is not None and again.dropped_idx.dtype == np.int64


def test_equality_compares_arrays_and_text_by_value() -> None:
    a = _ttl_camera()
    assert a == _ttl_camera()
    assert a != _trials()
    b = StreamStats.from_dict({**a.to_dict(), "dropped_idx": [10, 12]})
    assert a != b
    assert a != StreamStats.from_dict({**a.to_dict(), "notes": ""})
    assert a != "cam0"


def test_clock_figures_come_all_or_none() -> None:
    with pytest.raises(ValueError, match="StreamStats 'cam0': give every clock figure"):
        StreamStats(
            stream_id="cam0",
            kind="camera",
            n_pulses=0,
            n_items=3,
            n_matched=0,
            drift_ppm=1.0,
            status="exact",
        )
