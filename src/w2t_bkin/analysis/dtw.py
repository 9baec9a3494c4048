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
  (the "NaN-Euclidean" distance). Two frames that share no finite feature cannot be matched
  (infinite cost); if no path avoids such pairs the distance is ``inf``.
- A sequence with no observed frame at all has nothing to align: the result's distance is NaN
  and its path empty (:attr:`DTWResult.aligned` is false). Nothing raises for missing data.
- ``±inf`` is not a missing value but corrupt input and raises :class:`AnalysisError`.
"""

from __future__ import annotations

import os
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

    Parameters
    ----------
    sequences
        ``k`` arrays of shape ``(n_i, n_features)`` (lengths may differ; NaN rule as
        :func:`dtw`).
    window
        Sakoe–Chiba half-width in frames, or ``None``.
    n_threads
        Threads running the (GIL-free) kernel; ``None`` uses every core this process may use.

    Returns
    -------
    np.ndarray
        ``(k, k) float64`` symmetric, zero on the diagonal; NaN for pairs where a sequence has
        no observed frame.
    """
    prepared = [prepare_sequence(s, f"sequence {k}") for k, s in enumerate(sequences)]
    n_features = {int(p.values.shape[1]) for p in prepared}
    if len(n_features) > 1:
        raise AnalysisError(
            f"all-pairs DTW: the sequences have {sorted(n_features)} features per frame; "
            "expected one count"
        )
    k = len(prepared)
    out = np.zeros((k, k), dtype=np.float64)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    if not pairs:
        return out
    _kernels()  # import (and load the compiled code) once, before the threads start
    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    n_threads = max(1, min(int(n_threads), len(pairs)))

    def run(chunk: list[tuple[int, int]]) -> list[float]:
        return [_align(prepared[i], prepared[j], window, False).distance for i, j in chunk]

    # Interleaved chunks: pairs of long and short sequences spread evenly over the threads.
    chunks = [pairs[t::n_threads] for t in range(n_threads)]
    if n_threads == 1:
        results = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            results = list(pool.map(run, chunks))
    for chunk, values in zip(chunks, results, strict=True):
        for (i, j), value in zip(chunk, values, strict=True):
            out[i, j] = out[j, i] = value
    for i, p in enumerate(prepared):
        if p.values.shape[0] == 0:
            out[i, i] = np.nan
    return out
