"""Compiled kernels of exact DTW (numba; imported only by :mod:`w2t_bkin.analysis.dtw`).

Every kernel is ``nogil`` so that threads run pairs truly in parallel, and ``cache=True`` so that
a second process loads the machine code from ``__pycache__`` instead of compiling it again.
Loops run over slices that start at index 0: numba then knows the index is not negative, skips
its wrap-around check and lets LLVM vectorise the cost rows (several times faster on 51-D
frames than indexing the full arrays).
No ``fastmath``: each cost is summed in feature order, exactly as the Python reference does, so
the two agree to the last bit and ties between predecessors break the same way.
"""

from __future__ import annotations

import numba
import numpy as np

UNMATCHABLE_COST = 1e250
"""Cost of matching two frames that share no finite feature. Finite, so that a path through
such a pair still beats the virtual cells outside the matrix (which stay ``inf``) and paths are
the reference's; large enough that any path holding one exceeds :data:`UNMATCHABLE_TOTAL`
(``dtw.py`` then reports ``inf``), yet ~1e6 of them cannot overflow."""

UNMATCHABLE_TOTAL = 1e249
"""Totals at or above this hold an unmatchable pair: reported as ``inf``."""

# Direction codes of the path matrix: which predecessor a cell took.
DIAG, UP, LEFT, START = 0, 1, 2, 3


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _cost_row_1d(a_i: float, b: np.ndarray, d: np.ndarray) -> None:  # pragma: no cover - jit
    for j in range(d.shape[0]):
        d[j] = abs(a_i - b[j])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _cost_row_nd(
    a_i: np.ndarray, bT: np.ndarray, lo: int, hi: int, d: np.ndarray
) -> None:  # pragma: no cover
    # bT is sliced one feature row at a time: a 1-D slice of a C-contiguous row stays
    # contiguous for numba (a 2-D column slice would not, and would not vectorise).
    w = d.shape[0]
    for j in range(w):
        d[j] = 0.0
    for k in range(a_i.shape[0]):
        a_ik = a_i[k]
        b_k = bT[k, lo : hi + 1]
        for j in range(w):
            t = a_ik - b_k[j]
            d[j] += t * t
    for j in range(w):
        d[j] = np.sqrt(d[j])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _cost_row_nan(
    a_i: np.ndarray, bT: np.ndarray, lo: int, hi: int, d: np.ndarray, shared: np.ndarray
) -> None:  # pragma: no cover
    # NaN-Euclidean: squared differences over the features finite in both frames, scaled by
    # n_features / n_shared; a pair of frames sharing no feature cannot be matched
    # (UNMATCHABLE_COST: paths avoid it when they can, and a total holding one is inf).
    w = d.shape[0]
    n_features = a_i.shape[0]
    for j in range(w):
        d[j] = 0.0
        shared[j] = 0.0
    for k in range(n_features):
        a_ik = a_i[k]
        if np.isnan(a_ik):
            continue
        b_k = bT[k, lo : hi + 1]
        for j in range(w):
            t = a_ik - b_k[j]
            if not np.isnan(t):
                d[j] += t * t
                shared[j] += 1.0
    for j in range(w):
        if shared[j] == 0.0:
            d[j] = UNMATCHABLE_COST
        else:
            d[j] = np.sqrt(d[j] * (n_features / shared[j]))


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _fill_costs(
    a: np.ndarray,
    bT: np.ndarray,
    i: int,
    lo: int,
    hi: int,
    mode: int,
    d: np.ndarray,
    shared: np.ndarray,
) -> None:  # pragma: no cover
    if mode == 0:
        _cost_row_1d(a[i, 0], bT[0, lo : hi + 1], d[lo : hi + 1])
    elif mode == 1:
        _cost_row_nd(a[i], bT, lo, hi, d[lo : hi + 1])
    else:
        _cost_row_nan(a[i], bT, lo, hi, d[lo : hi + 1], shared[lo : hi + 1])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def dtw_path_kernel(
    a: np.ndarray,
    bT: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    mode: int,
    directions: np.ndarray,
) -> tuple[float, int]:  # pragma: no cover - jit
    """Accumulated cost and length of the optimal path, and each cell's predecessor.

    ``a`` ``(n, n_features) float64``; ``bT`` ``(n_features, m) float64`` (``b`` transposed so
    that one feature of every frame of ``b`` is contiguous); ``lo``/``hi`` ``(n,) int64``: the
    columns row ``i`` may use (non-decreasing, connected); ``mode`` 0 = 1-D, 1 = n-D, 2 = n-D
    with NaN; ``directions`` ``(n, m) int8`` receives each in-band cell's predecessor.
    Predecessor ties go to the diagonal, then up ``(i-1, j)``, then left ``(i, j-1)``.
    """
    n = a.shape[0]
    m = bT.shape[1]
    # Row buffers carry one sentinel slot in front: slot j + 1 holds column j.
    prev = np.full(m + 1, np.inf)
    cur = np.full(m + 1, np.inf)
    prev_len = np.zeros(m + 1)
    cur_len = np.zeros(m + 1)
    prev[0] = 0.0  # the virtual row -1 at column -1: the path starts at (0, 0)
    d = np.empty(m)
    shared = np.empty(m)
    for i in range(n):
        l_i = lo[i]
        h_i = hi[i]
        _fill_costs(a, bT, i, l_i, h_i, mode, d, shared)
        cur[l_i] = np.inf
        dd = d[l_i : h_i + 1]
        c = cur[l_i : h_i + 2]
        c_len = cur_len[l_i : h_i + 2]
        p = prev[l_i : h_i + 2]
        p_len = prev_len[l_i : h_i + 2]
        row = directions[i, l_i : h_i + 1]
        left = np.inf
        left_len = 0.0
        for jj in range(dd.shape[0]):
            diag = p[jj]
            up = p[jj + 1]
            best = min(diag, min(up, left))
            if diag == best:
                step_len = p_len[jj]
                row[jj] = DIAG
            elif up == best:
                step_len = p_len[jj + 1]
                row[jj] = UP
            else:
                step_len = left_len
                row[jj] = LEFT
            left = best + dd[jj]
            left_len = step_len + 1.0
            c[jj + 1] = left
            c_len[jj + 1] = left_len
        # The buffer now becomes the row above; the one above becomes the next row, whose
        # slots right of this band still hold inf (bands only move right).
        prev, cur = cur, prev
        prev_len, cur_len = cur_len, prev_len
    directions[0, 0] = START
    return float(prev[m]), int(prev_len[m])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def backtrack(directions: np.ndarray, path_length: int) -> np.ndarray:  # pragma: no cover
    """The path ``(path_length, 2) int64`` of ``(i, j)`` pairs from ``(0, 0)`` to the end."""
    n, m = directions.shape
    path = np.empty((path_length, 2), dtype=np.int64)
    i = n - 1
    j = m - 1
    k = path_length - 1
    while k >= 0:
        path[k, 0] = i
        path[k, 1] = j
        step = directions[i, j]
        if step == DIAG:
            i -= 1
            j -= 1
        elif step == UP:
            i -= 1
        elif step == LEFT:
            j -= 1
        k -= 1
    return path


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _dp_row(
    p: np.ndarray,
    p_len: np.ndarray,
    d: np.ndarray,
    c: np.ndarray,
    c_len: np.ndarray,
) -> None:  # pragma: no cover - jit
    # One row over its columns: p/p_len/c/c_len hold one more slot (column - 1) in front.
    # The cell update is written out here and twice in _dp_two_rows on purpose: moving it into
    # a shared @njit helper returning (cost, length) gives the same bits but measured ~25 %
    # slower on 1-D series (1000 x 900: 2.58 -> 3.26 ms; 2000 x 1800: 19.0 -> 26.6 ms, best
    # of 61/21 interleaved runs; with inline="always" too), so the three copies stay in step
    # by hand: keep them identical (test_dtw's exactness tests compare with the path kernel).
    left = np.inf
    left_len = 0.0
    for jj in range(d.shape[0]):
        # Compare-and-select (no branches): the same tie order as the path kernel.
        diag = p[jj]
        up = p[jj + 1]
        diag_wins = diag <= up
        best = diag if diag_wins else up
        step_len = p_len[jj] if diag_wins else p_len[jj + 1]
        if not best <= left:
            best = left
            step_len = left_len
        left = best + d[jj]
        left_len = step_len + 1.0
        c[jj + 1] = left
        c_len[jj + 1] = left_len


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _dp_two_rows(
    p: np.ndarray,
    p_len: np.ndarray,
    d0: np.ndarray,
    d1: np.ndarray,
    c1: np.ndarray,
    c1_len: np.ndarray,
) -> None:  # pragma: no cover - jit
    # Two rows in one sweep: cell (r + 1, j) needs (r, j - 1) and (r, j), both just computed,
    # so the two dependency chains (left neighbours) overlap in the CPU: ~2x on 1-D series.
    # Row r lives in registers only; row r + 1 is stored for the next sweep.
    left0 = np.inf
    left0_len = 0.0
    left1 = np.inf
    left1_len = 0.0
    diag1 = np.inf
    diag1_len = 0.0
    for jj in range(d0.shape[0]):
        diag = p[jj]
        up = p[jj + 1]
        diag_wins = diag <= up
        best = diag if diag_wins else up
        step_len = p_len[jj] if diag_wins else p_len[jj + 1]
        if not best <= left0:
            best = left0
            step_len = left0_len
        left0 = best + d0[jj]
        left0_len = step_len + 1.0
        diag_wins = diag1 <= left0
        best = diag1 if diag_wins else left0
        step_len = diag1_len if diag_wins else left0_len
        if not best <= left1:
            best = left1
            step_len = left1_len
        left1 = best + d1[jj]
        left1_len = step_len + 1.0
        c1[jj + 1] = left1
        c1_len[jj + 1] = left1_len
        diag1 = left0
        diag1_len = left0_len


