"""Kinematics library against movement (neuroinformatics-unit), same input, same run.

Issue goal at full scale: velocity + speed + acceleration of 540,000 frames x 18 keypoints x
1 individual (one hour at 150 Hz) >= 2x faster than ``movement`` 0.15 with peak RSS <= 400 MB.

What each side does
-------------------
- **ours**: :func:`w2t_bkin.features.library.motion` (one pass: velocity, speed and
  acceleration, float32 results for float32 input, float64 arithmetic).
- **peer**: movement 0.15 (pinned, installed on first use into ``benchmarks/.work/movement-venv``;
  it cannot share the project venv: it would replace zarr 2 with zarr 3):
  ``load_poses.from_numpy`` with the real timestamps as the ``time`` coordinate, then
  ``compute_velocity``, ``compute_speed`` and ``compute_acceleration`` on ``ds.position``, the
  three calls a movement user makes.

Both read the same ``.npy`` input (float32 positions with 0.1% missing points; timestamps at
150 Hz with 0.1 ms jitter and 0.1% dropped frames), saved once in ``benchmarks/.work``. Each side
runs in its own child process and reports its compute time (wall and CPU, best of ``REPEAT``
runs, inputs already loaded, imports excluded) and its own peak RSS (``VmHWM``, see
``benchmarks/_memory.py``) measured before its results are saved. ``ROUNDS`` children per side
run alternately (ours, peer, ours, peer), so a change of machine load hits both sides; each
side's best is reported. The parent then checks that both sides' results agree.

A second row checks agreement with movement on a small shared input for the functions whose
definitions match (confidence filter, gap interpolation, Savitzky–Golay, rolling median, keypoint
distances, signed joint angle, heading, velocity/acceleration on irregular timestamps); the
package docstring of :mod:`w2t_bkin.features.library` says where definitions differ.

Run ``python -m benchmarks.bench_kinematics small`` from the repository root.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _memory

WORK = Path(__file__).resolve().parent / ".work"
SCALES = {"small": 54_000, "full": 540_000}
N_KEYPOINTS = 18
RATE_HZ = 150.0
REPEAT = 2  # timed runs per child
ROUNDS = 2  # children per side, alternating ours and peer so load changes hit both

MOVEMENT_REQUIREMENT = "movement==0.15.0"
MOVEMENT_VENV = WORK / "movement-venv"
MOVEMENT_LOG = WORK / "movement-install.log"
INSTALL_TIMEOUT_S = 1800.0

# Each child: clock and peak memory of its own (benchmarks/_memory.child_script).
OURS_SCRIPT = _memory.child_script(
    """
import numpy as np
from w2t_bkin.features.library import kinematics

positions = np.load(sys.argv[1])
t_s = np.load(sys.argv[2])
out = sys.argv[3]
best_s = best_cpu_s = float("inf")
result = None
for _ in range(int(sys.argv[4])):
    result = None  # free the previous results before computing again
    started, started_cpu = time.perf_counter(), time.process_time()
    result = kinematics(positions, t_s)
    best_s = min(best_s, time.perf_counter() - started)
    best_cpu_s = min(best_cpu_s, time.process_time() - started_cpu)
peak = peak_rss_mib()
np.save(out + "/ours_velocity.npy", result.velocity)
np.save(out + "/ours_speed.npy", result.speed)
np.save(out + "/ours_acceleration.npy", result.acceleration)
report({"compute_s": best_s, "cpu_s": best_cpu_s, "peak_rss_mib": peak,
        "dtype": str(result.speed.dtype)})
"""
)

PEER_SCRIPT = _memory.child_script(
    """
import numpy as np
from importlib.metadata import version
from movement.io import load_poses
from movement.kinematics import compute_acceleration, compute_speed, compute_velocity

positions = np.load(sys.argv[1])  # (frames, individuals, keypoints, space)
t_s = np.load(sys.argv[2])
out = sys.argv[3]
# movement's layout is (time, space, keypoints, individuals); real timestamps as coordinates
ds = load_poses.from_numpy(position_array=positions.transpose(0, 3, 2, 1), fps=None)
ds = ds.assign_coords(time=t_s)
position = ds.position
best_s = best_cpu_s = float("inf")
vel = spd = acc = None
for _ in range(int(sys.argv[4])):
    vel = spd = acc = None
    started, started_cpu = time.perf_counter(), time.process_time()
    vel = compute_velocity(position)
    spd = compute_speed(position)
    acc = compute_acceleration(position)
    best_s = min(best_s, time.perf_counter() - started)
    best_cpu_s = min(best_cpu_s, time.process_time() - started_cpu)
