"""The feature registry: runs, entries, lineage edges and training progress in SQLite.

One writer (the process that runs features) holds a :class:`FeatureRegistry`; readers (status
commands, a dashboard, a notebook watching a training job) use the module-level functions,
which open the file read-only. In WAL mode a reader never waits for the writer.

WAL needs shared memory that network filesystems do not provide, and it lost writes on exFAT
in the system we replace. So the filesystem under the database is looked up in
``/proc/mounts`` first: on a network mount the registry refuses to open (put it on a local
disk with ``W2T_FEATURES_REGISTRY``); on FAT-family disks it falls back to SQLite's rollback
journal, which is safe there because those disks are local.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from w2t_bkin.errors import RegistryError
from w2t_bkin.features.errors import RegistryUnsafeError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NETWORK_FILESYSTEMS",
    "ROLLBACK_FILESYSTEMS",
    "EntryRow",
    "FeatureRegistry",
    "filesystem_type",
    "journal_mode_for",
    "read_progress",
    "utc_now",
]

BUSY_TIMEOUT_MS = 30_000
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "9p",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.rclone",
        "davfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "panfs",
        "ncpfs",
        "coda",
        "orangefs",
    }
)
"""Filesystem types (``/proc/mounts`` third field) on which the registry refuses to open."""
ROLLBACK_FILESYSTEMS = frozenset({"exfat", "vfat", "msdos", "fat", "fuseblk", "ntfs", "ntfs3"})
"""Local filesystem types where WAL is not trusted: the registry uses a rollback journal."""

EntryStatus = Literal["done", "empty", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    feature TEXT NOT NULL, run_id TEXT NOT NULL, version TEXT NOT NULL,
    payload_json TEXT NOT NULL, scope_json TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL DEFAULT '',
    n_entries INTEGER NOT NULL DEFAULT 0, n_failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (feature, run_id)
);
CREATE TABLE IF NOT EXISTS entries (
    feature TEXT NOT NULL, run_id TEXT NOT NULL, group_ TEXT NOT NULL, sequence TEXT NOT NULL,
    entry_key TEXT NOT NULL, status TEXT NOT NULL, n_rows INTEGER NOT NULL DEFAULT 0,
    input_digest TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
    written_at TEXT NOT NULL,
    PRIMARY KEY (feature, run_id, group_, sequence)
);
CREATE TABLE IF NOT EXISTS dependencies (
    feature TEXT NOT NULL, run_id TEXT NOT NULL,
    upstream_feature TEXT NOT NULL, upstream_run_id TEXT NOT NULL,
    PRIMARY KEY (feature, run_id, upstream_feature, upstream_run_id)
);
CREATE TABLE IF NOT EXISTS progress (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, kind TEXT NOT NULL,
    step_index INTEGER NOT NULL DEFAULT 0, step_total INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '', metrics_json TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '', t TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tracks (
    group_ TEXT NOT NULL, sequence TEXT NOT NULL, entry_key TEXT NOT NULL,
    subject TEXT NOT NULL, session TEXT NOT NULL, camera TEXT NOT NULL, individual TEXT NOT NULL,
    digest TEXT NOT NULL, n_frames INTEGER NOT NULL, keypoints_json TEXT NOT NULL,
    n_space INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL,
    PRIMARY KEY (group_, sequence)
);
CREATE INDEX IF NOT EXISTS progress_job ON progress (job_id, seq);
CREATE INDEX IF NOT EXISTS dependencies_up ON dependencies (upstream_feature, upstream_run_id);
"""


