"""What the dashboard shows about sessions: the latest recorded state of each, and freshness.

The overview must stay fast on a 1,000-session workspace, so it never computes a fingerprint:
it joins the discovered session folders with *one* query for every session's latest task in
the run registry (:func:`latest_tasks`). Whether a ``done`` session went stale (its inputs,
settings, metadata or outputs changed) needs its inputs' digests; :class:`FreshnessCache`
keeps those verdicts, computed off the request path (the session page computes its own live).

The states are those of ``w2t-bkin status``: ``done`` / ``cached`` (up to date), ``stale``
with reasons, ``failed``, ``never run``, or the last task status (``skipped``, ``busy``,
``cancelled``); the dashboard adds ``running`` for a session in its live batch.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w2t_bkin.errors import W2TError
from w2t_bkin.runtime.registry import TaskRecord, registry_path
from w2t_bkin.workspace.discovery import SessionRef, discover_sessions
from w2t_bkin.workspace.layout import Workspace, open_workspace

#: States whose outputs stand (a freshness check may turn them ``stale``).
UP_TO_DATE = ("done", "cached")


@dataclass(frozen=True)
class LatestTask:
    """The registry's last record of one session (only the columns the overview shows)."""

    key: str
    status: str
    run_id: str
    finished_at: str | None
    error: str | None
    n_warnings: int
    row_id: int


@dataclass(frozen=True)
class SessionRow:
    """One session in the overview.

    ``checked`` is False while a ``done``/``cached`` session's freshness is not known yet.
    """

    subject: str
    session: str
    state: str
    reasons: tuple[str, ...] = ()
    n_warnings: int = 0
    run_id: str | None = None
    finished_at: str | None = None
    has_qc: bool = False
    checked: bool = True

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.session}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "session": self.session,
            "state": self.state,
            "reasons": list(self.reasons),
            "n_warnings": self.n_warnings,
            "run_id": self.run_id,
            "finished_at": self.finished_at,
            "has_qc": self.has_qc,
            "checked": self.checked,
        }


