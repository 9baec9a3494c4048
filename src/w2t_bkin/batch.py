"""Many sessions: select, run each, record, aggregate -- the one loop every entry point calls.

The CLI (``w2t-bkin run``, ``w2t-bkin demo``), and later the dashboard, Dask and Prefect, call
:func:`run_batch`; how results are shown is theirs (an ``on_event`` callback), what is run and
in which order, and when a batch stops, is decided here once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from w2t_bkin.config import ExecutionConfig, load_workspace_config
from w2t_bkin.errors import W2TError
from w2t_bkin.model.results import SessionResult, SessionStatus
from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path, utc_now
from w2t_bkin.runtime.tasks import Executor, SerialExecutor, TaskEvent, TaskOutcome, TaskSpec
from w2t_bkin.session.cache import (
    CacheDecision,
    cache_key,
    decide,
    output_records,
    recorded_decision,
    session_cache_state,
)
from w2t_bkin.workspace.discovery import SessionRef, discover_sessions
from w2t_bkin.workspace.layout import Workspace, open_workspace
from w2t_bkin.workspace.validate import Problem

if TYPE_CHECKING:
    from w2t_bkin.session.preflight import Preflight

# The pipeline itself (readers, pandas, SciPy, pynwb) is imported only where a session runs:
# a fully cached batch never loads it.


@dataclass(frozen=True)
class PreflightProblems:
    """Before any session runs: every problem the preflight found (errors and warnings)."""

    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class SessionStarted:
    """A session is about to run."""

    ref: SessionRef


@dataclass(frozen=True)
class SessionFinished:
    """A session ran (succeeded or failed); ``result`` says how."""

    result: SessionResult


@dataclass(frozen=True)
class BatchStopped:
    """A session failed and ``execution.continue_on_error`` is false: the rest are skipped."""

    failed: SessionResult
    skipped: tuple[SessionResult, ...]
    config_path: Path


@dataclass
class BatchResult:
    """Every selected session's result, in selection order (skipped and cached included).

    ``plans`` holds each session's cache decision; ``run_id`` the registry's id of the run
    (``None`` for a dry run).
    """

    results: list[SessionResult] = field(default_factory=list)
    plans: dict[tuple[str, str], CacheDecision] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when every session succeeded or was cached, else the largest exit code of the rest
        (at least 1)."""
        return max((max(r.exit_code, 1) for r in self.results if not r.ok), default=0)


def select_sessions(root: Path, subject: str = "*", session: str = "*") -> list[SessionRef]:
    """The sessions matching the globs, in discovery order.

    Raises
    ------
    W2TError
        No session matches; the message names the globs and the workspace.
    """
    refs = discover_sessions(open_workspace(root), subject, session)
    if not refs:
        raise W2TError(
            f"no session matches --subject {subject!r} --session {session!r} in {root}",
            hint="list the sessions with: w2t-bkin discover ROOT --format plain",
        )
    return refs


ExecutorKind = Literal["local", "dask"]


@dataclass(frozen=True)
class SessionPlanned:
    """Before anything runs: whether a session will run, and why (the cache decision)."""

    ref: SessionRef
    decision: CacheDecision


@dataclass(frozen=True)
class SessionProgress:
    """A running session reported progress (its current phase), from wherever it runs."""

    ref: SessionRef
    detail: str
    time_s: float
    worker: str


BatchEvent = (
    PreflightProblems
    | SessionPlanned
    | SessionStarted
    | SessionProgress
    | SessionFinished
    | BatchStopped
)


def run_session_task(
    root: str, subject: str, session: str, config_path: str | None, invocation: list[str]
) -> SessionResult:
    """One session as an executor task: plain arguments in, a picklable result out."""
    from w2t_bkin.session.driver import process_session

    return process_session(
        Path(root),
        subject,
        session,
        config_path=Path(config_path) if config_path is not None else None,
        invocation=invocation,
    )


