"""Prefect flows and deployments over the library functions the CLI calls (the ``prefect`` extra).

For labs that already run Prefect: ``w2t-bkin server start ROOT --prefect`` serves two
deployments of the workspace ``ROOT``:

``process-session``
    One session (``subject_id``, ``session_id``; optional ``config``, ``force``).
``batch-process-sessions``
    The sessions matching ``subject`` / ``session`` globs, at most ``max_parallel`` at once.

Both run :func:`w2t_bkin.batch.run_batch` -- the same preflight, cache plan (cached sessions
are not run, stale ones say why), retries and run registry as ``w2t-bkin run`` -- with
:class:`PrefectTaskExecutor`: each session that must run is one Prefect task run (named
``<subject>/<session>``) and each of its phases a nested task run (``<subject>/<session>:
<phase>``), so the Prefect UI shows the per-phase progress the CLI shows. A session that fails
is a failed task run; the others go on (unless ``execution.continue_on_error`` is false, as in
the CLI), and the flow run fails at the end naming every failed session.

This module imports Prefect at import time; import it after
``extras.require("prefect", "prefect", ...)``.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import CommitMode, transaction

from w2t_bkin.batch import (
    BatchEvent,
    BatchResult,
    BatchStopped,
    PreflightProblems,
    SessionFinished,
    SessionPlanned,
    SessionProgress,
    run_batch,
)
from w2t_bkin.deploy.errors import FlowInputError, SessionsFailedError
from w2t_bkin.errors import W2TError
from w2t_bkin.model.results import SessionResult
from w2t_bkin.runtime.tasks import (
    SerialExecutor,
    TaskEvent,
    TaskOutcome,
    TaskSpec,
    reset_phase_runner,
    set_phase_runner,
)
from w2t_bkin.workspace.layout import open_workspace

PROCESS_SESSION = "process-session"
BATCH_PROCESS_SESSIONS = "batch-process-sessions"
FLOW_NAMES = (PROCESS_SESSION, BATCH_PROCESS_SESSIONS)
"""The flows' names, as the Prefect UI and ``prefect deployment run`` show them."""

_GLOB_CHARACTERS = frozenset("*?[]")


# --------------------------------------------------------------------------------------------
# tasks: one per session, one per phase


@task(name="phase", cache_policy=NO_CACHE, persist_result=False)
def _phase_task(step: Callable[[], Any], diagnosed: list[W2TError]) -> Any:
    """One phase of a session (its step is the session driver's, run unchanged).

    A :class:`~w2t_bkin.errors.W2TError` (bad input) fails the task run with its message and
    no traceback, as on the CLI, and is kept in ``diagnosed`` for the driver; any other
    exception fails it the Prefect way (logged with its traceback) and propagates.
    """
    try:
        return step()
    except W2TError as exc:
        diagnosed.append(exc)
        return Failed(message=str(exc))


def _prefect_phase_runner(key: str) -> Callable[[str, Callable[[], Any]], Any]:
    """A :func:`w2t_bkin.runtime.tasks.run_phase` runner: each phase one Prefect task run."""

    def run(name: str, step: Callable[[], Any]) -> Any:
        # Committed as soon as the phase ends: a session failing in a later phase must not
        # mark its finished phases "RolledBack" (Prefect's default when a parent task fails).
        with transaction(commit_mode=CommitMode.EAGER):
            named = _phase_task.with_options(task_run_name=f"{key}: {name}")
            diagnosed: list[W2TError] = []
            state = named(step, diagnosed, return_state=True)
        if diagnosed:
            raise diagnosed[0]  # to the driver, which names the phase and records it
        return state.result()  # the phase's value, or its unexpected exception raised again

    return run


_Message = TaskEvent | TaskOutcome | tuple[str, Any]


@task(name="session", cache_policy=NO_CACHE, persist_result=False)
def _session_task(spec: TaskSpec, inbox: queue.Queue[_Message], retries: int) -> Any:
    """One session (a batch's :class:`TaskSpec`) with its phases as nested task runs.

    Events and the outcome go to ``inbox`` (read by the batch's coordinating thread, which
    records them); the task run ends ``Failed`` when the session did not succeed.
    """
    outcomes: list[TaskOutcome] = []
    token = set_phase_runner(_prefect_phase_runner(spec.key))
    try:
        # The serial executor's loop, in this worker thread: emitter bound, transient errors
        # retried, events and outcome reported exactly as in a `w2t-bkin run --jobs 1`.
        SerialExecutor().run(
            [spec], on_event=inbox.put, on_outcome=outcomes.append, retries=retries
        )
    finally:
        reset_phase_runner(token)
    (outcome,) = outcomes
    inbox.put(outcome)
    return _task_state(outcome)


