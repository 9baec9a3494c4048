"""``run_feature``: one feature over a dataset's entries, cached per entry, isolated per failure.

Order of work:

1. check the options (an unknown ``parallel_mode`` is refused, never guessed);
2. pin every upstream reference to a concrete run (copies; the caller's objects are untouched);
3. resolve the scope: entries present in every input, narrowed by ``groups``/``sequences``/
   ``entries`` (an explicitly empty selector is refused);
4. name the run (:func:`~w2t_bkin.features.identity.compute_run_id`), store the payload in
   ``run.json`` or compare it with the stored one, and record the run and its upstream edges;
5. load the fitted state, or fit over the scope and save it;
6. skip entries already done with the same input digest (without reading their inputs), then
   load, compute and write every other entry in the chosen executor: serially, in threads
   (one feature instance per thread) or in processes (a pool kept alive between runs, see
   :mod:`w2t_bkin.features._workers`; state loaded once per worker and run; the coordinating
   process is one of the N workers, so it computes while the others start; tasks carry file
   paths, not tables, and each worker writes its own entry file atomically and returns one
   small row);
7. record entry outcomes in batches, from the coordinating thread only; a failed entry is
   listed and the others go on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ThreadPoolExecutor,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from w2t_bkin.errors import W2TError
from w2t_bkin.features import _workers
from w2t_bkin.features._workers import FeatureSpec
from w2t_bkin.features.base import (
    Artifacts,
    BaseFeature,
    InputStream,
    NullProgress,
    TrainingProgressCallback,
    check_feature_class,
)
from w2t_bkin.features.errors import (
    FeatureInputError,
    FeatureRunError,
    IdentityCollisionError,
)
from w2t_bkin.features.identity import (
    TRACKS,
    Inputs,
    Result,
    compute_run_id,
    identity_payload,
)
from w2t_bkin.features.keys import make_entry_key, natural_key
from w2t_bkin.features.registry import EntryRow, utc_now
from w2t_bkin.features.store import (
    ARTIFACTS_DIR,
    RUN_FILE,
    entry_path,
    parquet_intact,
    read_entry,
    write_entry,
    write_run_file,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from w2t_bkin.features.dataset import FeatureDataset

log = logging.getLogger(__name__)

__all__ = ["PARALLEL_MODES", "RunPlan", "plan_run", "run_feature"]

PARALLEL_MODES = ("thread", "process")
RECORD_BATCH = 64
ALIGN_COLUMNS = ("frame_idx", "t_s", "item")
"""Columns that align the tables of several inputs of one entry (those present in all)."""

Entry = tuple[str, str]


@dataclass(frozen=True)
class InputSource:
    """Where one input of one entry is read: a Parquet file, or ``None`` when empty by design."""

    path: str | None


@dataclass(frozen=True)
class EntryTask:
    """Everything a worker needs to compute one entry, as plain paths (cheap to pickle)."""

    group: str
    sequence: str
    entry_key: str
    sources: tuple[InputSource, ...]
    previous: tuple[InputSource, ...] | None
    following: tuple[InputSource, ...] | None
    out_path: str
    input_digest: str
    frame_range: tuple[int | None, int | None]
    time_range_s: tuple[float | None, float | None]
    overlap_frames: int


@dataclass(frozen=True)
class RunPlan:
    """A resolved run: the pinned feature, its id, payload, scope and input locations."""

    feature: Any
    run_id: str
    payload: dict[str, Any]
    scope: tuple[Entry, ...]
    sources: dict[Entry, tuple[InputSource, ...]]
    digests: dict[Entry, str]
    neighbours: dict[Entry, tuple[Entry | None, Entry | None]]
    upstream: tuple[tuple[str, str], ...]
    frame_range: tuple[int | None, int | None]
    time_range_s: tuple[float | None, float | None]


@dataclass
class _Outcome:
    rows: list[EntryRow] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


# -- options and scope ----------
def _check_options(
    parallel_workers: int | None,
    parallel_mode: str,
    overlap_frames: int,
    frame_range: tuple[int | None, int | None],
    time_range_s: tuple[float | None, float | None],
) -> None:
    if parallel_mode not in PARALLEL_MODES:
        raise FeatureInputError(
            f"parallel_mode must be one of {list(PARALLEL_MODES)}, found {parallel_mode!r}",
            hint="'thread' shares one process; 'process' uses one process per worker",
        )
    if parallel_workers is not None and (
        isinstance(parallel_workers, bool)
        or not isinstance(parallel_workers, int)
        or parallel_workers < 1
    ):
        raise FeatureInputError(
            f"parallel_workers must be a whole number >= 1 or None, found {parallel_workers!r}"
        )
    if not isinstance(overlap_frames, int) or overlap_frames < 0:
        raise FeatureInputError(f"overlap_frames must be >= 0, found {overlap_frames!r}")
    for (start, end), what in ((frame_range, "frame"), (time_range_s, "time")):
        if start is not None and end is not None and end <= start:
            raise FeatureInputError(
                f"filter_end_{what} ({end}) must be greater than filter_start_{what} ({start})",
                hint="the range is start inclusive, end exclusive",
            )
    filtered = frame_range != (None, None) or time_range_s != (None, None)
    if overlap_frames and filtered:
        raise FeatureInputError(
            "overlap_frames cannot be combined with a frame or time filter",
            hint="overlap adds context from neighbouring sequences; a filter cuts each sequence",
        )


def pin_inputs(dataset: FeatureDataset, inputs: Inputs) -> Inputs:
    """A copy of ``inputs`` with every unpinned Result set to its feature's latest run."""
    items: list[Any] = []
    for item in inputs.root:
        if isinstance(item, Result) and item.run_id is None:
            item = Result(feature=item.feature, run_id=dataset.registry.latest_run_id(item.feature))
        elif isinstance(item, Result):
            item = Result(feature=item.feature, run_id=item.run_id)
        items.append(item)
    return type(inputs)(tuple(items))