def run_batch(
    root: Path,
    *,
    subject: str = "*",
    session: str = "*",
    config_path: Path | None = None,
    invocation: Sequence[str] | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    jobs: int | None = None,
    executor: ExecutorKind | Executor | None = None,
    scheduler: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    retries: int | None = None,
    own_process: bool = False,
) -> BatchResult:
    """Check, plan and process the selected sessions; record the run in the registry.

    1. The preflight (the checks of ``data validate``) reports every problem of every
       selected session at once (a :class:`PreflightProblems` event).
    2. Each session's cache decision (:func:`w2t_bkin.session.cache.decide`): ``run`` (never
       run, forced, failed last time), ``stale`` with its reasons (input, configuration,
       metadata, package version or outputs changed) or ``cached`` (a
       :class:`SessionPlanned` event each). ``dry_run`` stops here and records nothing.
    3. The sessions to run go to the executor: the calling process for ``local`` with one job,
       a process pool of exactly ``jobs`` workers, or Dask (a ``LocalCluster`` of ``jobs``
       workers, or the cluster at ``scheduler``, made while step 1 runs; none is started
       when every session is cached). Phases are reported as they start
       (:class:`SessionProgress`). A session whose failure is transient (an I/O error, a lost
       worker) runs again up to ``retries`` times; bad input never does.
    4. Every session's outcome is recorded in ``ROOT/.w2t/registry.sqlite`` by this process
       only (workers return results); Ctrl-C records the run as cancelled and re-raises.

    ``jobs``, ``executor``, ``scheduler`` and ``retries`` default to the ``[execution]`` keys of
    the configuration. ``executor`` may also be an :class:`Executor` instance, used as it is
    (the Prefect flows of :mod:`w2t_bkin.deploy` pass theirs; ``jobs`` then does nothing).

    ``own_process``: the calling process exits after the batch (the command line does). Sessions
    that run in it (``local``, one job) then start from what a worker preloads
    (:mod:`w2t_bkin.session.preload`), its objects frozen out of the garbage collector's full
    passes: 0.1 s less per session. Leave it false in a notebook or a long-lived program, which
    would never collect the frozen objects that later become garbage.

    When a session fails and ``execution.continue_on_error`` is false, the remaining sessions
    are skipped (the first session the preflight found failing runs first). Results are in
    selection order.

    Raises
    ------
    ConfigError
        The effective configuration is missing (``config_path``) or invalid; nothing runs.
    W2TError
        No session matches the selection, or the executor cannot start.
    """
    notify = on_event or (lambda event: None)
    config = load_workspace_config(root, config_path)
    execution = config.execution
    continue_on_error = execution.continue_on_error
    jobs = jobs if jobs is not None else execution.jobs
    scheduler = scheduler if scheduler is not None else (execution.scheduler or None)
    if executor is None:  # a scheduler address means Dask
        executor = "dask" if scheduler is not None else execution.executor
    retries = retries if retries is not None else execution.retries
    refs = select_sessions(root, subject, session)
    registry = Registry(registry_path(root))
    plans = {ref: _plan(root, ref, config_path, registry, force) for ref in refs}
    n_to_run = 0 if dry_run else sum(p.must_run for p in plans.values())
    starting: _StartingExecutor | None = None
    if n_to_run and isinstance(executor, str):
        # the workers' imports of the session code run while the preflight reads the inputs
        _start_worker_server(executor, jobs, scheduler, execution)
        if executor == "dask":  # ... and so does the rest of a Dask cluster's start
            starting = _StartingExecutor(lambda: _executor("dask", jobs, scheduler, execution))
    made: Executor | None = None
    try:
        from w2t_bkin.session.preflight import preflight

        # The preflight checks what will run: a cached session reads none of its inputs.
        checked = preflight(
            root, subject, session, config_path, only={_key(r) for r in refs if plans[r].must_run}
        )
        if checked.problems:
            notify(PreflightProblems(tuple(checked.problems)))
        for ref in refs:
            notify(SessionPlanned(ref, plans[ref].decision))
        batch = BatchResult(plans={_key(r): p.decision for r, p in plans.items()})
        if dry_run:
            return batch
        pending = [r for r in refs if plans[r].decision.must_run]
        if not continue_on_error:
            pending = _failing_first(pending, checked)
        if not isinstance(executor, str):
            # an Executor instance (e.g. Prefect's, from w2t_bkin.deploy) is used as it is
            made = executor
        elif pending:  # with every session cached, no executor starts
            # made before the run is recorded: one that cannot start leaves no run behind
            made = (
                starting.take()
                if starting is not None
                else _executor(executor, jobs, scheduler, execution, own_process)
            )
        registry.mark_stale_runs()
        run_id = registry.start_run(invocation or [], config.model_dump(mode="json"))
        batch.run_id = run_id
        recorder = _Recorder(root, registry, run_id, plans)
        runner = (
            None if made is None else _Runner(root, config_path, invocation, notify, recorder, made)
        )
        for ref in refs:
            if not plans[ref].decision.must_run:
                batch.results.append(recorder.cached(ref))
                notify(SessionFinished(batch.results[-1]))
    except BaseException:
        if made is not None and isinstance(executor, str):
            made.close()  # made here, for sessions that will not run now
        elif starting is not None:
            starting.discard()  # never taken: still starting, or failed to
        raise
    if runner is not None:
        try:
            if continue_on_error:
                batch.results += runner.run(pending, retries)
            else:
                batch.results += _one_at_a_time(runner, pending, retries, root, config_path, notify)
        except KeyboardInterrupt:
            batch.results += runner.cancelled
            registry.finish_run(run_id, "cancelled")
            raise
        finally:
            runner.close()
    registry.finish_run(run_id, "succeeded" if all(r.ok for r in batch.results) else "failed")
    position = {_key(r): i for i, r in enumerate(refs)}
    batch.results.sort(key=lambda r: position[(r.subject, r.session)])
    return batch