@dataclass(frozen=True)
class Overview:
    """Every session of a workspace with its latest state, grouped by subject in order."""

    rows: tuple[SessionRow, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def subjects(self) -> list[tuple[str, list[SessionRow]]]:
        groups: dict[str, list[SessionRow]] = {}
        for row in self.rows:
            groups.setdefault(row.subject, []).append(row)
        return list(groups.items())


def latest_tasks(root: Path) -> dict[str, LatestTask]:
    """Every task key's latest record in ``ROOT/.w2t/registry.sqlite``, in one query.

    A workspace without a registry has no records (nothing is created). The registry is opened
    read-only: the dashboard never writes it except through ``run_batch``.

    Raises
    ------
    W2TError
        The registry exists but cannot be read (corrupt, or not a registry).
    """
    path = registry_path(root)
    if not path.is_file():
        return {}
    query = (
        "SELECT t.task_key, t.status, t.run_id, t.finished_at, t.error, t.warnings, t.id "
        "FROM task_runs t JOIN (SELECT task_key, MAX(id) AS id FROM task_runs "
        "GROUP BY task_key) m ON t.id = m.id"
    )
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            rows = db.execute(query).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise W2TError(
            f"cannot read the run registry {path}: {exc}",
            hint="check the file; `w2t-bkin runs list ROOT` reads the same registry",
            path=path,
        ) from exc
    return {
        key: LatestTask(key, status, run_id, finished, error, len(json.loads(warnings)), row_id)
        for key, status, run_id, finished, error, warnings, row_id in rows
    }


def task_history(root: Path, key: str, limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` records of one session, newest first (run id, status, times, error)."""
    path = registry_path(root)
    if not path.is_file():
        return []
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = db.execute(
            "SELECT run_id, status, started_at, finished_at, attempts, phase_durations, error "
            "FROM task_runs WHERE task_key = ? ORDER BY id DESC LIMIT ?",
            (key, limit),
        ).fetchall()
    finally:
        db.close()
    return [
        {
            "run_id": run_id,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "attempts": attempts,
            "duration_s": sum(json.loads(phases).values()),
            "error": first_line(error),
        }
        for run_id, status, started, finished, attempts, phases, error in rows
    ]


def overview(
    root: Path,
    freshness: FreshnessCache | None = None,
    running: Mapping[str, str] | None = None,
) -> Overview:
    """Every discovered session with its latest state.

    Parameters
    ----------
    root
        The workspace.
    freshness
        Known verdicts for up-to-date sessions; without one, ``done`` stays ``done``.
    running
        ``{"subject/session": phase}`` of the sessions the live batch is processing.
    """
    workspace = open_workspace(root)
    refs = discover_sessions(workspace)
    latest = latest_tasks(root)
    running = running or {}
    processed = str(workspace.processed)
    rows = tuple(_row(processed, ref, latest.get(_key(ref)), freshness, running) for ref in refs)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return Overview(rows, counts)


def _key(ref: SessionRef) -> str:
    return f"{ref.subject}/{ref.session}"


def _row(
    processed: str,
    ref: SessionRef,
    latest: LatestTask | None,
    freshness: FreshnessCache | None,
    running: Mapping[str, str],
) -> SessionRow:
    # os.path on a string: pathlib's joins cost more than the stat on a 1,000-session page
    has_qc = os.path.isfile(f"{processed}/{ref.subject}/{ref.session}/qc/report.html")
    key = _key(ref)
    if key in running:
        return SessionRow(ref.subject, ref.session, "running", (running[key],), has_qc=has_qc)
    if latest is None:
        return SessionRow(ref.subject, ref.session, "never run", has_qc=has_qc)
    state, checked = latest.status, True
    reasons: tuple[str, ...] = ()
    if latest.status in UP_TO_DATE:
        verdict = freshness.get(key, latest.row_id) if freshness is not None else None
        checked = verdict is not None
        if verdict is not None and verdict[0] == "stale":
            state, reasons = "stale", verdict[1]
    elif latest.error:
        reasons = (first_line(latest.error),)
    return SessionRow(
        ref.subject,
        ref.session,
        state,
        reasons,
        latest.n_warnings,
        latest.run_id,
        latest.finished_at,
        has_qc,
        checked,
    )


def session_freshness(
    root: Path, subject: str, session: str, latest: TaskRecord | None
) -> tuple[str, tuple[str, ...]]:
    """Whether a session's last successful outputs still stand: ``(state, reasons)``.

    ``state`` is ``cached`` (nothing changed), ``stale`` (with what changed) or ``run`` (never
    ran successfully). Trusts the stat snapshot the last run recorded when every file still
    stats the same (as ``w2t-bkin status``); otherwise reads the session's metadata and its
    inputs' digests (cached on disk).
    """
    from w2t_bkin.session.cache import decide, recorded_decision, session_cache_inputs

    key = f"{subject}/{session}"
    quick = recorded_decision(root, subject, session, None, latest)
    if quick is not None:
        return quick.state, quick.reasons
    try:
        current, sections, metadata = session_cache_inputs(root, subject, session, None)
    except W2TError as exc:
        return "stale", (f"cannot check: {first_line(exc.message)}",)
    outputs_dir = Workspace(root).processed_dir(subject, session)
    decision = decide(key, current, sections, metadata, latest, outputs_dir)
    return decision.state, decision.reasons


class FreshnessCache:
    """Freshness verdicts of up-to-date sessions, keyed by the registry row they judged.

    A verdict is reused while the session's latest registry row is the same; files that change
    on disk without a new run are noticed at the next :meth:`refresh` (a sweep the server runs
    in a background thread, and again after each batch).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._verdicts: dict[str, tuple[int, str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, row_id: int) -> tuple[str, tuple[str, ...]] | None:
        """The verdict on ``key`` for registry row ``row_id``, or None when not checked."""
        with self._lock:
            verdict = self._verdicts.get(key)
        if verdict is None or verdict[0] != row_id:
            return None
        return verdict[1], verdict[2]

    def refresh(
        self, keys: Iterable[str] | None = None, stop: threading.Event | None = None
    ) -> int:
        """Check the up-to-date sessions (all, or ``keys``); returns how many were checked."""
        from w2t_bkin.runtime.registry import Registry

        latest = latest_tasks(self.root)
        registry = Registry(registry_path(self.root))
        wanted = set(keys) if keys is not None else None
        n_checked = 0
        for key, task in latest.items():
            if stop is not None and stop.is_set():
                break
            if task.status not in UP_TO_DATE or (wanted is not None and key not in wanted):
                continue
            subject, _, session = key.partition("/")
            if not (self.root / "data" / "raw" / subject / session).is_dir():
                continue  # a session folder that was removed: nothing to compare
            record = registry.latest_task(key)
            state, reasons = session_freshness(self.root, subject, session, record)
            with self._lock:
                self._verdicts[key] = (task.row_id, state, reasons)
            n_checked += 1
        return n_checked


def first_line(text: str | None) -> str:
    """The first non-empty line of ``text`` ("" for none)."""
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
