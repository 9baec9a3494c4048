"""Exact DTW: the compiled kernel against plain Python references and known answers."""

from __future__ import annotations

import itertools
import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2t_bkin.analysis._kernels import UNMATCHABLE_COST, UNMATCHABLE_TOTAL
from w2t_bkin.analysis.dtw import (
    dtw,
    dtw_distance_matrix,
    dtw_pose_distance_matrix,
    dtw_poses,
    prepare_sequence,
    sakoe_chiba_band,
)
from w2t_bkin.analysis.errors import AnalysisError

# --------------------------------------------------------------------------------------------
# Plain references


def reference_cost(x: np.ndarray, y: np.ndarray) -> float:
    """The documented frame cost: (NaN-)Euclidean, summed in feature order like the kernel."""
    total = 0.0
    shared = 0.0
    for xk, yk in zip(x.tolist(), y.tolist(), strict=True):
        t = xk - yk
        if not math.isnan(t):
            total += t * t
            shared += 1.0
    if shared == 0.0:
        return UNMATCHABLE_COST  # paths avoid such pairs; a total holding one is inf
    if shared == len(x):
        return math.sqrt(total) if len(x) > 1 else abs(x[0] - y[0])
    return math.sqrt(total * (len(x) / shared))


def reference_dtw(
    a: np.ndarray, b: np.ndarray, window: int | None = None
) -> tuple[float, int, list[tuple[int, int]]]:
    """O(n·m) DTW with a full matrix: total cost, path length, path in input frame indices."""
    a2 = np.asarray(a, float).reshape(len(a), -1)
    b2 = np.asarray(b, float).reshape(len(b), -1)
    ia = [i for i in range(len(a2)) if not np.isnan(a2[i]).all()]
    ib = [j for j in range(len(b2)) if not np.isnan(b2[j]).all()]
    n, m = len(ia), len(ib)
    lo, hi = sakoe_chiba_band(n, m, window)
    inf = math.inf
    cost = [[inf] * m for _ in range(n)]
    length = [[0] * m for _ in range(n)]
    step = [[None] * m for _ in range(n)]
    for i in range(n):
        for j in range(int(lo[i]), int(hi[i]) + 1):
            c = reference_cost(a2[ia[i]], b2[ib[j]])
            if i == 0 and j == 0:
                cost[i][j], length[i][j] = c, 1
                continue
            best, best_len, best_step = inf, 0, None
            # Tie order: diagonal, then up (i-1, j), then left (i, j-1); None marks no cell.
            for di, dj in ((1, 1), (1, 0), (0, 1)):
                pi, pj = i - di, j - dj
                if pi < 0 or pj < 0:
                    continue
                if best_step is None or cost[pi][pj] < best:
                    best, best_len, best_step = cost[pi][pj], length[pi][pj], (di, dj)
            cost[i][j], length[i][j], step[i][j] = best + c, best_len + 1, best_step
    path = []
    i, j = n - 1, m - 1
    while True:
        path.append((ia[i], ib[j]))
        if step[i][j] is None:
            break
        di, dj = step[i][j]
        i, j = i - di, j - dj
    total = cost[n - 1][m - 1]
    return (inf if total >= UNMATCHABLE_TOTAL else total), length[n - 1][m - 1], path[::-1]


def brute_force_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Minimum total cost over every monotone warping path (tiny inputs only)."""
    n, m = len(a), len(b)
    best = math.inf

    def walk(i: int, j: int, acc: float) -> None:
        nonlocal best
        acc += abs(float(a[i]) - float(b[j]))
        if (i, j) == (n - 1, m - 1):
            best = min(best, acc)
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                walk(i + di, j + dj, acc)

    walk(0, 0, 0.0)
    return best


# --------------------------------------------------------------------------------------------
# Strategies

finite = st.floats(-50, 50, allow_nan=False, width=64)


@st.composite
def sequences(draw: st.DrawFn, n_features: int, max_frames: int = 12) -> np.ndarray:
    n = draw(st.integers(1, max_frames))
    x = draw(hnp.arrays(np.float64, (n, n_features), elements=finite))
    # Whole missing frames and single missing features, as pose estimators produce them.
    missing_frames = draw(hnp.arrays(np.bool_, n, elements=st.booleans()))
    if missing_frames.all():
        missing_frames[draw(st.integers(0, n - 1))] = False
    x[missing_frames] = np.nan
    if n_features > 1 and draw(st.booleans()):
        holes = draw(hnp.arrays(np.bool_, (n, n_features), elements=st.booleans()))
        x[holes & (draw(st.integers(0, 3)) == 0)] = np.nan
        x[~missing_frames & np.isnan(x).all(axis=1), 0] = 1.0
    return x


@st.composite
def sequence_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int | None]:
    n_features = draw(st.integers(1, 4))
    a = draw(sequences(n_features))
    b = draw(sequences(n_features))
    window = draw(st.one_of(st.none(), st.integers(0, 6)))
    return a, b, window


# --------------------------------------------------------------------------------------------
# Exactness


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence_pairs())
def test_dtw_equals_plain_reference_with_nan_frames_unequal_lengths_and_bands(pair) -> None:
    a, b, window = pair
    result = dtw(a, b, window=window, return_path=True)
    total, length, path = reference_dtw(a, b, window)
    assert result.path_length == length
    assert result.path is not None
    assert [tuple(p) for p in result.path.tolist()] == path
    if math.isinf(total):
        assert math.isinf(result.total_cost) and math.isinf(result.distance)
    else:
        # Same operations in the same order: bit-identical, not merely close.
        assert result.total_cost == total
        assert result.distance == total / length
    # The two-row kernel (no path) gives the same numbers as the path kernel.
    no_path = dtw(a, b, window=window)
    assert no_path.path is None
    assert (no_path.total_cost, no_path.path_length) == (result.total_cost, result.path_length)


def test_no_path_without_an_unmatchable_pair_is_inf_with_a_real_path() -> None:
    # a's only frame shares no feature with b's first frame: every path matches them.
    a = np.array([[1.0, np.nan]])
    b = np.array([[np.nan, 0.0], [0.0, 0.0]])
    for result in (dtw(a, b, return_path=True), dtw(a, b)):
        assert math.isinf(result.total_cost) and math.isinf(result.distance)
        assert result.path_length == 2
    path = dtw(a, b, return_path=True).path
    assert path is not None and path.tolist() == [[0, 0], [0, 1]]  # starts at (0, 0)
    assert dtw_distance_matrix([a, b])[0, 1] == math.inf
    # a3[1] shares no feature with b[0]: the optimal path avoids that pair and stays finite.
    a3 = np.array([[0.0, 0.0], [1.0, np.nan]])
    result = dtw(a3, b, return_path=True)
    assert math.isfinite(result.total_cost) and result.path is not None
    assert [1, 0] not in result.path.tolist()


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 5), elements=finite),
    hnp.arrays(np.float64, st.integers(1, 5), elements=finite),
)
def test_dtw_minimum_equals_brute_force_over_every_warping_path(a, b) -> None:
    assert dtw(a, b).total_cost == pytest.approx(brute_force_dtw(a, b), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("n", "m", "window"), [(61, 44, None), (60, 45, 4), (45, 61, 0)])
def test_dtw_equals_reference_on_longer_series_with_gaps(n: int, m: int, window) -> None:
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(size=(n, 6)), rng.normal(size=(m, 6))
    a[rng.random(n) < 0.1] = np.nan  # whole frames missed
    b[rng.random((m, 6)) < 0.05] = np.nan  # single features missed
    result = dtw(a, b, window=window, return_path=True)
    total, length, path = reference_dtw(a, b, window)
    assert (result.total_cost, result.path_length) == (total, length)
    assert result.path is not None and [tuple(p) for p in result.path.tolist()] == path
    assert dtw(a, b, window=window).total_cost == total


def test_approximate_dtw_with_errors_up_to_50_percent() -> None:
    """NeuroPose used fastdtw (radius 1): up to +53 % on noisy 1-D sinusoids. Ours is exact."""
    rng = np.random.default_rng(7)
    t = np.linspace(0, 4 * np.pi, 160)
    for _ in range(10):
        a = np.sin(t * rng.uniform(0.8, 1.2)) + rng.normal(0, 0.3, t.size)
        b = np.sin(t[:130] * rng.uniform(0.8, 1.2) + 0.5) + rng.normal(0, 0.3, 130)
        total, length, _ = reference_dtw(a, b)
        result = dtw(a, b)
        assert result.total_cost == total
        assert result.distance == total / length


def test_time_warped_copy_has_zero_distance_and_the_known_path() -> None:
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([0.0, 0.0, 1.0, 2.0, 2.0, 3.0])
    result = dtw(a, b, return_path=True)
    assert result.distance == 0.0
    assert result.path is not None
    assert result.path.tolist() == [[0, 0], [0, 1], [1, 2], [2, 3], [2, 4], [3, 5]]


def test_distance_is_normalised_by_path_length() -> None:
    # Constant offset 2 in 3-D: every frame pair costs 2 * sqrt(3), whatever the length.
    for n in (5, 50, 500):
        a = np.zeros((n, 3))
        result = dtw(a, a + 2.0)
        assert result.path_length == n
        assert result.distance == pytest.approx(2 * np.sqrt(3), rel=1e-12)


# --------------------------------------------------------------------------------------------
# Paths and bands


@settings(max_examples=100, deadline=None)
@given(sequence_pairs())
def test_path_is_a_valid_warping_path(pair) -> None:
    a, b, window = pair
    result = dtw(a, b, window=window, return_path=True)
    pa, pb = prepare_sequence(a), prepare_sequence(b)
    assert result.path is not None
    # Map back to positions among the observed frames: steps of (1,1), (1,0) or (0,1).
    ia = np.searchsorted(pa.frame_idx, result.path[:, 0])
    ib = np.searchsorted(pb.frame_idx, result.path[:, 1])
    assert (ia[0], ib[0]) == (0, 0)
    assert (ia[-1], ib[-1]) == (len(pa.frame_idx) - 1, len(pb.frame_idx) - 1)
    steps = {(int(x), int(y)) for x, y in zip(np.diff(ia), np.diff(ib), strict=True)}
    assert steps <= {(1, 1), (1, 0), (0, 1)}
    lo, hi = sakoe_chiba_band(len(pa.frame_idx), len(pb.frame_idx), window)
    assert np.all((lo[ia] <= ib) & (ib <= hi[ia]))
    costs = [reference_cost(pa.values[i], pb.values[j]) for i, j in zip(ia, ib, strict=True)]
    if not math.isinf(result.total_cost):
        assert result.total_cost == pytest.approx(sum(costs), rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 45))
def test_band_rows_are_connected_and_follow_the_diagonal(n, m, window) -> None:
    lo, hi = sakoe_chiba_band(n, m, window)
    assert lo[0] == 0 and hi[-1] == m - 1
    assert np.all(lo <= hi)
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0)
    assert np.all(lo[1:] <= hi[:-1] + 1)
    if n > 1:
        centre = np.arange(n) * (m - 1) / (n - 1)
        # Narrowed to the band, except where widened to keep a path (slope > 2 * window + 1).
        if (m - 1) / (n - 1) <= 2 * window + 1:
            assert np.all(lo >= np.ceil(centre - window - 1e-9))
        # An empty row is widened up to its first column inside the band, no further.
        ceiling = np.maximum(np.floor(centre + window + 1e-9), np.ceil(centre - window - 1e-9))
        assert np.all(hi <= ceiling)
        assert np.all(lo <= np.maximum(np.ceil(centre - window - 1e-9), 0))


def test_band_wider_than_the_sequences_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(55, 2))
    assert dtw(a, b, window=60).total_cost == dtw(a, b).total_cost
    assert dtw(a, b, window=2).total_cost >= dtw(a, b).total_cost


def test_negative_or_fractional_window_is_refused() -> None:
    for window in (-1, 2.5):
        with pytest.raises(AnalysisError, match="whole number of frames >= 0"):
            dtw(np.zeros(3), np.zeros(3), window=window)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Missing detections


def test_one_empty_frame_aborting_an_analysis() -> None:
    """NeuroPose aborted on a single frame with no detection; here the frame is left out."""
    t = np.linspace(0, 2 * np.pi, 30)
    pose = np.stack([np.cos(t), np.sin(t)], axis=1)[:, None, :].repeat(4, axis=1)
    with_gap = pose.copy()
    with_gap[11] = np.nan  # nothing detected in frame 11
    (result,) = dtw_poses(with_gap, pose, return_path=True)
    assert result.n_missing == (1, 0)
    assert result.path is not None
    assert 11 not in result.path[:, 0]
    # Every other pair is identical; frame 11 of b goes to its nearer neighbour frame of a.
    flat = pose.reshape(30, -1)
    step = min(np.linalg.norm(flat[10] - flat[11]), np.linalg.norm(flat[12] - flat[11]))
    assert result.path_length == 30
    assert result.total_cost == pytest.approx(step, rel=1e-12)
    # Per joint and relation variants survive it as well.
    per_joint = dtw_poses(with_gap, pose, variant="per_joint")
    assert [r.n_missing for r in per_joint] == [(1, 0)] * 4
    assert all(r.total_cost == pytest.approx(step / 2, rel=1e-12) for r in per_joint)
    rel = dtw_poses(with_gap, pose, variant="relation", pairs=[(0, 3)])
    assert rel[0].n_missing == (1, 0)


def test_partly_missing_frame_uses_the_shared_features_scaled() -> None:
    a = np.array([[0.0, 0.0, 0.0, 0.0]])
    b = np.array([[3.0, np.nan, 4.0, np.nan]])
    # Shared features: 0 and 2; squared 9 + 16 = 25, scaled by 4 / 2 -> sqrt(50).
    assert dtw(a, b).distance == pytest.approx(np.sqrt(50.0), rel=1e-15)


def test_frames_sharing_no_feature_cannot_be_matched() -> None:
    a = np.array([[1.0, np.nan]])
    b = np.array([[np.nan, 1.0]])
    result = dtw(a, b)
    assert math.isinf(result.distance)


def test_sequence_with_no_detection_gives_nan_not_a_crash() -> None:
    empty = np.full((6, 3, 2), np.nan)
    pose = np.zeros((6, 3, 2))
    (result,) = dtw_poses(empty, pose, return_path=True)
    assert math.isnan(result.distance) and not result.aligned
    assert result.path is not None and result.path.shape == (0, 2)
    assert result.n_missing == (6, 0)


def test_joint_never_seen_gives_nan_for_that_joint_only() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 3, 2)), rng.normal(size=(25, 3, 2))
    a[:, 1] = np.nan
    results = dtw_poses(a, b, variant="per_joint")
    assert math.isnan(results[1].distance)
    assert results[0].distance == dtw(a[:, 0], b[:, 0]).distance
    assert results[2].distance == dtw(a[:, 2], b[:, 2]).distance


def test_infinite_value_is_refused_with_its_frame() -> None:
    a = np.zeros((5, 2))
    a[3, 1] = np.inf
    with pytest.raises(AnalysisError, match=r"sequence a: frame 3 holds an infinite value"):
        dtw(a, np.zeros((4, 2)))


# --------------------------------------------------------------------------------------------
# Variants


def test_variants_match_dtw_on_their_own_features() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 5, 3)), rng.normal(size=(22, 5, 3))
    (all_joints,) = dtw_poses(a, b)
    assert all_joints.distance == dtw(a.reshape(30, 15), b.reshape(22, 15)).distance
    per_joint = dtw_poses(a, b, variant="per_joint", return_path=True)
    assert len(per_joint) == 5
    for k, r in enumerate(per_joint):
        ref_total, _, ref_path = reference_dtw(a[:, k], b[:, k])
        assert r.total_cost == ref_total and r.path is not None
        assert [tuple(p) for p in r.path.tolist()] == ref_path  # each joint has its own path
    relation = dtw_poses(a, b, variant="relation", pairs=[(0, 4), (2, 1)])
    assert relation[1].distance == dtw(a[:, 1] - a[:, 2], b[:, 1] - b[:, 2]).distance


def test_relation_is_invariant_to_translating_the_whole_body() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(25, 4, 3))
    shifted = a + np.array([10.0, -3.0, 7.0])
    (rel,) = dtw_poses(a, shifted, variant="relation", pairs=[(0, 2)])
    assert rel.distance == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "relation"}, "needs joint pairs"),
        ({"variant": "relation", "pairs": [(1, 1)]}, "two different joint indices in 0..3"),
        ({"variant": "relation", "pairs": [(0, 9)]}, "two different joint indices in 0..3"),
        ({"variant": "bones"}, "unknown DTW variant 'bones'"),
    ],
)
def test_bad_variant_arguments_are_refused(kwargs, message) -> None:
    pose = np.zeros((5, 4, 2))
    with pytest.raises(AnalysisError, match=message):
        dtw_poses(pose, pose, **kwargs)


def test_pose_shapes_must_agree() -> None:
    with pytest.raises(AnalysisError, match=r"4 joints × 2 dimensions, sequence b 5 × 2"):
        dtw_poses(np.zeros((5, 4, 2)), np.zeros((5, 5, 2)))
    with pytest.raises(AnalysisError, match=r"expected poses of shape \(n_frames, n_joints"):
        dtw_poses(np.zeros((5, 4)), np.zeros((5, 4)))
    with pytest.raises(AnalysisError, match="3 and 2 features per frame"):
        dtw(np.zeros((5, 3)), np.zeros((5, 2)))


# --------------------------------------------------------------------------------------------
# All pairs


@st.composite
def sequence_sets(draw: st.DrawFn) -> tuple[list[np.ndarray], int | None, int]:
    """1 to 5 sequences of one feature count (some never observed), a window, a thread count."""
    n_features = draw(st.integers(1, 4))
    seqs = draw(st.lists(sequences(n_features), min_size=1, max_size=5))
    for k in range(len(seqs)):
        if draw(st.integers(0, 7)) == 0:  # now and then a sequence with no detection at all
            seqs[k] = np.full_like(seqs[k], np.nan)
    window = draw(st.one_of(st.none(), st.integers(0, 6)))
    return seqs, window, draw(st.integers(1, 3))


def pairwise_expected(seqs: list[np.ndarray], window: int | None) -> np.ndarray:
    """The matrix built from one dtw(...) call per pair i < j (the per-pair path)."""
    k = len(seqs)
    expected = np.zeros((k, k))
    for i, j in itertools.combinations(range(k), 2):
        expected[i, j] = expected[j, i] = dtw(seqs[i], seqs[j], window=window).distance
    for i, s in enumerate(seqs):
        if np.isnan(s).all():
            expected[i, i] = np.nan
    return expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence_sets())
def test_distance_matrix_equals_per_pair_dtw_with_nan_frames_unequal_lengths_and_bands(
    case,
) -> None:
    seqs, window, n_threads = case
    matrix = dtw_distance_matrix(seqs, window=window, n_threads=n_threads)
    # The same kernel runs on the same prepared frames: bit-identical, NaN where expected.
    np.testing.assert_array_equal(matrix, pairwise_expected(seqs, window))


@st.composite
def pose_sets(draw: st.DrawFn) -> tuple[list[np.ndarray], list[tuple[int, int]], int | None]:
    """1 to 4 pose sequences (n_frames, n_joints, 2|3) with missed joints and frames."""
    n_joints = draw(st.integers(2, 4))
    n_space = draw(st.sampled_from([2, 3]))
    poses = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 10))
        x = draw(hnp.arrays(np.float64, (n, n_joints, n_space), elements=finite))
        missed = draw(hnp.arrays(np.bool_, (n, n_joints), elements=st.booleans()))
        x[missed & draw(st.booleans())] = np.nan  # some joints missed in some frames
        if draw(st.integers(0, 5)) == 0:
            x[:, draw(st.integers(0, n_joints - 1))] = np.nan  # a joint never seen
        poses.append(x)
    joint_pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_joints - 1), st.integers(0, n_joints - 1)).filter(
                lambda p: p[0] != p[1]
            ),
            min_size=1,
            max_size=3,
        )
    )
    return poses, joint_pairs, draw(st.one_of(st.none(), st.integers(0, 5)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pose_sets(), st.sampled_from(["all", "per_joint", "relation"]), st.integers(1, 3))
def test_pose_distance_matrix_equals_dtw_poses_for_every_variant(case, variant, n_threads) -> None:
    poses, joint_pairs, window = case
    pairs = joint_pairs if variant == "relation" else ()
    matrices = dtw_pose_distance_matrix(
        poses, variant=variant, pairs=pairs, window=window, n_threads=n_threads
    )
    k = len(poses)
    n_results = {"all": 1, "per_joint": poses[0].shape[1], "relation": len(joint_pairs)}
    assert matrices.shape == (n_results[variant], k, k)
    expected = np.zeros_like(matrices)
    for i, j in itertools.combinations(range(k), 2):
        results = dtw_poses(poses[i], poses[j], variant=variant, pairs=pairs, window=window)
        for r, result in enumerate(results):
            expected[r, i, j] = expected[r, j, i] = result.distance
    for r in range(matrices.shape[0]):
        for i in range(k):
            # The diagonal is dtw of a sequence with itself: 0, or NaN if nothing was seen.
            expected[r, i, i] = dtw_poses(
                poses[i], poses[i], variant=variant, pairs=pairs, window=window
            )[r].distance
    np.testing.assert_array_equal(matrices, expected)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.one_of(st.none(), st.integers(0, 80)))
def test_compiled_band_equals_sakoe_chiba_band(n: int, m: int, window) -> None:
    from w2t_bkin.analysis import _kernels

    lo = np.full(n, -7, np.int64)
    hi = np.full(n, -7, np.int64)
    _kernels.band_kernel(n, m, -1 if window is None else window, lo, hi)
    expected_lo, expected_hi = sakoe_chiba_band(n, m, window)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)


def test_distance_matrix_of_many_pairs_is_the_same_on_any_thread_count() -> None:
    # 780 pairs of mixed lengths: the threads take many chunks of the shared pair list, so a
    # pair lost or computed twice by the scheduling would show here.
    rng = np.random.default_rng(4)
    seqs = [rng.normal(size=(int(rng.integers(2, 30)), 3)) for _ in range(40)]
    seqs[2][4] = np.nan
    seqs[7][:, 1] = np.nan
    seqs[11][:] = np.nan
    expected = pairwise_expected(seqs, 5)
    for n_threads in (1, 2, 3, 8):
        matrix = dtw_distance_matrix(seqs, window=5, n_threads=n_threads)
        np.testing.assert_array_equal(matrix, expected)


def test_distance_matrix_is_right_when_threads_call_it_at_once() -> None:
    # The daemon and the dashboard analyse from threads: concurrent calls must neither crash
    # (numba's workqueue layer aborts on concurrent prange launches) nor mix their results.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(8)
    sets = [[rng.normal(size=(int(rng.integers(5, 25)), 2)) for _ in range(12)] for _ in range(4)]
    expected = [pairwise_expected(seqs, None) for seqs in sets]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda seqs: dtw_distance_matrix(seqs, n_threads=2), sets))
    for matrix, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(matrix, want)


def test_distance_matrix_of_one_two_and_no_sequences() -> None:
    a = np.array([0.0, 1.0, 2.0])
    b = np.array([0.0, 2.0])
    np.testing.assert_array_equal(dtw_distance_matrix([a]), [[0.0]])
    two = dtw_distance_matrix([a, b], n_threads=2)
    # Path (0,0) (1,1) (2,1): costs 0 + 1 + 0 over 3 matched pairs.
    np.testing.assert_array_equal(two, [[0.0, 1 / 3], [1 / 3, 0.0]])
    assert dtw_distance_matrix([]).shape == (0, 0)


def test_window_larger_than_any_sequence_equals_no_window() -> None:
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(int(rng.integers(3, 20)), 2)) for _ in range(6)]
    np.testing.assert_array_equal(
        dtw_distance_matrix(seqs, window=10**30), dtw_distance_matrix(seqs, window=None)
    )


def test_distance_matrix_marks_a_never_detected_sequence_nan() -> None:
    seqs = [np.zeros((4, 2)), np.full((3, 2), np.nan), np.ones((5, 2))]
    matrix = dtw_distance_matrix(seqs, n_threads=2)
    assert np.isnan(matrix[1]).all() and np.isnan(matrix[:, 1]).all()
    assert matrix[0, 2] == pytest.approx(np.sqrt(2.0))
    assert matrix[0, 0] == 0.0


@pytest.mark.parametrize("n_threads", [0, -2, True, 1.5])
def test_bad_thread_count_is_refused(n_threads) -> None:
    with pytest.raises(
        AnalysisError, match=rf"expected a whole number of threads >= 1, found {n_threads!r}"
    ):
        dtw_distance_matrix([np.zeros(3), np.ones(3)], n_threads=n_threads)


def test_distance_matrix_refuses_mixed_feature_counts_and_bad_windows() -> None:
    with pytest.raises(AnalysisError, match=r"the sequences have \[2, 3\] features per frame"):
        dtw_distance_matrix([np.zeros((4, 2)), np.zeros((4, 3))])
    with pytest.raises(AnalysisError, match="expected a whole number of frames >= 0, found -1"):
        dtw_distance_matrix([np.zeros(4), np.zeros(4)], window=-1)
    with pytest.raises(AnalysisError, match="sequence 1: frame 0 holds an infinite value"):
        dtw_distance_matrix([np.zeros(4), np.full(4, np.inf)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "relation"}, "needs joint pairs"),
        ({"variant": "relation", "pairs": [(0, 9)]}, "two different joint indices in 0..3"),
        ({"variant": "bones"}, "unknown DTW variant 'bones'"),
    ],
)
def test_pose_distance_matrix_refuses_bad_variants(kwargs, message) -> None:
    poses = [np.zeros((5, 4, 2)), np.ones((6, 4, 2))]
    with pytest.raises(AnalysisError, match=message):
        dtw_pose_distance_matrix(poses, **kwargs)


def test_pose_distance_matrix_names_the_sequence_that_does_not_agree() -> None:
    with pytest.raises(
        AnalysisError, match=r"pose sequence 0 has 4 joints × 2 dimensions, pose sequence 2 5 × 2"
    ):
        dtw_pose_distance_matrix([np.zeros((5, 4, 2))] * 2 + [np.zeros((5, 5, 2))])
    with pytest.raises(AnalysisError, match=r"pose sequence 1: expected poses of shape"):
        dtw_pose_distance_matrix([np.zeros((5, 4, 2)), np.zeros((5, 8))])


# --------------------------------------------------------------------------------------------
# Kernel build and dependency


def test_kernels_release_the_gil_and_are_cached_on_disk() -> None:
    from w2t_bkin.analysis import _kernels

    kernels = (
        _kernels.dtw_cost_kernel,
        _kernels.dtw_path_kernel,
        _kernels.backtrack,
        _kernels.band_kernel,
        _kernels.dtw_pairs_kernel,
    )
    for kernel in kernels:
        assert kernel.targetoptions["nogil"] is True
        assert kernel._cache.__class__.__name__ == "FunctionCache"  # cache=True, not NullCache


def test_missing_numba_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import w2t_bkin.analysis as analysis
    from w2t_bkin.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "numba", None)  # "import numba" now fails
    monkeypatch.delitem(sys.modules, "w2t_bkin.analysis._kernels", raising=False)
    monkeypatch.delattr(analysis, "_kernels", raising=False)
    with pytest.raises(
        MissingExtraError, match="exact DTW needs the optional dependency 'numba'"
    ) as info:
        dtw(np.zeros(3), np.zeros(3))
    assert info.value.exit_code == 7
    assert "pip install 'w2t-bkin[analysis]'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array(["a", "b"]), "expected real numbers, found dtype <U1"),
        (np.float64(1.0), "expected an array with a frame axis, found a scalar"),
        (np.zeros((3, 0)), r"expected at least one feature per frame, found shape \(3, 0\)"),
        (np.zeros(0), "sequence a has no frames"),
    ],
)
def test_unusable_sequences_are_refused(value, message) -> None:
    with pytest.raises(AnalysisError, match=message):
        dtw(value, np.zeros(3))
