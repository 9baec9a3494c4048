"""The run registry: which runs happened, and what each did to each task (SQLite).

One file per workspace, ``ROOT/.w2t/registry.sqlite`` (:func:`registry_path`), written only by
the process that coordinates a run (never by its workers), read by anyone (``status``,
``runs list``, ``runs show``). Two coordinators may write at once (two ``run`` commands on one
workspace): the database is in WAL mode, every write is one ``BEGIN IMMEDIATE`` transaction and
waits up to :data:`BUSY_TIMEOUT_S` for the other writer.

Tables
------
``runs``
    One row per run: id (a UUID), start and end (ISO 8601, UTC), status (:data:`RUN_STATUSES`),
    the command line and effective configuration (JSON), host, user, package version, and the
    coordinator's PID and process start time (to tell a killed run from a running one).
``task_runs``
    One row per task of a run (a session, ``"mouse01/ses01"``): cache key, status
    (:data:`TASK_STATUSES`), times, attempts, phase durations, outputs with their checksums,
    warnings, error, and the fingerprint record the cache decision compares with.
``schema_version``
    The schema's version; :data:`MIGRATIONS` brings an older file up to date on first write.

This module is generic machinery: a task is a key and JSON, whatever the domain puts in it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from w2t_bkin import __version__
from w2t_bkin.errors import RegistryError

REGISTRY_NAME = "registry.sqlite"
BUSY_TIMEOUT_S = 60.0
SCHEMA_VERSION = 1

RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "cancelled")
TASK_STATUSES = ("done", "cached", "failed", "skipped", "busy", "cancelled")
SUCCEEDED_TASK_STATUSES = ("done", "cached")
"""Task statuses whose outputs are complete (a cache decision may reuse them)."""

_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    command TEXT NOT NULL,
    config TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    version TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_started TEXT
);
CREATE TABLE task_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    task_key TEXT NOT NULL,
    cache_key TEXT,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    attempts INTEGER NOT NULL,
    phase_durations TEXT NOT NULL,
    outputs TEXT NOT NULL,
    warnings TEXT NOT NULL,
    error TEXT,
    fingerprint TEXT NOT NULL,
    UNIQUE (run_id, task_key)
);
CREATE INDEX task_runs_by_key ON task_runs (task_key, id);
"""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1}
"""Version -> the SQL that brings the schema from the version before it to this one."""


def registry_path(root: Path) -> Path:
    """The registry of the workspace at ``root``: ``ROOT/.w2t/registry.sqlite``."""
    return Path(root) / ".w2t" / REGISTRY_NAME


