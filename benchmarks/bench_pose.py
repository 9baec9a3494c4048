"""DeepLabCut ``.h5`` ingestion: ``read_pose`` into arrays vs per-frame Python dicts.

Workload: one hour of a 150 fps camera, 540,000 frames x 18 keypoints (x, y, likelihood),
written once with :func:`w2t_bkin.testing.pose.write_dlc_h5` (PyTables ``table`` format, key
``df_with_missing``, as DeepLabCut writes it; not timed).

Peer: the approach of the system we replace: read the table with ``pandas.read_hdf`` and build
one dict per frame, ``{"frame_index", "keypoints": {name: {"name", "x", "y", "confidence"}}}``,
omitting NaN keypoints. The peer is timed on the first ``PEER_FRAMES`` frames and extrapolated
linearly to the full file (its cost is per frame); the note says so.

Memory is the ``tracemalloc`` peak during the call (NumPy and pandas buffers; HDF5's own C
caches are not seen), compared with the bytes of the returned arrays.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from w2t_bkin.sources.pose import read_pose
from w2t_bkin.testing.pose import simulate_pose, write_dlc_h5

FRAMES = {"full": 540_000, "small": 20_000}
N_KEYPOINTS = 18
PEER_FRAMES = 20_000
GOAL_S = 5.0
GOAL_MEMORY_RATIO = 3.0


def per_frame_dicts(path: Path, n_frames: int) -> list[dict[str, Any]]:
    """The peer: per-frame dicts built from the DataFrame of the first ``n_frames`` rows."""
    frame = pd.read_hdf(path, "df_with_missing", start=0, stop=n_frames)
    assert isinstance(frame, pd.DataFrame)
    scorer = frame.columns.get_level_values("scorer")[0]
    bodyparts = list(dict.fromkeys(frame.columns.get_level_values("bodyparts")))
    frames: list[dict[str, Any]] = []
    for frame_index, (_, row) in enumerate(frame.iterrows()):
        keypoints = {}
        for name in bodyparts:
            x = row[(scorer, name, "x")]
            y = row[(scorer, name, "y")]
            likelihood = row[(scorer, name, "likelihood")]
            if np.isnan(x) or np.isnan(y) or np.isnan(likelihood):
                continue
            keypoints[name] = {
                "name": name,
                "x": float(x),
                "y": float(y),
                "confidence": float(likelihood),
            }
        frames.append({"frame_index": frame_index, "keypoints": keypoints})
    return frames


def _timed(func: Any, *args: Any) -> tuple[Any, float]:
    gc.collect()
    started = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - started


def _peak_mb(func: Any, *args: Any) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        result = func(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


def run(scale: str = "full") -> list[dict[str, Any]]:
    """Time and measure ``read_pose`` and the per-frame peer; return result rows."""
    n_frames = FRAMES[scale]
    positions, confidence, names = simulate_pose(n_frames, N_KEYPOINTS, seed=0, nan_fraction=0.01)
    with tempfile.TemporaryDirectory() as work:
        path = write_dlc_h5(Path(work) / "camDLC_resnet50_benchJan1shuffle1_1000.h5",
                            positions, confidence, names)  # fmt: skip
        size_mb = path.stat().st_size / 2**20

        pose, ours_s = _timed(read_pose, path)
        exact = np.array_equal(pose.positions, positions, equal_nan=True) and np.array_equal(
            pose.confidence, confidence, equal_nan=True
        )
        array_mb = (pose.positions.nbytes + pose.confidence.nbytes) / 2**20
        del pose
        ours_mb = _peak_mb(read_pose, path)

        peer_n = min(PEER_FRAMES, n_frames)
        _, peer_part_s = _timed(per_frame_dicts, path, peer_n)
        peer_part_mb = _peak_mb(per_frame_dicts, path, peer_n)
    scale_up = n_frames / peer_n
    peer_s = peer_part_s * scale_up
    peer_mb = peer_part_mb * scale_up
    extrapolated = (
        f"peer timed on {peer_n:,} frames and extrapolated x{scale_up:.0f}; "
        if scale_up > 1
        else ""
    )
    memory_ratio = ours_mb / array_mb
    peer_how = extrapolated.rstrip("; ") or "measured"
    workload = f"{n_frames:,} frames x {N_KEYPOINTS} keypoints, file {size_mb:.0f} MiB"
    return [
        {
            "name": f"pose: read DLC .h5 into arrays ({n_frames:,} x {N_KEYPOINTS})",
            "value": round(ours_s, 3),
            "unit": "s",
            "peer": "per-frame dicts from pandas.read_hdf (upstream)",
            "peer_value": round(peer_s, 2),
            "ratio": round(peer_s / ours_s, 1),
            "peak_mem_mb": round(ours_mb, 1),
            "note": f"{workload}; {extrapolated}goal < {GOAL_S:g} s: "
            f"{'met' if ours_s < GOAL_S else 'MISSED'}; arrays equal ground truth: {exact}",
        },
        {
            "name": "pose: peak memory / returned array bytes",
            "value": round(memory_ratio, 2),
            "unit": "x",
            "peer": "per-frame dicts (upstream)",
            "peer_value": round(peer_mb / array_mb, 1),
            "ratio": round(peer_mb / ours_mb, 1),
            "peak_mem_mb": round(ours_mb, 1),
            "note": f"arrays {array_mb:.0f} MiB; tracemalloc peaks, ours {ours_mb:.0f} MiB, peer "
            f"{peer_mb:.0f} MiB ({peer_how}); ratio = peer / ours; goal < "
            f"{GOAL_MEMORY_RATIO:g}x: {'met' if memory_ratio < GOAL_MEMORY_RATIO else 'MISSED'}",
        },
    ]


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "full"):
        print(row)
