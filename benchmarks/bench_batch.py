"""Batch benchmarks: an all-cached rerun, and workers vs one process.

* All-cached rerun of a 20-session workspace: wall time of the whole ``w2t-bkin run`` process
  (interpreter start and imports included), measured as a child process; goal <= 1.5 s. The peer
  is the first (processing) run of the same workspace.
* A CPU-bound batch of 8 sessions with 2 workers against 1 (the in-process executor), for the
  local process pool and a Dask ``LocalCluster``; goal: speed-up >= 1.7x on 2 cores. After an
  untimed warm-up run (workspace caches filled), three rounds alternate the variants; medians
  are reported. One session in process validates its file in a helper process on the second
  CPU (``execution.helper_process``); 2 workers on 2 CPUs do not. Both baselines are reported:
  1 process with its helper (the default) and without (one CPU per session, as the workers).
  Peak memory is the largest resident set of the coordinating process and its children.
* Long sessions: 8 sessions of 10 min at 150 Hz, where per-session work fills the batch: 2
  workers (local pool and Dask) against 1 pinned to one CPU, and against ``--jobs 1`` free to
  use both CPUs; the Dask row also against a 1-worker ``LocalCluster``.
* Dask overhead per session: the 8-session batch on a 1-worker ``LocalCluster`` against the
  in-process executor without its helper process (a Dask worker has none), per session.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._ceiling import parallel_ceiling
from w2t_bkin.testing import ExperimentSpec, write_experiment

WORK = Path(__file__).resolve().parent / ".work"
ROUNDS = 3


def _workspace(name: str, spec: ExperimentSpec) -> Path:
    """A fresh workspace ``WORK/name`` generated from ``spec``."""
    root = WORK / name
    if root.exists():
        shutil.rmtree(root)
    write_experiment(root, spec)
    return root


def _short_sessions(n_sessions: int, duration_s: float) -> ExperimentSpec:
    return ExperimentSpec(n_sessions=n_sessions, duration_s=duration_s, rate_hz=30.0, seed=1)


def _run_cli(root: Path, *args: str, cpu: int | None = None) -> tuple[float, float]:
    """Wall time (s) of ``w2t-bkin run ROOT ARGS`` as a child process, and its peak RSS (MB).

    With ``cpu`` the child (and every process it starts) may run on that one CPU only.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", "run", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
    )
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"w2t-bkin run {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall_s, peak_mb


def run(scale: str = "full") -> list[dict[str, Any]]:
    n_cached = 20 if scale == "full" else 6
    n_batch = 8 if scale == "full" else 4
    duration_s = 20.0 if scale == "full" else 6.0
    rows: list[dict[str, Any]] = []

    root = _workspace(f"batch-cached-{scale}", _short_sessions(n_cached, 2.0))
    first_s, _ = _run_cli(root)
    cached_s, cached_peak = _run_cli(root)
    rows.append(
        {
            "name": f"all-cached rerun, {n_cached} sessions (whole `w2t-bkin run` process)",
            "value": round(cached_s, 3),
            "unit": "s",
            "peer": "first run of the same workspace",
            "peer_value": round(first_s, 2),
            "ratio": round(first_s / cached_s, 1),
            "peak_mem_mb": round(cached_peak, 1),
            "note": f"goal <= 1.5 s: {'met' if cached_s <= 1.5 else 'NOT met'}",
        }
    )

    root = _workspace(f"batch-speedup-{scale}", _short_sessions(n_batch, duration_s))
    ceiling = parallel_ceiling(2)
    # One untimed run fills the workspace caches (input digests, video probes) that every later
    # --force run reuses: without it the first timed run alone would pay for them.
    _run_cli(root, "--force")
    no_helper = WORK / f"batch-speedup-{scale}.no-helper.toml"
    no_helper.write_text(
        (root / "configuration.toml")
        .read_text()
        .replace("helper_process = true", "helper_process = false")
    )
    times: dict[str, list[float]] = {
        "serial": [],
        "one-cpu": [],
        "local": [],
        "dask": [],
        "dask-1": [],
    }
    peaks: dict[str, float] = {}
    for _ in range(ROUNDS):  # alternating, so a slow spell of the machine hits every variant
        for variant, args in (
            ("serial", ()),
            ("one-cpu", ("--config", str(no_helper))),
            ("local", ("--jobs", "2", "--executor", "local")),
            ("dask", ("--jobs", "2", "--executor", "dask")),
            ("dask-1", ("--jobs", "1", "--executor", "dask")),
        ):
            wall_s, peak = _run_cli(root, "--force", *args)
            times[variant].append(wall_s)
            peaks[variant] = max(peaks.get(variant, 0.0), peak)
    serial_s = statistics.median(times["serial"])
    one_cpu_s = statistics.median(times["one-cpu"])
    for executor in ("local", "dask"):
        two_s = statistics.median(times[executor])
        ratios = [one / two for one, two in zip(times["serial"], times[executor], strict=True)]
        ratios_one_cpu = [
            one / two for one, two in zip(times["one-cpu"], times[executor], strict=True)
        ]
        rows.append(
            {
                "name": f"{n_batch}-session batch, 2 workers ({executor}) vs 1 (in process)",
                "value": round(two_s, 2),
                "unit": "s",
                "peer": "--jobs 1",
                "peer_value": round(serial_s, 2),
                "ratio": round(serial_s / two_s, 2),
                "peak_mem_mb": round(max(peaks[executor], peaks["serial"]), 1),
                "note": f"goal speed-up >= 1.7x: {'met' if serial_s / two_s >= 1.7 else 'NOT met'}"
                f"; medians of {ROUNDS} alternating rounds after a warm-up run, per-round "
                f"speed-ups {', '.join(f'{r:.2f}x' for r in ratios)}; against --jobs 1 without "
                f"its helper process ({one_cpu_s:.2f} s, one CPU per session as the workers): "
                f"{one_cpu_s / two_s:.2f}x (rounds "
                f"{', '.join(f'{r:.2f}x' for r in ratios_one_cpu)}); {duration_s:g} s sessions "
                f"at 30 Hz; this machine's ceiling for 2 CPU-bound processes: {ceiling:.2f}x",
            }
        )
    rows += _long_sessions(scale, ceiling)
    one_s, peak = statistics.median(times["dask-1"]), peaks["dask-1"]
    rows.append(
        {
            "name": "Dask overhead per session (1-worker LocalCluster vs in process)",
            # against --jobs 1 without its helper process: a Dask worker has none either
            "value": round((one_s - one_cpu_s) / n_batch, 3),
            "unit": "s",
            "peer": "--jobs 1 in process, helper_process = false",
            "peer_value": round(one_cpu_s / n_batch, 2),
            "ratio": "",
            "peak_mem_mb": round(peak, 1),
            "note": f"{n_batch} sessions; includes starting the cluster once; medians of "
            f"{ROUNDS} alternating rounds ({', '.join(f'{t:.2f}' for t in times['dask-1'])} s "
            f"against {', '.join(f'{t:.2f}' for t in times['one-cpu'])} s)",
        }
    )
    return rows


