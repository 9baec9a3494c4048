"""A declarative DAG of feature steps and keyed callback steps, cached through run identity.

``Pipeline().add(FeatureStep(...)).add(CallbackStep(..., key=...))`` builds the graph in
topological order (a step may only name steps added before it, so cycles cannot exist). The
same resolver predicts every step's run id for ``status``, ``load``, ``run`` and ``clean``:

* a feature step is built through its own ``Inputs`` class from its upstream ``Result``s, and
  its run id predicted with :func:`~w2t_bkin.features.run.plan_run`, the function execution
  uses, so prediction equals execution (scope-dependent steps included: their scope is the
  requested entry set, known before anything runs);
* a step is cached when every entry of its scope is done with the current input digest; it is
  stale when an upstream step is not cached, and staleness flows downstream;
* a callback step is cached by its explicit ``key`` plus its upstream run ids: it reruns when
  the key changes (bump it when the function changes) or an upstream changes.
"""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from w2t_bkin.errors import W2TError
from w2t_bkin.features.base import TrainingProgressCallback
from w2t_bkin.features.errors import FeatureError, FeatureRunError, PipelineError
from w2t_bkin.features.identity import TRACKS, Result, compute_run_id, identity_dump
from w2t_bkin.features.run import RunPlan, _pending, plan_run, run_feature

if TYPE_CHECKING:
    import pandas as pd

    from w2t_bkin.features.dataset import FeatureDataset

log = logging.getLogger(__name__)

__all__ = ["CallbackStep", "FeatureStep", "Pipeline", "StepState"]

CALLBACK_PREFIX = "callback/"
SCOPE_KWARGS = ("groups", "sequences", "entries")
_RUN_KWARGS = frozenset(inspect.signature(run_feature).parameters) - {"dataset", "feature"}


@dataclass(frozen=True)
class FeatureStep:
    """One feature node: ``feature_cls(params, inputs)``; no ``input_names`` means tracks."""

    name: str
    feature_cls: type
    params: Mapping[str, Any] | None = None
    input_names: Sequence[str] = ()
    run_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackStep:
    """Arbitrary code between steps: ``fn(dataset, results_so_far)``.

    ``key`` is the step's identity (required): change it when the function's behaviour changes.
    """

    name: str
    fn: Callable[[FeatureDataset, dict[str, Result]], Any]
    depends_on: Sequence[str] = ()
    key: str = field(default="", kw_only=True)


@dataclass
class StepState:
    """What the resolver knows of one step."""

    step: FeatureStep | CallbackStep
    feature: str
    run_id: str
    cached: bool
    stale: bool
    state: str
    n_entries: int
    n_target: int
    plan: RunPlan | None = None
    error: str = ""