def _preload_here() -> None:
    """What a worker imports as it starts (which loads and freezes the session modules)."""
    import importlib

    from w2t_bkin.runtime.executors.common import WORKER_PRELOAD

    for name in WORKER_PRELOAD:
        importlib.import_module(name)


def _key(ref: SessionRef | SessionResult) -> tuple[str, str]:
    return (ref.subject, ref.session)


@dataclass(frozen=True)
class _Plan:
    decision: CacheDecision
    fingerprint: dict[str, Any]
    cache_key: str | None
    previous: TaskRecord | None

    @property
    def must_run(self) -> bool:
        return self.decision.must_run


def _plan(
    root: Path, ref: SessionRef, config_path: Path | None, registry: Registry, force: bool
) -> _Plan:
    """The cache decision of one session (a session that cannot be checked runs, to fail)."""
    previous = registry.latest_task(f"{ref.subject}/{ref.session}")
    if not force and previous is not None:
        # Every file stats as the last run recorded it: its fingerprint (and snapshot) stand.
        recorded = recorded_decision(root, ref.subject, ref.session, config_path, previous)
        if recorded is not None:
            return _Plan(recorded, dict(previous.fingerprint), previous.cache_key, previous)
    try:
        state = session_cache_state(root, ref.subject, ref.session, config_path)
    except W2TError as exc:
        reason = f"cannot check: {exc.message.splitlines()[0]}"
        return _Plan(CacheDecision("run", (reason,)), {}, None, previous)
    outputs = Workspace(root).processed_dir(ref.subject, ref.session)
    decision = decide(
        f"{ref.subject}/{ref.session}",
        state.fingerprint,
        state.config_sections,
        state.metadata,
        previous,
        outputs,
        force,
    )
    return _Plan(decision, state.record(), cache_key(state.fingerprint), previous)


def executor_plan(
    kind: ExecutorKind, jobs: int, scheduler: str | None, execution: ExecutionConfig
) -> str:
    """Where a batch's sessions run, in words (the choice :func:`_executor` makes)."""
    if kind == "local":
        return "this process" if jobs == 1 else f"{jobs} local worker processes"
    if scheduler is not None:
        return f"dask scheduler {scheduler}"
    if execution.slurm_jobs > 0:
        return f"dask workers in {execution.slurm_jobs} SLURM jobs"
    return f"dask local cluster of {jobs} workers"


def _executor(
    kind: ExecutorKind,
    jobs: int,
    scheduler: str | None,
    execution: ExecutionConfig,
    own_process: bool = False,
) -> Executor:
    """The executor a batch asked for (``--jobs 1`` locally: this process, no pool; with
    ``own_process``, preloaded as a worker is before its first session)."""
    if kind == "local" and jobs == 1 and scheduler is None:
        return SerialExecutor(before_first=_preload_here if own_process else None)
    from w2t_bkin.runtime.executors import make_executor

    _start_worker_server(kind, jobs, scheduler, execution)  # nothing when it runs already
    if kind == "dask" and scheduler is None and execution.slurm_jobs > 0:
        cluster = slurm_cluster(execution)
        cluster.scale(jobs=execution.slurm_jobs)  # sbatch: one job per worker
        try:
            inner = make_executor(kind, execution.slurm_jobs, cluster.scheduler_address)
        except BaseException:
            cluster.close()
            raise
        return _OwningExecutor(inner, cluster)
    return make_executor(kind, jobs, scheduler)


