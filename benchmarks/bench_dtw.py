"""Exact DTW against fastdtw (approximate, the upstream choice) and dtaidistance (exact, C).

Issue goal: exact distances at least as fast as dtaidistance 2.5.1's C DTW at N = 1,000 and
5,000 frames per sequence, 1-D and 17 joints × 3-D (51 features), and an all-pairs distance
matrix over 100 sequences that runs >= 1.8x faster on 2 threads than on 1.

What each side does
-------------------
- **ours**: :func:`w2t_bkin.analysis.dtw.dtw` (numba, two-row memory, path length tracked for
  the normalised distance); timed in this process after one warm-up call (the compiled code is
  loaded from numba's cache, not timed).
- **dtaidistance 2.5.1**: ``dtw.distance_fast`` (1-D) and ``dtw_ndim.distance_fast`` (51-D),
  its exact C DP, with ``inner_dist="euclidean"`` (the same cost as ours: the totals agree to
  rounding, checked) and with its default ``"squared euclidean"`` (the figure usually quoted).
- **fastdtw 0.3.4**: ``fastdtw(a, b, dist=scipy.spatial.distance.euclidean)``, radius 1, as the
  system we replace called it; its relative error against our exact total is reported.

Both peers are installed on first use into their own venv, ``benchmarks/.work/dtw-peers-venv``
(pip from the registry; pinned versions), and run in a child process of that venv on the same
``.npy`` inputs saved in ``benchmarks/.work/dtw`` (seeded noisy sinusoids with a random phase
and tempo: movement-like, and the case where fastdtw errs most). Times are the best of
``REPEAT`` calls, inputs loaded, imports excluded.

All pairs: :func:`w2t_bkin.analysis.dtw.dtw_distance_matrix` on 100 sequences of 17 × 3-D
(lengths 150–300 frames, "full": 200–400), ``n_threads=1`` then ``n_threads=2`` in the same run;
the two matrices must be identical. dtaidistance's ``dtw_ndim.distance_matrix_fast`` (OpenMP,
``parallel=True``) is timed on the same sequences as a peer.

Run ``python -m benchmarks.bench_dtw small`` (or ``full``) from the repository root.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._ceiling import parallel_ceiling

WORK = Path(__file__).resolve().parent / ".work"
DATA = WORK / "dtw"
PEER_REQUIREMENTS = ("dtaidistance==2.5.1", "fastdtw==0.3.4", "scipy", "numpy")
PEER_VENV = WORK / "dtw-peers-venv"
PEER_MARKER = PEER_VENV / "w2t-installed.txt"
PEER_LOG = WORK / "dtw-peers-install.log"
INSTALL_TIMEOUT_S = 1800.0

SIZES = {"small": (1000,), "full": (1000, 5000)}
FEATURES = (1, 51)
N_SEQUENCES = 100
LENGTHS = {"small": (150, 300), "full": (200, 400)}
REPEAT = 3
ROUNDS = 2

PEER_SCRIPT = r"""
import json, sys, time
import numpy as np
from dtaidistance import dtw, dtw_ndim
from fastdtw import fastdtw
from scipy.spatial.distance import euclidean

data, cases, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])

def best(fn):
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(value)

out = {}
for case in cases:
    a = np.load(f"{data}/{case}_a.npy")
    b = np.load(f"{data}/{case}_b.npy")
    if a.ndim == 1:
        dist = lambda inner: dtw.distance_fast(a, b, inner_dist=inner)
        fa, fb = a.reshape(-1, 1), b.reshape(-1, 1)
    else:
        dist = lambda inner: dtw_ndim.distance_fast(a, b, inner_dist=inner)
        fa, fb = a, b
    row = {}
    row["dtai_euclidean_s"], row["dtai_euclidean"] = best(lambda: dist("euclidean"))
    row["dtai_squared_s"], row["dtai_squared"] = best(lambda: dist("squared euclidean"))
    fast_repeat = 1 if a.shape[0] > 2000 else repeat
    times = []
    for _ in range(fast_repeat):
        t0 = time.perf_counter()
        total = fastdtw(fa, fb, dist=euclidean)[0]
        times.append(time.perf_counter() - t0)
    row["fastdtw_s"], row["fastdtw"] = min(times), float(total)
    out[case] = row
