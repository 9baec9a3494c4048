"""Joint angles, distances, body scale, egocentric frames, neighbours and windowed summaries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from w2t_bkin.features.library import (
    LibraryParameterError,
    TrackDataError,
    body_scale,
    egocentric,
    joint_angles,
    keypoint_pairs,
    nearest_neighbours,
    normalize_body_scale,
    pairwise_distances,
    social,
    windowed_summary,
)

# one frame, one animal: a 3-4-5 right triangle
TRIANGLE = np.array([[[[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]]]])


def test_joint_angles_unsigned_signed_and_3d() -> None:
    points = np.array([[[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]]])
    assert joint_angles(points, [(0, 1, 2)])[0, 0, 0] == pytest.approx(np.pi / 2)
    assert joint_angles(points, [(0, 1, 2)], signed=True)[0, 0, 0] == pytest.approx(np.pi / 2)
    assert joint_angles(points, [(2, 1, 0)], signed=True)[0, 0, 0] == pytest.approx(-np.pi / 2)
    # angle at the 3-4 corner of the triangle: 90 degrees; at the origin: atan(4/3)
    angles = joint_angles(TRIANGLE, [(0, 1, 2), (1, 0, 2)])
    np.testing.assert_allclose(angles[0, 0], [np.pi / 2, np.arctan2(4, 3)])
    in_3d = np.array([[[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]]])
    assert joint_angles(in_3d, [(0, 1, 2)])[0, 0, 0] == pytest.approx(np.pi / 2)
    collapsed = np.zeros((1, 1, 3, 2))
    assert np.isnan(joint_angles(collapsed, [(0, 1, 2)])[0, 0, 0])
    with pytest.raises(LibraryParameterError, match="keypoint index 5 is out of range for 3"):
        joint_angles(TRIANGLE, [(0, 1, 5)])


def test_pairwise_distances_in_pdist_order() -> None:
    distances = pairwise_distances(TRIANGLE)
    np.testing.assert_allclose(distances[0, 0], [3.0, 5.0, 4.0])
    np.testing.assert_allclose(distances[0, 0], pdist(TRIANGLE[0, 0]))
    np.testing.assert_array_equal(keypoint_pairs(3), [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_allclose(pairwise_distances(TRIANGLE, [(2, 0)])[0, 0], [5.0])


def test_body_scale_is_the_median_pair_distance_and_normalises() -> None:
    assert body_scale(TRIANGLE)[0, 0] == pytest.approx(4.0)
    with_missing = TRIANGLE.copy()
    with_missing[0, 0, 2] = np.nan  # only the 3-pixel pair is left
    assert body_scale(with_missing)[0, 0] == pytest.approx(3.0)
    scaled = normalize_body_scale(TRIANGLE, origin=1)
    np.testing.assert_allclose(scaled[0, 0], [[-0.75, 0.0], [0.0, 0.0], [0.0, 1.0]])
    # per track: one scale (median over frames) for every frame of the individual
    two_frames = np.concatenate([TRIANGLE, 2 * TRIANGLE])  # body scales 4 and 8 -> 6
    np.testing.assert_allclose(normalize_body_scale(two_frames)[1, 0, 2], [1.0, 8.0 / 6.0])
    np.testing.assert_allclose(normalize_body_scale(two_frames, per="frame")[1, 0, 2], [0.75, 1.0])


def test_egocentric_puts_origin_at_zero_and_heading_on_x() -> None:
    # animal at (10, 10) facing +y (down on screen): a point 2 px ahead is at (2, 0) and a
    # point at screen-left (-x), which is the animal's right when it faces down, at (0, +1)
    positions = np.array([[[[10.0, 10.0], [10.0, 12.0], [9.0, 10.0]]]])
    result = egocentric(positions, 0, np.array([[np.pi / 2]]))
    np.testing.assert_allclose(result[0, 0], [[0, 0], [2, 0], [0, 1]], atol=1e-12)
    with pytest.raises(TrackDataError, match=r"heading_rad must have shape \(1, 1\)"):
        egocentric(positions, 0, np.zeros(3))


def test_nearest_neighbours_index_distance_and_offsets() -> None:
    centres = np.array([[[0.0, 0.0]], [[1.0, 0.0]], [[5.0, 0.0]], [[np.nan, np.nan]]])
    frame = centres.reshape(1, 4, 1, 2)
    result = nearest_neighbours(frame, 0, heading_rad=np.array([[0.0, np.pi / 2, np.pi, 0.0]]))
    np.testing.assert_array_equal(result.index[0], [1, 0, 1, -1])
    np.testing.assert_allclose(result.distance[0], [1.0, 1.0, 4.0, np.nan])
    np.testing.assert_allclose(result.delta[0, 2], [-4.0, 0.0])
    # individual 1 faces +y; its neighbour at -x lies to its right (+y in its body frame)
    np.testing.assert_allclose(result.delta_ego[0, 1], [0.0, 1.0], atol=1e-12)
    # individual 2 faces -x; its neighbour at -x lies straight ahead
    np.testing.assert_allclose(result.delta_ego[0, 2], [4.0, 0.0], atol=1e-12)
    with pytest.raises(TrackDataError, match="at least 2 individuals; found 1"):
        nearest_neighbours(TRIANGLE, 0)


def test_windowed_summary_uses_time_windows_and_ignores_nan() -> None:
    t_s = np.arange(10) * 0.5
    values = np.arange(10.0)
    values[3] = np.nan
    summary = windowed_summary(values, t_s, 2.0)
    np.testing.assert_array_equal(summary.start_s, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(summary.n_frames, [4, 4, 2])
    np.testing.assert_array_equal(summary.values["count"], [3, 4, 2])
    np.testing.assert_allclose(summary.values["mean"], [1.0, 5.5, 8.5])
    np.testing.assert_allclose(summary.values["std"], [np.sqrt(2 / 3), np.sqrt(1.25), 0.5])
    np.testing.assert_array_equal(summary.values["min"], [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(summary.values["max"], [2.0, 7.0, 9.0])
    np.testing.assert_array_equal(summary.values["median"], [1.0, 5.5, 8.5])


def test_windowed_summary_over_a_recording_gap_and_overlapping_windows() -> None:
    t_s = np.array([0.0, 0.5, 5.0, 5.5])  # nothing between 0.5 and 5 s
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [7.0, 70.0]])
    summary = windowed_summary(values, t_s, 2.0, step_s=1.0, statistics=("mean", "count"))
    np.testing.assert_array_equal(summary.start_s, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(summary.n_frames, [2, 0, 0, 0, 2, 2])
    np.testing.assert_allclose(summary.values["mean"][:, 1], [20, np.nan, np.nan, np.nan, 60, 60])
    assert summary.values["mean"].shape == (6, 2)
    # a large offset does not cost precision: the sums are taken around a reference
    offset = windowed_summary(values + 1e9, t_s, 2.0, statistics=("std",))
    np.testing.assert_allclose(offset.values["std"][0], [1.0, 10.0], rtol=1e-9)
    with pytest.raises(LibraryParameterError, match=r"unknown statistic\(s\) \['mode'\]"):
        windowed_summary(values, t_s, 2.0, statistics=("mode",))  # type: ignore[arg-type]


def test_nearest_neighbours_equal_a_brute_force_search_in_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(social, "_CHUNK_VALUES", 7 * 8 * 8 * 2)  # chunks of 7 frames
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 100, size=(500, 8, 3, 2))
    centre = positions.mean(axis=2)
    dist = np.linalg.norm(centre[:, :, None] - centre[:, None], axis=-1)
    dist[:, np.arange(8), np.arange(8)] = np.inf
    result = nearest_neighbours(positions, (0, 1, 2))
    np.testing.assert_array_equal(result.index, dist.argmin(axis=-1))
    np.testing.assert_allclose(result.distance, dist.min(axis=-1))
    expected_delta = np.take_along_axis(centre, result.index[..., None], axis=1) - centre
    np.testing.assert_allclose(result.delta, expected_delta)