peak = peak_rss_mib()
order = ("time", "individuals", "keypoints", "space")
np.save(out + "/peer_velocity.npy", vel.transpose(*order).values)
np.save(out + "/peer_speed.npy", spd.transpose(*order[:3]).values)
np.save(out + "/peer_acceleration.npy", acc.transpose(*order).values)
report({"compute_s": best_s, "cpu_s": best_cpu_s, "peak_rss_mib": peak,
        "dtype": str(spd.dtype), "movement_version": version("movement")})
"""
)

# Run in the movement venv: movement's results on the small shared agreement input.
AGREE_SCRIPT = """
import json, sys
import numpy as np
from movement.filtering import filter_by_confidence, interpolate_over_time, rolling_filter
from movement.filtering import savgol_filter
from movement.io import load_poses
from movement.kinematics import compute_acceleration, compute_pairwise_distances, compute_velocity
from movement.utils.vector import cart2pol, compute_signed_angle_2d

data = np.load(sys.argv[1])
pos, conf, clean, t_s, t_irregular = (data[k] for k in ("pos", "conf", "clean", "t_s", "t_irr"))
layout = (0, 3, 2, 1)  # ours (time, ind, kp, space) -> movement (time, space, kp, ind)
def load(array, times):
    ds = load_poses.from_numpy(array.transpose(*layout), conf.transpose(0, 2, 1), fps=None)
    return ds.assign_coords(time=times)
def ours_order(da):
    dims = [d for d in ("time", "individuals", "keypoints", "space") if d in da.dims]
    return da.transpose(*dims).values
ds = load(pos, t_s)
results = {
    "confidence": ours_order(filter_by_confidence(ds.position, ds.confidence, threshold=0.5)),
    "interpolate": ours_order(interpolate_over_time(ds.position, max_gap=3)),
    "median": ours_order(rolling_filter(ds.position, window=5, statistic="median")),
}
clean_ds = load(clean, t_s)
results["savgol"] = ours_order(savgol_filter(clean_ds.position, window=7, polyorder=2))
irregular = load(clean, t_irregular)
results["velocity"] = ours_order(compute_velocity(irregular.position))
results["acceleration"] = ours_order(compute_acceleration(irregular.position))
names = list(clean_ds.keypoints.values)
dist = compute_pairwise_distances(clean_ds.position, dim="keypoints", pairs="all")
n_kp = len(names)
pairs = [(i, j) for i in range(n_kp) for j in range(i + 1, n_kp)]
per_pair = []
for i, j in pairs:
    block = dist[f"dist_{names[i]}_{names[j]}"].values  # (time, ind of kp i, ind of kp j)
    per_pair.append(np.diagonal(block, axis1=1, axis2=2))  # same individual