def _input_universe(
    dataset: FeatureDataset, item: Any, predicted: Sequence[Entry] | None = None
) -> dict[Entry, tuple[InputSource, str]]:
    """Entries an input provides, with where to read each and its digest.

    An upstream run provides the entries it has done (outputs or empty by design);
    ``predicted`` adds the entries a not-yet-run upstream step will provide (pipeline status).
    """
    if item == TRACKS:
        return {
            (t.group, t.sequence): (InputSource(str(dataset.track_path(t.entry_key))), t.digest)
            for t in dataset.tracks()
        }
    assert isinstance(item, Result) and item.run_id is not None
    registry = dataset.registry
    if predicted is None and not registry.has_run(item.feature, item.run_id):
        raise FeatureInputError(
            f"input {item.feature}/{item.run_id} is not a run in {dataset.root}",
            hint="run the upstream feature first (or pass run_id=None for its latest run)",
        )
    run_dir = dataset.run_dir(item.feature, item.run_id)
    # The upstream run id names its content, so it is the per-entry digest of this input.
    digest = f"{item.feature}/{item.run_id}"
    out: dict[Entry, tuple[InputSource, str]] = {}
    for entry, (status, _digest) in registry.entry_states(item.feature, item.run_id).items():
        if status == "failed":
            continue
        path = None if status == "empty" else str(entry_path(run_dir, make_entry_key(*entry)))
        out[entry] = (InputSource(path), digest)
    for entry in predicted or ():
        if entry not in out:
            path = str(entry_path(run_dir, make_entry_key(*entry)))
            out[entry] = (InputSource(path), digest)
    return out


