"""Invariances: root-relative, body-length scale, Procrustes after DTW."""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.analysis.dtw import dtw
from w2t_bkin.analysis.errors import AnalysisError
from w2t_bkin.analysis.invariance import (
    dtw_procrustes,
    fit_procrustes,
    root_relative,
    scale_by_length,
)


def rotation_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_root_relative_single_and_mean_root() -> None:
    pose = np.array([[[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]]])
    np.testing.assert_array_equal(root_relative(pose, 0)[0], [[0, 0], [2, 4], [4, 2]])
    np.testing.assert_array_equal(root_relative(pose, [1, 2])[0], [[-3, -3], [-1, 1], [1, -1]])


def test_root_relative_frame_without_root_becomes_missing() -> None:
    pose = np.ones((3, 2, 2))
    pose[1, 0] = np.nan
    out = root_relative(pose, 0)
    assert np.isnan(out[1]).all() and not np.isnan(out[[0, 2]]).any()


def test_scale_by_median_length_ignores_missing_frames() -> None:
    pose = np.zeros((4, 2, 2))
    pose[:, 1, 0] = [2.0, 4.0, 4.0, np.nan]
    scaled, length = scale_by_length(pose, (0, 1))
    assert length == 4.0
    np.testing.assert_array_equal(scaled[:3, 1, 0], [0.5, 1.0, 1.0])


def test_scale_needs_a_length() -> None:
    with pytest.raises(AnalysisError, match="never both detected at distinct positions"):
        scale_by_length(np.zeros((3, 2, 2)), (0, 1))
    with pytest.raises(AnalysisError, match=r"joint index 5 does not exist; expected 0\.\.1"):
        scale_by_length(np.zeros((3, 2, 2)), (0, 5))


def test_fit_procrustes_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    rot = rotation_z(0.9)
    dst = 2.5 * src @ rot.T + np.array([1.0, -2.0, 0.5])
    fit = fit_procrustes(src, dst, scale=True)
    np.testing.assert_allclose(fit.rotation, rot, atol=1e-12)
    assert fit.scale == pytest.approx(2.5, rel=1e-12)
    np.testing.assert_allclose(fit.translation, [1.0, -2.0, 0.5], atol=1e-12)
    assert fit.rotation_deg == pytest.approx(np.degrees(0.9), rel=1e-9)
    # Without scale the rotation is still exact for a pure rotation.
    rigid = fit_procrustes(src, src @ rot.T)
    np.testing.assert_allclose(rigid.rotation, rot, atol=1e-12)
    assert rigid.scale == 1.0


def test_fit_procrustes_never_returns_a_reflection() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 3))
    mirrored = src * np.array([1.0, 1.0, -1.0])
    fit = fit_procrustes(src, mirrored)
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)


def test_procrustes_after_dtw_on_unequal_lengths() -> None:
    """The reference system fitted before DTW and crashed on unequal lengths; we fit after."""
    t_a = np.linspace(0, 2 * np.pi, 50)
    t_b = np.linspace(0, 2 * np.pi, 80) ** 1.1 / (2 * np.pi) ** 0.1  # same motion, warped

    def motion(t: np.ndarray) -> np.ndarray:
        joints = np.stack(
            [
                np.stack([np.cos(t + k), np.sin(2 * t + k), 0.3 * k + 0.2 * np.cos(t)], -1)
                for k in range(4)
            ],
            axis=1,
        )
        return joints

    b = motion(t_b)
    a = motion(t_a) @ rotation_z(0.6).T + np.array([5.0, 1.0, -2.0])  # rotated, moved copy
    plain = dtw(a, b)
    out = dtw_procrustes(a, b)
    assert out.converged
    assert out.result.distance < 0.05 * plain.distance
    assert out.transform.rotation_deg == pytest.approx(np.degrees(0.6), abs=1.0)
    np.testing.assert_allclose(out.aligned_a, out.transform.apply(a))