def _task_state(outcome: TaskOutcome) -> Any:
    """A summary of the session (Completed), or a ``Failed`` state saying why it failed."""
    if outcome.error is not None:
        return Failed(message=f"{outcome.key}: {outcome.error}")
    result = outcome.value
    if not isinstance(result, SessionResult):
        return Failed(message=f"{outcome.key}: the task returned {type(result).__name__}")
    if not result.ok:
        phase = f" in phase {result.failed_phase}" if result.failed_phase else ""
        return Failed(message=f"{outcome.key} {result.status}{phase}: {result.error or ''}")
    return {
        "session": outcome.key,
        "status": str(result.status),
        "outputs": {name: str(path) for name, path in result.outputs.items()},
        "phase_durations_s": dict(result.phase_durations_s),
        "warnings": list(result.warnings),
    }


# --------------------------------------------------------------------------------------------
# the executor run_batch is given


def _on_done(inbox: queue.Queue[_Message], key: str) -> Callable[[Any], None]:
    """A future's done callback: tells the coordinator that ``key``'s task run ended."""

    def done(future: Any) -> None:
        inbox.put(("done", (key, future)))

    return done


class PrefectTaskExecutor:
    """A batch executor (:class:`w2t_bkin.runtime.tasks.Executor`) for use inside a flow run.

    Each task is submitted as a Prefect task run to a thread pool of exactly ``max_parallel``
    threads (Prefect's ``ThreadPoolTaskRunner``), so at most ``max_parallel`` sessions run at
    once, in this process (the session driver supports several sessions in threads: per-run
    logs, a lock per session). Events and outcomes reach ``run``'s callbacks in the calling
    thread only, which is where ``run_batch`` writes the run registry.

    Parameters
    ----------
    max_parallel
        Sessions run at the same time (at least 1).
    """

    def __init__(self, max_parallel: int) -> None:
        if max_parallel < 1:
            raise FlowInputError(
                f"max_parallel must be at least 1; found {max_parallel}",
                hint="pass max_parallel=1 to run one session at a time",
            )
        self.max_parallel = max_parallel

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        """Run every task; returns when each has reported its outcome."""
        if not tasks:
            return
        inbox: queue.Queue[_Message] = queue.Queue()
        reported: set[str] = set()
        pool: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=self.max_parallel)
        with pool as runner:
            for spec in tasks:
                future = runner.submit(
                    _session_task.with_options(task_run_name=spec.key),
                    parameters={"spec": spec, "inbox": inbox, "retries": retries},
                )
                future.add_done_callback(_on_done(inbox, spec.key))
            try:
                self._drain(inbox, len(tasks), reported, on_event, on_outcome)
            except KeyboardInterrupt:
                for spec in tasks:
                    if spec.key not in reported:
                        on_outcome(TaskOutcome(spec.key, error="cancelled", cancelled=True))
                raise

    @staticmethod
    def _drain(
        inbox: queue.Queue[_Message],
        n_tasks: int,
        reported: set[str],
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
    ) -> None:
        finished = 0
        while finished < n_tasks:
            message = inbox.get()
            if isinstance(message, TaskEvent):
                on_event(message)
            elif isinstance(message, TaskOutcome):
                reported.add(message.key)
                on_outcome(message)
            else:  # a task run ended; one that never reported crashed inside Prefect
                finished += 1
                key, future = message[1]
                if key not in reported:
                    reported.add(key)
                    state = future.state
                    on_outcome(
                        TaskOutcome(key, error=f"Prefect task run {state.name}: {state.message}")
                    )

    def close(self) -> None:
        """Nothing to release: each ``run`` closes its thread pool."""


# --------------------------------------------------------------------------------------------
# flows


class _ConsoleFilter(logging.Filter):
    """On Prefect's console, w2t-bkin's records from WARNING up, as ``w2t-bkin run`` prints.

    While a session runs, the package logger lets DEBUG through for its ``pipeline.log``;
    Prefect's console handler has no level of its own and would print all of it. The flow
    run log has each session's plan, phases and outcome instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith("w2t_bkin")


def _configure_console() -> None:
    """The flows are an entry point: quiet w2t-bkin on Prefect's console handlers (once)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _ConsoleFilter) for f in handler.filters
        ):
            handler.addFilter(_ConsoleFilter())


