"""Advisory file locks for "one run of this at a time" (sessions, daemons, batches).

An ``flock`` on a lock file: the kernel releases it when the holding process exits, so a crash
never leaves a stale lock. Each :func:`exclusive_lock` opens the file anew, so two threads of one
process exclude each other exactly as two processes do. The lock file holds a line naming the
holder (PID and start time), shown to whoever is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from w2t_bkin.errors import W2TError


class LockHeldError(W2TError):
    """The lock is held by another run; ``holder`` is what that run wrote into the lock file."""

    def __init__(self, path: Path, holder: str) -> None:
        self.holder = holder
        super().__init__(f"{path} is held by {holder}", path=path)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created when missing) for the ``with`` block.

    Raises
    ------
    LockHeldError
        Another process or thread holds it; the error's ``holder`` names it. Never waits.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise LockHeldError(path, handle.read().strip() or "another process") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat()}\n")
        handle.flush()
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
