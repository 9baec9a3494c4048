"""What executors run and report: task specs, progress events, outcomes (no domain code).

A task is named by an importable function path and small keyword arguments, so a process pool
or a Dask worker receives only a :class:`TaskSpec` (pickled in bytes, not a closure or a large
object). Inside a task, :func:`report_progress` sends a :class:`TaskEvent` to the coordinating
process, wherever the task runs. The coordinator receives one :class:`TaskOutcome` per task.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

EventKind = Literal["started", "progress", "finished"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class TaskSpec:
    """One unit of work.

    Attributes
    ----------
    key
        Unique within a batch (e.g. ``"mouse01/ses01"``); names the task in events and outcomes.
    function
        ``"package.module:function"``, imported where the task runs.
    kwargs
        Keyword arguments: small, picklable values (paths, strings, numbers).
    """

    key: str
    function: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TaskEvent:
    """Progress of a running task, e.g. ``kind="progress", detail="phase synchronization"``.

    ``time_s`` is the worker's ``time.time()`` when the event happened; ``worker`` names the
    process or Dask worker.
    """

    key: str
    kind: EventKind
    detail: str
    time_s: float
    worker: str = ""


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended.

    Attributes
    ----------
    value
        What the task function returned (``None`` when it raised).
    error
        ``"<ExceptionType>: <message>"`` when it raised or its worker was lost, else ``None``.
    transient
        The error was classed as transient (I/O error, lost worker) and retries were used up.
    cancelled
        The batch was cancelled (Ctrl-C) before or while the task ran.
    attempts
        How many times it ran (1 + retries used).
    """

    key: str
    value: Any = None
    error: str | None = None
    transient: bool = False
    cancelled: bool = False
    attempts: int = 1
    worker: str = ""


class Executor(Protocol):
    """Runs tasks and reports events and outcomes to the calling (coordinating) thread."""

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        """Run every task; returns when each has an outcome. Ctrl-C cancels the rest and
        reports them as cancelled outcomes before re-raising ``KeyboardInterrupt``."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# progress from inside a task

_emitter: contextvars.ContextVar[Callable[[EventKind, str], None] | None] = contextvars.ContextVar(
    "w2t_task_emitter", default=None
)


def report_progress(detail: str, kind: EventKind = "progress") -> None:
    """Tell the coordinator what this task is doing (no-op outside an executor's task)."""
    emit = _emitter.get()
    if emit is not None:
        emit(kind, detail)


def set_emitter(emit: Callable[[EventKind, str], None] | None) -> contextvars.Token[Any]:
    """Executors bind the current task's event sink (returns the token to reset it)."""
    return _emitter.set(emit)


def reset_emitter(token: contextvars.Token[Any]) -> None:
    _emitter.reset(token)


PhaseRunner = Callable[[str, Callable[[], Any]], Any]
"""Runs one named step of a task and returns its value (or raises its exception)."""

_phase_runner: contextvars.ContextVar[PhaseRunner | None] = contextvars.ContextVar(
    "w2t_phase_runner", default=None
)


def run_phase(name: str, step: Callable[[], _T]) -> _T:
    """Run one phase of a task: directly, or through the runner an orchestrator bound.

    An orchestrator that shows phases as its own units of work (Prefect: one task run per
    phase) binds a runner with :func:`set_phase_runner`; the step and its exceptions pass
    through unchanged.
    """
    runner = _phase_runner.get()
    return step() if runner is None else runner(name, step)  # type: ignore[no-any-return]


def set_phase_runner(runner: PhaseRunner | None) -> contextvars.Token[Any]:
    """Bind the runner of :func:`run_phase` in this context (returns the token to reset it)."""
    return _phase_runner.set(runner)


def reset_phase_runner(token: contextvars.Token[Any]) -> None:
    _phase_runner.reset(token)


# --------------------------------------------------------------------------------------------
# in the coordinating process


def is_transient(exc: BaseException) -> bool:
    """The one retry rule of every executor: an error a retry may not meet again.

    I/O errors (``OSError``) are, unless they are w2t-bkin's own diagnoses (``W2TError``
    subclasses such as ``DiscoveryError``) or name a missing or forbidden path; any error
    marked ``transient`` is.
    """
    if getattr(exc, "transient", False):
        return True
    if isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
        return False
    return isinstance(exc, OSError) and not hasattr(exc, "exit_code")


class SerialExecutor:
    """Runs tasks one after another in the calling process and thread.

    The executor of ``--jobs 1``: no worker process to start (a batch of one session costs no
    interpreter start), and a task sees the caller's state, so a debugger or a test's patch
    reaches it. A task that crashes the interpreter takes the coordinator with it: use a
    process pool (``--jobs 2`` and more) where that matters.

    ``before_first``: called once, here, before the first task runs (not when there is none).
    """

    def __init__(self, before_first: Callable[[], None] | None = None) -> None:
        self.before_first = before_first

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        import os

        worker = f"pid {os.getpid()}"
        if tasks and self.before_first is not None:
            prepare, self.before_first = self.before_first, None
            prepare()
        for index, spec in enumerate(tasks):
            try:
                on_outcome(self._run_one(spec, on_event, retries, worker))
            except KeyboardInterrupt:
                for rest in tasks[index:]:
                    on_outcome(TaskOutcome(rest.key, error="cancelled", cancelled=True))
                raise

    @staticmethod
    def _run_one(
        spec: TaskSpec, on_event: Callable[[TaskEvent], None], retries: int, worker: str
    ) -> TaskOutcome:
        import time

        def emit(kind: EventKind, detail: str) -> None:
            on_event(TaskEvent(spec.key, kind, detail, time.time(), worker))

        attempt = 0
        while True:
            attempt += 1
            token = set_emitter(emit)
            emit("started", f"attempt {attempt}")
            try:
                value = spec.resolve()(**spec.kwargs)
            except Exception as exc:
                transient = is_transient(exc)
                if transient and attempt <= retries:
                    continue
                return TaskOutcome(
                    spec.key,
                    error=f"{type(exc).__name__}: {exc}",
                    transient=transient,
                    attempts=attempt,
                    worker=worker,
                )
            finally:
                emit("finished", f"attempt {attempt}")
                reset_emitter(token)
            return TaskOutcome(spec.key, value=value, attempts=attempt, worker=worker)

    def close(self) -> None:
        pass