def param_refs(value: Any, where: str = "params") -> list[Result]:
    """Every :class:`Result` inside params, at any depth; each must be pinned.

    Raises
    ------
    FeatureInputError
        A reference in params has no ``run_id``.
    """
    from pydantic import BaseModel

    if isinstance(value, Result):
        if value.run_id is None:
            raise FeatureInputError(
                f"{where} refers to feature {value.feature!r} without a run_id",
                hint="references inside params must name their run: Result(feature, run_id)",
            )
        return [value]
    if isinstance(value, BaseModel):
        return [
            r
            for name in type(value).model_fields
            for r in param_refs(getattr(value, name), f"{where}.{name}")
        ]
    if isinstance(value, list | tuple):
        return [r for i, v in enumerate(value) for r in param_refs(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in param_refs(v, f"{where}.{k}")]
    return []


def _select(
    universe: Sequence[Entry],
    groups: Sequence[str] | None,
    sequences: Sequence[str] | None,
    entries: Sequence[Entry] | None,
) -> list[Entry]:
    for selector, what in ((groups, "groups"), (sequences, "sequences"), (entries, "entries")):
        if selector is not None and len(selector) == 0:
            raise FeatureInputError(
                f"{what}=[] selects nothing",
                hint=f"pass {what}=None for every entry, or list the ones you want",
            )
    known_groups = {g for g, _ in universe}
    known_sequences = {s for _, s in universe}
    unknown = [g for g in groups or () if g not in known_groups]
    unknown += [s for s in sequences or () if s not in known_sequences]
    unknown += [f"{g}/{s}" for g, s in entries or () if (g, s) not in set(universe)]
    if unknown:
        raise FeatureInputError(
            f"unknown entries selected: {unknown}; the inputs have groups "
            f"{sorted(known_groups)[:10]} and {len(known_sequences)} sequence names",
            hint="check the names with FeatureDataset.tracks() (sequences are "
            "'<session>/<camera>/<individual>')",
        )
    wanted = set(entries) if entries is not None else None
    return [
        (g, s)
        for g, s in universe
        if (groups is None or g in groups)
        and (sequences is None or s in sequences)
        and (wanted is None or (g, s) in wanted)
    ]


def _neighbours(universe: Sequence[Entry]) -> dict[Entry, tuple[Entry | None, Entry | None]]:
    """Previous and next entry of each: same group and same camera/individual, sessions in
    natural order (``s2`` before ``s10``); other sequence names: same group, natural order."""
    lanes: dict[tuple[str, ...], list[Entry]] = {}
    for g, s in universe:
        parts = s.split("/")
        lane = (g, *parts[1:]) if len(parts) == 3 else (g,)
        lanes.setdefault(lane, []).append((g, s))
    out: dict[Entry, tuple[Entry | None, Entry | None]] = {}
    for members in lanes.values():
        members.sort(key=lambda e: natural_key(e[1]))
        for i, entry in enumerate(members):
            out[entry] = (
                members[i - 1] if i else None,
                members[i + 1] if i + 1 < len(members) else None,
            )
    return out


def plan_run(
    dataset: FeatureDataset,
    feature: Any,
    *,
    groups: Sequence[str] | None = None,
    sequences: Sequence[str] | None = None,
    entries: Sequence[Entry] | None = None,
    frame_range: tuple[int | None, int | None] = (None, None),
    time_range_s: tuple[float | None, float | None] = (None, None),
    predicted: Mapping[tuple[str, str], Sequence[Entry]] | None = None,
) -> RunPlan:
    """Resolve a run without executing it: the same function names and executes a run.

    ``predicted`` maps ``(feature, run_id)`` of upstream runs that have not run yet to the
    entries they will provide (used by pipeline status to predict downstream ids).
    """
    check_feature_class(type(feature))
    pinned = pin_inputs(dataset, feature.inputs)
    predicted = predicted or {}
    universes = [
        _input_universe(
            dataset,
            item,
            predicted.get((item.feature, str(item.run_id))) if isinstance(item, Result) else None,
        )
        for item in pinned.root
    ]
    common = set(universes[0]) if universes else set()
    for u in universes[1:]:
        common &= set(u)
    universe = sorted(common, key=lambda e: (natural_key(e[0]), natural_key(e[1])))
    scope = _select(universe, groups, sequences, entries)
    digests = {
        e: hashlib.sha256("\0".join(u[e][1] for u in universes).encode()).hexdigest()
        for e in universe
    }
    payload = identity_payload(
        feature=feature.name,
        version=feature.version,
        params=feature.params,
        inputs=pinned,
        frame_range=frame_range,
        time_range_s=time_range_s,
        scope=[(g, s, digests[(g, s)]) for g, s in scope] if feature.scope_dependent else None,
    )
    refs = [i for i in pinned.root if isinstance(i, Result)] + param_refs(feature.params)
    upstream = tuple(dict.fromkeys((r.feature, str(r.run_id)) for r in refs))
    return RunPlan(
        feature=feature,
        run_id=compute_run_id(feature.version, payload),
        payload=payload,
        scope=tuple(scope),
        sources={e: tuple(u[e][0] for u in universes) for e in universe},
        digests=digests,
        neighbours=_neighbours(universe),
        upstream=upstream,
        frame_range=frame_range,
        time_range_s=time_range_s,
    )


# -- loading one entry ----------
def _merge(tables: list[pd.DataFrame], entry_key: str) -> pd.DataFrame:
    merged = tables[0]
    for i, table in enumerate(tables[1:], start=1):
        keys = [c for c in ALIGN_COLUMNS if c in merged.columns and c in table.columns]
        if not keys:
            raise FeatureInputError(
                f"entry {entry_key}: input {i} shares no alignment column ({list(ALIGN_COLUMNS)}) "
                "with the inputs before it",
            )
        for side, t in (("earlier inputs", merged), (f"input {i}", table)):
            if t.duplicated(keys).any():
                raise FeatureInputError(
                    f"entry {entry_key}: {side} repeat the key {keys}; joining would multiply "
                    "rows (many-to-many)",
                    hint="align inputs that have one row per frame (or per frame and item)",
                )
        clash = (set(merged.columns) & set(table.columns)) - set(keys)
        merged = merged.merge(
            table.rename(columns={c: f"{c}@{i}" for c in clash}), on=keys, how="inner"
        )
    return merged


def _load_sources(sources: tuple[InputSource, ...], entry_key: str) -> pd.DataFrame | None:
    if any(s.path is None for s in sources):
        return None  # an upstream entry that is empty by design makes this one empty too
    return _merge([read_entry(Path(str(s.path))) for s in sources], entry_key)


def _in_range(values: pd.Series, start: float | None, end: float | None) -> np.ndarray:
    """``start <= values < end`` (an absent bound does not filter)."""
    import numpy as np

    keep = np.ones(len(values), dtype=bool)
    if start is not None:
        keep &= values.to_numpy() >= start
    if end is not None:
        keep &= values.to_numpy() < end
    return keep


def _filtered(frame: pd.DataFrame, task: EntryTask) -> pd.DataFrame:
    """Rows in the frame range (``frame_idx``) and the time range (the entry's own ``t_s``)."""
    if task.frame_range == (None, None) and task.time_range_s == (None, None):
        return frame
    keep = _in_range(frame["frame_idx"], *task.frame_range)
    if task.time_range_s != (None, None):
        if "t_s" not in frame:
            raise FeatureInputError(f"entry {task.entry_key}: a time filter needs a 't_s' column")
        keep &= _in_range(frame["t_s"], *task.time_range_s)
    return frame.loc[keep].reset_index(drop=True)


def _edge_frames(frame: pd.DataFrame, n: int, last: bool) -> pd.DataFrame:
    """Rows of the first (or last) ``n`` distinct frames: overlap counts frames, not rows."""
    import numpy as np

    frames = np.unique(frame["frame_idx"].to_numpy())
    chosen = frames[-n:] if last else frames[:n]
    return frame.loc[frame["frame_idx"].isin(chosen).to_numpy()]


def load_entry_input(task: EntryTask) -> pd.DataFrame | None:
    """The table ``apply`` receives for one entry (filters and overlap applied)."""
    import pandas as pd

    core = _load_sources(task.sources, task.entry_key)
    if core is None:
        return None
    core = _filtered(core, task)
    if not task.overlap_frames:
        return core
    parts = []
    for sources, segment, last in (
        (task.previous, -1, True),
        (None, 0, False),
        (task.following, 1, False),
    ):
        if segment == 0:
            part = core
        elif sources is None:
            continue
        else:
            loaded = _load_sources(sources, task.entry_key)
            if loaded is None:
                continue
            part = _edge_frames(loaded, task.overlap_frames, last)
        parts.append(part.assign(segment=segment))
    return pd.concat(parts, ignore_index=True)


# -- computing one entry ----------
def compute_entry(feature: Any, task: EntryTask) -> EntryRow:
    """Load, apply and write one entry; a failure becomes a ``failed`` row, never a raise."""
    try:
        frame = load_entry_input(task)
        output = None if frame is None or frame.empty else feature.apply(frame)
        if output is not None and task.overlap_frames:
            if "segment" not in output.columns:
                raise FeatureInputError(
                    f"feature {feature.name!r} dropped the 'segment' column, so overlap context "
                    "cannot be trimmed",
                    hint="start outputs with BaseFeature.keys(frame) to keep the key columns",
                )
            output = output.loc[(output["segment"] == 0).to_numpy()].drop(columns="segment")
        if output is None or output.empty:
            with_file = Path(task.out_path)
            if with_file.exists():
                with_file.unlink()  # a stale output of an earlier attempt must not be served
            return EntryRow(
                task.group, task.sequence, task.entry_key, "empty", 0, task.input_digest
            )
        n_rows = write_entry(Path(task.out_path), output.reset_index(drop=True))
        return EntryRow(
            task.group, task.sequence, task.entry_key, "done", n_rows, task.input_digest
        )
    except Exception as exc:  # isolate the entry; the run goes on and lists it
        log.warning("entry %s failed: %s: %s", task.entry_key, type(exc).__name__, exc)
        return EntryRow(
            task.group,
            task.sequence,
            task.entry_key,
            "failed",
            0,
            task.input_digest,
            f"{type(exc).__name__}: {exc}",
        )


def rebuild_feature(cls_path: str, params_json: str, inputs_json: str, run_dir: str) -> Any:
    """A feature instance with its saved state loaded (used once per worker)."""
    module_name, _, qualname = cls_path.partition(":")
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    feature = cls(
        params=cls.Params.model_validate_json(params_json),
        inputs=cls.Inputs.model_validate_json(inputs_json),
    )
    if not feature.load_state(Artifacts(Path(run_dir))):
        raise FeatureInputError(f"feature {cls.name!r}: saved state in {run_dir} does not load")
    return feature


class WorkerStartError(BrokenExecutor):
    """A process worker could not rebuild the feature or load its saved state: that worker
    cannot take part in the run (raised in the worker, seen by the coordinator)."""


_WORKER_FEATURE: tuple[FeatureSpec, Any] | None = None


def _process_entry(spec: FeatureSpec, task: EntryTask) -> EntryRow:
    """A task in a pool worker: the run's feature is rebuilt and its state loaded on the
    worker's first entry of the run, then reused; an earlier run's instance is dropped."""
    global _WORKER_FEATURE
    if _WORKER_FEATURE is None or _WORKER_FEATURE[0] != spec:
        _WORKER_FEATURE = None
        try:
            feature = rebuild_feature(
                spec.cls_path, spec.params_json, spec.inputs_json, spec.run_dir
            )
        except Exception as exc:
            raise WorkerStartError(f"{type(exc).__name__}: {exc}") from exc
        _WORKER_FEATURE = (spec, feature)
    return compute_entry(_WORKER_FEATURE[1], task)


def _class_path(feature: Any) -> str:
    cls = type(feature)
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise FeatureInputError(
            f"parallel_mode='process' needs feature class {cls.__qualname__} importable by "
            f"worker processes, but it is defined in {cls.__module__}.{cls.__qualname__}",
            hint="define the class at module level in an importable module, or use 'thread'",
        )
    return f"{cls.__module__}:{cls.__qualname__}"


# -- the run ----------
def run_feature(
    dataset: FeatureDataset,
    feature: Any,
    groups: Sequence[str] | None = None,
    sequences: Sequence[str] | None = None,
    overwrite: bool = False,
    parallel_workers: int | None = None,
    parallel_mode: Literal["thread", "process"] | str = "thread",
    overlap_frames: int = 0,
    filter_start_frame: int | None = None,
    filter_end_frame: int | None = None,
    filter_start_time: float | None = None,
    filter_end_time: float | None = None,
    *,
    entries: Sequence[Entry] | None = None,
    progress: TrainingProgressCallback | None = None,
) -> Result:
    """Run ``feature`` over the dataset's entries; returns ``Result(feature, run_id)``.

    Parameters
    ----------
    groups, sequences, entries
        Scope selectors (they intersect); ``None`` means all, an empty list is refused.
    overwrite
        Recompute every entry and refit, even when cached.
    parallel_workers, parallel_mode
        How many entries are computed at once. ``None``/1: serial. ``"thread"``: a thread
        pool, one feature instance per thread. ``"process"``: ``parallel_workers - 1`` worker
        processes (forked from a server that imported the feature code once, one BLAS/OpenMP
        thread each, and kept for the next run: :mod:`w2t_bkin.features._workers`; each loads
        the state once per run) plus one thread of the calling process, so
        ``parallel_workers`` cores compute from the start and none is spent waiting for
        results.
    overlap_frames
        Frames of context taken from the previous and next sequence of the same
        (group, camera, individual); counted in distinct ``frame_idx`` values, not rows.
    filter_start_frame, filter_end_frame
        Keep ``start <= frame_idx < end``.
    filter_start_time, filter_end_time
        Keep ``start <= t_s < end`` on each entry's own synchronized timestamps.
    progress
        Receives ``on_phase`` and ``on_entry_start/end`` events.

    Returns
    -------
    Result
        ``feature`` (name), ``run_id``, ``failed_entries`` (keys), ``cache_hit``.

    Raises
    ------
    FeatureInputError
        Bad options or scope; an upstream run that does not exist.
    IdentityCollisionError
        The run folder holds a different payload for the same id.
    FeatureRunError
        Every attempted entry failed, or the fit failed.
    """
    frame_range = (filter_start_frame, filter_end_frame)
    time_range_s = (filter_start_time, filter_end_time)
    _check_options(parallel_workers, parallel_mode, overlap_frames, frame_range, time_range_s)
    check_feature_class(type(feature))
    progress = progress or NullProgress()
    plan = plan_run(
        dataset,
        feature,
        groups=groups,
        sequences=sequences,
        entries=entries,
        frame_range=frame_range,
        time_range_s=time_range_s,
    )
    run_dir = dataset.run_dir(feature.name, plan.run_id)
    _claim_run_folder(run_dir, plan, overwrite)
    registry = dataset.registry
    registry.record_run_start(
        feature.name, plan.run_id, feature.version, plan.payload, plan.scope, plan.upstream
    )
    artifacts = Artifacts(run_dir)
    artifact_only = bool(getattr(feature, "artifact_only", False))
    pending = [] if artifact_only else _pending(dataset, plan, run_dir, overwrite)
    n_workers = _n_workers(feature, parallel_workers, len(pending))
    if parallel_mode == "process" and n_workers > 1:
        # Before the fit, so the worker start-up (imports) overlaps it.
        _workers.warm(n_workers - 1, _module_of(feature))
    fitted = _ensure_state(dataset, feature, plan, artifacts, progress, overwrite)
    if artifact_only:
        registry.record_run_end(feature.name, plan.run_id, "finished")
        return Result(feature=feature.name, run_id=plan.run_id, cache_hit=not fitted)
    tasks = [_task(plan, run_dir, e, overlap_frames) for e in pending]
    outcome = _execute(
        dataset, feature, plan, run_dir, tasks, parallel_workers, parallel_mode, progress
    )
    states = registry.entry_states(feature.name, plan.run_id)
    complete = all(states.get(e, ("",))[0] in ("done", "empty") for e in plan.scope)
    attempted = len(tasks)
    if attempted and len(outcome.failed) == attempted:
        registry.record_run_end(feature.name, plan.run_id, "failed")
        raise FeatureRunError(
            f"feature {feature.name!r} run {plan.run_id}: all {attempted} entries failed; first: "
            f"{next(iter(outcome.failed.items()))}",
            failed=outcome.failed,
            hint="fix the cause and rerun; entries that succeeded earlier stay cached",
        )
    registry.record_run_end(feature.name, plan.run_id, "finished" if complete else "partial")
    return Result(
        feature=feature.name,
        run_id=plan.run_id,
        failed_entries=tuple(sorted(outcome.failed)),
        cache_hit=not tasks and not fitted,
    )


def _claim_run_folder(run_dir: Path, plan: RunPlan, overwrite: bool) -> None:
    import json

    record = run_dir / RUN_FILE
    if record.is_file():
        stored = json.loads(record.read_text(encoding="utf-8")).get("payload")
        if stored != plan.payload:
            raise IdentityCollisionError(
                f"run folder {run_dir} holds a different identity payload than the one that "
                f"hashes to {plan.run_id}: a digest collision or a hand-edited run.json",
                hint="move the folder away (or delete it) and rerun; nothing was served from it",
                path=record,
            )
        if not overwrite:
            return
    write_run_file(
        run_dir, {"run_id": plan.run_id, "payload": plan.payload, "created_at": utc_now()}
    )


def _load_state(feature: Any, artifacts: Artifacts) -> bool:
    try:
        return bool(feature.load_state(artifacts))
    except W2TError:
        raise
    except Exception as exc:
        raise FeatureRunError(
            f"feature {feature.name!r}: load_state failed on {artifacts.run_dir}: "
            f"{type(exc).__name__}: {exc}",
            hint="the saved state may be from another version; rerun with overwrite=True",
        ) from exc


def _ensure_state(
    dataset: FeatureDataset,
    feature: Any,
    plan: RunPlan,
    artifacts: Artifacts,
    progress: TrainingProgressCallback,
    overwrite: bool,
) -> bool:
    """Load the fitted state, or fit and save it; True when a fit ran."""
    if not overwrite and _load_state(feature, artifacts):
        return False
    if overwrite:
        import shutil

        shutil.rmtree(artifacts.run_dir / ARTIFACTS_DIR, ignore_errors=True)
    if type(feature).fit is BaseFeature.fit and _load_state(feature, artifacts):
        return False
    if hasattr(feature, "progress_callback"):
        feature.progress_callback = progress
    progress.on_phase("fit", f"{feature.name} over {len(plan.scope)} entries")

    def stream() -> Iterator[tuple[str, str, pd.DataFrame]]:
        for g, s in plan.scope:
            frame = load_entry_input(_task(plan, artifacts.run_dir, (g, s), 0))
            if frame is not None and not frame.empty:
                yield g, s, frame

    try:
        feature.fit(InputStream(stream, len(plan.scope)))
        feature.save_state(artifacts)
    except Exception as exc:
        raise FeatureRunError(
            f"feature {feature.name!r} run {plan.run_id}: fit failed: {type(exc).__name__}: {exc}",
            hint="check the inputs in scope and the params; nothing was written for entries",
        ) from exc
    artifacts.write_json(
        "fit_scope.json", {"entries": [list(e) for e in plan.scope], "fitted_at": utc_now()}
    )
    return True


def _pending(dataset: FeatureDataset, plan: RunPlan, run_dir: Path, overwrite: bool) -> list[Entry]:
    if overwrite:
        return list(plan.scope)
    states = dataset.registry.entry_states(plan.feature.name, plan.run_id)
    pending = []
    for entry in plan.scope:
        status, digest = states.get(entry, ("", ""))
        if digest != plan.digests[entry] or status not in ("done", "empty"):
            pending.append(entry)
        elif status == "done" and not parquet_intact(entry_path(run_dir, make_entry_key(*entry))):
            pending.append(entry)  # missing or torn file: recompute
    return pending


def _task(plan: RunPlan, run_dir: Path, entry: Entry, overlap_frames: int) -> EntryTask:
    key = make_entry_key(*entry)
    prev, nxt = plan.neighbours.get(entry, (None, None))
    return EntryTask(
        group=entry[0],
        sequence=entry[1],
        entry_key=key,
        sources=plan.sources[entry],
        previous=plan.sources[prev] if overlap_frames and prev else None,
        following=plan.sources[nxt] if overlap_frames and nxt else None,
        out_path=str(entry_path(run_dir, key)),
        input_digest=plan.digests[entry],
        frame_range=plan.frame_range,
        time_range_s=plan.time_range_s,
        overlap_frames=overlap_frames,
    )


def _n_workers(feature: Any, workers: int | None, n_tasks: int) -> int:
    """Entries computed at once: the request, capped by the entries to do (1 when serial)."""
    if not feature.parallelizable:
        return 1
    return max(1, min(workers or 1, n_tasks))


def _execute(
    dataset: FeatureDataset,
    feature: Any,
    plan: RunPlan,
    run_dir: Path,
    tasks: list[EntryTask],
    workers: int | None,
    mode: str,
    progress: TrainingProgressCallback,
) -> _Outcome:
    """Compute ``tasks`` serially or on lanes of workers; outcomes are recorded in batches."""
    outcome = _Outcome()
    if not tasks:
        return outcome
    total = len(tasks)
    progress.on_phase("apply", f"{feature.name}: {total} entries")
    recorder = _Recorder(dataset, feature.name, plan.run_id, outcome, progress, total)
    n_workers = _n_workers(feature, workers, total)
    if n_workers <= 1:
        for i, task in enumerate(tasks):
            progress.on_entry_start(i, total, task.entry_key)
            recorder.record(i, compute_entry(feature, task))
    else:
        with contextlib.ExitStack() as stack:
            lanes = _open_lanes(stack, feature, run_dir, n_workers, mode)
            try:
                _dispatch(tasks, lanes, n_workers, progress, recorder.record)
            except BrokenExecutor as exc:
                for lane in lanes:
                    if lane.shared is not None and not isinstance(exc, WorkerStartError):
                        _workers.mark_broken(lane.shared)  # a worker died: a fresh pool next
                recorder.flush()
                raise FeatureRunError(
                    f"feature {feature.name!r} run {plan.run_id}: a {mode} worker died or could "
                    f"not start ({type(exc).__name__}: {exc}); finished entries are kept",
                    hint="rerun to resume; a worker that cannot load the feature's state fails "
                    "at start (try parallel_mode='thread' to see the cause)",
                ) from exc
    recorder.flush()
    return outcome


class _Recorder:
    """Entry outcomes into the registry from the coordinating thread only, in batches."""

    def __init__(
        self,
        dataset: FeatureDataset,
        feature_name: str,
        run_id: str,
        outcome: _Outcome,
        progress: TrainingProgressCallback,
        total: int,
    ) -> None:
        self._registry = dataset.registry
        self._key = (feature_name, run_id)
        self._outcome = outcome
        self._progress = progress
        self._total = total
        self._buffer: list[EntryRow] = []
        self._last_flush_s = time.monotonic()

    def record(self, index: int, row: EntryRow) -> None:
        self._buffer.append(row)
        if row.status == "failed":
            self._outcome.failed[row.entry_key] = row.error
        self._progress.on_entry_end(index, self._total, row.entry_key)
        if len(self._buffer) >= RECORD_BATCH or time.monotonic() - self._last_flush_s > 1.0:
            self.flush()

    def flush(self) -> None:
        self._registry.record_entries(*self._key, self._buffer)
        self._outcome.rows.extend(self._buffer)
        self._buffer = []
        self._last_flush_s = time.monotonic()


@dataclass
class _Lane:
    """One executor the dispatcher feeds, with the entries it holds now.

    ``workers`` entries run at once; one more per worker may wait in the executor's queue while
    the run is long (so a worker never idles between entries), none near the end (so no
    worker is left holding a backlog while another has nothing to do). A lane with a
    ``ready`` future takes no entry before it is done: worker processes that are still
    starting would only hold entries the coordinator's own worker could compute meanwhile.
    """

    pool: Executor
    call: Callable[[EntryTask], EntryRow]
    workers: int
    ready: Future[Any] | None = None
    shared: _workers.WorkerPool | None = None
    in_flight: dict[Future[EntryRow], tuple[int, EntryTask]] = field(default_factory=dict)
    ready_seen: bool = False
    """Whether a fill saw ``ready`` done: until then the dispatcher waits on it too (it can
    complete between a fill that found the lane closed and the wait; a wait without it would
    sleep until another lane's entry ends)."""

    def capacity(self, n_left: int, n_workers: int) -> int:
        if self.ready is not None and (not self.ready.done() or self.ready.exception()):
            return 0
        return self.workers * (2 if n_left > 2 * n_workers else 1)


def _dispatch(
    tasks: list[EntryTask],
    lanes: list[_Lane],
    n_workers: int,
    progress: TrainingProgressCallback,
    record: Callable[[int, EntryRow], None],
) -> None:
    """Hand entries to the lanes as they have room, record each outcome as it arrives.

    Entries are handed out one by one (not all submitted up front), so a lane that starts late
    (process workers importing their libraries) takes fewer and none waits on another's queue.

    Raises
    ------
    BrokenExecutor
        A process worker died or could not start; the entries the other lanes were computing
        are recorded first, and the dead lane's unfinished entries leave no file behind.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    total = len(tasks)
    queue = list(enumerate(tasks))[::-1]  # pop() from the end hands them out in order
    broken: BaseException | None = None

    def fill() -> None:
        nonlocal broken
        for lane in lanes:
            # before the capacity check: a ready done after it is waited on, seen next fill
            lane.ready_seen = lane.ready is None or lane.ready.done()
            while queue and len(lane.in_flight) < lane.capacity(len(queue), n_workers):
                index, task = queue[-1]
                try:
                    future = lane.pool.submit(lane.call, task)
                except BrokenExecutor as exc:  # it broke since the last results were read
                    broken = exc
                    return
                queue.pop()
                progress.on_entry_start(index, total, task.entry_key)
                lane.in_flight[future] = (index, task)

    def waiting() -> list[Future[Any]]:
        futures: list[Future[Any]] = [f for lane in lanes for f in lane.in_flight]
        if broken is None and queue:
            futures += [lane.ready for lane in lanes if lane.ready and not lane.ready_seen]
        return futures

    fill()
    while futures := waiting():
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        for lane in lanes:
            if lane.ready in done and lane.ready.exception() is not None:
                broken = broken or lane.ready.exception()
            for future in [f for f in lane.in_flight if f in done]:
                if future not in lane.in_flight:
                    continue  # its lane broke on an earlier future of this batch
                index, task = lane.in_flight.pop(future)
                try:
                    record(index, future.result())
                except BrokenExecutor as exc:
                    broken = broken or exc
                    _remove_partial_output(task)
                    for _, other in lane.in_flight.values():
                        _remove_partial_output(other)
                    lane.in_flight.clear()
        if broken is None:
            fill()
    for lane in lanes:
        # Workers that failed to start while the others did every entry still fail the run:
        # their cause must be seen. (Closing the pool waits for their start anyway.)
        if broken is None and lane.ready is not None and lane.ready.exception() is not None:
            broken = lane.ready.exception()
    if broken is not None:
        raise broken


def _remove_partial_output(task: EntryTask) -> None:
    """Delete the temporary file a killed worker may have left while writing ``task``'s output.

    Outputs are written to ``.<name>.<random>.tmp`` and renamed, so the entry file itself is
    never partial; the temporary one would only waste space. Called once the worker is dead.
    """
    out = Path(task.out_path)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


_THREAD_STATE = threading.local()


def _thread_entry(task: EntryTask) -> EntryRow:
    return compute_entry(_THREAD_STATE.feature, task)


def _open_lanes(
    stack: contextlib.ExitStack, feature: Any, run_dir: Path, n_workers: int, mode: str
) -> list[_Lane]:
    """The executors of a parallel run, entered on ``stack`` (shut down when it closes).

    ``"thread"``: ``n_workers`` threads. ``"process"``: ``n_workers - 1`` worker processes and
    one thread of the coordinating process, which would otherwise sit idle waiting for results:
    it computes from the first second while the processes start (fork server imports, state
    load), and N workers keep N cores busy. Every worker, thread or process, loads the saved
    state once.
    """
    if mode != "process":
        threads = stack.enter_context(_thread_pool(feature, run_dir, n_workers))
        return [_Lane(threads, _thread_entry, n_workers)]
    stack.enter_context(_native_threads_limited())
    n_processes = n_workers - 1
    shared = stack.enter_context(_workers.worker_pool(n_processes, _module_of(feature)))
    spec = _workers.FeatureSpec(
        _class_path(feature),
        feature.params.model_dump_json(),
        feature.inputs.model_dump_json(),
        str(run_dir),
        run_token=uuid.uuid4().hex,
    )
    local = stack.enter_context(_thread_pool(feature, run_dir, 1, one_native_thread=True))
    return [
        _Lane(
            shared.executor,
            functools.partial(_process_entry, spec),
            n_processes,
            ready=shared.ready,
            shared=shared,
        ),
        _Lane(local, _thread_entry, 1),
    ]


def _thread_pool(
    feature: Any, run_dir: Path, n_threads: int, *, one_native_thread: bool = False
) -> ThreadPoolExecutor:
    cls = type(feature)

    def init_thread() -> None:
        if one_native_thread:
            # OpenMP thread counts are per thread: the coordinator's limit does not reach here
            _workers.limit_native_threads()
        # Each thread gets its own instance: apply() need not be thread-safe.
        instance = cls(params=feature.params, inputs=feature.inputs)
        if not instance.load_state(Artifacts(run_dir)):
            raise FeatureInputError(f"feature {cls.name!r}: saved state in {run_dir} does not load")
        _THREAD_STATE.feature = instance

    return ThreadPoolExecutor(max_workers=n_threads, initializer=init_thread)


def _module_of(feature: Any) -> str:
    """The module workers import for ``feature`` (checked importable first)."""
    _class_path(feature)
    return type(feature).__module__


@contextlib.contextmanager
def _native_threads_limited() -> Iterator[None]:
    """One BLAS/OpenMP thread in this process while it is one of N process-mode workers.

    BLAS limits are process-wide and OpenMP's are per thread: this sets both for the calling
    thread and restores them on exit; the local worker thread sets its own OpenMP limit.
    """
    limits = _workers.limit_native_threads()
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()
