"""Per-frame labels as a run of the ``labels`` feature: pinned, hashed, with lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.identity import Result, compute_run_id
from w2t_bkin.features.keys import make_entry_key
from w2t_bkin.features.registry import EntryRow
from w2t_bkin.features.store import entry_path, write_entry, write_run_file

if TYPE_CHECKING:
    from w2t_bkin.features.dataset import FeatureDataset

__all__ = ["LABELS_FEATURE", "import_labels"]

LABELS_FEATURE = "labels"
LABELS_VERSION = "1"


def import_labels(
    dataset: FeatureDataset,
    name: str,
    labels: Mapping[tuple[str, str], tuple[Sequence[int] | np.ndarray, Sequence[Any]]],
) -> Result:
    """Store per-frame labels of several tracks as one run of the ``labels`` feature.

    Parameters
    ----------
    name
        Label set name (e.g. ``"annotator-1"``); part of the run identity.
    labels
        ``{(group, sequence): (frame_idx, class_names)}``; frames without a label are absent.

    Returns
    -------
    Result
        ``Result(feature="labels", run_id=...)``: the id changes whenever any label changes.

    Raises
    ------
    FeatureInputError
        An entry that is not a track of the dataset, lengths that differ, or a repeated frame.
    """
    import pandas as pd

    known = {(t.group, t.sequence) for t in dataset.tracks()}
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    h = hashlib.sha256(name.encode())
    for entry in sorted(labels):
        frames, classes = labels[entry]
        if entry not in known:
            raise FeatureInputError(
                f"labels {name!r} name {entry}, which is not a track of {dataset.root}",
                hint="labels attach to (subject, '<session>/<camera>/<individual>') tracks",
            )
        frame_idx = np.asarray(frames, dtype=np.int64)
        text = np.asarray([str(c) for c in classes], dtype=object)
        if frame_idx.shape != text.shape:
            raise FeatureInputError(
                f"labels {name!r} of {entry}: {frame_idx.size} frames but {text.size} labels"
            )
        if np.unique(frame_idx).size != frame_idx.size:
            raise FeatureInputError(f"labels {name!r} of {entry} repeat a frame index")
        tables[entry] = pd.DataFrame({"frame_idx": frame_idx, "label": text})
        h.update(repr(entry).encode())
        h.update(frame_idx.tobytes())
        h.update("\0".join(text.tolist()).encode())
    payload = {
        "feature": LABELS_FEATURE,
        "version": LABELS_VERSION,
        "params": {"name": name, "content": h.hexdigest()},
        "inputs": [],
    }
    run_id = compute_run_id(LABELS_VERSION, payload)
    run_dir = dataset.run_dir(LABELS_FEATURE, run_id)
    write_run_file(run_dir, {"run_id": run_id, "payload": payload})
    registry = dataset.registry
    registry.record_run_start(LABELS_FEATURE, run_id, LABELS_VERSION, payload, sorted(tables), [])
    rows = []
    for (group, sequence), table in tables.items():
        key = make_entry_key(group, sequence)
        n_rows = write_entry(entry_path(run_dir, key), table)
        rows.append(EntryRow(group, sequence, key, "done", n_rows, h.hexdigest()))
    registry.record_entries(LABELS_FEATURE, run_id, rows)
    registry.record_run_end(LABELS_FEATURE, run_id, "finished")
    return Result(feature=LABELS_FEATURE, run_id=run_id)
