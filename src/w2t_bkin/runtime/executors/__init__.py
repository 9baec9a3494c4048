"""Executors: run :class:`~w2t_bkin.runtime.tasks.TaskSpec` s here or on a cluster.

- :class:`LocalExecutor` (``"local"``): a pool of worker processes on this machine.
- :class:`~w2t_bkin.runtime.executors.dask_cluster.DaskExecutor` (``"dask"``): a Dask cluster,
  started here (``LocalCluster``) or reached at a scheduler address; needs the ``dask`` extra,
  imported only when one is made.

Both deliver events and outcomes in the calling thread, retry transient failures (``OSError``,
lost workers) up to ``retries`` times, and answer Ctrl-C by cancelling what is left, reporting
each unfinished task as cancelled and re-raising ``KeyboardInterrupt``
(:mod:`~w2t_bkin.runtime.executors.common` states the retry policy).
"""

from __future__ import annotations

from typing import Literal

from w2t_bkin.errors import ConfigError
from w2t_bkin.runtime.executors.dask_cluster import DaskExecutor  # imports distributed on use
from w2t_bkin.runtime.executors.local import LocalExecutor
from w2t_bkin.runtime.tasks import Executor

ExecutorKind = Literal["local", "dask"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = ("local", "dask")


def make_executor(kind: ExecutorKind, jobs: int, scheduler: str | None = None) -> Executor:
    """The executor of ``kind`` with ``jobs`` workers.

    Parameters
    ----------
    kind
        ``"local"`` (worker processes on this machine) or ``"dask"``.
    jobs
        Worker processes, at least 1 (for ``"dask"`` with a ``scheduler``, that cluster's
        workers decide instead).
    scheduler
        Dask only: ``"tcp://HOST:PORT"`` or a scheduler file; ``None`` starts a local cluster.

    Returns
    -------
    Executor
        Close it (or use it as a context manager) to stop its workers.

    Raises
    ------
    ConfigError
        ``jobs`` is below 1, ``kind`` is unknown, or a ``scheduler`` is given for ``"local"``.
    MissingExtraError
        ``kind="dask"`` but the ``dask`` extra is not installed.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(
            f"jobs must be a whole number of 1 or more, got {jobs!r}",
            hint="pass --jobs 1 to run one task at a time, or more to run tasks in parallel",
        )
    if kind == "local":
        if scheduler is not None:
            raise ConfigError(
                f"a Dask scheduler ({scheduler}) was given, but the executor is 'local'",
                hint="choose the Dask executor (--executor dask) to use the scheduler, "
                "or leave the scheduler out",
            )
        return LocalExecutor(jobs)
    if kind == "dask":
        return DaskExecutor(jobs, scheduler)
    raise ConfigError(
        f"unknown executor {kind!r}",
        hint=f"choose one of: {', '.join(EXECUTOR_KINDS)}",
    )


__all__ = ["EXECUTOR_KINDS", "DaskExecutor", "ExecutorKind", "LocalExecutor", "make_executor"]
