"""Run one call in a forked child process beside this one, while this process goes on.

A session's finalization has two independent CPU-bound steps: validating the written NWB file
and drawing the QC figures. On a machine with a spare CPU, :func:`start_beside` forks a child
that makes one call (the validation) while this process draws; :meth:`Beside.result` then
returns what the call returned, as if it had run here.

The child is a ``fork`` of this process: it starts at once, with every module already
imported, and shares this process's memory copy-on-write (objects are frozen out of the
garbage collector first, so the child's collections do not copy them). It is used only where
that is safe and useful, else :func:`start_beside` returns ``None`` and the caller makes the
call itself:

- the platform can ``fork``, and this process runs a single thread (forking a process whose
  other threads may hold locks can deadlock the child). A thread that can stop for a moment
  (a terminal's progress display) registers a :class:`Pausable` (:func:`register_pausable`):
  it is stopped before the fork and started again right after;
- this process is not a daemon (a Dask worker) and does not share the machine's CPUs with
  other workers of the same batch (:func:`mark_cpus_shared`, called by each worker of the local
  process pool when the machine has fewer than 2 CPUs per worker);
- at least two CPUs are available to this process.

:class:`TwoEnds` shares a list of tasks between this process and the child (one takes from the
front, the other from the back), so that neither waits while the other has work left.

The child's log records are sent back and logged here, in order, after the call. If the child
cannot deliver a result (it died, or the value or error cannot be pickled), the call is made
again here, so the caller sees exactly what an in-process call gives, errors included.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

_T = TypeVar("_T")

log = logging.getLogger(__name__)

_cpus_shared = False


class Pausable(Protocol):
    """A background thread's owner that can stop the thread (joined) and start it again."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


_pausables: list[Pausable] = []


def register_pausable(owner: Pausable) -> None:
    """Have ``owner``'s thread stopped while :func:`start_beside` forks."""
    _pausables.append(owner)


def unregister_pausable(owner: Pausable) -> None:
    """Undo :func:`register_pausable` (nothing when ``owner`` is not registered)."""
    if owner in _pausables:
        _pausables.remove(owner)


def mark_cpus_shared() -> None:
    """Declare that this process shares the CPUs with other busy workers (no child beside)."""
    global _cpus_shared
    _cpus_shared = True


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _useful_and_forkable() -> bool:
    return (
        not _cpus_shared
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
        and available_cpus() >= 2
    )


class Beside(Generic[_T]):
    """A call running in a forked child; :meth:`result` waits for it."""

    def __init__(
        self,
        process: Any,
        connection: Any,
        call: Callable[[], _T],
    ) -> None:
        self._process = process
        self._connection = connection
        self._call = call
        self._done = False

    @property
    def pid(self) -> int:
        """The child's process ID."""
        return int(self._process.pid)

    def result(self) -> _T:
        """What the call returned, or raise what it raised.

        Made again in this process when the child delivered nothing usable.
        """
        if self._done:
            raise RuntimeError("Beside.result() was already called")
        self._done = True
        message: Any = None
        try:
            message = self._connection.recv()
        except Exception:  # died before sending (EOFError), or sent what cannot be unpickled
            message = None
        except BaseException:  # Ctrl-C while waiting: the child's work is not wanted any more
            self._process.terminate()
            raise
        finally:
            self._connection.close()
            self._process.join()
        if not isinstance(message, tuple) or len(message) != 3:
            log.debug("the child process beside gave no result; making the call here")
            return self._call()
        status, value, records = message
        for name, level, text in records:
            logging.getLogger(name).log(level, "%s", text)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        if status == "error" and isinstance(value, BaseException):
            raise value
        log.debug("the call beside failed in a way that cannot be sent back; making it here")
        return self._call()

    def cancel(self) -> None:
        """Stop the child now (nothing it computed is used)."""
        if self._done:
            return
        self._done = True
        self._connection.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def start_beside(call: Callable[[], _T]) -> Beside[_T] | None:
    """Start ``call()`` in a forked child, or return ``None`` where that is not safe or useful.

    Call :meth:`Beside.result` (or :meth:`Beside.cancel`) exactly once on what is returned.
    """
    if not _useful_and_forkable():
        return None
    paused = list(_pausables)
    for owner in paused:
        owner.pause()
    try:
        return _fork(call) if threading.active_count() == 1 else None
    finally:
        for owner in reversed(paused):
            owner.resume()


def _fork(call: Callable[[], _T]) -> Beside[_T] | None:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    try:
        process = context.Process(
            target=_child, args=(sender, call), name="w2t-beside", daemon=True
        )
        process.start()
    except OSError as exc:
        receiver.close()
        log.debug("could not fork a child process (%s); the call runs here", exc)
        return None
    finally:
        sender.close()  # the child holds its own copy
    return Beside(process, receiver, call)


class TwoEnds:
    """The indices ``0 .. n-1`` shared out between this process and a child forked after it was
    made: one takes from the front, the other from the back, each index exactly once, until
    they meet (the faster one takes more). Shared memory and a lock, inherited by the fork.

    Raises
    ------
    OSError
        The platform cannot create the shared lock (e.g. no ``/dev/shm``).
    """

    def __init__(self, n: int) -> None:
        context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        )
        self._ends = context.RawArray("q", [0, n])
        self._lock = context.Lock()

    def take_front(self) -> int | None:
        """The lowest index not taken yet, or ``None`` when none is left."""
        with self._lock:
            front, back = self._ends[0], self._ends[1]
            if front >= back:
                return None
            self._ends[0] = front + 1
            return int(front)

    def take_back(self) -> int | None:
        """The highest index not taken yet, or ``None`` when none is left."""
        with self._lock:
            front, back = self._ends[0], self._ends[1]
            if front >= back:
                return None
            self._ends[1] = back - 1
            return int(back - 1)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _child(sender: Any, call: Callable[[], Any]) -> None:
    # The objects inherited from the parent are left out of this process' garbage collections:
    # collecting would write to every one of them and copy the pages it shares with the parent.
    # (Frozen here, not in the parent before the fork: the parent's unfreeze afterwards would
    # also undo what a worker froze for good, its preloaded modules.)
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # The inherited handlers write to the parent's files and terminal: the records go back
    # to the parent instead, which logs them where the call's records belong.
    collect = _Collect()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []
    logging.getLogger().addHandler(collect)
    try:
        message: tuple[str, Any, list[tuple[str, int, str]]] = ("ok", call(), collect.records)
    except BaseException as exc:  # sent to the parent, which raises it
        message = ("error", exc, collect.records)
    try:
        sender.send(message)
    except Exception:  # the value or error cannot be pickled: the parent makes the call
        sender.send(("unsent", None, collect.records))
    sender.close()
