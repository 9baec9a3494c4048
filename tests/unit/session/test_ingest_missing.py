"""The fraction of frames without a position, per keypoint (the QC report's pose table)."""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.session.ingest import missing_position_fraction


@pytest.mark.parametrize("n_space", [2, 3])
def test_a_frame_counts_as_missing_when_any_coordinate_is_nan(n_space: int) -> None:
    n_frames = 1000
    positions = np.zeros((n_frames, 2, 3, n_space), dtype=np.float32)
    positions[0:10, 0, 0, 0] = np.nan  # x only
    positions[5:25, 0, 0, n_space - 1] = np.nan  # last coordinate only, overlapping frames 5-9
    positions[::4, 1, 2, :] = np.nan  # every coordinate, 250 frames
    fraction = missing_position_fraction(positions, block_frames=64)  # blocks cut the runs
    expected = np.zeros((2, 3))
    expected[0, 0] = 25 / n_frames
    expected[1, 2] = 250 / n_frames
    np.testing.assert_array_equal(fraction, expected)


def test_blocks_do_not_change_the_count() -> None:
    rng = np.random.default_rng(7)
    positions = rng.random((10_007, 1, 5, 2)).astype(np.float32)
    positions[rng.random(positions.shape) < 0.1] = np.nan
    truth = np.isnan(positions).any(axis=-1).mean(axis=0)
    for block_frames in (1, 100, 1 << 16):
        np.testing.assert_array_equal(
            missing_position_fraction(positions, block_frames=block_frames), truth
        )


def test_no_frames_gives_nan() -> None:
    fraction = missing_position_fraction(np.zeros((0, 1, 4, 2), dtype=np.float32))
    assert fraction.shape == (1, 4) and np.isnan(fraction).all()