if len(sys.argv) > 4:
    seqs = [np.load(f"{data}/{sys.argv[4]}_{k}.npy") for k in range(int(sys.argv[5]))]
    t0 = time.perf_counter()
    dtw_ndim.distance_matrix_fast(seqs, parallel=True, inner_dist="euclidean")
    out["all_pairs_parallel_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def movement(n: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` or ``(n, n_features)`` float64: noisy sinusoids, random tempo and phase."""
    t = np.arange(n) / 30.0
    tempo = rng.uniform(0.4, 0.8, size=n_features)
    phase = rng.uniform(0, 2 * np.pi, size=n_features)
    x = np.sin(2 * np.pi * tempo * t[:, None] + phase) + rng.normal(0, 0.3, (n, n_features))
    return x[:, 0].copy() if n_features == 1 else x


def _last_log_line() -> str:
    try:
        lines = [ln.strip() for ln in PEER_LOG.read_text().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-160:] if lines else ""


def peer_python() -> tuple[Path | None, str]:
    """The peers' venv interpreter, installing it once; else None and the reason."""
    python = PEER_VENV / "bin" / "python"
    wanted = "\n".join(PEER_REQUIREMENTS)
    if python.exists() and PEER_MARKER.exists() and PEER_MARKER.read_text().strip() == wanted:
        return python, ""
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"installing {', '.join(PEER_REQUIREMENTS)} (log: {PEER_LOG})", file=sys.stderr)
    with PEER_LOG.open("w") as log:
        try:
            for command in (
                [sys.executable, "-m", "venv", "--clear", str(PEER_VENV)],
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    *PEER_REQUIREMENTS,
                ],
            ):
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=INSTALL_TIMEOUT_S,
                )
        except subprocess.CalledProcessError as exc:
            return None, f"{exc.cmd[2]} exited {exc.returncode} ({_last_log_line()})"
        except subprocess.TimeoutExpired:
            return None, f"install took over {INSTALL_TIMEOUT_S:.0f} s"
        except OSError as exc:
            return None, str(exc)
    PEER_MARKER.write_text(wanted + "\n")
    return python, ""


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def _timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and process CPU seconds of one call, and its value."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0, value


