"""The output-folder policy: where a run may write, one run per session, earlier outputs.

Outputs of an earlier run never look current: before a run starts, the outputs of the earlier
run move into ``previous/`` (replacing it) when that run produced an NWB file, and are removed
otherwise (leftovers of a failed run). A successful run then removes ``previous/``; a failed run
keeps it, so the last good outputs survive without sitting where current ones belong.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from w2t_bkin.errors import OutputError, SessionBusyError
from w2t_bkin.model.results import SessionResult
from w2t_bkin.runtime.capture import RunCapture
from w2t_bkin.runtime.locks import LockHeldError, exclusive_lock
from w2t_bkin.session.context import invalid_nwb_path
from w2t_bkin.workspace.layout import Workspace, open_workspace

log = logging.getLogger(__name__)


PREVIOUS_DIR = "previous"
"""Where a failed run moves the outputs of the earlier successful run (see the module notes)."""


def check_output_folder(folder: Path) -> None:
    """Create ``folder`` if needed and make sure a file can be created in it.

    Raises
    ------
    OutputError
        The folder (or the nearest existing parent, when it cannot be created) is not writable
        or not a folder; the message names it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".w2t-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        reason = exc.strerror or str(exc)
        if not blocker.is_dir():
            problem = f"{blocker} is a file, not a folder"
        elif blocker == folder:
            problem = f"the folder is not writable ({reason})"
        else:
            problem = f"it cannot be created: {blocker} is not writable ({reason})"
        raise OutputError(
            f"output folder {folder}: {problem}",
            hint=f"make {blocker} writable for this user (e.g. chmod u+w {blocker}) or process "
            "the session in a workspace you may write to",
            path=folder,
        ) from exc


OUTPUT_NAMES = (
    "alignment_stats.json",
    "validation.json",
    "provenance.json",
    "qc/report.html",
    "status.json",
    "pipeline.log",
)
"""Outputs of a run besides the NWB file (and ``<stem>.invalid.nwb``), relative to its folder."""


def set_aside_earlier_outputs(folder: Path, nwb_name: str) -> list[str]:
    """Before a run: move the earlier run's outputs out of the way; returns what was done.

    When the earlier run produced an NWB file, all its outputs move into ``previous/``
    (replacing it); otherwise they are leftovers of a failed run and are removed (``previous/``
    then still holds the last successful run). Temporary files of an interrupted write are
    removed. See :func:`settle_previous_outputs` for the end of the run.
    """
    from w2t_bkin.nwb.io import staged_name_pattern

    if not folder.is_dir():
        return []
    nwb = folder / nwb_name
    previous = folder / PREVIOUS_DIR
    try:
        if not nwb.is_file():
            sidecars = _sidecars(folder, nwb)
            remove_unfinished_outputs(folder, nwb_name)
            names = ", ".join(str(p.relative_to(folder)) for p in sidecars)
            return [f"removed the outputs of an earlier failed run: {names}"] if sidecars else []
        earlier = [*_sidecars(folder, nwb), nwb]
        names = ", ".join(str(p.relative_to(folder)) for p in earlier)
        for path in folder.glob(staged_name_pattern(nwb)):
            path.unlink()
        if previous.is_symlink() or previous.is_file():
            raise OSError(errno.EEXIST, "not a folder this run may replace", str(previous))
        if previous.is_dir():
            shutil.rmtree(previous)
        # the NWB file last: a crash midway leaves it in place, so the next run sets aside again
        for path in earlier:
            target = previous / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    except OSError as exc:
        raise OutputError(
            f"could not set aside the earlier outputs in {folder}: {exc}",
            path=folder,
            hint="move or delete the earlier outputs (and any file named 'previous') yourself, "
            "then run again; nothing was processed",
        ) from exc
    return [f"moved the outputs of the earlier run to {previous}: {names}"]