def utc_now() -> str:
    """The current time as ISO 8601 text in UTC (how the registry stores times)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class OutputRecord:
    """One output file of a task, as it was when the task finished."""

    path: str
    sha256: str
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class TaskRecord:
    """What one run did to one task.

    Attributes
    ----------
    task_key
        The task's name (``"mouse01/ses01"``).
    status
        One of :data:`TASK_STATUSES`.
    phase_durations_s
        Wall time of each completed phase, in order.
    outputs
        Output name to its :class:`OutputRecord`.
    fingerprint
        What the outputs are made of (JSON), for the next cache decision to compare with.
    run_id
        Filled in by :meth:`Registry.record_task` (and on every record read back).
    """

    task_key: str
    status: str
    cache_key: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 1
    phase_durations_s: Mapping[str, float] = field(default_factory=dict)
    outputs: Mapping[str, OutputRecord] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    error: str | None = None
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    run_id: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED_TASK_STATUSES


@dataclass(frozen=True)
class RunRecord:
    """One run; ``tasks`` is filled by :meth:`Registry.get_run` (empty from ``list_runs``).

    ``status`` is ``interrupted`` for a run recorded as ``running`` whose coordinator is gone
    (checked on this host only; a run of another host keeps its recorded status).
    ``task_counts`` is the number of its tasks per status.
    """

    run_id: str
    started_at: str
    finished_at: str | None
    status: str
    command: tuple[str, ...]
    config: Mapping[str, Any]
    host: str
    user: str
    version: str
    pid: int
    task_counts: Mapping[str, int] = field(default_factory=dict)
    tasks: tuple[TaskRecord, ...] = ()


class Registry:
    """The run registry in the SQLite file ``path`` (created with its folder on first write).

    Each call opens its own connection, so one object serves several threads. Reading a
    registry that does not exist yet finds no runs and creates nothing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- writing (the coordinating process only) -------------------------------------------

    def start_run(self, command: Iterable[str], config_json: Mapping[str, Any]) -> str:
        """Record a run as ``running`` by this process; returns its new run id."""
        run_id = str(uuid.uuid4())
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, status, command, config, "
                "host, user, version, pid, pid_started) VALUES (?, ?, NULL, 'running', ?, ?, ?, "
                "?, ?, ?, ?)",
                (
                    run_id,
                    utc_now(),
                    json.dumps(list(command)),
                    json.dumps(config_json, sort_keys=True, default=str),
                    socket.gethostname(),
                    _user(),
                    __version__,
                    os.getpid(),
                    _process_start(os.getpid()),
                ),
            )
        return run_id

    def record_task(self, run_id: str, task: TaskRecord) -> None:
        """Record (or replace) what run ``run_id`` did to ``task.task_key``."""
        _check_status(task.status, TASK_STATUSES, "task")
        outputs = {name: out.to_dict() for name, out in task.outputs.items()}
        with self._write() as db:
            self._require_run(db, run_id)
            db.execute(
                "INSERT OR REPLACE INTO task_runs (run_id, task_key, cache_key, status, "
                "started_at, finished_at, attempts, phase_durations, outputs, warnings, error, "
                "fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    task.task_key,
                    task.cache_key,
                    task.status,
                    task.started_at,
                    task.finished_at,
                    task.attempts,
                    json.dumps(dict(task.phase_durations_s)),
                    json.dumps(outputs, sort_keys=True),
                    json.dumps(list(task.warnings)),
                    task.error,
                    json.dumps(task.fingerprint, sort_keys=True, default=str),
                ),
            )

    def finish_run(self, run_id: str, status: str) -> None:
        """Record how run ``run_id`` ended (any of :data:`RUN_STATUSES` but ``running``)."""
        _check_status(status, RUN_STATUSES[1:], "finished run")
        with self._write() as db:
            self._require_run(db, run_id)
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (status, utc_now(), run_id),
            )

    def mark_stale_runs(self) -> list[str]:
        """Record as ``interrupted`` the running runs of this host whose coordinator is gone.

        Returns their run ids. A coordinator calls this before it starts its own run.
        """
        if not self.path.is_file():
            return []
        with self._write() as db:
            rows = db.execute(
                "SELECT run_id, host, pid, pid_started FROM runs WHERE status = 'running'"
            ).fetchall()
            stale = [row[0] for row in rows if _coordinator_gone(row[1], row[2], row[3])]
            db.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ?",
                [(utc_now(), run_id) for run_id in stale],
            )
        return stale

    # -- reading ---------------------------------------------------------------------------

    def latest_task(
        self, task_key: str, status_in: Iterable[str] | None = None
    ) -> TaskRecord | None:
        """The last recorded run of ``task_key`` (with a status in ``status_in``), or None."""
        statuses = tuple(status_in) if status_in is not None else TASK_STATUSES
        marks = ", ".join("?" * len(statuses))
        with self._read() as db:
            if db is None:
                return None
            row = db.execute(
                f"SELECT {_TASK_COLUMNS} FROM task_runs WHERE task_key = ? AND status IN "
                f"({marks}) ORDER BY id DESC LIMIT 1",
                (task_key, *statuses),
            ).fetchone()
        return _task(row) if row is not None else None

    def list_runs(self, limit: int | None = 20) -> list[RunRecord]:
        """The latest ``limit`` runs (all with ``None``), newest first, with task counts."""
        with self._read() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
            return [_run(row, counts=_task_counts(db, row[0])) for row in rows]

    def get_run(self, run_id: str) -> RunRecord:
        """The run whose id starts with ``run_id`` (like a git hash), with its tasks.

        Raises
        ------
        RegistryError
            No run, or more than one, has an id starting with ``run_id``.
        """
        prefix = run_id.strip().lower()
        with self._read() as db:
            rows = (
                db.execute(
                    f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(run_id, 1, ?) = ? "
                    "ORDER BY run_id",
                    (len(prefix), prefix),
                ).fetchall()
                if db is not None and prefix
                else []
            )
            if len(rows) > 1:
                ids = ", ".join(row[0] for row in rows)
                raise RegistryError(
                    f"run id {run_id!r} is ambiguous: {len(rows)} runs in {self.path} start with "
                    f"it ({ids})",
                    hint="give more characters of the run id",
                )
            if not rows:
                raise RegistryError(
                    f"no run with id {run_id!r} in {self.path}",
                    hint="list the recorded runs with: w2t-bkin runs list ROOT",
                )
            assert db is not None
            tasks = db.execute(
                f"SELECT {_TASK_COLUMNS} FROM task_runs WHERE run_id = ? ORDER BY id",
                (rows[0][0],),
            ).fetchall()
            return _run(rows[0], counts=_task_counts(db, rows[0][0]), tasks=tasks)

    # -- connections -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``) on an up-to-date schema."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise self._error("cannot open", exc) from exc
        try:
            _ensure_wal(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                _migrate(db)
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()
        except sqlite3.Error as exc:
            raise self._error("cannot write", exc) from exc
        finally:
            db.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        """A connection for reading, or None when the registry does not exist yet."""
        if not self.path.is_file():
            yield None
            return
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            if _schema_version(db) == 0:
                yield None
                return
            yield db
        except sqlite3.Error as exc:
            raise self._error("cannot read", exc) from exc
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return db

    def _require_run(self, db: sqlite3.Connection, run_id: str) -> None:
        if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise RegistryError(
                f"no run with id {run_id!r} in {self.path}",
                hint="start the run with Registry.start_run and use the id it returns",
            )

    def _error(self, what: str, exc: Exception) -> RegistryError:
        return RegistryError(
            f"{what} the run registry {self.path}: {exc}",
            hint="check that the folder is writable and the file is a w2t-bkin registry; "
            "moving the file away starts a new history",
            path=self.path,
        )


def _ensure_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL once; retried while another coordinator holds it.

    Changing the journal mode does not wait on SQLite's busy handler: two coordinators
    creating the registry at the same moment would otherwise see "database is locked" at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_RUN_COLUMNS = (
    "run_id, started_at, finished_at, status, command, config, host, user, version, pid, "
    "pid_started"
)
_TASK_COLUMNS = (
    "run_id, task_key, cache_key, status, started_at, finished_at, attempts, phase_durations, "
    "outputs, warnings, error, fingerprint"
)


def _run(
    row: tuple[Any, ...], *, counts: Mapping[str, int], tasks: Iterable[tuple[Any, ...]] = ()
) -> RunRecord:
    run_id, started, finished, status, command, config, host, user, version, pid, pid_started = row
    if status == "running" and _coordinator_gone(host, pid, pid_started):
        status = "interrupted"
    return RunRecord(
        run_id=run_id,
        started_at=started,
        finished_at=finished,
        status=status,
        command=tuple(json.loads(command)),
        config=json.loads(config),
        host=host,
        user=user,
        version=version,
        pid=pid,
        task_counts=counts,
        tasks=tuple(_task(task) for task in tasks),
    )


def _task(row: tuple[Any, ...]) -> TaskRecord:
    (
        run_id,
        key,
        cache_key,
        status,
        started,
        finished,
        attempts,
        durations,
        outputs,
        warnings,
        error,
        fingerprint,
    ) = row
    return TaskRecord(
        run_id=run_id,
        task_key=key,
        cache_key=cache_key,
        status=status,
        started_at=started,
        finished_at=finished,
        attempts=attempts,
        phase_durations_s=json.loads(durations),
        outputs={name: OutputRecord(**out) for name, out in json.loads(outputs).items()},
        warnings=tuple(json.loads(warnings)),
        error=error,
        fingerprint=json.loads(fingerprint),
    )


def _task_counts(db: sqlite3.Connection, run_id: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, count(*) FROM task_runs WHERE run_id = ? GROUP BY status ORDER BY status",
        (run_id,),
    ).fetchall()
    return {status: n for status, n in rows}


def _schema_version(db: sqlite3.Connection) -> int:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    version = _schema_version(db)
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"schema version {version} is newer than this w2t-bkin's ({SCHEMA_VERSION}); "
            "upgrade w2t-bkin"
        )
    if version == 0:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT)")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?, ?)", (target, utc_now()))


def _check_status(status: str, allowed: tuple[str, ...], what: str) -> None:
    if status not in allowed:
        raise RegistryError(
            f"{status!r} is not a {what} status",
            hint=f"use one of: {', '.join(allowed)}",
        )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None.

    With the PID it names one process: a PID reused by a later process has another start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its ")".
    return stat.rsplit(")", 1)[1].split()[19]


def _coordinator_gone(host: str, pid: int, pid_started: str | None) -> bool:
    """Whether the coordinator of a run recorded as running is no longer alive (this host)."""
    if host != socket.gethostname():
        return False  # another machine's process: nothing here can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return pid_started is not None and _process_start(pid) not in (None, pid_started)
