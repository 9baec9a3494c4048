"""What every executor shares: one attempt of a task in a worker, and the coordinator's ledger.

A worker never lets an exception escape a task: :func:`run_attempt` turns it into an
:class:`AttemptResult` holding ``"<ExceptionType>: <message>"``, so nothing that fails to pickle
(a :class:`~w2t_bkin.errors.W2TError` with keyword-only arguments, a C-extension error) has to
cross a process boundary, and an exception reaching the coordinator always means the worker
itself was lost.

Retry policy (:class:`Ledger`)
------------------------------
- An ``OSError`` raised by a task is *transient* (a network share that blinked, a file busy) and
  the task is run again, up to ``retries`` more times. A :class:`~w2t_bkin.errors.W2TError` that
  also inherits ``OSError`` (``DiscoveryError``, ``WorkspaceError``, ``OutputError``) is not: it is
  a diagnosis w2t-bkin made on purpose, and running it again would give the same answer.
- Every other exception is permanent and never retried.
- A lost worker (the process died, the Dask worker vanished) is transient. It is charged to the
  task only when that task had started in the lost worker; a task that was merely queued there,
  or that was running beside a crashing process in a pool that then had to be torn down, is
  resubmitted without using a retry -- at most :data:`MAX_FREE_RESUBMITS` times, so a worker that
  dies before any task can start cannot loop forever.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from w2t_bkin.errors import ConfigError
from w2t_bkin.runtime.tasks import (
    EventKind,
    TaskEvent,
    TaskOutcome,
    TaskSpec,
    is_transient,
    reset_emitter,
    set_emitter,
)

WORKER_PRELOAD = ("w2t_bkin.session.preload",)
"""Modules a worker imports when it starts, before its first task: everything a session
imports (pynwb, the NWB extensions, nwbinspector, matplotlib, PyAV, SciPy: about two
CPU-seconds; :mod:`w2t_bkin.session.preload`). The local pool's fork server imports them once
for every worker it forks; the workers of a Dask ``LocalCluster`` started here import them as
their ``preload``, while the coordinator runs the preflight."""

NATIVE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
"""Thread-count variables of native libraries (BLAS, OpenMP, numexpr, numba)."""


def one_native_thread_environ() -> dict[str, str]:
    """The variables a worker process starts with: one thread in each native library, where
    the user has not set a count of their own.

    A worker of a batch of sessions is one of several processes sharing the CPUs, so threads
    of its own gain nothing, and OpenBLAS's cost something: after each call they spin on a CPU
    before sleeping. A session makes BLAS calls on long vectors (the clock fits, for one), and
    with 2 workers on 2 CPUs that spinning took 5 % of the machine's CPU time (8 sessions of 10
    min: 11.27 -> 10.72 s wall, 20.6 -> 19.6 CPU-seconds, medians of 4 alternating rounds).
    Dask's nanny sets the BLAS and OpenMP ones for the workers it spawns
    (``distributed.nanny.pre-spawn-environ``).
    """
    return {name: "1" for name in NATIVE_THREAD_VARIABLES if name not in os.environ}


DASK_WORKER_PRELOAD = ("distributed", *WORKER_PRELOAD)
"""What the fork server of a Dask ``LocalCluster`` started here imports: ``distributed`` (the
nanny's worker process code), then :data:`WORKER_PRELOAD`. Its workers are forked from it
(:class:`~w2t_bkin.runtime.executors.dask_cluster.DaskExecutor`)."""

NANNY_PRELOAD = "w2t_bkin.runtime.executors.dask_nanny"
"""The preload of a Dask worker's nanny (:mod:`~w2t_bkin.runtime.executors.dask_nanny`): its
worker process keeps glibc's adaptive malloc thresholds."""

MAX_FREE_RESUBMITS = 3
"""How often a task lost with its worker before it started is resubmitted without a retry."""

POLL_S = 0.05
"""How long the coordinator waits for a task to finish before delivering pending events."""


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt returns to the coordinator (plain values only, always picklable)."""

    value: Any
    error: str | None
    transient: bool
    worker: str


def describe(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"``, the error text of outcomes and ``finished`` events."""
    return f"{type(exc).__name__}: {exc}"


def run_attempt(
    spec: TaskSpec, attempt: int, send: Callable[[TaskEvent], None], worker: str
) -> AttemptResult:
    """Run ``spec`` once in this worker, sending its events through ``send``.

    ``started`` (detail ``"attempt N"``) is sent before the task's function is even imported,
    so the coordinator knows the task reached a worker; ``finished`` (detail ``"ok"`` or the
    error text) after it returns or raises.
    """

    def emit(kind: EventKind, detail: str) -> None:
        send(TaskEvent(spec.key, kind, detail, time.time(), worker))

    emit("started", f"attempt {attempt}")
    token = set_emitter(emit)
    try:
        value = spec.resolve()(**spec.kwargs)
    except BaseException as exc:  # the worker must survive SystemExit too
        error = describe(exc)
        emit("finished", error)
        return AttemptResult(None, error, is_transient(exc), worker)
    finally:
        reset_emitter(token)
    emit("finished", "ok")
    return AttemptResult(value, None, False, worker)


class Ledger:
    """A run's bookkeeping in the coordinator: attempts, retries, started tasks, outcomes.

    Parameters
    ----------
    tasks
        The run's tasks; their keys must be unique.
    retries
        How many times a transient failure is retried (``0``: never).
    on_outcome
        Receives exactly one :class:`TaskOutcome` per task.

    Raises
    ------
    ConfigError
        Two tasks share a key, or ``retries`` is negative.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        retries: int,
        on_outcome: Callable[[TaskOutcome], None],
    ) -> None:
        if retries < 0:
            raise ConfigError(
                f"retries must be 0 or more, got {retries}",
                hint="pass retries=0 to run each task once",
            )
        keys = [spec.key for spec in tasks]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ConfigError(
                f"task keys must be unique within a run; repeated: {', '.join(duplicates)}",
                hint="name each task after what it processes, e.g. 'mouse01/ses01'",
            )
        self.specs = {spec.key: spec for spec in tasks}
        self.retries = retries
        self._on_outcome = on_outcome
        self._charged = dict.fromkeys(keys, 0)
        self._free = dict.fromkeys(keys, 0)
        self.started: dict[str, str] = {}
        """Key -> worker of the current attempt, once its ``started`` event arrived."""
        self.reported: set[str] = set()

    def attempt(self, key: str) -> int:
        """The number of the attempt about to be submitted (1 for the first run)."""
        self.started.pop(key, None)
        return self._charged[key] + 1

    def note_event(self, event: TaskEvent) -> None:
        if event.kind == "started":
            self.started[event.key] = event.worker

    def finished(self, key: str, result: AttemptResult) -> bool:
        """Record an attempt that returned; ``True`` when it must be submitted again."""
        self._charged[key] += 1
        if result.error is not None and result.transient and self._charged[key] <= self.retries:
            return True
        self._report(
            TaskOutcome(
                key,
                value=result.value,
                error=result.error,
                transient=result.transient,
                attempts=self._charged[key],
                worker=result.worker,
            )
        )
        return False

    def failed(self, key: str, error: str, worker: str = "") -> None:
        """Record an attempt that failed outside the task (permanent, never retried)."""
        self._charged[key] += 1
        self._report(TaskOutcome(key, error=error, attempts=self._charged[key], worker=worker))

    def lost(self, key: str, reason: str, *, charge: bool) -> bool:
        """Record a task whose worker was lost; ``True`` when it must be submitted again.

        ``charge=False`` (the task had not started, or was a bystander) resubmits it without
        using a retry, up to :data:`MAX_FREE_RESUBMITS` times.
        """
        worker = self.started.get(key, "")
        if not charge and self._free[key] < MAX_FREE_RESUBMITS:
            self._free[key] += 1
            return True
        return self.finished(key, AttemptResult(None, f"worker lost: {reason}", True, worker))

    def cancel_rest(self) -> None:
        """Report every task without an outcome as cancelled (after Ctrl-C).

        Its ``attempts`` count the interrupted one when the task had started.
        """
        for key in self.specs:
            if key not in self.reported:
                self._report(
                    TaskOutcome(
                        key,
                        error="cancelled: the run was interrupted (Ctrl-C)",
                        cancelled=True,
                        attempts=self._charged[key] + (key in self.started),
                        worker=self.started.get(key, ""),
                    )
                )

    def _report(self, outcome: TaskOutcome) -> None:
        self.reported.add(outcome.key)
        self._on_outcome(outcome)