def _invocation(flow_name: str, parameters: dict[str, Any]) -> list[str]:
    """What provenance records as the command: the flow, its run, its parameters."""
    from prefect.runtime import flow_run

    words = ["prefect", flow_name, f"flow-run={flow_run.name} ({flow_run.id})"]
    return words + [f"{k}={v}" for k, v in parameters.items() if v is not None]


def _event_logger(logger: logging.Logger | logging.LoggerAdapter[Any]) -> Callable[[Any], None]:
    """Batch events as flow-run log lines (what the CLI prints, in the Prefect UI)."""

    def on_event(event: BatchEvent) -> None:
        if isinstance(event, PreflightProblems):
            for problem in event.problems:
                logger.warning("preflight: %s", problem.render())
        elif isinstance(event, SessionPlanned):
            ref, decision = event.ref, event.decision
            reasons = f" ({'; '.join(decision.reasons)})" if decision.reasons else ""
            logger.info("%s/%s: %s%s", ref.subject, ref.session, decision.state, reasons)
        elif isinstance(event, SessionProgress):
            logger.info("%s/%s: %s", event.ref.subject, event.ref.session, event.detail)
        elif isinstance(event, SessionFinished):
            result = event.result
            logger.info("%s/%s: %s", result.subject, result.session, result.status)
        elif isinstance(event, BatchStopped):
            logger.error(
                "%s/%s failed and execution.continue_on_error is false in %s: %d skipped",
                event.failed.subject,
                event.failed.session,
                event.config_path,
                len(event.skipped),
            )

    return on_event


def _summary(batch: BatchResult) -> dict[str, Any]:
    """The flow's return value; raises when a session did not succeed (the run fails)."""
    failed = [r for r in batch.results if not r.ok]
    if failed:
        lines = [
            f"{r.subject}/{r.session}: {r.status}"
            + (f" in phase {r.failed_phase}" if r.failed_phase else "")
            + (f": {r.error.splitlines()[0]}" if r.error else "")
            for r in failed
        ]
        raise SessionsFailedError(
            f"{len(failed)} of {len(batch.results)} sessions did not succeed "
            f"(registry run {batch.run_id}):\n  " + "\n  ".join(lines),
            hint="each session's pipeline.log and status.json say more; "
            "`w2t-bkin runs show " + str(batch.run_id) + "` shows the run",
        )
    return {
        "run_id": batch.run_id,
        "sessions": {
            f"{r.subject}/{r.session}": {
                "status": str(r.status),
                "outputs": {name: str(path) for name, path in r.outputs.items()},
            }
            for r in batch.results
        },
    }


def _flow_result(run: Callable[[], BatchResult]) -> Any:
    """Run a flow's batch: its summary, or a ``Failed`` state carrying the error's message.

    A :class:`~w2t_bkin.errors.W2TError` (bad input, failed sessions) is a diagnosis, shown
    without a traceback as on the CLI; any other exception propagates (Prefect logs it).
    """
    _configure_console()
    try:
        return _summary(run())
    except W2TError as exc:
        get_run_logger().error("%s", exc)
        return Failed(message=str(exc))


@flow(name=PROCESS_SESSION, log_prints=False)
def process_session_flow(
    root: str,
    subject_id: str,
    session_id: str,
    config: str | None = None,
    force: bool = False,
) -> Any:
    """Process one session of the workspace ``root`` (``w2t-bkin run --subject S --session s``).

    Parameters
    ----------
    root
        Experiment folder.
    subject_id, session_id
        The session (exact IDs, not patterns).
    config
        A configuration file instead of ``ROOT/configuration.toml``.
    force
        Run even when the outputs are up to date.

    Returns
    -------
    dict or prefect.states.State
        ``run_id`` (the run registry's) and the session's status and outputs; or, when the
        session failed or a parameter is invalid, a ``Failed`` state whose message says why
        (:class:`SessionsFailedError`, :class:`FlowInputError`; the session's task run names
        the phase).
    """

    def run() -> BatchResult:
        for name, value in (("subject_id", subject_id), ("session_id", session_id)):
            if _GLOB_CHARACTERS & set(value) or not value:
                raise FlowInputError(
                    f"{PROCESS_SESSION}: {name} must be one session's ID; found {value!r}",
                    hint=f"use the {BATCH_PROCESS_SESSIONS} flow for patterns",
                )
        parameters = {"root": root, "subject_id": subject_id, "session_id": session_id}
        return run_batch(
            Path(root),
            subject=subject_id,
            session=session_id,
            config_path=Path(config) if config else None,
            invocation=_invocation(PROCESS_SESSION, parameters | {"config": config}),
            on_event=_event_logger(get_run_logger()),
            executor=PrefectTaskExecutor(1),
            force=force,
        )

    return _flow_result(run)