@numba.njit(nogil=True, cache=True, error_model="numpy")
def dtw_cost_kernel(
    a: np.ndarray, bT: np.ndarray, lo: np.ndarray, hi: np.ndarray, mode: int
) -> tuple[float, int]:  # pragma: no cover - jit
    """Accumulated cost and length of the optimal path, in O(m) memory (no path).

    Arguments as :func:`dtw_path_kernel`. Rows are swept two at a time over the union of their
    bands; a cell outside its own row's band costs ``inf``, so it never lies on a path. The
    comparisons are those of :func:`dtw_path_kernel`, so both return the same cost and length.
    """
    n = a.shape[0]
    m = bT.shape[1]
    # Row buffers (the row above, the row below the pair, a last odd row), each with a
    # sentinel slot in front (slot j + 1 holds column j), all inf but the virtual row -1 at
    # column -1, which starts the path at (0, 0).
    prev = np.full(m + 1, np.inf)
    row0 = np.full(m + 1, np.inf)
    row1 = np.full(m + 1, np.inf)
    prev_len = np.zeros(m + 1)
    row0_len = np.zeros(m + 1)
    row1_len = np.zeros(m + 1)
    prev[0] = 0.0
    d0 = np.full(m, np.inf)
    d1 = np.full(m, np.inf)
    shared = np.empty(m)
    i = 0
    while i + 1 < n:
        l0 = lo[i]
        h1 = hi[i + 1]
        d0[l0 : h1 + 1] = np.inf
        d1[l0 : h1 + 1] = np.inf
        _fill_costs(a, bT, i, lo[i], hi[i], mode, d0, shared)
        _fill_costs(a, bT, i + 1, lo[i + 1], h1, mode, d1, shared)
        row1[l0] = np.inf
        _dp_two_rows(
            prev[l0 : h1 + 2],
            prev_len[l0 : h1 + 2],
            d0[l0 : h1 + 1],
            d1[l0 : h1 + 1],
            row1[l0 : h1 + 2],
            row1_len[l0 : h1 + 2],
        )
        # Row i + 1 is the next row above; the old "above" buffer is free (its stale slots
        # lie left of this band, where no later row reads).
        prev, row1 = row1, prev
        prev_len, row1_len = row1_len, prev_len
        i += 2
    if i < n:
        l0 = lo[i]
        h0 = hi[i]
        _fill_costs(a, bT, i, l0, h0, mode, d0, shared)
        row0[l0] = np.inf
        _dp_row(
            prev[l0 : h0 + 2],
            prev_len[l0 : h0 + 2],
            d0[l0 : h0 + 1],
            row0[l0 : h0 + 2],
            row0_len[l0 : h0 + 2],
        )
        prev, row0 = row0, prev
        prev_len, row0_len = row0_len, prev_len
    return float(prev[m]), int(prev_len[m])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def band_kernel(
    n: int, m: int, window: int, lo: np.ndarray, hi: np.ndarray
) -> None:  # pragma: no cover
    """Fill ``lo``/``hi`` ``(n,) int64`` with :func:`~w2t_bkin.analysis.dtw.sakoe_chiba_band`.

    ``window < 0`` means no band. The same integer arithmetic as the NumPy version (Python's
    floor division, which numba keeps for integers), so both give the same columns; the caller
    clips ``window`` to the longest sequence so that no product overflows int64.
    """
    if window < 0 or n == 1:
        for i in range(n):
            lo[i] = 0
            hi[i] = m - 1
        return
    for i in range(n):
        num_lo = i * (m - 1) - window * (n - 1)
        num_hi = i * (m - 1) + window * (n - 1)
        lo_i = min(max(-((-num_lo) // (n - 1)), 0), m - 1)
        hi_i = min(max(num_hi // (n - 1), 0), m - 1)
        lo[i] = lo_i
        hi[i] = max(hi_i, lo_i)
    # Every row reachable from the one above (hi is final by now, as in the NumPy version).
    for i in range(n - 1, 0, -1):
        lo[i] = min(lo[i], hi[i - 1] + 1)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def dtw_pairs_kernel(
    values: np.ndarray,
    values_t: np.ndarray,
    offsets: np.ndarray,
    n_obs: np.ndarray,
    n_features: np.ndarray,
    has_nan: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    window: int,
    total: np.ndarray,
    length: np.ndarray,
) -> None:  # pragma: no cover - jit
    """Cost and path length of many pairs of packed sequences, without the GIL.

    Parameters
    ----------
    values, values_t
        ``(n_values,) float64``: every prepared sequence ``s`` packed one after the other,
        ``values[offsets[s]:offsets[s] + n_obs[s] * n_features[s]]`` its
        ``(n_obs[s], n_features[s])`` frames row-major, ``values_t`` the same slot holding the
        ``(n_features[s], n_obs[s])`` transpose.
    offsets, n_obs, n_features
        ``(n_sequences,) int64``; every ``n_obs`` at least 1.
    has_nan
        ``(n_sequences,) bool``: a kept frame still has a NaN feature.
    first, second
        ``(n_pairs,) int64``: the pairs ``(first[p], second[p])`` to align (same feature count).
    window
        Sakoe–Chiba half-width, ``-1`` for none.
    total, length
        ``(n_pairs,) float64`` and ``(n_pairs,) int64``, filled with what
        :func:`dtw_cost_kernel` returns for each pair (the same code runs: same bits).
    """
    for p in range(first.shape[0]):
        s = first[p]
        t = second[p]
        n = n_obs[s]
        m = n_obs[t]
        n_feat = n_features[s]
        a = values[offsets[s] : offsets[s] + n * n_feat].reshape((n, n_feat))
        bT = values_t[offsets[t] : offsets[t] + m * n_feat].reshape((n_feat, m))
        lo = np.empty(n, np.int64)
        hi = np.empty(n, np.int64)
        band_kernel(n, m, window, lo, hi)
        mode = 0 if n_feat == 1 else 1
        if has_nan[s] or has_nan[t]:
            mode = 2
        total[p], length[p] = dtw_cost_kernel(a, bT, lo, hi, mode)
