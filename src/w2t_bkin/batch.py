"""Many sessions: select, run each, record, aggregate -- the one loop every entry point calls.

The CLI (``w2t-bkin run``, ``w2t-bkin demo``), and later the dashboard, Dask and Prefect, call
:func:`run_batch`; how results are shown is theirs (an ``on_event`` callback), what is run and
in which order, and when a batch stops, is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from w2t_bkin.config import load_workspace_config
from w2t_bkin.errors import W2TError
from w2t_bkin.model.results import SessionResult, SessionStatus
from w2t_bkin.session import process_session
from w2t_bkin.session.preflight import Preflight, Problem, preflight
from w2t_bkin.workspace.discovery import SessionRef, discover_sessions
from w2t_bkin.workspace.layout import open_workspace

# The phase name of a session failed by the preflight without running. run_batch runs every
# session instead (one with a preflight error fails fast in its own phase and writes its
# status.json); the name stays for the CLI, which prints such results apart.
PREFLIGHT_PHASE = "preflight"


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


BatchEvent = PreflightProblems | SessionStarted | SessionFinished | BatchStopped


@dataclass
class BatchResult:
    """Every selected session's result, in selection order (skipped ones included)."""

    results: list[SessionResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every session succeeded, else the largest exit code of those that did not."""
        return max((r.exit_code for r in self.results if not r.ok), default=0)


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


def run_batch(
    root: Path,
    *,
    subject: str = "*",
    session: str = "*",
    config_path: Path | None = None,
    invocation: Sequence[str] | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
) -> BatchResult:
    """Check every selected session (the preflight), then process them one after another.

    The preflight (:func:`w2t_bkin.session.preflight.preflight`, the checks of ``data
    validate``) reports every problem of every selected session at once, before any session
    runs (a :class:`PreflightProblems` event). Each session then runs as before: one with a
    preflight error fails in its own phase (configuration ... ingestion) with that error, fast,
    and leaves its ``status.json`` and ``pipeline.log`` like any failed run.

    When a session fails and the effective configuration (``config_path`` or
    ROOT/configuration.toml) sets ``execution.continue_on_error = false``, the remaining
    sessions are not processed; their results have status ``skipped``. The first session the
    preflight found failing then runs first, so that no session is processed for nothing.
    Results are in selection order either way.

    Parameters
    ----------
    invocation
        What the user asked for (the CLI's command line), recorded in every session's
        provenance.
    on_event
        Called with each :data:`BatchEvent` as it happens (progress display).

    Raises
    ------
    ConfigError
        The effective configuration is missing (``config_path``) or invalid; nothing runs.
    W2TError
        No session matches the selection.
    """
    notify = on_event or (lambda event: None)
    # The same loader process_session uses, read once up front: a batch needs the policy
    # before its first session, and an invalid file fails every session alike.
    continue_on_error = load_workspace_config(root, config_path).execution.continue_on_error
    refs = select_sessions(root, subject, session)
    checked = preflight(root, subject, session, config_path)
    if checked.problems:
        notify(PreflightProblems(tuple(checked.problems)))
    order = refs if continue_on_error else _failing_first(refs, checked)
    batch = BatchResult()
    for k, ref in enumerate(order):
        notify(SessionStarted(ref))
        result = process_session(
            root, ref.subject, ref.session, config_path=config_path, invocation=invocation
        )
        batch.results.append(result)
        notify(SessionFinished(result))
        if not result.ok and not continue_on_error:
            effective = config_path or open_workspace(root).config_path
            skipped = _skipped(order[k + 1 :], result, effective)
            batch.results += skipped
            notify(BatchStopped(result, tuple(skipped), effective))
            break
    position = {(r.subject, r.session): i for i, r in enumerate(refs)}
    batch.results.sort(key=lambda r: position[(r.subject, r.session)])
    return batch


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