def remove_unfinished_outputs(
    folder: Path, nwb_name: str, keep: tuple[str, ...] = ()
) -> list[Path]:
    """Remove what a run left without publishing its NWB file; returns what was removed.

    That is its sidecars (:data:`OUTPUT_NAMES` but ``keep``), ``<stem>.invalid.nwb`` and staged
    temporaries of the NWB file. Nothing is removed when the NWB file exists (those outputs are
    a complete set) or when ``folder`` does not exist. ``previous/`` is never touched.
    """
    from w2t_bkin.nwb.io import staged_name_pattern

    nwb = folder / nwb_name
    if not folder.is_dir() or nwb.is_file():
        return []
    left = [p for p in _sidecars(folder, nwb) if p.relative_to(folder).as_posix() not in keep]
    left += sorted(folder.glob(staged_name_pattern(nwb)))
    for path in left:
        path.unlink()
    return left


def _sidecars(folder: Path, nwb: Path) -> list[Path]:
    """A run's outputs besides its NWB file that exist in ``folder``, reached without following
    a symlinked folder (e.g. ``qc/`` linked elsewhere)."""
    candidates = [*(folder / name for name in OUTPUT_NAMES), invalid_nwb_path(nwb)]
    return [p for p in candidates if p.is_file() and not _under_symlink(p, folder)]


def _under_symlink(path: Path, folder: Path) -> bool:
    """Whether a folder between ``folder`` and ``path`` is a symlink."""
    parent = path.parent
    while parent != folder:
        if parent.is_symlink():
            return True
        parent = parent.parent
    return False


def checked_output_folder(root: Path, subject: str, session: str) -> Path:
    """``data/processed/<subject>/<session>`` after checking it is safe to write and clean.

    The workspace must exist and the IDs be valid. ``data/processed`` may be a symlink (outputs
    on another disk), but the subject and session folders must be real folders that lie
    outside the raw data: a run moves and removes its earlier outputs there.
    """
    workspace = open_workspace(root)
    folder = workspace.processed_dir(subject, session)
    for level in (folder.parent, folder):
        if level.is_symlink():
            raise OutputError(
                f"output folder {level} is a symlink (to {os.path.realpath(level)})",
                path=level,
                hint="a run replaces and removes its earlier outputs there; make it a real "
                "folder, or link data/processed as a whole instead",
            )
    raw = workspace.raw.resolve()
    real = Path(os.path.realpath(folder))
    if real == raw or raw in real.parents or real in raw.parents:
        raise OutputError(
            f"output folder {folder} resolves to {real}, which overlaps the raw data in {raw}",
            path=folder,
            hint="data/processed must not point into data/raw: raw data are never modified",
        )
    return folder


@contextlib.contextmanager
def session_lock(root: Path, subject: str, session: str) -> Iterator[None]:
    """Hold the session's lock for one run; another run of it is refused, not queued.

    An advisory ``flock`` on ``.w2t/locks/<subject>__<session>.lock``
    (:func:`w2t_bkin.runtime.locks.exclusive_lock`): the kernel releases it when the process
    ends, so a crash never leaves a stale lock; two threads of one process exclude each other
    too.
    """
    path = Workspace(root).state / "locks" / f"{subject}__{session}.lock"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive_lock(path))
        except LockHeldError as exc:
            raise SessionBusyError(
                f"session {subject}/{session} is being processed by another run ({exc.holder})",
                path=path,
                hint="wait for that run to finish; its lock is released when it exits",
            ) from None
        yield


def settle_previous_outputs(folder: Path, result: SessionResult, session_log: RunCapture) -> None:
    """After a run: a success supersedes ``previous/``; a failure keeps it and says so."""
    previous = folder / PREVIOUS_DIR
    if not previous.is_dir():
        return
    if not result.ok:
        result.previous_outputs = previous
        session_log.write(
            logging.WARNING, "this run failed; the last successful outputs are in %s", previous
        )
        return
    try:
        shutil.rmtree(previous)
    except OSError as exc:
        session_log.write(logging.WARNING, "could not remove %s: %s", previous, exc)
    else:
        session_log.write(logging.INFO, "removed %s (superseded by this run)", previous)