results["distances"] = np.stack(per_pair, axis=-1)
p = clean_ds.position
u = p.sel(keypoints=names[0]) - p.sel(keypoints=names[1])
v = p.sel(keypoints=names[2]) - p.sel(keypoints=names[1])
results["signed_angle"] = compute_signed_angle_2d(u, v).transpose("time", "individuals").values
axis = p.sel(keypoints=names[1]) - p.sel(keypoints=names[0])
results["heading"] = cart2pol(axis).sel(space_pol="phi").transpose("time", "individuals").values
np.savez(sys.argv[2], **results)
print(json.dumps({"ok": True}))
"""


def _timestamps(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """150 Hz frame times with 0.1% dropped frames and 0.1 ms jitter, strictly increasing."""
    dropped = rng.random(n_frames) < 0.001
    frame_number = np.arange(n_frames) + np.cumsum(dropped)
    t_s = frame_number / RATE_HZ + rng.normal(0.0, 1e-4, n_frames)
    if np.any(np.diff(t_s) <= 0):
        raise RuntimeError("generated timestamps are not strictly increasing")
    return t_s


def _ensure_input(scale: str) -> tuple[Path, Path]:
    """The shared input of ``scale`` as .npy files, generated once."""
    from w2t_bkin.testing.pose import simulate_pose

    positions_path = WORK / f"kinematics-{scale}-positions.npy"
    times_path = WORK / f"kinematics-{scale}-t_s.npy"
    if not (positions_path.exists() and times_path.exists()):
        WORK.mkdir(parents=True, exist_ok=True)
        n_frames = SCALES[scale]
        positions, _, _ = simulate_pose(n_frames, N_KEYPOINTS, seed=0, nan_fraction=0.001)
        np.save(positions_path, positions)
        np.save(times_path, _timestamps(n_frames, np.random.default_rng(1)))
    return positions_path, times_path


def _movement_python() -> tuple[Path | None, str]:
    """The movement venv's interpreter, installing it once; else None and the reason."""
    return _memory.peer_python(
        MOVEMENT_VENV, (MOVEMENT_REQUIREMENT,), MOVEMENT_LOG, INSTALL_TIMEOUT_S
    )


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of several child reports, with the highest peak RSS of all of them."""
    best = dict(min(runs, key=lambda r: float(r["compute_s"])))
    best["cpu_s"] = min(float(r["cpu_s"]) for r in runs)
    best["peak_rss_mib"] = max(float(r["peak_rss_mib"]) for r in runs)
    return best


def _max_difference(name: str, out: Path) -> float:
    """Largest |ours - peer| relative to the largest |peer| value; NaN masks must match."""
    ours = np.load(out / f"ours_{name}.npy", mmap_mode="r")
    peer = np.load(out / f"peer_{name}.npy", mmap_mode="r")
    if ours.shape != peer.shape:
        raise RuntimeError(f"{name}: shapes differ, ours {ours.shape} vs movement {peer.shape}")
    worst, scale = 0.0, 0.0
    for start in range(0, ours.shape[0], 1 << 16):
        a = np.asarray(ours[start : start + (1 << 16)], dtype=np.float64)
        b = np.asarray(peer[start : start + (1 << 16)], dtype=np.float64)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            raise RuntimeError(f"{name}: missing values differ from movement's")
        both = ~np.isnan(a)
        worst = max(worst, float(np.max(np.abs(a[both] - b[both]), initial=0.0)))
        scale = max(scale, float(np.max(np.abs(b[both]), initial=0.0)))
    return worst / scale if scale else worst


def _agreement_input() -> dict[str, np.ndarray]:
    """Small shared input: 2 animals x 5 keypoints, NaN gaps, scores, regular and jittered times."""
    from w2t_bkin.testing.pose import simulate_pose

    rng = np.random.default_rng(5)
    clean, conf, _ = simulate_pose(3000, 5, n_individuals=2, seed=4)
    clean = clean.astype(np.float64)
    pos = clean.copy()
    for start in rng.choice(2900, 40, replace=False):  # gaps of 1..6 frames
        pos[start : start + rng.integers(1, 7), rng.integers(2), rng.integers(5)] = np.nan
    conf = conf.astype(np.float64)
    conf[rng.random(conf.shape) < 0.01] = np.nan
    t_s = np.arange(3000) / 30.0
    t_irr = _timestamps(3000, rng)
    return {"pos": pos, "conf": conf, "clean": clean, "t_s": t_s, "t_irr": t_irr}


def _ours_agreement(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from w2t_bkin.features.library import (
        acceleration,
        heading,
        interpolate_gaps,
        joint_angles,
        mask_low_confidence,
        median_smooth,
        pairwise_distances,
        savgol_smooth,
        velocity,
    )

    pos, conf, clean, t_s, t_irr = (data[k] for k in ("pos", "conf", "clean", "t_s", "t_irr"))
    return {
        "confidence": mask_low_confidence(pos, conf, 0.5, keep_unscored=False),
        # movement's max_gap=3 NaNs = a gap of 4 frame intervals between valid neighbours
        "interpolate": interpolate_gaps(pos, t_s, max_gap_s=4.5 / 30.0),
        "median": median_smooth(pos, t_s, window_frames=5),
        "savgol": savgol_smooth(clean, t_s, window_frames=7, polyorder=2),
        "velocity": velocity(clean, t_irr),
        "acceleration": acceleration(clean, t_irr),
        "distances": pairwise_distances(clean),
        "signed_angle": joint_angles(clean, [(0, 1, 2)], signed=True)[..., 0],
        "heading": heading(clean, 0, 1),
    }


def _agreement_row(python: Path, version: str) -> dict[str, Any]:
    data = _agreement_input()
    source = WORK / "kinematics-agreement-input.npz"
    target = WORK / "kinematics-agreement-movement.npz"
    np.savez(source, **data)
    _memory.child_json(
        [str(python), "-c", AGREE_SCRIPT, str(source), str(target)], "movement agreement"
    )
    ours = _ours_agreement(data)
    differences: dict[str, float] = {}
    with np.load(target, allow_pickle=False) as peer:  # plain arrays only, never pickles
        for name, mine in ours.items():
            theirs = peer[name]
            if mine.shape != theirs.shape:
                raise RuntimeError(f"{name}: shape {mine.shape} vs movement {theirs.shape}")
            if not np.array_equal(np.isnan(mine), np.isnan(theirs)):
                raise RuntimeError(f"{name}: missing values differ from movement's")
            finite = ~np.isnan(mine)
            differences[name] = float(np.max(np.abs(mine[finite] - theirs[finite]), initial=0.0))
    worst = max(differences.values())
    details = ", ".join(f"{k} {v:.1e}" for k, v in differences.items())
    return {
        "name": "kinematics library agreement with movement (max abs difference)",
        "value": worst,
        "unit": "abs",
        "peer": f"movement {version}",
        "note": (
            f"3000 frames x 2 ind x 5 kp, NaN gaps; {details}; NaN masks identical; "
            "confidence with keep_unscored=False, interpolation max_gap_s = (max_gap + 1) dt"
        ),
    }


def run(scale: str = "full") -> list[dict[str, Any]]:
    positions_path, times_path = _ensure_input(scale)
    n_frames = SCALES[scale]
    out = WORK / f"kinematics-{scale}-results"
    out.mkdir(parents=True, exist_ok=True)
    inputs = [str(positions_path), str(times_path), str(out), str(REPEAT)]
    python, reason = _movement_python()
    ours_runs: list[dict[str, Any]] = []
    peer_runs: list[dict[str, Any]] = []
    for _ in range(ROUNDS):
        ours_runs.append(
            _memory.child_json([sys.executable, "-c", OURS_SCRIPT, *inputs], "w2t-bkin kinematics")
        )
        if python is not None:
            peer_runs.append(
                _memory.child_json([str(python), "-c", PEER_SCRIPT, *inputs], "movement kinematics")
            )
    ours = _best(ours_runs)
    workload = f"{n_frames:,} frames x {N_KEYPOINTS} kp x 1 ind"
    row: dict[str, Any] = {
        "name": f"velocity + speed + acceleration, {workload}",
        "value": ours["compute_s"],
        "unit": "s",
        "peak_mem_mb": ours["peak_rss_mib"],
    }
    goal = "goal at full scale: ratio >= 2, peak RSS <= 400 MB"
    timing = (
        f"compute time, best of {REPEAT} runs x {ROUNDS} alternating child processes per side, "
        "inputs loaded, imports excluded; peak RSS = VmHWM"
    )
    if python is None:
        row["note"] = f"peer movement not measured: {reason}; {timing}; {goal}"
        return [row]
    peer = _best(peer_runs)
    differences = {
        name: _max_difference(name, out) for name in ("velocity", "speed", "acceleration")
    }
    for result_file in out.glob("*.npy"):  # ~400 MB at full scale; the inputs stay cached
        result_file.unlink()
    version = peer["movement_version"]
    row.update(
        {
            "peer": f"movement {version}",
            "peer_value": peer["compute_s"],
            "ratio": peer["compute_s"] / ours["compute_s"],
            "note": (
                f"peer: compute_velocity + compute_speed + compute_acceleration on real "
                f"timestamps, peak {peer['peak_rss_mib']:.0f} MiB ({peer['dtype']} results; "
                f"ours {ours['dtype']}); CPU time ours {ours['cpu_s']:.3g} s, peer "
                f"{peer['cpu_s']:.3g} s (ratio {peer['cpu_s'] / ours['cpu_s']:.3g}); "
                "max relative difference "
                + ", ".join(f"{k} {v:.1e}" for k, v in differences.items())
                + f"; {timing}; {goal}"
            ),
        }
    )
    (WORK / f"bench_kinematics-{scale}.json").write_text(
        json.dumps({"ours": ours, "peer": peer, "differences": differences}, indent=1)
    )
    return [row, _agreement_row(python, version)]


if __name__ == "__main__":
    scale_arg = sys.argv[1] if len(sys.argv) > 1 else "full"
    for result_row in run(scale_arg):
        print(json.dumps(result_row, indent=1))