def _start_worker_server(
    kind: ExecutorKind, jobs: int, scheduler: str | None, execution: ExecutionConfig
) -> None:
    """Start the fork server the batch's workers will come from, when they come from one on
    this machine: the local pool's (its session workers on one native thread each) or that
    of a Dask ``LocalCluster``'s. It imports the session code once, in its own process."""
    if scheduler is not None:
        return
    if kind == "local" and jobs > 1:
        from w2t_bkin.runtime.executors.local import start_worker_server

        start_worker_server()
    elif kind == "dask" and execution.slurm_jobs == 0:
        from w2t_bkin.runtime.executors.dask_cluster import start_worker_server as start_dask

        start_dask()


class _StartingExecutor:
    """An executor being made in a thread, while the coordinator runs the preflight.

    :meth:`take` waits for it and hands it over (or raises what making it raised);
    :meth:`discard` stops one that was never taken (the batch failed or was interrupted first).
    """

    def __init__(self, make: Callable[[], Executor]) -> None:
        self._made: Future[Executor] = Future()
        threading.Thread(
            target=self._make, args=(make,), name="w2t-executor-start", daemon=True
        ).start()

    def _make(self, make: Callable[[], Executor]) -> None:
        try:
            self._made.set_result(make())
        except BaseException as exc:  # delivered to the caller by take()
            self._made.set_exception(exc)

    def take(self) -> Executor:
        """The executor, once it has started; raises what starting it raised."""
        return self._made.result()

    def discard(self) -> None:
        """Close the executor once it has started (nothing when starting it failed)."""
        try:
            executor = self._made.result()
        except BaseException:
            return  # it never started: nothing to stop
        executor.close()


class _OwningExecutor:
    """An executor on a cluster this batch started: closing it also stops the cluster."""

    def __init__(self, inner: Executor, cluster: Any) -> None:
        self.inner, self.cluster = inner, cluster

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        self.inner.run(tasks, on_event=on_event, on_outcome=on_outcome, retries=retries)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.cluster.close()


def slurm_cluster(execution: ExecutionConfig) -> Any:
    """A dask-jobqueue ``SLURMCluster`` from the ``slurm_*`` keys of ``[execution]``.

    Each SLURM job runs one Dask worker process with one thread (one session at a time) on
    ``slurm_cores`` cores (``--cpus-per-task``) and ``slurm_memory``; the caller scales it to
    ``slurm_jobs`` jobs. The scheduler runs in this (coordinating) process, so the nodes must
    reach the machine ``run`` was started on.
    """
    from w2t_bkin.extras import require
    from w2t_bkin.runtime.executors.common import NANNY_PRELOAD, WORKER_PRELOAD

    jobqueue = require("dask_jobqueue", "dask", purpose="starting Dask workers as SLURM jobs")
    cluster = jobqueue.SLURMCluster(
        queue=execution.slurm_queue or None,
        account=execution.slurm_account or None,
        cores=1,  # Dask's view: one thread, one session at a time
        processes=1,
        job_cpu=execution.slurm_cores,  # SLURM's view: the cores a session may use
        memory=execution.slurm_memory,
        walltime=execution.slurm_walltime,
        # each worker imports the session code as it starts, not in its first session
        worker_extra_args=[
            *(f"--preload={name}" for name in WORKER_PRELOAD),
            f"--preload-nanny={NANNY_PRELOAD}",  # glibc's adaptive malloc thresholds kept
        ],
    )
    return cluster


