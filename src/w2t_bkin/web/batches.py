"""Batches started from the dashboard: ``run_batch`` in a background thread, watched live.

One batch runs at a time per server (a second start is refused with the running batch's id);
sessions also hold their own locks, so a ``w2t-bkin run`` on the same workspace meanwhile
meets ``busy`` sessions, never corrupted ones. Progress is the stream of batch events turned
into one snapshot per session (planned, running with its current phase, and how it ended),
the same per-session phase progress the CLI shows.

Cancelling uses the batch's own Ctrl-C path: the next event the batch reports (a session
starting or entering a phase) raises :class:`BatchCancelled`, a ``KeyboardInterrupt``, in
the batch thread; ``run_batch`` then records the unfinished sessions and the run as
cancelled. A session inside a long phase therefore stops when that phase ends (the pool's
workers when their next event arrives).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from w2t_bkin.errors import W2TError
from w2t_bkin.model.results import PHASES as PHASES
from w2t_bkin.web.errors import BatchBusyError, PathRefusedError

log = logging.getLogger(__name__)

BatchState = Literal["starting", "running", "succeeded", "failed", "cancelled", "error"]
FINAL_STATES = ("succeeded", "failed", "cancelled", "error")

#: Session states shown while a batch runs (the task statuses of the registry, plus these).
LIVE_SESSION_STATES = ("planned", "queued", "running")


class BatchCancelled(KeyboardInterrupt):
    """Raised in the batch thread at its next event after a cancel was requested."""


class BatchRequest(BaseModel):
    """What the dashboard's form (or ``POST /api/batches``) asks to run.

    ``config`` is a configuration file relative to the workspace root (e.g.
    ``configs/fast.toml``); empty uses ``ROOT/configuration.toml``. ``overrides`` is TOML
    merged over it (tables recursively); the merged file is validated before anything runs
    and kept as ``ROOT/.w2t/web/config-<batch>.toml`` (the run's ``--config``).
    """

    model_config = ConfigDict(extra="forbid")

    subject: str = Field("*", min_length=1, max_length=200, description="Subject glob.")
    session: str = Field("*", min_length=1, max_length=200, description="Session glob.")
    jobs: int | None = Field(None, ge=1, le=256, description="Sessions processed at once.")
    executor: Literal["local", "dask"] | None = Field(None, description="local or dask.")
    force: bool = Field(False, description="Process cached sessions again.")
    retries: int | None = Field(None, ge=0, le=10, description="Retries of transient failures.")
    config: str = Field("", max_length=500, description="Configuration file under ROOT.")
    overrides: str = Field(
        "",
        max_length=20_000,
        description="TOML merged over the configuration for this batch only, e.g. "
        "'[execution]\\ncontinue_on_error = false'.",
    )

    @field_validator("subject", "session")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        if "/" in value or "\\" in value:
            raise ValueError("a glob of one folder name, without '/'")
        return value


@dataclass
class SessionProgressView:
    """One session of a live batch (mutable: updated by the batch thread under the lock)."""

    key: str
    state: str = "planned"
    plan: str = ""
    reasons: list[str] = field(default_factory=list)
    phase: str = ""
    phases_done: int = 0
    worker: str = ""
    started_s: float | None = None
    finished_s: float | None = None
    error: str = ""
    n_warnings: int = 0

    def to_dict(self, now_s: float) -> dict[str, Any]:
        end = self.finished_s if self.finished_s is not None else now_s
        return {
            "key": self.key,
            "state": self.state,
            "plan": self.plan,
            "reasons": list(self.reasons),
            "phase": self.phase,
            "fraction": round(self.phases_done / len(PHASES), 3),
            "worker": self.worker,
            "elapsed_s": round(end - self.started_s, 2) if self.started_s is not None else None,
            "error": self.error,
            "n_warnings": self.n_warnings,
        }


@dataclass
class LiveBatch:
    """A batch started by this server: its request, state and per-session progress."""

    batch_id: str
    request: BatchRequest
    state: BatchState = "starting"
    run_id: str | None = None
    started_s: float = field(default_factory=time.time)
    finished_s: float | None = None
    message: str = ""
    sessions: dict[str, SessionProgressView] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    cancel_requested: bool = False

    def to_dict(self) -> dict[str, Any]:
        now = time.time()
        sessions = [s.to_dict(now) for s in self.sessions.values()]
        counts: dict[str, int] = {}
        for s in sessions:
            counts[s["state"]] = counts.get(s["state"], 0) + 1
        finished = sum(1 for s in sessions if s["state"] not in LIVE_SESSION_STATES)
        return {
            "batch_id": self.batch_id,
            "state": self.state,
            "final": self.state in FINAL_STATES,
            "run_id": self.run_id,
            "request": self.request.model_dump(),
            "started_s": self.started_s,
            "elapsed_s": round((self.finished_s or now) - self.started_s, 2),
            "message": self.message,
            "cancel_requested": self.cancel_requested,
            "n_sessions": len(sessions),
            "n_finished": finished,
            "counts": counts,
            "sessions": sessions,
            "problems": list(self.problems),
        }


class BatchManager:
    """Starts batches in a background thread and keeps their live state (thread-safe).

    Parameters
    ----------
    root
        The workspace.
    on_finished
        Called in the batch thread after each batch ends (the server refreshes freshness).
    history
        How many finished batches to remember.
    """

    def __init__(
        self, root: Path, on_finished: Callable[[LiveBatch], None] | None = None, history: int = 20
    ) -> None:
        self.root = Path(root)
        self.on_finished = on_finished
        self.history = history
        self._lock = threading.Lock()
        self._batches: dict[str, LiveBatch] = {}
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # -- queries ---------------------------------------------------------------------------

    def get(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            return batch.to_dict() if batch is not None else None

    def list_batches(self) -> list[dict[str, Any]]:
        """Every remembered batch, newest first."""
        with self._lock:
            return [b.to_dict() for b in reversed(self._batches.values())]

    def current(self) -> dict[str, Any] | None:
        """The running batch, or None."""
        with self._lock:
            batch = self._running()
            return batch.to_dict() if batch is not None else None

    def running_sessions(self) -> dict[str, str]:
        """``{"subject/session": phase}`` of the running batch's sessions that are running."""
        with self._lock:
            batch = self._running()
            if batch is None:
                return {}
            return {
                k: s.phase or "starting" for k, s in batch.sessions.items() if s.state == "running"
            }

    # -- actions ---------------------------------------------------------------------------

    def start(self, request: BatchRequest, invocation: list[str]) -> str:
        """Start ``request`` in a background thread; returns the batch id.

        Raises
        ------
        BatchBusyError
            A batch of this server is still running.
        W2TError
            The configuration file is outside the workspace or missing.
        """
        config_path = self._config_path(request.config)
        batch_id = f"b{next(self._ids)}-{int(time.time())}"
        with self._lock:
            running = self._running()
            if running is not None:
                raise BatchBusyError(
                    f"batch {running.batch_id} is still running (run {running.run_id or '?'})",
                    hint="wait for it to finish or cancel it first",
                )
            if request.overrides.strip():
                config_path = self._with_overrides(config_path, request.overrides, batch_id)
            batch = LiveBatch(batch_id, request)
            self._batches[batch.batch_id] = batch
            while len(self._batches) > self.history:
                oldest = next(iter(self._batches))
                if self._batches[oldest].state not in FINAL_STATES:
                    break
                del self._batches[oldest]
            self._thread = threading.Thread(
                target=self._run,
                args=(batch, config_path, invocation),
                name=f"w2t-batch-{batch.batch_id}",
                daemon=True,
            )
            self._thread.start()
        return batch.batch_id

    def cancel(self, batch_id: str) -> bool:
        """Ask batch ``batch_id`` to stop; False when it is unknown or already over."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None or batch.state in FINAL_STATES:
                return False
            batch.cancel_requested = True
            batch.message = "cancelling: the running sessions stop at their next phase"
            return True

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the batch thread (tests, server shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    # -- the batch thread ------------------------------------------------------------------

    def _running(self) -> LiveBatch | None:
        for batch in self._batches.values():
            if batch.state not in FINAL_STATES:
                return batch
        return None

    def _config_path(self, config: str) -> Path | None:
        if not config.strip():
            return None
        relative = Path(config.strip())
        root = self.root.resolve()
        target = (root / relative).resolve()
        if relative.is_absolute() or ".." in relative.parts or not target.is_relative_to(root):
            raise PathRefusedError(
                f"configuration file {config!r} is outside the workspace {root}",
                hint="give a path relative to the workspace root, e.g. configs/fast.toml",
            )
        if not target.is_file():
            raise PathRefusedError(
                f"configuration file {config!r} not found in {root}",
                hint="give a path relative to the workspace root, e.g. configuration.toml",
            )
        return target

    def _with_overrides(self, config_path: Path | None, overrides: str, batch_id: str) -> Path:
        """The configuration with ``overrides`` merged in, validated, written for this batch.

        Raises
        ------
        ConfigError
            The overrides are not TOML, or the merged configuration is invalid (the message
            names the key and the closest valid one).
        """
        import tomllib

        import tomli_w

        from w2t_bkin.config import CONFIG_FILENAME, parse_config
        from w2t_bkin.errors import ConfigError
        from w2t_bkin.io_utils import atomic_write_text
        from w2t_bkin.tomlerrors import read_toml

        try:
            extra = tomllib.loads(overrides)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"configuration overrides are not valid TOML: {exc}",
                hint="write TOML tables, e.g. [execution] then continue_on_error = false",
            ) from None
        base_path = config_path or self.root / CONFIG_FILENAME
        base = read_toml(base_path, ConfigError)[0] if base_path.is_file() else {}
        merged = _merge(base, extra)
        text = tomli_w.dumps(merged)
        target = self.root / ".w2t" / "web" / f"config-{batch_id}.toml"
        parse_config(merged, source=target, text=text)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
        return target

    def _run(self, batch: LiveBatch, config_path: Path | None, invocation: list[str]) -> None:
        from w2t_bkin.batch import run_batch

        request = batch.request
        with self._lock:
            batch.state = "running"
        try:
            result = run_batch(
                self.root,
                subject=request.subject,
                session=request.session,
                config_path=config_path,
                invocation=invocation,
                on_event=lambda event: self._on_event(batch, event),
                jobs=request.jobs,
                executor=request.executor,
                force=request.force,
                retries=request.retries,
            )
        except KeyboardInterrupt:
            self._end(batch, "cancelled", "cancelled: unfinished sessions are recorded as such")
        except W2TError as exc:
            self._end(batch, "error", f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        except Exception as exc:  # the batch thread must leave a readable state, never hang
            log.exception("batch %s failed", batch.batch_id)
            self._end(batch, "error", f"internal error: {type(exc).__name__}: {exc}")
        else:
            with self._lock:
                batch.run_id = result.run_id
            ok = result.exit_code == 0
            self._end(batch, "succeeded" if ok else "failed", "" if ok else "some sessions failed")
        if self.on_finished is not None:
            try:
                self.on_finished(batch)
            except Exception:  # a refresh that fails must not hide the batch's own outcome
                log.exception("after batch %s", batch.batch_id)

    def _end(self, batch: LiveBatch, state: BatchState, message: str) -> None:
        with self._lock:
            if batch.run_id is None:
                batch.run_id = self._latest_run_id()
            for session in batch.sessions.values():
                if session.state in LIVE_SESSION_STATES:
                    session.state = "cancelled" if state == "cancelled" else "not run"
                    session.finished_s = time.time()
            batch.state, batch.message, batch.finished_s = state, message, time.time()

    def _latest_run_id(self) -> str | None:
        """A cancelled batch returns no result: its run is the newest this process started."""
        import os

        from w2t_bkin.runtime.registry import Registry, registry_path

        for run in Registry(registry_path(self.root)).list_runs(5):
            if run.pid == os.getpid():
                return run.run_id
        return None

    def _on_event(self, batch: LiveBatch, event: Any) -> None:
        from w2t_bkin import batch as b

        with self._lock:
            if batch.cancel_requested and isinstance(event, b.SessionStarted | b.SessionProgress):
                raise BatchCancelled()
            if isinstance(event, b.PreflightProblems):
                batch.problems = [_problem_text(p) for p in event.problems]
            elif isinstance(event, b.SessionPlanned):
                view = self._view(batch, event.ref)
                view.plan, view.reasons = event.decision.state, list(event.decision.reasons)
                view.state = "queued" if event.decision.must_run else "planned"
            elif isinstance(event, b.SessionStarted):
                view = self._view(batch, event.ref)
                view.state, view.started_s, view.phases_done = "running", time.time(), 0
            elif isinstance(event, b.SessionProgress):
                view = self._view(batch, event.ref)
                phase = event.detail.removeprefix("phase ")
                view.state, view.phase, view.worker = "running", phase, event.worker
                if view.started_s is None:
                    view.started_s = time.time()
                if phase in PHASES:
                    view.phases_done = PHASES.index(phase)
            elif isinstance(event, b.SessionFinished):
                result = event.result
                view = self._view(batch, result)
                view.state = str(result.status)  # a StrEnum: its value
                view.finished_s = time.time()
                view.phases_done = len(PHASES) if result.ok else view.phases_done
                view.error = _first_line(result.error)
                view.n_warnings = len(result.warnings)
                if result.failed_phase:
                    view.phase = result.failed_phase
            elif isinstance(event, b.BatchStopped):
                batch.message = (
                    f"stopped after {event.failed.subject}/{event.failed.session} failed "
                    f"(execution.continue_on_error is false in {event.config_path})"
                )

    @staticmethod
    def _view(batch: LiveBatch, ref: Any) -> SessionProgressView:
        key = f"{ref.subject}/{ref.session}"
        view = batch.sessions.get(key)
        if view is None:
            view = batch.sessions[key] = SessionProgressView(key)
        return view


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``: tables merge recursively, any other value replaces."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _problem_text(problem: Any) -> str:
    """A preflight :class:`~w2t_bkin.workspace.validate.Problem` in one line with its fix."""
    hint = f" (fix: {problem.hint})" if problem.hint else ""
    return f"{problem.severity}: {problem.message}{hint}"


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
