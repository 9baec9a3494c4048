"""``w2t-bkin data import-raw``: link (or copy) raw files into a session and declare them.

The plan is computed first (dry run by default). Applying it creates relative symlinks (or
copies) by category and writes ``[[cameras]]``, ``[[TTLs]]``, ``[bpod]`` and ``[pose.cameras]``
entries whose globs match exactly the linked files. Source files are never modified.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from w2t_bkin.errors import WorkspaceError
from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.workspace.layout import open_workspace

VIDEO_EXT = {".avi", ".mp4", ".mkv", ".mov"}
TTL_EXT = {".txt", ".csv", ".npy"}
TTL_WORDS = ("ttl", "pulse", "sync", "trigger", "frame", "nidq", "xa_", "xd_")
POSE_DLC = re.compile(r"DLC_", re.IGNORECASE)
CAMERA_RE = re.compile(r"cam(?:era)?[_-]?(\d+|[a-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ImportItem:
    source: Path
    target: Path  # relative to the session folder
    category: str  # video | ttl | bpod | pose
    entry_id: str  # camera id, TTL id, "bpod"


@dataclass(frozen=True)
class ImportPlan:
    session_dir: Path
    items: tuple[ImportItem, ...]
    skipped: tuple[Path, ...]


def _camera_id(name: str) -> str:
    match = CAMERA_RE.search(name)
    return f"cam{match.group(1).lower()}" if match else "cam0"


def _ttl_id(path: Path) -> str:
    stem = path.stem.lower()
    for known in ("camera", "frame", "cue", "outcome", "hitmiss", "trial", "sync"):
        if known in stem:
            return f"ttl_{known}"
    return "ttl_" + re.sub(r"[^a-z0-9_-]+", "_", stem).strip("_")[:32]


def _categorise(path: Path) -> tuple[str, str] | None:
    """Category and entry id of ``path``, relative to the import source (its folders count)."""
    name = path.name
    suffix = path.suffix.lower()
    lowered = path.as_posix().lower()
    if suffix in VIDEO_EXT:
        return "video", _camera_id(name)
    if suffix in {".h5", ".csv"} and POSE_DLC.search(name):
        return "pose", _camera_id(name)
    if suffix in {".slp"} or name.endswith(".analysis.h5"):
        return "pose", _camera_id(name)
    if suffix == ".mat":
        return "bpod", "bpod"
    if suffix in TTL_EXT and any(word in lowered for word in TTL_WORDS):
        return "ttl", _ttl_id(path)
    return None


_TARGET_DIR = {"video": "Video", "ttl": "TTLs", "bpod": "Bpod", "pose": "Pose"}


def plan_import(source: Path, root: Path, subject: str, session: str) -> ImportPlan:
    """What would be linked where (nothing is written)."""
    workspace = open_workspace(root)
    session_dir = workspace.session_dir(subject, session)
    if not (session_dir / "session.toml").is_file():
        raise WorkspaceError(
            f"session {subject}/{session} does not exist",
            hint=f"create it first: w2t-bkin data add-session {root} {subject} {session}",
        )
    if not source.is_dir():
        raise WorkspaceError(f"import source is not a folder: {source}")
    items: list[ImportItem] = []
    skipped: list[Path] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        found = _categorise(path.relative_to(source))
        if found is None:
            skipped.append(path)
            continue
        category, entry_id = found
        folder = Path(_TARGET_DIR[category])
        if category in {"video", "pose"}:
            folder = folder / entry_id
        items.append(ImportItem(path, folder / path.name, category, entry_id))
    return ImportPlan(session_dir, tuple(items), tuple(skipped))


def apply_import(plan: ImportPlan, *, copy: bool = False) -> list[Path]:
    """Create the links (relative) or copies, then declare the files in ``session.toml``."""
    created: list[Path] = []
    for item in plan.items:
        target = plan.session_dir / item.target
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            if target.resolve() == item.source.resolve():
                continue
            raise WorkspaceError(
                f"target already exists and is a different file: {target}",
                hint="remove it or import into another session",
            )
        if copy:
            shutil.copy2(item.source, target)
        else:
            relative = os.path.relpath(item.source.resolve(), target.parent.resolve())
            target.symlink_to(relative)
        created.append(target)
    _declare(plan)
    return created


def _declare(plan: ImportPlan) -> None:
    """Add entries for the imported files; existing entries with the same id are replaced."""
    path = plan.session_dir / "session.toml"
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    grouped: dict[tuple[str, str], list[ImportItem]] = defaultdict(list)
    for item in plan.items:
        grouped[(item.category, item.entry_id)].append(item)

    def upsert(key: str, entry: dict[str, Any]) -> None:
        entries = [e for e in data.get(key, []) if e.get("id") != entry["id"]]
        data[key] = [*entries, entry]

    ttl_ids = sorted(entry_id for category, entry_id in grouped if category == "ttl")
    for (category, entry_id), items in sorted(grouped.items()):
        globs = sorted({item.target.as_posix() for item in items})
        if category == "video":
            camera: dict[str, Any] = {"id": entry_id, "paths": globs}
            frame_ttl = next((t for t in ttl_ids if t in {"ttl_camera", "ttl_frame"}), None)
            if frame_ttl:
                camera["ttl_id"] = frame_ttl
            upsert("cameras", camera)
        elif category == "ttl":
            upsert("TTLs", {"id": entry_id, "paths": globs})
        elif category == "bpod":
            bpod = data.setdefault("bpod", {})
            bpod["path"] = globs
        elif category == "pose":
            source = "sleap" if any(g.endswith((".slp", ".analysis.h5")) for g in globs) else "dlc"
            pose = data.setdefault("pose", {}).setdefault("cameras", {})
            pose[entry_id] = {**pose.get(entry_id, {}), "source": source, "paths": globs}
    atomic_write_text(path, tomli_w.dumps(data))
