"""Each run's log records and warnings, kept apart when runs share a process.

A run (one session, one job) enters :func:`capture_run`; while it is inside, every record of the
package logger and every warning raised *in its context* goes to that run alone: its
``pipeline.log`` and its :class:`RunCapture` lists. "Its context" is a context variable: the
thread that entered, and any work started with :func:`run_in_context`. Nothing per run
touches shared state: the logger gets one routing handler and the warnings module one routing
``showwarning`` for as long as any run is inside (reference counted, under a lock), and records
and warnings outside every run pass through untouched.

Data-quality findings (:func:`w2t_bkin.errors.warn_data_quality`) never pass through the
process-wide warning filters inside a run: they go straight to the run, so another thread's
``warnings.catch_warnings`` block (pynwb, nwbinspector, NumPy and our own readers open them)
can neither drop them nor take them. Other warnings (libraries, deprecations) do pass through
the filters, with the limits Python sets before 3.14: while another thread is inside a
``catch_warnings`` block, that block's filters and recorder apply to every thread; and a
library warning with the ``default`` action is shown once per code location per process, so
two runs in one process may not both list it.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from w2t_bkin.errors import DataQualityWarning, reset_data_quality_sink, set_data_quality_sink

P = ParamSpec("P")
T = TypeVar("T")

PACKAGE_LOGGER = "w2t_bkin"
CONSOLE_ONLY = "w2t_console_only"
"""``extra`` key of records meant for the console only (e.g. a --debug traceback)."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_current: contextvars.ContextVar[RunCapture | None] = contextvars.ContextVar(
    "w2t_run_capture", default=None
)
_install_lock = threading.Lock()
_run_ids = itertools.count(1)


@dataclass
class RunCapture:
    """What one run logged and warned.

    Attributes
    ----------
    run_id
        Unique in this process; names the run in its records' ``w2t_run_id`` attribute.
    log_path
        The run's log file, ``None`` when it could not be opened (records then go nowhere).
    level
        Records below it are not written to the log file (the package logger still passes
        every record down to DEBUG while a run is inside).
    caught
        Every warning raised in the run's context, in order.
    """

    run_id: str
    log_path: Path | None
    handler: logging.Handler
    logger_name: str = PACKAGE_LOGGER
    level: int = logging.INFO
    caught: list[warnings.WarningMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_level(self, level: str | int) -> None:
        """Write records at ``level`` and above (a name such as ``"DEBUG"``, or a number)."""
        self.level = level if isinstance(level, int) else logging.getLevelName(level)

    def accept(self, record: logging.LogRecord) -> None:
        if record.levelno < self.level or getattr(record, CONSOLE_ONLY, False):
            return
        record.w2t_run_id = self.run_id
        self.handler.handle(record)

    def write(
        self,
        level: int,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> None:
        """Write one record to this run's log only (not to the console), if at :attr:`level`.

        The record is named after :attr:`logger_name`, as if that logger had written it.
        """
        if level < self.level:
            return
        info = (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None
        logger = logging.getLogger(self.logger_name)
        record = logger.makeRecord(self.logger_name, level, __file__, 0, msg, args, info)
        self.handler.handle(record)

    def add_data_quality(self, message: str) -> None:
        """A finding of :func:`~w2t_bkin.errors.warn_data_quality`, kept as a warning."""
        self.add_warning(warnings.WarningMessage(message, DataQualityWarning, "", 0))

    def add_warning(self, message: warnings.WarningMessage) -> None:
        with self._lock:
            self.caught.append(message)

    def warnings_snapshot(self) -> list[warnings.WarningMessage]:
        with self._lock:
            return list(self.caught)


def current_run() -> RunCapture | None:
    """The run whose context the caller is in, if any."""
    return _current.get()


@contextlib.contextmanager
def capture_run(
    log_path: Path | None, *, level: str | int = logging.INFO, logger_name: str = PACKAGE_LOGGER
) -> Iterator[RunCapture]:
    """Route this context's package log records and warnings to one run.

    Parameters
    ----------
    log_path
        The run's log file, truncated; its folder is created. When it cannot be opened the
        records go nowhere and :attr:`RunCapture.log_path` is ``None``.
    level
        The run's log level (:meth:`RunCapture.set_level` changes it later).
    logger_name
        The name :meth:`RunCapture.write` gives its records.
    """
    handler: logging.Handler
    try:
        if log_path is None:
            raise OSError("no log file")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    except OSError:
        handler, log_path = logging.NullHandler(), None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    capture = RunCapture(f"run-{next(_run_ids)}", log_path, handler, logger_name)
    capture.set_level(level)
    token = _current.set(capture)
    quality_token = set_data_quality_sink(capture.add_data_quality)
    _install()
    try:
        yield capture
    finally:
        reset_data_quality_sink(quality_token)
        _current.reset(token)
        _uninstall()
        handler.close()


def run_in_context(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` bound to the caller's context: records and warnings of a worker thread it runs in
    reach the caller's run (``ThreadPoolExecutor`` threads do not inherit context on their own).
    """
    context = contextvars.copy_context()

    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        return context.copy().run(fn, *args, **kwargs)

    return bound


# --------------------------------------------------------------------------------------------
# process-wide routing, installed while at least one run is inside


class _RunRouter(logging.Handler):
    """The one handler on the package logger: hands each record to the current run."""

    def handle(self, record: logging.LogRecord) -> bool:  # no lock: each run's handler locks
        capture = _current.get()
        if capture is not None:
            capture.accept(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() bypasses
        pass


@dataclass
class _Installed:
    depth: int = 0
    router: _RunRouter = field(default_factory=_RunRouter)
    saved_level: int = logging.NOTSET
    saved_showwarning: Callable[..., Any] | None = None
    filter_entry: tuple[Any, ...] | None = None


_state = _Installed()


def _route_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    capture = _current.get()
    if capture is not None:
        capture.add_warning(
            warnings.WarningMessage(message, category, filename, lineno, file, line)
        )
        return
    fallback = _state.saved_showwarning or warnings._showwarning_orig  # type: ignore[attr-defined]
    fallback(message, category, filename, lineno, file, line)


def _install() -> None:
    with _install_lock:
        _state.depth += 1
        if warnings.showwarning is not _route_warning:  # first run, or someone replaced it
            _state.saved_showwarning = warnings.showwarning
            warnings.showwarning = _route_warning
        if _state.depth > 1:
            return
        logger = logging.getLogger(PACKAGE_LOGGER)
        _state.saved_level = logger.level
        # Records reach handlers only above the logger's level: let DEBUG through while runs
        # are inside (each run filters to its own level; console handlers have their own).
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
        logger.addHandler(_state.router)
        warnings.filterwarnings("always", category=DataQualityWarning)
        _state.filter_entry = warnings.filters[0]


def _uninstall() -> None:
    with _install_lock:
        _state.depth -= 1
        if _state.depth > 0:
            return
        logger = logging.getLogger(PACKAGE_LOGGER)
        logger.removeHandler(_state.router)
        logger.setLevel(_state.saved_level)
        if warnings.showwarning is _route_warning and _state.saved_showwarning is not None:
            warnings.showwarning = _state.saved_showwarning
        _state.saved_showwarning = None
        filters: list[Any] = warnings.filters  # type: ignore[assignment]  # a list at run time
        if _state.filter_entry in filters:
            filters.remove(_state.filter_entry)
            warnings._filters_mutated()  # type: ignore[attr-defined]
        _state.filter_entry = None
