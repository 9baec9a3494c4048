"""Applying an import plan: check everything, link or copy, then write ``session.toml``."""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import tempfile
from pathlib import Path

from w2t_bkin.errors import WorkspaceError
from w2t_bkin.io_utils import atomic_write_text, fsync_dir
from w2t_bkin.workspace.import_raw.names import ImportItem
from w2t_bkin.workspace.import_raw.plan import ImportPlan
from w2t_bkin.workspace.import_raw.session_toml import declared_session_toml


def check_import(plan: ImportPlan) -> tuple[str, list[ImportItem]]:
    """Everything :func:`apply_import` checks before it creates a file (nothing is written).

    Returns
    -------
    session_toml, pending
        The new text of ``session.toml`` and the items whose target does not exist yet (or is
        a link to a file that no longer exists).

    Raises
    ------
    WorkspaceError
        The plan has conflicts, or a target exists as a different file.
    MetadataError
        ``session.toml`` is unreadable or invalid, or the declared entries would be.
    """
    if plan.conflicts:
        raise WorkspaceError(
            f"the import plan has {len(plan.conflicts)} conflict(s); nothing was linked:\n  "
            + "\n  ".join(plan.conflicts),
            hint="resolve them (see the dry run without --confirm) and run the import again",
        )
    return declared_session_toml(plan)[1], _pending_items(plan)


def apply_import(plan: ImportPlan, *, copy: bool = False) -> list[Path]:
    """Link (relative symlinks) or copy the files, then declare them in ``session.toml``.

    Everything is checked first (:func:`check_import`): the plan's conflicts, ``session.toml``
    (syntax and schema, with its lines) and the entries it will get, and targets that exist as
    different files. Links to files that no longer exist (a copied workspace) are replaced. A
    failure while creating files removes the files and folders created so far and puts replaced
    links back; ``session.toml`` is written last, atomically, and only when its text changes
    (the user's comments and layout are kept). Copies are written to a temporary file next to
    the target, fsynced and renamed into place.

    Returns
    -------
    list of Path
        The links or copies created (targets that already held the source are kept and not
        listed).

    Raises
    ------
    WorkspaceError
        A check of :func:`check_import` fails, or a file cannot be created (nothing is left
        behind).
    MetadataError
        As :func:`check_import`.
    """
    session_toml, pending = check_import(plan)
    old_toml = (plan.session_dir / "session.toml").read_bytes().decode("utf-8")
    created: list[Path] = []
    created_dirs: list[Path] = []
    replaced: dict[Path, str] = {}
    try:
        for item in pending:
            target = plan.session_dir / item.target
            created_dirs += _make_parents(target.parent)
            if target.is_symlink():  # dangling: checked by _pending_items
                replaced[target] = os.readlink(target)
            if copy:
                _copy_atomic(item.source, target)
            else:
                relative = os.path.relpath(item.source.resolve(), target.parent.resolve())
                _symlink_atomic(relative, target)
            created.append(target)
        if session_toml != old_toml:
            atomic_write_text(plan.session_dir / "session.toml", session_toml)
    except OSError as exc:
        _remove(created, created_dirs, replaced)
        raise WorkspaceError(
            f"import failed, nothing was kept: {exc}",
            hint="check free disk space and write permission on the session folder",
        ) from exc
    return created


def _pending_items(plan: ImportPlan) -> list[ImportItem]:
    """Items whose target does not exist yet; a target that is another file is an error."""
    pending: list[ImportItem] = []
    clashes: list[str] = []
    for item in plan.items:
        target = plan.session_dir / item.target
        if not (target.exists() or target.is_symlink()) or target in plan.relink:
            pending.append(item)
        elif not _same_file(item.source, target):
            clashes.append(f"{target} (importing {item.source})")
    if clashes:
        raise WorkspaceError(
            "targets already exist and are different files; nothing was linked:\n  "
            + "\n  ".join(clashes),
            hint="remove them or import into another session",
        )
    return pending


def _same_file(source: Path, target: Path) -> bool:
    if not target.exists():
        return False  # a broken link that the plan does not replace
    if target.resolve() == source.resolve():
        return True
    # an earlier --copy: same size and modification time (copy2 keeps it), or same bytes
    return filecmp.cmp(source, target, shallow=True)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the folders created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _symlink_atomic(relative: str, target: Path) -> None:
    """Make ``target`` a link to ``relative``, replacing a dangling link in one rename."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.link")
    tmp.symlink_to(relative)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy to a temporary file next to ``target``, fsync, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(source, tmp)  # mode and times, as copy2 would
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def _remove(files: list[Path], folders: list[Path], replaced: dict[Path, str]) -> None:
    for path in reversed(files):
        with contextlib.suppress(OSError):
            path.unlink()
            if path in replaced:  # the dangling link that was there: the state before the run
                path.symlink_to(replaced[path])
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty
