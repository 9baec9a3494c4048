"""Exact dynamic time warping (DTW) of feature sequences and pose sequences.

The warping path runs from ``(0, 0)`` to ``(n - 1, m - 1)`` in unit steps (diagonal, down in
``a``, across in ``b``); a cell costs the Euclidean distance between frame ``i`` of ``a`` and
frame ``j`` of ``b``. :attr:`DTWResult.distance` is the summed cost of the optimal path divided
by its length (the number of matched frame pairs), so sequences of different durations and
segments of different lengths can be compared and averaged. Ties between equally cheap
predecessors go to the diagonal, then to ``(i - 1, j)``, then to ``(i, j - 1)``; the path length
(and so the distance) is therefore well defined.

Why numba and not dtaidistance's C: the kernel is ours, so it computes exactly the cost the
documented NaN rule needs (dtaidistance has no NaN-aware cost), tracks the path length in the
same pass (needed for the normalised distance; dtaidistance returns only the sum), sweeps two
rows at once so that their dependency chains overlap, and releases the GIL so an all-pairs
matrix runs on threads sharing one copy of the data. numba is a wheel on every platform we
support and caches its machine code (``cache=True``), so only the first process ever compiles.
``benchmarks/bench_dtw.py`` measures it against dtaidistance 2.5.1 and fastdtw 0.3.4.

All pairs: :func:`dtw_distance_matrix` and :func:`dtw_pose_distance_matrix` prepare every
sequence once, pack them into one flat array and loop over the pairs in compiled code (one
kernel call per chunk of pairs, nothing per pair in Python, so nothing serialises on the GIL)
on a few threads; each entry is bit-identical to what :func:`dtw`/:func:`dtw_poses` return.

Complexity: O(n·m) time (O(n·w) inside a Sakoe–Chiba band of half-width w). Without a path,
memory is a few rows of ``b``'s length (O(m): the row above, the two rows swept together, their
path lengths and frame costs); a path adds one byte per cell for the step directions.

Missing detections (the NaN rule)
---------------------------------
- A frame whose features are all NaN (nothing detected) is left out of the alignment: the
  other sequence's frames are matched around it. Path indices always refer to the frames of
  the input, so a left-out frame simply never appears in the path.
- A frame with only some features NaN (a few joints missed) is compared on the features
  finite in both frames, and the squared distance is scaled by ``n_features / n_shared``
  (the "NaN-Euclidean" distance). Two frames that share no finite feature cannot be matched:
  the optimal path avoids such pairs when any path can; if none can, the distance and total
  cost are ``inf`` and the path returned is one through the fewest such pairs.
- A sequence with no observed frame at all has nothing to align: the result's distance is NaN
  and its path empty (:attr:`DTWResult.aligned` is false). Nothing raises for missing data.
- ``±inf`` is not a missing value but corrupt input and raises :class:`AnalysisError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np

from w2t_bkin.analysis.errors import AnalysisError
from w2t_bkin.errors import MissingExtraError

__all__ = [
    "DTWResult",
    "PreparedSequence",
    "dtw",
    "dtw_distance_matrix",
    "dtw_pose_distance_matrix",
    "dtw_poses",
    "prepare_sequence",
    "sakoe_chiba_band",
]

PoseVariant = Literal["all", "per_joint", "relation"]
"""DTW variants of pose sequences: every joint at once, each joint alone, pairs of joints."""

_MODE_1D, _MODE_ND, _MODE_NAN = 0, 1, 2


def _kernels() -> ModuleType:
    """The compiled kernels, imported on first use (numba takes a second to import)."""
    try:
        from w2t_bkin.analysis import _kernels
    except ImportError as exc:  # numba missing or broken
        if exc.name is not None and exc.name.split(".")[0] in ("numba", "llvmlite"):
            raise MissingExtraError(
                "numba",
                "analysis",
                purpose="exact DTW",
                cause=None if isinstance(exc, ModuleNotFoundError) else str(exc),
            ) from exc
        raise
    return _kernels


@dataclass(frozen=True, eq=False)
class DTWResult:
    """The exact DTW alignment of two sequences.

    Attributes
    ----------
    distance
        Summed cost of the optimal path divided by :attr:`path_length` (units of the input,
        per matched frame pair). ``inf`` when every path must match two frames that share no
        finite feature; NaN when a sequence has no observed frame (see the module's NaN rule).
    total_cost
        Summed Euclidean cost of the optimal path.
    path_length
        Number of ``(i, j)`` pairs on the path (0 when not aligned).
    path
        ``(path_length, 2) int64`` frame indices into ``a`` and ``b`` (frames of the input,
        left-out frames skipped), or ``None`` when the path was not asked for.
    n_frames
        Frames of ``a`` and ``b`` as given.
    n_missing
        Frames of ``a`` and ``b`` with no finite feature, left out of the alignment.
    window
        Sakoe–Chiba half-width in frames that constrained the path, or ``None``.
    """

    distance: float
    total_cost: float
    path_length: int
    path: np.ndarray | None
    n_frames: tuple[int, int]
    n_missing: tuple[int, int]
    window: int | None = None

    @property
    def aligned(self) -> bool:
        """Whether both sequences had a frame to align (the distance is not NaN)."""
        return self.path_length > 0


@dataclass(frozen=True, eq=False)
class PreparedSequence:
    """A sequence ready for the kernels: observed frames only, features contiguous.

    Attributes
    ----------
    values
        ``(n_observed, n_features) float64`` C-contiguous: the frames with a finite feature.
    values_t
        ``(n_features, n_observed) float64`` C-contiguous: the same, transposed.
    frame_idx
        ``(n_observed,) int64``: index of each kept frame in the input.
    n_frames
        Frames in the input.
    has_nan
        Whether a kept frame still has a NaN feature (the NaN-Euclidean kernel is needed).
    """

    values: np.ndarray
    values_t: np.ndarray
    frame_idx: np.ndarray
    n_frames: int
    has_nan: bool

    @property
    def n_missing(self) -> int:
        """Frames left out because no feature was observed."""
        return self.n_frames - int(self.frame_idx.shape[0])


def prepare_sequence(x: np.ndarray, name: str = "sequence") -> PreparedSequence:
    """Validate a sequence and leave out its unobserved frames.

    Parameters
    ----------
    x
        ``(n_frames,)`` or ``(n_frames, n_features)`` (or ``(n_frames, ...)``, flattened per
        frame) real numbers; NaN marks what was not detected.
    name
        What the sequence is, for error messages.

    Raises
    ------
    AnalysisError
        Not numeric, no frame axis, no feature, or an infinite value.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise AnalysisError(
            f"{name}: expected real numbers, found dtype {arr.dtype}",
            hint="pass a float array of shape (n_frames, n_features)",
        )
    if arr.ndim == 0:
        raise AnalysisError(
            f"{name}: expected an array with a frame axis, found a scalar",
            hint="pass shape (n_frames,) or (n_frames, n_features)",
        )
    if arr.shape[0] == 0:
        raise AnalysisError(
            f"{name} has no frames; expected at least one",
            hint="check that the pose file holds the frames you meant to compare",
        )
    values = arr.reshape(arr.shape[0], -1).astype(np.float64, copy=False)
    if values.shape[1] == 0:
        raise AnalysisError(
            f"{name}: expected at least one feature per frame, found shape {arr.shape}",
            hint="pass shape (n_frames,) or (n_frames, n_features)",
        )
    if np.isinf(values).any():
        frame = int(np.flatnonzero(np.isinf(values).any(axis=1))[0])
        raise AnalysisError(
            f"{name}: frame {frame} holds an infinite value; expected finite numbers or NaN "
            "(not detected)",
            hint="replace corrupt values with NaN so that the frame counts as missing",
        )
    finite = ~np.isnan(values)
    observed = finite.any(axis=1)
    frame_idx = np.flatnonzero(observed).astype(np.int64)
    kept = np.ascontiguousarray(values[observed])
    return PreparedSequence(
        values=kept,
        values_t=np.ascontiguousarray(kept.T),
        frame_idx=frame_idx,
        n_frames=int(values.shape[0]),
        has_nan=bool(not finite[observed].all()),
    )


def _check_window(window: int | None) -> None:
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 0
    ):
        raise AnalysisError(
            f"Sakoe–Chiba window: expected a whole number of frames >= 0, found {window!r}",
            hint="pass --window N with N >= 0, or no window for unconstrained DTW",
        )


def sakoe_chiba_band(n: int, m: int, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The columns each row of an ``n`` × ``m`` DTW matrix may use.

    The band follows the straight line from ``(0, 0)`` to ``(n - 1, m - 1)`` (so unequal
    lengths are handled) and allows ``window`` frames of ``b`` either side of it. Where the
    line is steeper than the band can follow (``window`` below half the slope), rows are
    widened just enough that a path still exists.

    Parameters
    ----------
    n, m
        Frames of ``a`` (rows) and ``b`` (columns), both at least 1.
    window
        Half-width in frames (>= 0), or ``None`` for no band.

    Returns
    -------
    lo, hi
        ``(n,) int64`` each: row ``i`` may use columns ``lo[i]..hi[i]`` inclusive; both are
        non-decreasing, ``lo[0] == 0``, ``hi[-1] == m - 1`` and ``lo[i] <= hi[i - 1] + 1``.
    """
    _check_window(window)
    if n < 1 or m < 1:
        raise AnalysisError(f"DTW needs at least one frame in each sequence, found {n} and {m}")
    if window is None or n == 1:
        return np.zeros(n, np.int64), np.full(n, m - 1, np.int64)
    # Integer arithmetic: the line's column at row i is i * (m - 1) / (n - 1).
    i = np.arange(n, dtype=np.int64)
    num_lo = i * (m - 1) - int(window) * (n - 1)
    num_hi = i * (m - 1) + int(window) * (n - 1)
    lo = np.clip(-((-num_lo) // (n - 1)), 0, m - 1)
    hi = np.clip(num_hi // (n - 1), 0, m - 1)
    # Keep every row non-empty and reachable from the one above.
    hi = np.maximum(hi, lo)
    lo[1:] = np.minimum(lo[1:], hi[:-1] + 1)
    return lo.astype(np.int64), hi.astype(np.int64)


def _align(
    a: PreparedSequence, b: PreparedSequence, window: int | None, return_path: bool
) -> DTWResult:
    """DTW of two prepared sequences (the kernel call shared by every entry point)."""
    missing = (a.n_missing, b.n_missing)
    frames = (a.n_frames, b.n_frames)
    n = int(a.values.shape[0])
    m = int(b.values.shape[0])
    if a.values.shape[1] != b.values.shape[1]:
        raise AnalysisError(
            f"DTW: the sequences have {a.values.shape[1]} and {b.values.shape[1]} features "
            "per frame; expected the same number",
            hint="compare sequences of the same joints and dimensions",
        )
    _check_window(window)
    if n == 0 or m == 0:
        empty = np.empty((0, 2), np.int64) if return_path else None
        return DTWResult(np.nan, np.nan, 0, empty, frames, missing, window)
    kernels = _kernels()
    lo, hi = sakoe_chiba_band(n, m, window)
    mode = _MODE_1D if a.values.shape[1] == 1 else _MODE_ND
    if a.has_nan or b.has_nan:
        mode = _MODE_NAN
    path = None
    if not return_path:
        total, length = kernels.dtw_cost_kernel(a.values, b.values_t, lo, hi, mode)
    else:
        directions = np.empty((n, m), dtype=np.int8)
        total, length = kernels.dtw_path_kernel(a.values, b.values_t, lo, hi, mode, directions)
        local = kernels.backtrack(directions, length)
        path = np.column_stack((a.frame_idx[local[:, 0]], b.frame_idx[local[:, 1]]))
    if total >= kernels.UNMATCHABLE_TOTAL:  # every path matches frames sharing no feature
        total = np.inf
    return DTWResult(
        float(total) / length, float(total), int(length), path, frames, missing, window
    )


def dtw(
    a: np.ndarray, b: np.ndarray, *, window: int | None = None, return_path: bool = False
) -> DTWResult:
    """Exact DTW of two sequences of frames (multivariate: Euclidean cost per frame).

    Parameters
    ----------
    a, b
        ``(n, n_features)`` and ``(m, n_features)`` (or ``(n,)``/``(m,)``; trailing axes are
        flattened per frame) real numbers; NaN marks missing features (see the module's rule).
        ``n`` and ``m`` may differ.
    window
        Sakoe–Chiba half-width in frames, or ``None`` for unconstrained DTW.
    return_path
        Also return the warping path (costs ``n·m`` bytes).

    Returns
    -------
    DTWResult

    Raises
    ------
    AnalysisError
        Different feature counts, an empty sequence, an infinite value or a bad window.
    """
    prep_a = prepare_sequence(a, "sequence a")
    prep_b = prepare_sequence(b, "sequence b")
    return _align(prep_a, prep_b, window, return_path)


def dtw_poses(
    a: np.ndarray,
    b: np.ndarray,
    *,
    variant: PoseVariant = "all",
    pairs: Sequence[tuple[int, int]] = (),
    window: int | None = None,
    return_path: bool = False,
) -> list[DTWResult]:
    """DTW of two pose sequences, in one of three variants.

    Parameters
    ----------
    a, b
        ``(n_frames, n_joints, n_space)`` positions (``n_space`` 2 or 3), NaN where a joint was
        not detected; frame counts may differ, joint and space counts must agree.
    variant
        ``"all"``: one alignment of every joint at once (a frame is the flattened
        ``n_joints × n_space`` vector); ``"per_joint"``: one alignment per joint on its own
        coordinates, each with its own path; ``"relation"``: one alignment per pair
        ``(i, j)`` of ``pairs`` on the displacement ``joint j − joint i``.
    pairs
        Joint index pairs for ``"relation"``.
    window, return_path
        As for :func:`dtw`.

    Returns
    -------
    list[DTWResult]
        One result for ``"all"``; ``n_joints`` for ``"per_joint"``; ``len(pairs)`` for
        ``"relation"``, in the order given. A joint never observed in one of the sequences
        gives a NaN distance for its own result only.

    Raises
    ------
    AnalysisError
        Shapes that are not poses or do not agree, an unknown variant, missing or invalid
        pairs.
    """
    pa = _check_pose(a, "sequence a")
    pb = _check_pose(b, "sequence b")
    if pa.shape[1:] != pb.shape[1:]:
        raise AnalysisError(
            f"DTW of poses: sequence a has {pa.shape[1]} joints × {pa.shape[2]} dimensions, "
            f"sequence b {pb.shape[1]} × {pb.shape[2]}; expected the same",
            hint="compare results of the same pose model (same keypoints)",
        )
    if variant == "all":
        return [dtw(pa, pb, window=window, return_path=return_path)]
    if variant == "per_joint":
        return [
            dtw(pa[:, k], pb[:, k], window=window, return_path=return_path)
            for k in range(pa.shape[1])
        ]
    if variant == "relation":
        if not pairs:
            raise AnalysisError(
                "DTW variant 'relation' needs joint pairs; found none",
                hint="pass pairs=[(i, j), ...] (CLI: --pair NAME_I,NAME_J)",
            )
        checked = [_check_pair(p, pa.shape[1]) for p in pairs]
        return [
            dtw(pa[:, j] - pa[:, i], pb[:, j] - pb[:, i], window=window, return_path=return_path)
            for i, j in checked
        ]
    raise AnalysisError(
        f"unknown DTW variant {variant!r}; expected one of 'all', 'per_joint', 'relation'"
    )


def _check_pose(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] not in (2, 3) or arr.shape[1] == 0:
        raise AnalysisError(
            f"{name}: expected poses of shape (n_frames, n_joints, 2 or 3), found {arr.shape}",
            hint="select one individual of (n_frames, n_individuals, n_joints, n_space) first",
        )
    if arr.shape[0] == 0:
        raise AnalysisError(f"{name} has no frames; expected at least one")
    return arr


def _check_pair(pair: tuple[int, int], n_joints: int) -> tuple[int, int]:
    i, j = (int(v) for v in pair)
    if not (0 <= i < n_joints and 0 <= j < n_joints) or i == j:
        raise AnalysisError(
            f"joint pair {pair!r}: expected two different joint indices in 0..{n_joints - 1}",
            hint="name two different joints of the pose model",
        )
    return i, j


def dtw_distance_matrix(
    sequences: Sequence[np.ndarray], *, window: int | None = None, n_threads: int | None = None
) -> np.ndarray:
    """Normalised DTW distance between every pair of sequences, on several threads.

    Every sequence is prepared once (NaN rule as :func:`dtw`) and packed into one array; the
    pairs then run in compiled code, without the GIL, on ``n_threads`` threads that take
    chunks of pairs as they finish (see :func:`_pair_costs`). Each entry equals
    :func:`dtw`'s distance exactly (the same kernel runs).

    Parameters
    ----------
    sequences
        ``k`` arrays of shape ``(n_i, n_features)`` (or ``(n_i,)``, or ``(n_i, ...)``
        flattened per frame; lengths may differ; NaN rule as :func:`dtw`).
    window
        Sakoe–Chiba half-width in frames, or ``None``.
    n_threads
        Threads running the kernel (>= 1); ``None`` uses every core this process may use.

    Returns
    -------
    np.ndarray
        ``(k, k) float64`` symmetric, zero on the diagonal: entries ``(i, j)`` and ``(j, i)``
        for ``i < j`` are ``dtw(sequences[i], sequences[j], window=window).distance``; NaN
        in the row and column of a sequence with no observed frame.

    Raises
    ------
    AnalysisError
        A sequence :func:`dtw` refuses, different feature counts, a bad window or thread count.
    """
    prepared = [prepare_sequence(s, f"sequence {k}") for k, s in enumerate(sequences)]
    n_features = sorted({int(p.values.shape[1]) for p in prepared})
    if len(n_features) > 1:
        raise AnalysisError(
            f"all-pairs DTW: the sequences have {n_features} features per frame; "
            "expected one count",
            hint="compare sequences of the same joints and dimensions",
        )
    return _distance_matrices([prepared], window, n_threads)[0]


def dtw_pose_distance_matrix(
    poses: Sequence[np.ndarray],
    *,
    variant: PoseVariant = "all",
    pairs: Sequence[tuple[int, int]] = (),
    window: int | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """All-pairs :func:`dtw_poses` distances of pose sequences, in one of its three variants.

    Parameters
    ----------
    poses
        ``k`` arrays ``(n_frames_i, n_joints, n_space)``: frame counts may differ, joint and
        space counts must agree; NaN where a joint was not detected.
    variant, pairs, window
        As for :func:`dtw_poses`.
    n_threads
        As for :func:`dtw_distance_matrix`; the pairs of every joint (or joint pair) share one
        pool of threads.

    Returns
    -------
    np.ndarray
        ``(n_results, k, k) float64``: ``n_results`` is 1 for ``"all"``, ``n_joints`` for
        ``"per_joint"``, ``len(pairs)`` for ``"relation"``; entry ``[r, i, j]`` (and
        ``[r, j, i]``) for ``i < j`` is ``dtw_poses(poses[i], poses[j], ...)[r].distance``;
        zero on each diagonal, NaN in the row and column of a sequence whose joint (or joint
        pair) is never observed.

    Raises
    ------
    AnalysisError
        As :func:`dtw_poses`, naming the sequence; a bad thread count.
    """
    checked = [_check_pose(p, f"pose sequence {k}") for k, p in enumerate(poses)]
    for k, pose in enumerate(checked[1:], start=1):
        if pose.shape[1:] != checked[0].shape[1:]:
            raise AnalysisError(
                f"all-pairs DTW of poses: pose sequence 0 has {checked[0].shape[1]} joints × "
                f"{checked[0].shape[2]} dimensions, pose sequence {k} {pose.shape[1]} × "
                f"{pose.shape[2]}; expected the same",
                hint="compare results of the same pose model (same keypoints)",
            )
    features: list[list[np.ndarray]]
    if variant == "all":
        features = [checked]
    elif variant == "per_joint":
        n_joints = checked[0].shape[1] if checked else 0
        features = [[pose[:, j] for pose in checked] for j in range(n_joints)]
    elif variant == "relation":
        if not pairs:
            raise AnalysisError(
                "DTW variant 'relation' needs joint pairs; found none",
                hint="pass pairs=[(i, j), ...] (CLI: --pair NAME_I,NAME_J)",
            )
        n_joints = checked[0].shape[1] if checked else max(max(p) for p in pairs) + 1
        joint_pairs = [_check_pair(p, n_joints) for p in pairs]
        features = [[pose[:, j] - pose[:, i] for pose in checked] for i, j in joint_pairs]
    else:
        raise AnalysisError(
            f"unknown DTW variant {variant!r}; expected one of 'all', 'per_joint', 'relation'"
        )
    groups = [
        [prepare_sequence(x, f"pose sequence {k}") for k, x in enumerate(group)]
        for group in features
    ]
    return _distance_matrices(groups, window, n_threads)


@dataclass(frozen=True, eq=False)
class _Packed:
    """Prepared sequences packed for :func:`_kernels.dtw_pairs_kernel` (see its arguments).

    Attributes
    ----------
    values, values_t
        ``(n_values,) float64``: each sequence's frames row-major, and transposed, at its offset.
    offsets, n_obs, n_features
        ``(n_sequences,) int64``.
    has_nan
        ``(n_sequences,) bool``.
    """

    values: np.ndarray
    values_t: np.ndarray
    offsets: np.ndarray
    n_obs: np.ndarray
    n_features: np.ndarray
    has_nan: np.ndarray


def _pack(prepared: Sequence[PreparedSequence]) -> _Packed:
    """One flat copy of every sequence (and its transpose), so the kernel needs no objects."""
    sizes = np.array([p.values.size for p in prepared], dtype=np.int64)
    offsets = np.zeros(len(prepared), dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    empty = np.empty(0, np.float64)
    return _Packed(
        values=np.concatenate([p.values.ravel() for p in prepared] or [empty]),
        values_t=np.concatenate([p.values_t.ravel() for p in prepared] or [empty]),
        offsets=offsets,
        n_obs=np.array([p.values.shape[0] for p in prepared], dtype=np.int64),
        n_features=np.array([p.values.shape[1] for p in prepared], dtype=np.int64),
        has_nan=np.array([p.has_nan for p in prepared], dtype=np.bool_),
    )


def _resolve_threads(n_threads: int | None) -> int:
    if n_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1:
        raise AnalysisError(
            f"all-pairs DTW: expected a whole number of threads >= 1, found {n_threads!r}",
            hint="pass n_threads=N with N >= 1 (CLI: --threads N), or None for every core",
        )
    return int(n_threads)


def _distance_matrices(
    groups: Sequence[Sequence[PreparedSequence]], window: int | None, n_threads: int | None
) -> np.ndarray:
    """``(n_groups, k, k)`` all-pairs distances within each group of ``k`` sequences."""
    _check_window(window)
    threads = _resolve_threads(n_threads)
    n_groups = len(groups)
    k = len(groups[0]) if groups else 0
    out = np.zeros((n_groups, k, k), dtype=np.float64)
    if k == 0:
        return out
    flat = [p for group in groups for p in group]
    packed = _pack(flat)
    observed = (packed.n_obs > 0).reshape(n_groups, k)
    # Every (group, i < j) pair in one list: the threads balance the work across groups too.
    iu, ju = np.triu_indices(k, 1)
    base = (np.arange(n_groups, dtype=np.int64) * k)[:, None]
    first = (base + iu).ravel()
    second = (base + ju).ravel()
    # A sequence with nothing observed has nothing to align (NaN), as in _align.
    both = (packed.n_obs[first] > 0) & (packed.n_obs[second] > 0)
    distances = np.full(first.shape[0], np.nan)
    if both.any():
        # Clipped to the longest sequence (the band is already full there): no int64 overflow.
        band = -1 if window is None else min(int(window), int(packed.n_obs.max()))
        total, length = _pair_costs(packed, first[both], second[both], band, threads)
        total[total >= _kernels().UNMATCHABLE_TOTAL] = np.inf  # as _align
        distances[both] = total / length  # as _align: float(total) / length
    g = np.repeat(np.arange(n_groups), iu.shape[0])
    out[g, np.tile(iu, n_groups), np.tile(ju, n_groups)] = distances
    out[g, np.tile(ju, n_groups), np.tile(iu, n_groups)] = distances
    unobserved_g, unobserved_i = np.nonzero(~observed)
    out[unobserved_g, unobserved_i, unobserved_i] = np.nan
    return out


# Chunks never go below this share of one thread's work: a few dozen kernel calls per matrix
# (~10 us of Python each), and the last chunk, which one thread may finish alone, is small.
_MIN_CHUNK_SHARE = 1 / 128


def _pair_costs(
    packed: _Packed, first: np.ndarray, second: np.ndarray, window: int, n_threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Total cost ``(n_pairs,) float64`` and path length ``(n_pairs,) int64`` of each pair.

    Why threads over one nogil kernel and not numba's ``prange``: the work is the same
    compiled loop either way, but ``prange`` splits the pairs statically by default (a thread
    slowed by another process on a shared machine holds everyone up), depends on which
    threading layer the machine has (``workqueue``, numba's fallback, aborts the process when
    two Python threads launch parallel kernels at once, as the daemon and the dashboard may;
    GNU OpenMP is not fork-safe, and process pools fork), and sets its thread count through
    numba's global state. Here each thread takes the next chunk of pairs from a shared cursor
    when it finishes one (guided self-scheduling: chunks shrink as the work runs out, largest
    pairs first), so the threads finish together; per chunk there is one kernel call, nothing
    per pair runs in Python.
    """
    kernels = _kernels()
    n_pairs = int(first.shape[0])
    total = np.empty(n_pairs, np.float64)
    length = np.empty(n_pairs, np.int64)
    args = (
        packed.values,
        packed.values_t,
        packed.offsets,
        packed.n_obs,
        packed.n_features,
        packed.has_nan,
    )
    n_threads = min(n_threads, n_pairs)
    if n_threads == 1:
        kernels.dtw_pairs_kernel(*args, first, second, window, total, length)
        return total, length
    # Work per pair: cells inside the band times features (the kernel's inner loop count).
    n = packed.n_obs[first].astype(np.float64)
    m = packed.n_obs[second].astype(np.float64)
    width = m if window < 0 else np.minimum(m, 2.0 * window + 1.0 + np.ceil(m / n))
    work = n * width * packed.n_features[first]
    order = np.argsort(-work, kind="stable")
    first_s, second_s = first[order], second[order]
    total_s = np.empty(n_pairs, np.float64)
    length_s = np.empty(n_pairs, np.int64)
    cumulative = np.cumsum(work[order])
    all_work = float(cumulative[-1])
    min_chunk = all_work * _MIN_CHUNK_SHARE / n_threads
    cursor = [0]
    lock = threading.Lock()

    def next_chunk() -> tuple[int, int] | None:
        with lock:
            start = cursor[0]
            if start >= n_pairs:
                return None
            done = float(cumulative[start - 1]) if start else 0.0
            target = done + max((all_work - done) / (2 * n_threads), min_chunk)
            end = int(np.searchsorted(cumulative, target, side="left")) + 1
            end = min(max(end, start + 1), n_pairs)
            cursor[0] = end
            return start, end

    def worker() -> None:
        while (chunk := next_chunk()) is not None:
            lo, hi = chunk
            # Slices are views: the kernel writes straight into total_s/length_s.
            kernels.dtw_pairs_kernel(
                *args,
                first_s[lo:hi],
                second_s[lo:hi],
                window,
                total_s[lo:hi],
                length_s[lo:hi],
            )

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = [pool.submit(worker) for _ in range(n_threads)]
        for future in futures:
            future.result()  # re-raises a worker's exception here
    total[order] = total_s
    length[order] = length_s
    return total, length
