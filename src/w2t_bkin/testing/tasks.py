"""Task functions for testing executors: each behaves one known way, observable through files.

They live in the package (not under ``tests/``) because executor workers -- spawned processes,
Dask workers started elsewhere -- import a task by its path, and ``w2t_bkin`` is importable
wherever the package is installed. Name them in a :class:`~w2t_bkin.runtime.tasks.TaskSpec` as
``"w2t_bkin.testing.tasks:<name>"``. Coordination goes through files, never through timing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from w2t_bkin.runtime.tasks import report_progress

_POLL_S = 0.01


def echo(value: object, steps: tuple[str, ...] | list[str] = ()) -> object:
    """Report each of ``steps`` as progress, then return ``value``."""
    for step in steps:
        report_progress(step)
    return value


def meet(folder: str, me: str, other: str, timeout_s: float = 60.0) -> int:
    """A two-party barrier: write ``folder/me``, wait for ``folder/other``; returns this PID.

    Both parties return only if they ran at the same time. Raises ``RuntimeError`` (not
    retried) when the other never arrives within ``timeout_s``.
    """
    Path(folder, me).write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout_s
    while not Path(folder, other).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{other} never reached the barrier in {folder}")
        time.sleep(_POLL_S)
    return os.getpid()


def fail(message: str) -> None:
    """Raise ``ValueError(message)`` (a permanent error)."""
    raise ValueError(message)


def fail_io(tally: str) -> None:
    """Append a line to ``tally``, then raise an ``OSError`` (a transient error)."""
    with open(tally, "a") as file:
        file.write(f"{os.getpid()}\n")
    runs = len(Path(tally).read_text().splitlines())
    raise OSError(f"share unavailable (run {runs})")


def die_once(marker: str, after: str | None = None) -> str:
    """The first run creates ``marker`` and kills its process; the next one returns.

    With ``after``, the first run waits for that file to exist before it dies.
    """
    path = Path(marker)
    if not path.exists():
        while after is not None and not Path(after).exists():
            time.sleep(_POLL_S)
        path.write_text(str(os.getpid()))
        os._exit(9)
    return f"survived in {os.getpid()}"


def block(pid_file: str) -> None:
    """Write this PID to ``pid_file``, then wait until the process is stopped from outside."""
    report_progress("blocking")
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(_POLL_S * 10)


def block_first_run(tally: str) -> str:
    """Append this PID to ``tally``; the first run then blocks forever, later ones return."""
    with open(tally, "a") as file:
        file.write(f"{os.getpid()}\n")
    runs = len(Path(tally).read_text().splitlines())
    while runs == 1:
        time.sleep(_POLL_S * 10)
    return f"run {runs}"


def cpus_shared() -> bool:
    """Whether this worker was told that the other workers of its batch keep the CPUs busy."""
    from w2t_bkin.runtime import beside

    return beside._cpus_shared


def native_threads() -> dict[str, object]:
    """How this worker's native libraries run: the thread-count variables it started with, the
    threads its BLAS library uses (threadpoolctl), and the command line of its parent process
    (a fork server's, or a nanny's)."""
    import threadpoolctl

    from w2t_bkin.runtime.executors.common import NATIVE_THREAD_VARIABLES

    blas = [
        pool["num_threads"]
        for pool in threadpoolctl.threadpool_info()
        if pool["user_api"] == "blas"
    ]
    parent = Path(f"/proc/{os.getppid()}/cmdline")
    return {
        "environ": {name: os.environ.get(name) for name in NATIVE_THREAD_VARIABLES},
        "blas_threads": blas,
        "parent": parent.read_bytes().replace(b"\0", b" ").decode() if parent.exists() else "",
        "parent_pid": os.getppid(),
    }