class _Recorder:
    """Turns results into registry records (the coordinating process is the only writer)."""

    def __init__(
        self, root: Path, registry: Registry, run_id: str, plans: dict[SessionRef, _Plan]
    ) -> None:
        self.root, self.registry, self.run_id = root, registry, run_id
        self.plans = {_key(ref): plan for ref, plan in plans.items()}
        self.started_at: dict[tuple[str, str], str] = {}

    def cached(self, ref: SessionRef) -> SessionResult:
        plan = self.plans[_key(ref)]
        assert plan.previous is not None  # cached means a successful earlier record
        folder = Workspace(self.root).processed_dir(ref.subject, ref.session)
        outputs = {name: folder / out.path for name, out in plan.previous.outputs.items()}
        result = SessionResult(
            ref.subject, ref.session, status=SessionStatus.CACHED, outputs=outputs
        )
        result.warnings = list(plan.previous.warnings)
        now = utc_now()
        # plan.fingerprint, not the previous one: equal digests, and a fresh stat snapshot (a
        # file touched since, content unchanged, is then trusted by stat again next time).
        self.registry.record_task(
            self.run_id,
            replace(
                plan.previous,
                status="cached",
                started_at=now,
                finished_at=now,
                run_id="",
                fingerprint=plan.fingerprint,
            ),
        )
        return result

    def record(self, result: SessionResult, attempts: int) -> None:
        key = _key(result)
        plan = self.plans[key]
        folder = Workspace(self.root).processed_dir(result.subject, result.session)
        status = _TASK_STATUS.get(result.status, "failed")
        self.registry.record_task(
            self.run_id,
            TaskRecord(
                task_key=f"{result.subject}/{result.session}",
                status=status,
                cache_key=plan.cache_key if status == "done" else None,
                started_at=self.started_at.get(key),
                finished_at=utc_now(),
                attempts=attempts,
                phase_durations_s=dict(result.phase_durations_s),
                outputs=output_records(result.outputs, folder) if status == "done" else {},
                warnings=tuple(result.warnings),
                error=result.error,
                fingerprint=plan.fingerprint,
            ),
        )


_TASK_STATUS = {
    SessionStatus.SUCCEEDED: "done",
    SessionStatus.FAILED: "failed",
    SessionStatus.BUSY: "busy",
    SessionStatus.SKIPPED: "skipped",
    SessionStatus.CANCELLED: "cancelled",
    SessionStatus.INTERRUPTED: "cancelled",
}


class _Runner:
    """Sends sessions to the executor, retries transient failures, records every outcome."""

    def __init__(
        self,
        root: Path,
        config_path: Path | None,
        invocation: Sequence[str] | None,
        notify: Callable[[BatchEvent], None],
        recorder: _Recorder,
        executor: Executor,
    ) -> None:
        self.root, self.config_path, self.invocation = root, config_path, list(invocation or [])
        self.notify, self.recorder, self.executor = notify, recorder, executor
        self.refs: dict[str, SessionRef] = {}
        self.cancelled: list[SessionResult] = []

    def run(self, refs: list[SessionRef], retries: int) -> list[SessionResult]:
        """Run ``refs``; each outcome is recorded as it arrives, so a killed batch keeps the
        record of every session it finished."""
        results: dict[str, SessionResult] = {}
        attempts: dict[str, int] = {}
        pending = refs
        for round_ in range(retries + 1):
            if not pending:
                break
            again: list[SessionRef] = []

            def on_outcome(
                outcome: TaskOutcome,
                last: bool = round_ == retries,
                again: list[SessionRef] = again,
            ) -> None:
                ref = self.refs[outcome.key]
                attempts[outcome.key] = attempts.get(outcome.key, 0) + outcome.attempts
                result = self._result(ref, outcome)
                results[outcome.key] = result
                if result.status == SessionStatus.CANCELLED:
                    return
                # A transient failure the session reported is retried here, in the next
                # round; a lost worker or a failed task was already retried by the executor.
                retry_here = isinstance(outcome.value, SessionResult) and result.transient
                if retry_here and result.status == SessionStatus.FAILED and not last:
                    again.append(ref)
                    return
                if outcome.value is None and outcome.transient:  # its worker died inside it
                    _discard_unfinished_run(self.root, result)
                self.recorder.record(result, attempts[outcome.key])
                self.notify(SessionFinished(result))

            self.executor.run(
                [self._task(ref) for ref in pending],
                on_event=self._on_event,
                on_outcome=on_outcome,
                retries=retries,
            )
            pending = again
        return list(results.values())

    def close(self) -> None:
        self.executor.close()

    def _task(self, ref: SessionRef) -> TaskSpec:
        key = f"{ref.subject}/{ref.session}"
        self.refs[key] = ref
        config = str(self.config_path) if self.config_path is not None else None
        return TaskSpec(
            key,
            "w2t_bkin.batch:run_session_task",
            {
                "root": str(self.root),
                "subject": ref.subject,
                "session": ref.session,
                "config_path": config,
                "invocation": self.invocation,
            },
        )

    def _on_event(self, event: TaskEvent) -> None:
        ref = self.refs[event.key]
        if event.kind == "started":
            self.recorder.started_at.setdefault(_key(ref), utc_now())
            self.notify(SessionStarted(ref))
        elif event.kind == "progress":
            self.notify(SessionProgress(ref, event.detail, event.time_s, event.worker))

    def _result(self, ref: SessionRef, outcome: TaskOutcome) -> SessionResult:
        if outcome.cancelled:
            result = SessionResult(
                ref.subject, ref.session, status=SessionStatus.CANCELLED, error="cancelled"
            )
            self.recorder.record(result, outcome.attempts)
            self.cancelled.append(result)
            return result
        if isinstance(outcome.value, SessionResult):
            return outcome.value
        # The task raised or its worker was lost: no session code reported anything.
        return SessionResult(
            ref.subject,
            ref.session,
            status=SessionStatus.FAILED,
            error=f"the session's task failed on {outcome.worker or 'its worker'}: {outcome.error}",
            failed_phase="execution",
            exit_code=70,
            transient=outcome.transient,
        )


