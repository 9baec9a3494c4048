"""The segmented SVD equals one SVD of all fitted motion frames; fit segment placement."""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.facemotion.compute import fit_segments
from w2t_bkin.facemotion.svd import SegmentedSVD


def _low_rank_motion(n_frames: int, n_pixels: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(rank, n_pixels))
    scores = rng.normal(size=(n_frames, rank)) * np.linspace(10, 1, rank)
    offset = rng.uniform(0, 5, n_pixels)
    return (scores @ loadings + offset).astype(np.float32)


@pytest.mark.parametrize("segment_frames", [40, 57, 300])
def test_segments_give_the_svd_of_all_frames_centred(segment_frames: int) -> None:
    motion = _low_rank_motion(300, 120, rank=6, seed=1)
    svd = SegmentedSVD(n_pixels=120, n_components=10)
    for start in range(0, 300, segment_frames):
        svd.add_segment(motion[start : start + segment_frames])
    fit = svd.fit()

    centred = motion.astype(np.float64) - motion.mean(axis=0, dtype=np.float64)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    pixel_side = vt[:6].T
    assert fit.n_fit_frames == 300
    np.testing.assert_allclose(fit.mean_motion, motion.mean(axis=0), rtol=1e-5)
    # rank 6: exactly six components survive, with the singular values of the full SVD
    assert fit.components.shape == (120, 6)
    np.testing.assert_allclose(fit.singular_values, s[:6], rtol=1e-4)
    expected = pixel_side * np.sign(pixel_side.sum(axis=0))
    np.testing.assert_allclose(fit.components, expected, atol=1e-4)
    np.testing.assert_allclose(fit.project(motion), centred @ expected, atol=1e-2)


def test_components_are_orthonormal_and_sum_positive() -> None:
    motion = _low_rank_motion(200, 50, rank=20, seed=2)
    svd = SegmentedSVD(n_pixels=50, n_components=5)
    svd.add_segment(motion[:100])
    svd.add_segment(motion[100:])
    fit = svd.fit()
    np.testing.assert_allclose(fit.components.T @ fit.components, np.eye(5), atol=1e-5)
    assert np.all(fit.components.sum(axis=0) > 0)
    assert np.all(np.diff(fit.singular_values) <= 0)


def test_constant_motion_has_no_component() -> None:
    svd = SegmentedSVD(n_pixels=4, n_components=3)
    svd.add_segment(np.ones((10, 4), dtype=np.float32))
    fit = svd.fit()
    assert fit.components.shape == (4, 0)
    np.testing.assert_array_equal(fit.mean_motion, np.ones(4, dtype=np.float32))


def test_fit_without_segments_is_refused() -> None:
    with pytest.raises(ValueError, match="no motion segment was added"):
        SegmentedSVD(n_pixels=4, n_components=3).fit()


@pytest.mark.parametrize(
    ("n_frames", "fit_frames", "segment_frames", "expected"),
    [
        (1, 100, 10, []),
        (11, 100, 4, [(1, 5), (5, 9), (9, 11)]),  # short video: every motion frame, contiguous
        (1001, 30, 10, [(1, 11), (496, 506), (991, 1001)]),  # spread from start to end
        (1001, 25, 10, [(1, 10), (496, 505), (992, 1001)]),  # equal runs of ceil(25 / 3)
    ],
)
def test_fit_segments(
    n_frames: int, fit_frames: int, segment_frames: int, expected: list[tuple[int, int]]
) -> None:
    assert fit_segments(n_frames, fit_frames, segment_frames) == expected
