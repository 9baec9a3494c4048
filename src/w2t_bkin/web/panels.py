"""The pose job daemon's jobs and the feature pipeline's runs, when those exist.

Both come from packages built beside the dashboard (``w2t_bkin.jobs``, ``w2t_bkin.features``);
each is imported here at call time, and a missing package, an absent status file or an empty
registry gives a panel with an explanation instead of an error page.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The feature pipeline's variable naming its registry file (``w2t_bkin.features.dataset``).
FEATURES_REGISTRY_ENV = "W2T_FEATURES_REGISTRY"
#: Rows shown per feature-registry table.
MAX_FEATURE_ROWS = 200


@dataclass(frozen=True)
class JobRow:
    """One pose job, normalised from whatever the daemon's status holds."""

    name: str
    state: str
    fraction: float | None
    stale: bool
    updated: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "fraction": self.fraction,
            "stale": self.stale,
            "updated": self.updated,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class JobsPanel:
    """The jobs of each watched folder; ``message`` explains an empty panel."""

    folders: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"folders": self.folders, "message": self.message}


def jobs_folders(root: Path, given: list[Path]) -> list[Path]:
    """The daemon folders to show: those given, else ``ROOT/jobs`` when it has a status."""
    if given:
        return list(given)
    default = Path(root) / "jobs"
    return [default] if (default / "out" / "status.json").is_file() else []


def pose_jobs(root: Path, folders: list[Path]) -> JobsPanel:
    """Each daemon folder's jobs (``w2t_bkin.jobs.status.read_status``), with progress and
    stale flags: a job ``processing`` while its daemon's heartbeat is old has no worker."""
    if not folders:
        return JobsPanel(
            message="No pose job folder is watched here. Start the daemon with "
            "`w2t-bkin jobs watch DIR` and the dashboard with `--jobs-dir DIR` "
            "(ROOT/jobs is shown when it exists)."
        )
    try:
        from w2t_bkin.jobs.status import read_status
    except ImportError as exc:
        return JobsPanel(message=f"the pose job daemon is not available here: {exc}")
    shown: list[dict[str, Any]] = []
    for folder in folders:
        try:
            view = read_status(folder)
        except Exception as exc:  # another package's reader: show its failure, keep the page
            error = f"{type(exc).__name__}: {exc}"
            shown.append({"folder": str(folder), "daemon": "", "jobs": [], "error": error})
            continue
        daemon = view.status.daemon
        alive = view.daemon_alive
        jobs = [
            JobRow(
                name=name,
                state=job.state,
                fraction=None if job.percent is None else job.percent / 100.0,
                stale=job.state == "processing" and not alive,
                updated=job.updated_at or "",
                detail=job.error or (f"video {job.current_video}" if job.current_video else ""),
            ).to_dict()
            for name, job in sorted(view.status.jobs.items())
        ]
        beat = f", last heartbeat {daemon.heartbeat_at}" if daemon.heartbeat_at else ""
        state = daemon.state if alive or daemon.state in ("stopped", "never") else "not responding"
        shown.append(
            {
                "folder": str(folder),
                "daemon": f"daemon {state}{beat}",
                "daemon_stale": daemon.state in ("running", "stopping") and not alive,
                "jobs": jobs,
                "error": view.problem or "",
            }
        )
    return JobsPanel(shown)


@dataclass(frozen=True)
class FeaturesPanel:
    """Tables of the feature registry (runs, lineage) as rows; ``message`` explains none."""

    tables: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"tables": self.tables, "message": self.message, "path": self.path}


def feature_runs(root: Path) -> FeaturesPanel:
    """The feature pipeline's SQLite registry under ``ROOT/.w2t`` read as tables, read-only."""
    env = os.environ.get(FEATURES_REGISTRY_ENV)
    candidates = [Path(env)] if env else []
    candidates += [Path(root) / "features" / "registry.sqlite"]
    candidates = [path for path in candidates if path.is_file()]
    if not candidates:
        return FeaturesPanel(
            message="No feature runs recorded yet: `w2t-bkin features run` computes features "
            f"from processed sessions and records runs and lineage in ROOT/features/"
            f"registry.sqlite (or ${FEATURES_REGISTRY_ENV})."
        )
    path = candidates[0]
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            tables = _tables(db)
        finally:
            db.close()
    except sqlite3.Error as exc:
        return FeaturesPanel(
            message=f"the feature registry {path} cannot be read: {exc}", path=str(path)
        )
    if not any(t["rows"] for t in tables):
        return FeaturesPanel(tables, "The feature registry has no runs yet.", str(path))
    return FeaturesPanel(tables, "", str(path))


def _tables(db: sqlite3.Connection) -> list[dict[str, Any]]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        cursor = db.execute(
            f'SELECT * FROM "{name.replace(chr(34), "")}" LIMIT ?', (MAX_FEATURE_ROWS,)
        )
        columns = [c[0] for c in cursor.description]
        rows = [[_cell(v) for v in row] for row in cursor.fetchall()]
        tables.append({"name": name, "columns": columns, "rows": rows})
    return tables


def _cell(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = "" if value is None else str(value)
    return text if len(text) <= 300 else text[:297] + "..."
