"""`w2t-bkin status` start-to-end: decided from the recorded stat snapshot vs from content.

Wall time of whole ``w2t-bkin status ROOT`` processes (interpreter start and imports included),
median of 5, on workspaces of 1 and 20 processed sessions (4 at quick scale); goal <= 0.4 s.
The peer is the same command with ``--no-snapshot`` (every session's configuration and metadata
parsed and validated, inputs globbed and looked up in the digest cache), measured interleaved in
the same run; ``w2t-bkin --help`` (the CLI's floor: Python, Typer, Rich) is given in the note.
The all-cached ``w2t-bkin run`` of the larger workspace (its cache check uses the same
snapshots) is measured too; goal <= 1.5 s.

Typer (0.29) coerces a command's parameters with pydantic, so every command process, this one
included, imports pydantic although w2t-bkin's own status path does not (see
tests/integration/test_status_snapshot.py); that import is most of what ``status`` adds to
``--help``.

Bytecode caches are written (``PYTHONDONTWRITEBYTECODE`` is removed from the children's
environment) and one warm-up run of each command precedes the timed ones, as on a user's
install.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from w2t_bkin.testing import ExperimentSpec, write_experiment

WORK = Path(__file__).resolve().parent / ".work"
REPEATS = 5


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _cli(*args: str) -> float:
    """Wall time (s) of ``w2t-bkin ARGS`` as a child process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"w2t-bkin {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return wall_s


def _medians(commands: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so that load hits all alike."""
    for args in commands.values():
        _cli(*args)  # warm-up: bytecode caches, page cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(REPEATS):
        for name, args in commands.items():
            times[name].append(_cli(*args))
    return {name: statistics.median(values) for name, values in times.items()}


def _processed(name: str, n_sessions: int) -> Path:
    root = WORK / name
    if root.exists():
        shutil.rmtree(root)
    write_experiment(root, ExperimentSpec(n_sessions=n_sessions, duration_s=1.0, seed=2))
    _cli("run", str(root), "--jobs", "2")
    return root


def run(scale: str = "full") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n_sessions in (1, 20 if scale == "full" else 4):
        root = _processed(f"status-{n_sessions}-{scale}", n_sessions)
        commands = {
            "snapshot": ("status", str(root)),
            "content": ("status", str(root), "--no-snapshot"),
            "help": ("--help",),
        }
        if n_sessions > 1:
            commands["run"] = ("run", str(root))
        median = _medians(commands)
        rows.append(
            {
                "name": f"`w2t-bkin status`, {n_sessions} processed session(s) (whole process)",
                "value": round(median["snapshot"], 3),
                "unit": "s",
                "peer": "--no-snapshot (decided from content)",
                "peer_value": round(median["content"], 3),
                "ratio": round(median["content"] / median["snapshot"], 2),
                "note": f"goal <= 0.4 s: {'met' if median['snapshot'] <= 0.4 else 'NOT met'}; "
                f"`w2t-bkin --help` {median['help']:.3f} s; median of {REPEATS}",
            }
        )
        if "run" in median:
            rows.append(
                {
                    "name": f"all-cached `w2t-bkin run`, {n_sessions} sessions (whole process)",
                    "value": round(median["run"], 3),
                    "unit": "s",
                    "peer": "`w2t-bkin status --no-snapshot`",
                    "peer_value": round(median["content"], 3),
                    "ratio": "",
                    "note": f"goal <= 1.5 s: {'met' if median['run'] <= 1.5 else 'NOT met'}; "
                    f"median of {REPEATS}",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "full"):
        print(row)
