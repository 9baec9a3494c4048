"""Measuring helpers shared by the benchmarks: peak memory, timers, measuring child processes and
the peers' own virtual environments.

Peak memory: on Linux ``ru_maxrss`` survives ``exec``: a child starts with its forking parent's
peak, so a child of a large benchmark runner reports the runner's size. ``VmHWM`` in
``/proc/self/status`` belongs to the current process image only.

Child processes: a peer (NeuroConv, movement, dtaidistance) runs in its own venv, which cannot
import this package, so the measuring code is pasted into the child's script:
:func:`child_script` starts the clock before any import and ends with :func:`peak_rss_mib` and a
``report(fields)`` that prints one JSON line; :func:`child_json` runs the child and reads it.

This file stays standard-library only and free of ``from __future__`` imports: some benchmarks
paste the whole of it into their child scripts.
"""

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

MARKER_NAME = "w2t-installed.txt"
"""File in a peer venv naming what was installed, written once the install finished."""


def peak_rss_mib() -> float:
    """Peak resident set size of this process image in MiB (``ru_maxrss`` where no ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # the line is "VmHWM:  123456 kB"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_REPORT_SOURCE = '''
def report(fields):
    """Print the child's JSON report: fields, wall seconds since T0 and peak memory (MiB).

    A field given by the caller wins (e.g. a peak taken before the results were saved).
    """
    measured = {"elapsed_s": time.perf_counter() - T0, "peak_rss_mib": peak_rss_mib()}
    print(json.dumps({**measured, **fields}, default=str))
'''


def child_script(body: str) -> str:
    """A child script: clock ``T0`` started before any import, measuring helpers, then ``body``.

    ``body`` may use ``T0``, ``json``, ``sys``, ``time``, ``peak_rss_mib()`` and
    ``report(fields)``; it runs in any interpreter (a peer's venv too), as
    ``python -c SCRIPT ARGS...``.
    """
    import inspect

    return (
        "import time\nT0 = time.perf_counter()  # before any import: imports are counted\n"
        "import json, resource, sys\n" + inspect.getsource(peak_rss_mib) + _REPORT_SOURCE + body
    )


def child_json(command: list[str], what: str, timeout_s: float | None = None) -> dict[str, Any]:
    """Run a measuring child and return the JSON object it printed last.

    Raises
    ------
    RuntimeError
        The child exited non-zero or printed nothing (with ``what`` and its stderr's tail).
    """
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{what} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def best_of(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Best wall seconds of ``repeat`` calls of ``fn`` and the last call's value."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and process CPU seconds of one call of ``fn``, and its value.

    CPU / wall near the number of busy threads shows that they really ran at once.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0, value


def _last_log_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-160:] if lines else ""


def peer_python(
    venv: Path, requirements: Sequence[str], log: Path, timeout_s: float = 1800.0
) -> tuple[Path | None, str]:
    """A peer's own venv interpreter, created and pip-installed once; else None and the reason.

    pip's output goes to ``log``; a marker file in the venv naming ``requirements`` records a
    finished install, so later runs reuse the venv (and a changed pin reinstalls it).
    """
    python = venv / "bin" / "python"
    marker = venv / MARKER_NAME
    wanted = "\n".join(requirements)
    if python.exists() and marker.exists() and marker.read_text().strip() == wanted:
        return python, ""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing {', '.join(requirements)} (log: {log})", file=sys.stderr)
    with log.open("w") as out:
        try:
            for command in (
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    *requirements,
                ],
            ):
                out.write(f"$ {' '.join(command)}\n")
                out.flush()
                subprocess.run(
                    command, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=timeout_s
                )
        except subprocess.CalledProcessError as exc:
            out.flush()
            return None, f"{exc.cmd[2]} exited {exc.returncode} ({_last_log_line(log)})"
        except subprocess.TimeoutExpired:
            return None, f"install took over {timeout_s:.0f} s"
        except OSError as exc:
            return None, str(exc)
    marker.write_text(wanted + "\n")
    return python, ""