def utc_now() -> str:
    """Current UTC time, ISO-8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class EntryRow:
    """One entry outcome to record: ``status`` is ``done``, ``empty`` (by design) or ``failed``."""

    group: str
    sequence: str
    entry_key: str
    status: EntryStatus
    n_rows: int = 0
    input_digest: str = ""
    error: str = ""


def _unescape_mount(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: Path, mounts_file: Path = Path("/proc/mounts")) -> str | None:
    """Type of the filesystem holding ``path`` (longest matching mount point), or ``None``.

    ``None`` when ``mounts_file`` cannot be read (not Linux): the caller then keeps the default.
    """
    try:
        text = mounts_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = _unescape_mount(fields[1])
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) > best[0]):
            best = (len(mount), fields[2])
    return None if best is None else best[1]


def journal_mode_for(fs_type: str | None, db_path: Path) -> Literal["wal", "delete"]:
    """``"wal"`` on local disks, ``"delete"`` on FAT-family disks; refuses network mounts.

    Raises
    ------
    RegistryUnsafeError
        ``fs_type`` is a network filesystem.
    """
    if fs_type is not None and (fs_type in NETWORK_FILESYSTEMS or fs_type.startswith("nfs")):
        raise RegistryUnsafeError(
            f"the feature registry {db_path} would be on a '{fs_type}' network filesystem, where "
            "SQLite locking is unreliable and WAL mode loses writes; expected a local disk",
            hint="set W2T_FEATURES_REGISTRY=/local/disk/registry.sqlite (the dataset itself may "
            "stay on the network share), or copy the dataset to a local disk",
            path=db_path,
        )
    if fs_type is not None and fs_type in ROLLBACK_FILESYSTEMS:
        return "delete"
    return "wal"


class FeatureRegistry:
    """The writer's connection to the registry (thread-safe: one lock around every write).

    Parameters
    ----------
    path
        Database file; created with its schema when missing.
    mounts_file
        Where mount points are listed (``/proc/mounts``); a test points it at its own file.
    """

    def __init__(self, path: Path, *, mounts_file: Path = Path("/proc/mounts")) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.journal_mode = journal_mode_for(
            filesystem_type(self.path.parent, mounts_file), self.path
        )
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute(f"PRAGMA journal_mode={self.journal_mode}")
            self._db.execute(
                "PRAGMA synchronous=NORMAL"
                if self.journal_mode == "wal"
                else "PRAGMA synchronous=FULL"
            )
            self._db.executescript(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise RegistryError(
                f"cannot open the feature registry {self.path}: {exc}",
                hint="check that the folder is writable and the file is a w2t-bkin feature "
                "registry; moving it away starts a new history (run folders stay valid)",
                path=self.path,
            ) from exc

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> FeatureRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._db:  # one transaction, committed or rolled back
                    yield self._db
            except sqlite3.Error as exc:
                raise RegistryError(
                    f"cannot write the feature registry {self.path}: {exc}",
                    hint="check free disk space and that no other program holds the file",
                    path=self.path,
                ) from exc

    # -- writes ----------
    def record_run_start(
        self,
        feature: str,
        run_id: str,
        version: str,
        payload: dict[str, Any],
        scope: Sequence[tuple[str, str]],
        upstream: Iterable[tuple[str, str]],
    ) -> None:
        """Record a run (or a rerun: status back to running) and its upstream edges."""
        now = utc_now()
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (feature, run_id, version, payload_json, scope_json, status, "
                "started_at) VALUES (?, ?, ?, ?, ?, 'running', ?) ON CONFLICT (feature, run_id) "
                "DO UPDATE SET status='running', started_at=excluded.started_at, "
                "scope_json=excluded.scope_json",
                (
                    feature,
                    run_id,
                    version,
                    json.dumps(payload, sort_keys=True),
                    json.dumps(sorted([list(s) for s in scope])),
                    now,
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO dependencies VALUES (?, ?, ?, ?)",
                [(feature, run_id, up_feature, up_run) for up_feature, up_run in upstream],
            )

    def record_entries(self, feature: str, run_id: str, rows: Sequence[EntryRow]) -> None:
        """Record entry outcomes in one transaction (a later outcome replaces an earlier one)."""
        if not rows:
            return
        now = utc_now()
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        feature,
                        run_id,
                        r.group,
                        r.sequence,
                        r.entry_key,
                        r.status,
                        r.n_rows,
                        r.input_digest,
                        r.error,
                        now,
                    )
                    for r in rows
                ],
            )

    def record_run_end(self, feature: str, run_id: str, status: str) -> None:
        """Set the run's status (``finished``, ``partial``, ``failed``) and its entry counts."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, "
                "n_entries=(SELECT COUNT(*) FROM entries e WHERE e.feature=runs.feature AND "
                "e.run_id=runs.run_id AND e.status!='failed'), "
                "n_failed=(SELECT COUNT(*) FROM entries e WHERE e.feature=runs.feature AND "
                "e.run_id=runs.run_id AND e.status='failed') WHERE feature=? AND run_id=?",
                (status, utc_now() if status == "finished" else "", feature, run_id),
            )

    def record_progress(
        self,
        job_id: str,
        kind: str,
        step_index: int = 0,
        step_total: int = 0,
        *,
        name: str = "",
        metrics: dict[str, float] | None = None,
        message: str = "",
    ) -> None:
        """Append one progress event (events are keyed by sequence number, never overwritten)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO progress (job_id, kind, step_index, step_total, name, metrics_json, "
                "message, t) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    kind,
                    step_index,
                    step_total,
                    name,
                    json.dumps(metrics or {}, sort_keys=True),
                    message,
                    utc_now(),
                ),
            )

    def delete_run(self, feature: str, run_id: str) -> None:
        """Forget a run: its row, entries, outgoing edges and progress."""
        with self._write() as db:
            for table in ("runs", "entries", "dependencies"):
                db.execute(f"DELETE FROM {table} WHERE feature=? AND run_id=?", (feature, run_id))
            db.execute("DELETE FROM progress WHERE job_id=?", (run_id,))

    def upsert_tracks(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Record track entries ``(group, sequence, entry_key, subject, session, camera,
        individual, digest, n_frames, keypoints_json, n_space, source)`` in one transaction."""
        now = utc_now()
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )

    def track_rows(self) -> list[tuple[Any, ...]]:
        """Every track row, in the column order of :meth:`upsert_tracks`."""
        return self._read(
            "SELECT group_, sequence, entry_key, subject, session, camera, individual, digest, "
            "n_frames, keypoints_json, n_space, source FROM tracks"
        )

    # -- reads (the writer may read its own data; other processes use the functions below) ----
    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(args)).fetchall())

    def latest_run_id(self, feature: str) -> str:
        """Newest run of ``feature``, preferring finished runs.

        Raises
        ------
        RegistryError
            ``feature`` has no run.
        """
        rows = self._read(
            "SELECT run_id FROM runs WHERE feature=? ORDER BY (status='finished') DESC, "
            "CASE WHEN finished_at='' THEN started_at ELSE finished_at END DESC, run_id LIMIT 1",
            (feature,),
        )
        if not rows:
            raise RegistryError(
                f"feature {feature!r} has no run in {self.path}",
                hint="run the feature first, or check its name with 'w2t-bkin features status'",
                path=self.path,
            )
        return str(rows[0][0])

    def list_runs(self, feature: str | None = None) -> pd.DataFrame:
        """Runs (all, or of one feature), newest first, as a DataFrame."""
        import pandas as pd

        sql = (
            "SELECT feature, run_id, version, status, started_at, finished_at, n_entries, "
            "n_failed FROM runs"
        )
        args: tuple[Any, ...] = ()
        if feature is not None:
            sql += " WHERE feature=?"
            args = (feature,)
        columns = [
            "feature",
            "run_id",
            "version",
            "status",
            "started_at",
            "finished_at",
            "n_entries",
            "n_failed",
        ]
        frame = pd.DataFrame(self._read(sql + " ORDER BY started_at DESC", args), columns=columns)
        return frame

    def list_features(self) -> list[str]:
        """Names of the features with at least one run, sorted."""
        return [r[0] for r in self._read("SELECT DISTINCT feature FROM runs ORDER BY feature")]

    def list_entries(self, feature: str, run_id: str | None = None) -> pd.DataFrame:
        """Entries of a run (the latest one when ``run_id`` is ``None``) as a DataFrame."""
        import pandas as pd

        run_id = run_id or self.latest_run_id(feature)
        rows = self._read(
            "SELECT group_, sequence, entry_key, status, n_rows, input_digest, error, written_at "
            "FROM entries WHERE feature=? AND run_id=? ORDER BY group_, sequence",
            (feature, run_id),
        )
        columns = [
            "group",
            "sequence",
            "entry_key",
            "status",
            "n_rows",
            "input_digest",
            "error",
            "written_at",
        ]
        return pd.DataFrame(rows, columns=columns)

    def entry_states(self, feature: str, run_id: str) -> dict[tuple[str, str], tuple[str, str]]:
        """``{(group, sequence): (status, input_digest)}`` of one run."""
        rows = self._read(
            "SELECT group_, sequence, status, input_digest FROM entries "
            "WHERE feature=? AND run_id=?",
            (feature, run_id),
        )
        return {(g, s): (status, digest) for g, s, status, digest in rows}

    def entry_count(self, feature: str, run_id: str) -> int:
        """Number of entries done (outputs written or empty by design) in a run."""
        rows = self._read(
            "SELECT COUNT(*) FROM entries WHERE feature=? AND run_id=? AND status!='failed'",
            (feature, run_id),
        )
        return int(rows[0][0])

    def has_run(self, feature: str, run_id: str) -> bool:
        """Whether the registry knows this run."""
        return bool(
            self._read("SELECT 1 FROM runs WHERE feature=? AND run_id=?", (feature, run_id))
        )

    def run_is_finished(self, feature: str, run_id: str) -> bool:
        """Whether the run finished with every entry of its scope done."""
        rows = self._read("SELECT status FROM runs WHERE feature=? AND run_id=?", (feature, run_id))
        return bool(rows) and rows[0][0] == "finished"

    def run_scope(self, feature: str, run_id: str) -> list[tuple[str, str]]:
        """The ``(group, sequence)`` entries a run was asked to compute."""
        rows = self._read(
            "SELECT scope_json FROM runs WHERE feature=? AND run_id=?", (feature, run_id)
        )
        return [] if not rows else [(g, s) for g, s in json.loads(rows[0][0])]

    def pending_entries(
        self, feature: str, run_id: str, all_entries: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Entries of ``all_entries`` not yet done in the run (failed ones count as pending)."""
        done = {
            k for k, (status, _) in self.entry_states(feature, run_id).items() if status != "failed"
        }
        return sorted(set(all_entries) - done)

    def get_dependencies(self, feature: str, run_id: str) -> list[tuple[str, str]]:
        """``[(upstream_feature, upstream_run_id)]`` a run consumed, sorted."""
        rows = self._read(
            "SELECT upstream_feature, upstream_run_id FROM dependencies "
            "WHERE feature=? AND run_id=? ORDER BY upstream_feature, upstream_run_id",
            (feature, run_id),
        )
        return [(str(f), str(r)) for f, r in rows]

    def lineage(self, feature: str, run_id: str) -> dict[str, Any]:
        """The full upstream tree: ``{"feature", "run_id", "upstream": [...]}``.

        Shared ancestors appear under each consumer; a cycle (only possible in a hand-edited
        database) is cut and marked ``"cycle": True``.
        """
        return _lineage(self.get_dependencies, feature, run_id, ())

    def progress(self, job_id: str) -> list[dict[str, Any]]:
        """Progress events of a job, oldest first (see :func:`read_progress`)."""
        with self._lock:
            return _progress_rows(self._db, job_id)


def _lineage(
    deps: Any, feature: str, run_id: str, path: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    node: dict[str, Any] = {"feature": feature, "run_id": run_id, "upstream": []}
    if (feature, run_id) in path:
        node["cycle"] = True
        return node
    for up_feature, up_run in deps(feature, run_id):
        node["upstream"].append(_lineage(deps, up_feature, up_run, (*path, (feature, run_id))))
    return node


def _progress_rows(db: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT seq, kind, step_index, step_total, name, metrics_json, message, t FROM progress "
        "WHERE job_id=? ORDER BY seq",
        (job_id,),
    ).fetchall()
    return [
        {
            "seq": seq,
            "kind": kind,
            "index": index,
            "total": total,
            "name": name,
            "metrics": json.loads(metrics),
            "message": message,
            "t": t,
        }
        for seq, kind, index, total, name, metrics, message, t in rows
    ]


def read_progress(db: str | Path, job_id: str) -> list[dict[str, Any]]:
    """Progress events of a training job, read while it runs (read-only connection).

    Returns
    -------
    list of dict
        ``{"seq", "kind", "index", "total", "name", "metrics", "message", "t"}``, oldest first;
        ``kind`` is ``epoch``, ``class``, ``phase``, ``entry_start`` or ``entry_end``.

    Raises
    ------
    RegistryError
        The database does not exist or is not a feature registry.
    """
    path = Path(db)
    if not path.is_file():
        raise RegistryError(
            f"no feature registry at {path}",
            hint="give the registry.sqlite of the feature dataset that trains the model",
            path=path,
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise RegistryError(f"cannot open {path}: {exc}", path=path) from exc
    try:
        return _progress_rows(conn, job_id)
    except sqlite3.Error as exc:
        raise RegistryError(
            f"{path} is not a feature registry ({exc})",
            hint="give the registry.sqlite of a feature dataset",
            path=path,
        ) from exc
    finally:
        conn.close()