class Pipeline:
    """Named steps in insertion (topological) order; see the module docstring.

    Parameters
    ----------
    default_run_kwargs
        ``run_feature`` options for every feature step (a step's ``run_kwargs`` win).
    """

    def __init__(self, default_run_kwargs: Mapping[str, Any] | None = None) -> None:
        self.default_run_kwargs = dict(default_run_kwargs or {})
        _check_run_kwargs("default_run_kwargs", self.default_run_kwargs)
        self.steps: list[FeatureStep | CallbackStep] = []
        self.results: dict[str, Result] = {}

    # -- building ----------
    def add(self, step: FeatureStep | CallbackStep) -> Pipeline:
        """Add a step (chainable).

        Raises
        ------
        PipelineError
            A duplicate name, an upstream name not added before, a callback without ``key``,
            or an unknown ``run_feature`` option.
        """
        names = {s.name for s in self.steps}
        if step.name in names:
            raise PipelineError(f"pipeline already has a step named {step.name!r}")
        upstream = _upstream(step)
        missing = [n for n in upstream if n not in names]
        if missing:
            raise PipelineError(
                f"step {step.name!r} names {missing}, which are not steps added before it",
                hint=f"add upstream steps first; known steps: {sorted(names)}",
            )
        if isinstance(step, CallbackStep):
            if not isinstance(step.key, str) or not step.key:
                raise PipelineError(
                    f"callback step {step.name!r} needs an explicit key=... (its identity)",
                    hint="e.g. key='export-v1'; change it whenever the callback's output changes",
                )
        else:
            _check_run_kwargs(f"step {step.name!r}", step.run_kwargs)
            feature_names = {s.name for s in self.steps if isinstance(s, FeatureStep)}
            callbacks = [n for n in step.input_names if n not in feature_names]
            if callbacks:
                raise PipelineError(
                    f"step {step.name!r} takes callback steps {callbacks} as inputs; only "
                    "feature steps produce inputs",
                    hint="a callback's effect reaches a feature through what it writes",
                )
        self.steps.append(step)
        return self

    def dag(self) -> dict[str, list[str]]:
        """``{step: [upstream step names]}``."""
        return {s.name: list(_upstream(s)) for s in self.steps}

    def _step(self, name: str) -> FeatureStep | CallbackStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise PipelineError(
            f"no step named {name!r}", hint=f"steps: {[s.name for s in self.steps]}"
        )

    def downstream_of(self, name: str) -> set[str]:
        """``name`` and every step that depends on it, transitively."""
        self._step(name)
        out = {name}
        for step in self.steps:  # insertion order is topological
            if set(_upstream(step)) & out:
                out.add(step.name)
        return out

    # -- resolving ----------
    def _build(self, step: FeatureStep, states: Mapping[str, StepState]) -> Any:
        inputs: list[Any] = [
            Result(feature=states[n].feature, run_id=states[n].run_id) for n in step.input_names
        ] or [TRACKS]
        return step.feature_cls(params=dict(step.params or {}), inputs=inputs)

    def _kwargs(self, step: FeatureStep) -> dict[str, Any]:
        return {**self.default_run_kwargs, **dict(step.run_kwargs)}

    def _warm_workers_for_later_steps(self, computing: FeatureStep) -> None:
        """A step is about to compute: start the process workers a later step will use, so
        their start-up (imports) overlaps this step instead of delaying that one."""
        from w2t_bkin.features import _workers

        later = self.steps[self.steps.index(computing) + 1 :]
        for step in later:
            if not isinstance(step, FeatureStep) or not getattr(
                step.feature_cls, "parallelizable", True
            ):
                continue
            kwargs = self._kwargs(step)
            workers = kwargs.get("parallel_workers") or 1
            cls = step.feature_cls
            if kwargs.get("parallel_mode") == "process" and workers > 1:
                if "<locals>" not in cls.__qualname__ and cls.__module__ != "__main__":
                    _workers.warm(workers - 1, cls.__module__)
                return

    def _resolve_feature(
        self, ds: FeatureDataset, step: FeatureStep, states: Mapping[str, StepState]
    ) -> StepState:
        kwargs = self._kwargs(step)
        stale = any(not states[n].cached for n in step.input_names)
        try:
            feature = self._build(step, states)
            predicted = {
                (states[n].feature, states[n].run_id): list(states[n].plan.scope)  # type: ignore[union-attr]
                for n in step.input_names
                if not states[n].cached and states[n].plan is not None
            }
            plan = plan_run(
                ds,
                feature,
                groups=kwargs.get("groups"),
                sequences=kwargs.get("sequences"),
                entries=kwargs.get("entries"),
                frame_range=(kwargs.get("filter_start_frame"), kwargs.get("filter_end_frame")),
                time_range_s=(kwargs.get("filter_start_time"), kwargs.get("filter_end_time")),
                predicted=predicted,
            )
        except FeatureError as exc:
            return StepState(
                step,
                getattr(step.feature_cls, "name", "?"),
                "",
                False,
                True,
                "error",
                0,
                0,
                None,
                exc.message,
            )
        registry = ds.registry
        done = len(plan.scope) - len(
            _pending(ds, plan, ds.run_dir(feature.name, plan.run_id), False)
        )
        has_run = registry.has_run(feature.name, plan.run_id)
        if getattr(feature, "artifact_only", False):
            complete = registry.run_is_finished(feature.name, plan.run_id)
        else:
            complete = has_run and done == len(plan.scope)
        cached = complete and not stale
        if stale:
            state = "stale"
        elif complete:
            state = "cached"
        elif done:
            state = "partial"
        else:
            state = "missing"
        return StepState(
            step, feature.name, plan.run_id, cached, stale, state, done, len(plan.scope), plan
        )

    def _resolve_callback(
        self, ds: FeatureDataset, step: CallbackStep, states: Mapping[str, StepState]
    ) -> StepState:
        upstream = [[n, states[n].feature, states[n].run_id] for n in step.depends_on]
        payload = {"callback": step.name, "key": step.key, "upstream": upstream}
        run_id = compute_run_id("cb", identity_dump(payload))
        stale = any(not states[n].cached for n in step.depends_on)
        storage = CALLBACK_PREFIX + step.name
        complete = ds.registry.run_is_finished(storage, run_id)
        cached = complete and not stale
        state = "stale" if stale else ("cached" if complete else "missing")
        return StepState(step, storage, run_id, cached, stale, state, int(complete), 1)

    def resolve(self, ds: FeatureDataset) -> dict[str, StepState]:
        """Predict every step's run id and cache state, in insertion order (nothing runs)."""
        states: dict[str, StepState] = {}
        for step in self.steps:
            if isinstance(step, FeatureStep):
                states[step.name] = self._resolve_feature(ds, step, states)
            else:
                states[step.name] = self._resolve_callback(ds, step, states)
        return states

    # -- public queries ----------
    def status(self, ds: FeatureDataset) -> pd.DataFrame:
        """One row per step: ``step, feature, run_id, cached, state, n_entries, n_target, error``.

        ``state`` is ``cached``, ``partial`` (some entries done), ``missing``, ``stale`` (an
        upstream step is not cached) or ``error`` (the step cannot be built).
        """
        import pandas as pd

        rows = [
            {
                "step": name,
                "feature": s.feature,
                "run_id": s.run_id,
                "cached": s.cached,
                "state": s.state,
                "n_entries": s.n_entries,
                "n_target": s.n_target,
                "error": s.error,
            }
            for name, s in self.resolve(ds).items()
        ]
        columns = ["step", "feature", "run_id", "cached", "state", "n_entries", "n_target", "error"]
        return pd.DataFrame(rows, columns=columns)

    def load(self, ds: FeatureDataset) -> dict[str, Result]:
        """Results of the cached feature steps (nothing executes)."""
        for name, state in self.resolve(ds).items():
            if state.cached and isinstance(state.step, FeatureStep):
                self.results[name] = Result(feature=state.feature, run_id=state.run_id)
        return dict(self.results)

    # -- running ----------
    def run(
        self,
        ds: FeatureDataset,
        force_from: str | None = None,
        *,
        max_parallel_steps: int = 1,
        progress: TrainingProgressCallback | None = None,
    ) -> dict[str, Result]:
        """Run what is not cached; ``force_from`` reruns that step and everything downstream.

        Independent branches run in parallel threads when ``max_parallel_steps > 1``. A step
        that fails skips its downstream steps; the others still run, then the failure is raised.

        Raises
        ------
        PipelineError
            Unknown ``force_from``.
        FeatureRunError
            Some step failed (``failed`` maps step names to their errors).
        """
        forced = self.downstream_of(force_from) if force_from is not None else set()
        states: dict[str, StepState] = {}
        failed: dict[str, str] = {}
        pending = list(self.steps)
        running: dict[Future[Any], str] = {}
        pool: ThreadPoolExecutor | _Inline = (
            ThreadPoolExecutor(max_workers=max_parallel_steps)
            if max_parallel_steps > 1
            else _Inline()
        )
        with pool:
            while pending or running:
                for step in list(pending):
                    ups = _upstream(step)
                    if any(n in failed for n in ups):
                        failed[step.name] = (
                            f"skipped: upstream {[n for n in ups if n in failed]} failed"
                        )
                        pending.remove(step)
                    elif all(n in states for n in ups) and len(running) < max(
                        1, max_parallel_steps
                    ):
                        pending.remove(step)
                        running[pool.submit(self._run_step, ds, step, states, forced, progress)] = (
                            step.name
                        )
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        states[name] = future.result()
                    except W2TError as exc:
                        failed[name] = exc.message
                        log.error("pipeline step %s failed: %s", name, exc.message)
                    except Exception as exc:  # a callback's own error: fail the step, not the run
                        failed[name] = f"{type(exc).__name__}: {exc}"
                        log.error("pipeline step %s failed: %s", name, failed[name])
        if failed:
            raise FeatureRunError(
                f"pipeline steps failed: {failed}",
                failed=failed,
                hint="fix the failing steps and rerun; completed steps stay cached",
            )
        return dict(self.results)

    def _run_step(
        self,
        ds: FeatureDataset,
        step: FeatureStep | CallbackStep,
        states: dict[str, StepState],
        forced: set[str],
        progress: TrainingProgressCallback | None,
    ) -> StepState:
        if isinstance(step, CallbackStep):
            state = self._resolve_callback(ds, step, states)
            if state.cached and step.name not in forced:
                log.info("step %s: cached", step.name)
                return state
            step.fn(ds, dict(self.results))
            payload = {"callback": step.name, "key": step.key}
            registry = ds.registry
            registry.record_run_start(
                state.feature,
                state.run_id,
                "cb",
                payload,
                [],
                [(states[n].feature, states[n].run_id) for n in step.depends_on],
            )
            registry.record_run_end(state.feature, state.run_id, "finished")
            return StepState(step, state.feature, state.run_id, True, False, "cached", 1, 1)
        state = self._resolve_feature(ds, step, states)
        if state.plan is None:
            raise PipelineError(f"step {step.name!r} cannot be built: {state.error}")
        if state.cached and step.name not in forced:
            log.info("step %s: cached (%s)", step.name, state.run_id)
            self.results[step.name] = Result(feature=state.feature, run_id=state.run_id)
            return state
        kwargs = self._kwargs(step)
        kwargs["overwrite"] = bool(kwargs.get("overwrite")) or step.name in forced
        self._warm_workers_for_later_steps(step)
        result = run_feature(ds, state.plan.feature, progress=progress, **kwargs)
        self.results[step.name] = result
        if result.failed_entries:
            raise FeatureRunError(
                f"step {step.name!r}: {len(result.failed_entries)} entries failed: "
                f"{list(result.failed_entries)[:5]}",
                hint="see the registry entries' error column (features status) for causes",
            )
        return self._resolve_feature(ds, step, states)

    # -- cleaning ----------
    def clean(self, ds: FeatureDataset, *, dry_run: bool = True) -> pd.DataFrame:
        """Find (and unless ``dry_run`` delete) runs this pipeline no longer uses.

        Kept: every run id a step of this pipeline expects, and every run upstream of a run
        that stays. Removed: other runs of this pipeline's features, and orphan run folders of
        any feature (on disk but unknown to the registry). Runs of features this pipeline does
        not use are left alone.

        Returns
        -------
        DataFrame
            ``feature, run_id, status, n_files, size_mb``; status ``keep``, ``would remove``,
            ``removed``, ``orphan (would remove)`` or ``orphan removed``.
        """
        import pandas as pd

        states = self.resolve(ds)
        keep = {(s.feature, s.run_id) for s in states.values() if s.run_id}
        ours = {s.feature for s in states.values()}
        registry = ds.registry
        known: set[tuple[str, str]] = set()
        for feature in registry.list_features():
            for run_id in registry.list_runs(feature)["run_id"]:
                known.add((feature, str(run_id)))
        on_disk = _run_folders(ds.features_dir)
        remove = {k for k in known if k[0] in ours and k not in keep}
        orphans = {k for k in on_disk if k not in known and k not in keep}
        # Protect upstream runs of anything that stays (other pipelines' runs included).
        changed = True
        while changed:
            changed = False
            for run in known - remove:
                for up in registry.get_dependencies(*run):
                    if up in remove:
                        remove.discard(up)
                        changed = True
        rows = []
        for run in sorted(known | on_disk | keep):
            if run in remove:
                status = "would remove" if dry_run else "removed"
            elif run in orphans:
                status = "orphan (would remove)" if dry_run else "orphan removed"
            elif run in keep or run[0] in ours:
                status = "keep"
            else:
                continue
            folder = _folder(ds, run)
            n_files, size = _size(folder)
            rows.append(
                {
                    "feature": run[0],
                    "run_id": run[1],
                    "status": status,
                    "n_files": n_files,
                    "size_mb": round(size / 1e6, 3),
                }
            )
        if not dry_run:
            for run in remove | orphans:
                shutil.rmtree(_folder(ds, run), ignore_errors=True)
                if run in remove:
                    registry.delete_run(*run)
            lost = [k for k in keep if k in on_disk and not _folder(ds, k).is_dir()]
            if lost:
                raise PipelineError(f"clean removed runs it had to keep: {lost}")
        return pd.DataFrame(rows, columns=["feature", "run_id", "status", "n_files", "size_mb"])


class _Inline:
    """Runs each submitted call at once in the caller's thread (one step at a time)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _upstream(step: FeatureStep | CallbackStep) -> Sequence[str]:
    return step.input_names if isinstance(step, FeatureStep) else step.depends_on


def _check_run_kwargs(where: str, kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _RUN_KWARGS)
    if unknown:
        raise PipelineError(
            f"{where}: unknown run_feature options {unknown}",
            hint=f"valid options: {sorted(_RUN_KWARGS)}",
        )


def _run_folders(features_dir: Path) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    if not features_dir.is_dir():
        return out
    for feature_dir in features_dir.iterdir():
        if feature_dir.is_dir():
            out |= {(feature_dir.name, r.name) for r in feature_dir.iterdir() if r.is_dir()}
    return out


def _folder(ds: FeatureDataset, run: tuple[str, str]) -> Path:
    return ds.run_dir(*run)


def _size(folder: Path) -> tuple[int, int]:
    if not folder.is_dir():
        return 0, 0
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)