def _machine_cpu_s() -> float:
    """CPU-seconds every CPU of this machine has been busy since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def _long_sessions(scale: str, ceiling: float) -> list[dict[str, Any]]:
    """8 sessions long enough that per-session work, not start-up, fills the batch: 2 workers
    on 2 CPUs against 1 on one CPU (pinned: no helper process, no second CPU for its threads)
    and against --jobs 1 free to use both CPUs, as it does (its validation runs in a helper
    process beside the QC drawing)."""
    n_batch, duration_s = (8, 600.0) if scale == "full" else (4, 60.0)
    spec = ExperimentSpec(
        n_sessions=n_batch,
        duration_s=duration_s,
        rate_hz=150.0,
        n_keypoints=18,
        width=32,
        height=32,
        jitter_s=1e-4,
        seed=1,
    )
    root = _workspace(f"batch-long-{scale}", spec)
    _run_cli(root, "--force")  # fills the workspace caches, as above
    one_cpu = min(os.sched_getaffinity(0))
    variants: dict[str, tuple[tuple[str, ...], int | None]] = {
        "one-cpu": (("--jobs", "1"), one_cpu),
        "serial": (("--jobs", "1"), None),
        "local": (("--jobs", "2", "--executor", "local"), None),
        "dask": (("--jobs", "2", "--executor", "dask"), None),
        # the same cluster kind with one worker (no helper process: a Dask worker has none)
        "dask-1": (("--jobs", "1", "--executor", "dask"), None),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    peak_mb = 0.0
    for _ in range(ROUNDS):
        for name, (args, cpu) in variants.items():
            busy_s = _machine_cpu_s()
            wall_s, peak = _run_cli(root, "--force", *args, cpu=cpu)
            times[name].append(wall_s)
            cpus[name].append((_machine_cpu_s() - busy_s) / wall_s)
            peak_mb = max(peak_mb, peak)
    one_s, serial_s = statistics.median(times["one-cpu"]), statistics.median(times["serial"])
    used = {name: statistics.median(values) for name, values in cpus.items()}
    rows: list[dict[str, Any]] = []
    for executor in ("local", "dask"):
        two_s = statistics.median(times[executor])
        ratios = [one / two for one, two in zip(times["one-cpu"], times[executor], strict=True)]
        rows.append(
            {
                "name": (
                    f"{n_batch} sessions of {duration_s / 60:g} min (150 Hz, 2 cameras, 18 kp), "
                    f"2 workers ({executor}) vs 1 on one CPU"
                ),
                "value": round(two_s, 2),
                "unit": "s",
                "peer": "--jobs 1 pinned to one CPU",
                "peer_value": round(one_s, 2),
                "ratio": round(one_s / two_s, 2),
                "peak_mem_mb": round(peak_mb, 1),
                "note": f"goal speed-up >= 1.7x: {'met' if one_s / two_s >= 1.7 else 'NOT met'}"
                f"; medians of {ROUNDS} alternating rounds after a warm-up run, per-round "
                f"speed-ups {', '.join(f'{r:.2f}x' for r in ratios)}; this machine's ceiling "
                f"for 2 CPU-bound processes: {ceiling:.2f}x; against --jobs 1 free to use both "
                f"CPUs ({serial_s:.2f} s): {serial_s / two_s:.2f}x; CPUs busy on average "
                f"(machine-wide): 2 workers {used[executor]:.2f}, --jobs 1 {used['serial']:.2f}, "
                f"pinned {used['one-cpu']:.2f}{_against_one_dask_worker(executor, times, used)}",
            }
        )
    return rows


def _against_one_dask_worker(
    executor: str, times: dict[str, list[float]], used: dict[str, float]
) -> str:
    """The Dask row's speed-up against a 1-worker ``LocalCluster`` (same executor, one worker)."""
    if executor != "dask":
        return ""
    one_s, two_s = statistics.median(times["dask-1"]), statistics.median(times["dask"])
    ratios = [one / two for one, two in zip(times["dask-1"], times["dask"], strict=True)]
    return (
        f"; against a 1-worker Dask LocalCluster ({one_s:.2f} s, CPUs busy "
        f"{used['dask-1']:.2f}): {one_s / two_s:.2f}x (rounds "
        f"{', '.join(f'{r:.2f}x' for r in ratios)})"
    )