def run(scale: str = "small") -> list[dict[str, Any]]:
    from w2t_bkin.analysis.dtw import dtw, dtw_distance_matrix

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    cases: list[str] = []
    for n in SIZES[scale]:
        for n_features in FEATURES:
            case = f"n{n}_d{n_features}"
            np.save(DATA / f"{case}_a.npy", movement(n, n_features, rng))
            # b: the same kind of movement, 10 % shorter (unequal lengths, as real repetitions).
            np.save(DATA / f"{case}_b.npy", movement(int(n * 0.9), n_features, rng))
            cases.append(case)
    lo, hi = LENGTHS[scale]
    seqs = [movement(int(rng.integers(lo, hi + 1)), 51, rng) for _ in range(N_SEQUENCES)]
    for k, s in enumerate(seqs):
        np.save(DATA / f"pairs_{k}.npy", s)

    python, why = peer_python()
    # Two rounds, peers then ours, keeping each side's best: the machine is shared, and a
    # round that one side spends under someone else's load should not decide the ratio.
    peers: dict[str, Any] = {}
    ours: dict[str, tuple[float, Any]] = {}
    dtw(np.zeros(3), np.zeros(3))  # load the compiled kernels (numba cache) before timing
    dtw(np.zeros((3, 2)), np.zeros((3, 2)))
    for _ in range(ROUNDS):
        if python is not None:
            done = subprocess.run(
                [str(python), "-c", PEER_SCRIPT, str(DATA), json.dumps(cases), str(REPEAT)],
                capture_output=True,
                text=True,
                check=True,
            )
            for case, row in json.loads(done.stdout).items():
                old = peers.get(case)
                peers[case] = (
                    row
                    if old is None
                    else {k: min(v, old[k]) if k.endswith("_s") else v for k, v in row.items()}
                )
        for case in cases:
            a = np.load(DATA / f"{case}_a.npy")
            b = np.load(DATA / f"{case}_b.npy")
            t, result = _best(lambda a=a, b=b: dtw(a, b), REPEAT)
            if case not in ours or t < ours[case][0]:
                ours[case] = (t, result)

    rows: list[dict[str, Any]] = []
    for case in cases:
        a = np.load(DATA / f"{case}_a.npy", mmap_mode="r")
        b = np.load(DATA / f"{case}_b.npy", mmap_mode="r")
        ours_s, result = ours[case]
        label = f"exact DTW {a.shape[0]}x{b.shape[0]}, {1 if a.ndim == 1 else a.shape[1]}-D"
        peer = peers.get(case)
        if peer is None:
            rows.append(
                {
                    "name": label,
                    "value": round(ours_s * 1e3, 3),
                    "unit": "ms",
                    "note": f"peers not measured: {why}",
                }
            )
            continue
        agree = abs(peer["dtai_euclidean"] - result.total_cost) / result.total_cost
        fast_err = (peer["fastdtw"] - result.total_cost) / result.total_cost
        rows.append(
            {
                "name": label,
                "value": round(ours_s * 1e3, 3),
                "unit": "ms",
                "peer": "dtaidistance 2.5.1 C, inner_dist=euclidean",
                "peer_value": round(peer["dtai_euclidean_s"] * 1e3, 3),
                "ratio": round(peer["dtai_euclidean_s"] / ours_s, 2),
                "note": f"same total cost (rel. diff {agree:.1e}); goal ratio >= 1: "
                + ("met" if ours_s <= peer["dtai_euclidean_s"] else "NOT met"),
            }
        )
        rows.append(
            {
                "name": label,
                "value": round(ours_s * 1e3, 3),
                "unit": "ms",
                "peer": "dtaidistance 2.5.1 C, default squared euclidean",
                "peer_value": round(peer["dtai_squared_s"] * 1e3, 3),
                "ratio": round(peer["dtai_squared_s"] / ours_s, 2),
                "note": "goal ratio >= 1: "
                + ("met" if ours_s <= peer["dtai_squared_s"] else "NOT met"),
            }
        )
        rows.append(
            {
                "name": label,
                "value": round(ours_s * 1e3, 3),
                "unit": "ms",
                "peer": "fastdtw 0.3.4 (radius 1, scipy euclidean)",
                "peer_value": round(peer["fastdtw_s"] * 1e3, 3),
                "ratio": round(peer["fastdtw_s"] / ours_s, 2),
                "note": f"fastdtw total is {fast_err:+.1%} off the exact one",
            }
        )

    one_s, one_cpu_s, m1 = _timed(lambda: dtw_distance_matrix(seqs, n_threads=1))
    two_s, two_cpu_s, m2 = _timed(lambda: dtw_distance_matrix(seqs, n_threads=2))
    peer_pairs = None
    if python is not None:
        done = subprocess.run(
            [str(python), "-c", PEER_SCRIPT, str(DATA), "[]", "1", "pairs", str(N_SEQUENCES)],
            capture_output=True,
            text=True,
            check=True,
        )
        peer_pairs = json.loads(done.stdout).get("all_pairs_parallel_s")
    identical = bool(np.array_equal(m1, m2))
    rows.append(
        {
            "name": f"all-pairs DTW, {N_SEQUENCES} sequences of {lo}-{hi} frames x 51-D, 2 threads",
            "value": round(two_s, 3),
            "unit": "s",
            "peer": "same, 1 thread",
            "peer_value": round(one_s, 3),
            "ratio": round(one_s / two_s, 2),
            "note": f"matrices identical: {identical}; CPU/wall {one_cpu_s / one_s:.2f} "
            f"(1 thread), {two_cpu_s / two_s:.2f} (2 threads: 2.0 = both cores ours); "
            "goal ratio >= 1.8: "
            + ("met" if one_s / two_s >= 1.8 else "NOT met")
            + f"; this machine's ceiling for 2 CPU-bound processes: {parallel_ceiling(2):.2f}x",
        }
    )
    if peer_pairs is not None:
        rows.append(
            {
                "name": f"all-pairs DTW, {N_SEQUENCES} sequences x 51-D, 2 threads",
                "value": round(two_s, 3),
                "unit": "s",
                "peer": "dtaidistance distance_matrix_fast(parallel=True, euclidean)",
                "peer_value": round(peer_pairs, 3),
                "ratio": round(peer_pairs / two_s, 2),
                "note": "unnormalised totals on its side; same DP",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(json.dumps(row))