@flow(name=BATCH_PROCESS_SESSIONS, log_prints=False)
def batch_process_sessions_flow(
    root: str,
    subject: str = "*",
    session: str = "*",
    config: str | None = None,
    max_parallel: int = 1,
    force: bool = False,
    retries: int | None = None,
) -> Any:
    """Process the matching sessions of ``root``, at most ``max_parallel`` at once.

    Parameters
    ----------
    root
        Experiment folder.
    subject, session
        Globs selecting sessions (``w2t-bkin run --subject --session``).
    config
        A configuration file instead of ``ROOT/configuration.toml``.
    max_parallel
        Sessions run at the same time (threads of the flow run's process).
    force
        Run even the sessions whose outputs are up to date.
    retries
        Runs again of a session that failed transiently (default: ``execution.retries``).

    Returns
    -------
    dict or prefect.states.State
        ``run_id`` (the run registry's) and every session's status and outputs; or, after
        every session ran (or was skipped) and some did not succeed, or when a parameter is
        invalid, a ``Failed`` state whose message says why (:class:`SessionsFailedError`,
        :class:`FlowInputError`).
    """

    def run() -> BatchResult:
        executor = PrefectTaskExecutor(max_parallel)
        parameters = {"root": root, "subject": subject, "session": session, "config": config}
        return run_batch(
            Path(root),
            subject=subject,
            session=session,
            config_path=Path(config) if config else None,
            invocation=_invocation(
                BATCH_PROCESS_SESSIONS, parameters | {"max_parallel": max_parallel}
            ),
            on_event=_event_logger(get_run_logger()),
            executor=executor,
            force=force,
            retries=retries,
        )

    return _flow_result(run)


# --------------------------------------------------------------------------------------------
# deployments


def deployments(root: Path, config_path: Path | None = None) -> list[Any]:
    """The two flows as deployments of the workspace ``root`` (its path pre-filled).

    Returns
    -------
    list of prefect.deployments.runner.RunnerDeployment
        ``process-session`` and ``batch-process-sessions``, each named after the workspace
        folder, with ``root`` (absolute) and ``config`` as default parameters.
    """
    from prefect.types.entrypoint import EntrypointType

    # A module path, not a file path relative to the current folder: flow runs then find the
    # flows wherever w2t-bkin is installed and whichever folder the runner started in.
    by_module = EntrypointType.MODULE_PATH
    defaults = {
        "root": str(root.resolve()),
        "config": str(config_path.resolve()) if config_path is not None else None,
    }
    name = f"w2t-bkin {root.resolve().name}"
    return [
        process_session_flow.to_deployment(
            name=name,
            parameters=defaults,
            description=f"One session of {defaults['root']} (w2t-bkin run).",
            tags=["w2t-bkin"],
            entrypoint_type=by_module,
        ),
        batch_process_sessions_flow.to_deployment(
            name=name,
            parameters=defaults,
            description=f"Matching sessions of {defaults['root']}, max_parallel at once.",
            tags=["w2t-bkin"],
            entrypoint_type=by_module,
        ),
    ]


def serve_deployments(
    root: Path,
    *,
    config_path: Path | None = None,
    limit: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve :func:`deployments` in the foreground until Ctrl-C (``server start --prefect``).

    Flow runs started from the Prefect UI or ``prefect deployment run`` execute in this
    process (in a subprocess each, Prefect's runner), against the Prefect API that
    ``PREFECT_API_URL`` names (a lab's Prefect server), or a temporary local one when unset.

    Parameters
    ----------
    limit
        Flow runs at the same time (``None``: Prefect's default, no limit).
    """
    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    open_workspace(root)  # not a workspace: say so now, not in every flow run
    served = deployments(root, config_path)
    api = PREFECT_API_URL.value() or "a temporary local Prefect server (PREFECT_API_URL unset)"
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in served)
    announce(f"serving Prefect deployments {names} to {api}; Ctrl-C stops")
    serve(*served, limit=limit, print_starting_message=False)


__all__ = [
    "BATCH_PROCESS_SESSIONS",
    "FLOW_NAMES",
    "PROCESS_SESSION",
    "PrefectTaskExecutor",
    "batch_process_sessions_flow",
    "deployments",
    "process_session_flow",
    "serve_deployments",
]