def _discard_unfinished_run(root: Path, result: SessionResult) -> None:
    """Remove what a session's run left when its worker died inside it (a failed ``result``).

    A worker killed mid-session (SIGKILL, out of memory, a lost Dask worker) leaves its staged
    NWB file and the sidecars written so far -- before the commit point even a ``status.json``
    saying "succeeded" -- beside no NWB file. Those are removed, ``pipeline.log`` is kept and
    told why, and ``previous/`` (the last good outputs, set aside when the run started) stays.
    Nothing is touched when the NWB file exists (the run published a complete set, or never
    set the earlier one aside) or when the session is still locked (its worker is alive after
    all); the next run cleans up either way.
    """
    import logging

    from w2t_bkin.errors import SessionBusyError
    from w2t_bkin.runtime.capture import LOG_FORMAT
    from w2t_bkin.session.context import nwb_file_name
    from w2t_bkin.session.outputs import PREVIOUS_DIR, remove_unfinished_outputs, session_lock

    folder = Workspace(root).processed_dir(result.subject, result.session)
    log = logging.getLogger(__name__)
    try:
        with session_lock(root, result.subject, result.session):
            nwb_name = nwb_file_name(result.subject, result.session)
            if not folder.is_dir() or (folder / nwb_name).is_file():
                return
            removed = remove_unfinished_outputs(folder, nwb_name, keep=("pipeline.log",))
            if (folder / PREVIOUS_DIR).is_dir():
                result.previous_outputs = folder / PREVIOUS_DIR
            note = logging.makeLogRecord(
                {
                    "name": __name__,
                    "levelno": logging.ERROR,
                    "levelname": "ERROR",
                    "msg": "the run stopped outside its session code (%s); removed what it "
                    "left unfinished: %s",
                    "args": (result.error, ", ".join(p.name for p in removed) or "nothing"),
                }
            )
            with (folder / "pipeline.log").open("a", encoding="utf-8") as session_log:
                session_log.write(logging.Formatter(LOG_FORMAT).format(note) + "\n")
    except SessionBusyError:
        log.warning("%s/%s is still locked: its outputs were left as they are", *_key(result))
    except OSError as exc:  # the next run of the session removes them instead
        log.warning("could not clean up after %s/%s: %s", *_key(result), exc)


def _one_at_a_time(
    runner: _Runner,
    refs: list[SessionRef],
    retries: int,
    root: Path,
    config_path: Path | None,
    notify: Callable[[BatchEvent], None],
) -> list[SessionResult]:
    """``continue_on_error = false``: one session at a time, the rest skipped after a failure."""
    results: list[SessionResult] = []
    for k, ref in enumerate(refs):
        (result,) = runner.run([ref], retries)
        results.append(result)
        if not result.ok:
            effective = config_path or open_workspace(root).config_path
            skipped = _skipped(refs[k + 1 :], result, effective)
            for item in skipped:
                runner.recorder.record(item, 0)
            results += skipped
            notify(BatchStopped(result, tuple(skipped), effective))
            break
    return results


def _failing_first(refs: list[SessionRef], checked: Preflight) -> list[SessionRef]:
    """``refs`` with the first session the preflight found failing moved to the front."""
    failing = [r for r in refs if (r.subject, r.session) in checked.blocking]
    return failing[:1] + [r for r in refs if r not in failing[:1]]


def _skipped(refs: list[SessionRef], failed: SessionResult, config: Path) -> list[SessionResult]:
    reason = (
        f"not processed: {failed.subject}/{failed.session} failed and "
        f"execution.continue_on_error is false in {config}"
    )
    return [
        SessionResult(r.subject, r.session, status=SessionStatus.SKIPPED, error=reason)
        for r in refs
    ]
