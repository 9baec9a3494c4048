"""Stat snapshots: may a decision taken earlier still stand, without reading a byte?

A cache decision reads files (a configuration, metadata, inputs) and globs folders. A
:class:`StatSnapshot` records what ``os.stat`` said about each of them at the time -- size,
mtime in ns, device and inode, symlinks followed -- and the stat of every folder under the
globbed trees (a file added, removed or renamed changes its folder's mtime). When every entry
stats the same again, and walking the trees finds the same folders, nothing the decision read
can have changed: the decision stands (make, dvc and snakemake trust the same identity; so does
the digest cache of :mod:`w2t_bkin.runtime.fingerprint`). Otherwise the caller decides again
from the content.

Take the snapshot **before** the files are read or digested: a file written in between then
mismatches next time, so a digest of its old content is never vouched for.

Paths are recorded relative to a base folder (the workspace) when inside it, so a moved
workspace keeps its snapshots (same inodes); a copied one stats differently, and is decided
again. Standard library only: runtime code knows nothing of sessions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SNAPSHOT_VERSION = 1
"""Bumped when what a snapshot records changes (older snapshots then never match)."""

Stat = tuple[int, int, int, int]
"""``(size_bytes, mtime_ns, device, inode)`` of ``os.stat`` with symlinks followed."""


@dataclass(frozen=True)
class StatSnapshot:
    """What ``os.stat`` said about the files and folders a decision was built on.

    Attributes
    ----------
    files
        Path (relative to the base folder when inside it, POSIX form) to its :data:`Stat`, or
        ``None`` when it did not exist (a metadata file that may appear later).
    dirs
        Every folder found by walking ``walk_roots`` (symlinked folders followed, each folder
        once), to its :data:`Stat`.
    walk_roots
        The folders walked, as recorded paths.
    context
        Values that must be equal for the snapshot to apply (a configuration path, an
        environment variable), compared verbatim.
    """

    files: Mapping[str, Stat | None] = field(default_factory=dict)
    dirs: Mapping[str, Stat] = field(default_factory=dict)
    walk_roots: tuple[str, ...] = ()
    context: Mapping[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stats as lists), read back by :meth:`from_dict`."""
        return {
            "version": SNAPSHOT_VERSION,
            "files": {k: None if v is None else list(v) for k, v in sorted(self.files.items())},
            "dirs": {k: list(v) for k, v in sorted(self.dirs.items())},
            "walk_roots": list(self.walk_roots),
            "context": dict(sorted(self.context.items())),
        }

    @classmethod
    def from_dict(cls, value: Any) -> StatSnapshot | None:
        """The snapshot :meth:`to_dict` wrote; ``None`` for anything else (absent, another
        version, damaged): no snapshot, so the caller decides from the content."""
        if not isinstance(value, Mapping) or value.get("version") != SNAPSHOT_VERSION:
            return None
        try:
            files = {str(k): None if v is None else _as_stat(v) for k, v in value["files"].items()}
            dirs = {str(k): _as_stat(v) for k, v in value["dirs"].items()}
            roots = tuple(str(root) for root in value["walk_roots"])
            context = {str(k): None if v is None else str(v) for k, v in value["context"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return cls(files, dirs, roots, context)


def take_snapshot(
    base: Path,
    files: Iterable[Path],
    walk_roots: Iterable[Path] = (),
    context: Mapping[str, str | None] | None = None,
) -> StatSnapshot:
    """Stat ``files`` (a missing one is recorded as absent) and every folder under
    ``walk_roots``.

    Raises
    ------
    OSError
        A file or folder exists but cannot be stat-ed or listed (permissions): no snapshot can
        vouch for it.
    """
    recorded = {_name(path, base): file_stat(path) for path in files}
    roots = tuple(walk_roots)
    return StatSnapshot(
        recorded, walk_dirs(roots, base), tuple(_name(r, base) for r in roots), dict(context or {})
    )


def snapshot_matches(
    snapshot: StatSnapshot, base: Path, context: Mapping[str, str | None] | None = None
) -> bool:
    """True when ``context`` equals the recorded one, every recorded file stats the same (or is
    still absent) and walking the recorded roots finds the same folders with the same stats.

    Stops at the first difference. Any error (a folder no longer readable) is a difference.
    """
    if dict(context or {}) != dict(snapshot.context):
        return False
    try:
        for name, before in snapshot.files.items():
            if file_stat(_path(name, base)) != before:
                return False
        roots = [_path(root, base) for root in snapshot.walk_roots]
        return walk_dirs(roots, base) == dict(snapshot.dirs)
    except OSError:
        return False


def file_stat(path: Path) -> Stat | None:
    """The :data:`Stat` of ``path`` (symlinks followed); ``None`` when it does not exist (a
    dangling link included).

    Raises
    ------
    OSError
        It exists but cannot be stat-ed (permissions).
    """
    try:
        return _stat(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def walk_dirs(roots: Iterable[Path], base: Path) -> dict[str, Stat]:
    """Every folder under ``roots`` (the roots included) to its :data:`Stat`.

    Symlinked folders are followed; a folder reached again (a link loop, or two links to one
    folder) is recorded once, under the first path met in sorted depth-first order, so the same
    tree always gives the same mapping. A missing root is left out.

    Raises
    ------
    OSError
        A folder cannot be listed.
    """
    found: dict[str, Stat] = {}
    seen: set[tuple[int, int]] = set()
    for root in roots:
        stack = [Path(root)]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed while walking, or a missing root: the parent's mtime shows it
            identity = (st.st_dev, st.st_ino)
            if identity in seen:
                continue
            seen.add(identity)
            found[_name(folder, base)] = _stat(st)
            with os.scandir(folder) as entries:
                # is_dir() follows symlinks; a dangling link is not a folder
                subdirs = sorted(entry.name for entry in entries if entry.is_dir())
            stack.extend(folder / name for name in reversed(subdirs))
    return found


def _stat(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


def _as_stat(value: Any) -> Stat:
    size, mtime_ns, device, inode = (int(v) for v in value)
    return (size, mtime_ns, device, inode)


def _name(path: Path, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _path(name: str, base: Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else base / path
