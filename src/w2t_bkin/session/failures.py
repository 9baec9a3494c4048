"""Any exception of a phase as a :class:`~w2t_bkin.errors.W2TError` naming the file and the fix."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from w2t_bkin.errors import IngestError, OutputError, UnexpectedError, W2TError

WRITING_PHASES = frozenset({"assembly", "finalization"})
"""Phases that write outputs; an OS error elsewhere happened while reading an input."""


def as_w2t_error(exc: Exception, phase: str, log_path: Path | None = None) -> W2TError:
    """``exc`` as a W2TError whose message names the file and whose hint gives the fix.

    OS errors are read errors (:class:`IngestError`) outside the writing phases and write errors
    (:class:`OutputError`) in them; anything else not raised on purpose is an
    :class:`UnexpectedError` (exit code 70).
    """
    if isinstance(exc, W2TError):
        return exc
    if isinstance(exc, OSError):
        error = _os_error(exc, writing=phase in WRITING_PHASES)
        error.transient = exc.errno in TRANSIENT_ERRNOS
        return error
    if isinstance(exc, MemoryError):
        return W2TError(
            "out of memory",
            hint="process this session on a machine with more memory, or with fewer sessions "
            "at once",
        )
    where = f"; the traceback is in {log_path}" if log_path is not None else ""
    return UnexpectedError(
        f"unexpected {type(exc).__name__}: {exc}",
        hint=f"this is likely a bug in w2t-bkin{where}; rerun with --debug to see it, and "
        "report it with pipeline.log",
    )


TRANSIENT_ERRNOS = frozenset(
    {errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ESTALE, errno.ECONNRESET, errno.EINTR}
)
"""OS errors a retry may not meet again (a flaky network disk, a timeout); never bad input."""

_H5_FILE_NAME = re.compile(r"name = '([^']+)'")


def _os_error(exc: OSError, *, writing: bool) -> W2TError:
    filename = exc.filename
    if filename is None:  # HDF5 names the file inside its message only
        found = _H5_FILE_NAME.search(str(exc))
        filename = found.group(1) if found else None
    target = f" {filename}" if filename is not None else ""
    path = Path(os.fsdecode(filename)) if filename is not None else None
    error_class: type[W2TError] = OutputError if writing else IngestError
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        if writing:
            return OutputError(
                f"permission denied writing{target}",
                hint="make the output folder writable for this user (e.g. chmod u+w FOLDER)",
                path=path,
            )
        return IngestError(
            f"permission denied reading{target}",
            hint=f"make the file readable for this user (e.g. chmod u+r {filename or 'FILE'}) "
            "or ask its owner to",
            path=path,
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(
            f"no space left on the device writing{target}",
            hint="free disk space in the output folder and run the session again",
            path=path,
        )
    action = "writing" if writing else "reading"
    return error_class(
        f"{action}{target} failed: {exc.strerror or exc}",
        hint="check that the file exists, is complete, and that its disk is healthy",
        path=path,
    )
