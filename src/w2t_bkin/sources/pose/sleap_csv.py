"""SLEAP analysis CSV exports (``*.analysis.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from w2t_bkin.errors import IngestError, warn_data_quality
from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pose._sleap_common import sleap_pose, untracked_slots

#: The columns SLEAP's "Export Analysis CSV" (and sleap-io ``format="sleap"``) writes first.
CSV_INDEX_COLUMNS = ("track", "frame_idx", "instance.score")


def is_sleap_analysis_csv(header: list[str]) -> bool:
    """Whether a CSV header row is SLEAP's analysis CSV layout."""
    cells = [c.strip() for c in header[:2]]
    return cells == ["track", "frame_idx"]


def read_sleap_analysis_csv(path: str | Path, *, n_video_frames: int | None = None) -> PoseData:
    """Read a SLEAP analysis CSV export (``*.analysis.csv``).

    Parameters
    ----------
    path
        CSV with the columns ``track, frame_idx, instance.score`` then ``<node>.x, <node>.y,
        <node>.score`` per node, one row per instance; an empty ``track`` is an untracked
        instance, an empty ``<node>.score`` a user-labelled point.
    n_video_frames
        Frame count of the video. The CSV lists only frames with instances, so without it
        ``n_frames`` is the last listed frame + 1.

    Returns
    -------
    PoseData
        Individuals: the tracks in order of first appearance, then untracked slots (assigned per
        frame in row order, as for ``.slp``). No skeleton (the CSV has none: declare one with
        ``skeleton_id``) and no provenance.

    Raises
    ------
    IngestError
        Not this layout, a node without both ``.x`` and ``.y``, non-numeric values, a frame index
        that is not a non-negative integer, or two rows for one (frame, track).
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise IngestError(f"cannot read the SLEAP CSV: {exc}", path=path) from exc
    columns = [str(c).strip() for c in table.columns]
    table.columns = pd.Index(columns)
    if tuple(columns[:2]) != CSV_INDEX_COLUMNS[:2]:
        raise IngestError(
            f"not a SLEAP analysis CSV: the header starts {columns[:3]}",
            path=path,
            hint=f"expected the columns {', '.join(CSV_INDEX_COLUMNS)}, then <node>.x, "
            "<node>.y, <node>.score",
        )
    node_cols = _csv_node_columns(path, [c for c in columns if c not in CSV_INDEX_COLUMNS])
    if len(table) == 0:
        raise IngestError("SLEAP CSV has no rows", path=path)
    frame_idx = _csv_frame_idx(path, table["frame_idx"])
    values = _csv_numbers(path, table, [c for cols in node_cols.values() for c in cols if c])
    track_text = table["track"].to_numpy(dtype=str)
    track_names = tuple(dict.fromkeys(str(t) for t in track_text if t))
    track_of = {name: k for k, name in enumerate(track_names)}
    track = np.array([track_of.get(t, -1) for t in track_text], dtype=np.int64)
    _csv_unique_tracks(path, frame_idx, track, track_names)
    slot = untracked_slots(track, frame_idx, len(track_names))
    n_slots = int(slot.max()) + 1
    prefix = "untracked" if track_names else "individual"
    individual_names = (
        *track_names,
        *(f"{prefix}_{k}" for k in range(n_slots - len(track_names))),
    )
    n_labelled = int(frame_idx.max()) + 1
    n_frames = n_labelled if n_video_frames is None else max(n_video_frames, n_labelled)
    if n_video_frames is not None and n_labelled > n_video_frames:
        warn_data_quality(
            f"{path}: rows reach frame {n_labelled - 1} but the video has {n_video_frames} "
            "frames; keeping all rows",
            stacklevel=2,
        )
    node_names = tuple(node_cols)
    positions = np.full((n_frames, len(individual_names), len(node_names), 2), np.nan, np.float32)
    confidence = np.full((n_frames, len(individual_names), len(node_names)), np.nan, np.float32)
    for k, (x_col, y_col, score_col) in enumerate(node_cols.values()):
        positions[frame_idx, slot, k, 0] = values[x_col]
        positions[frame_idx, slot, k, 1] = values[y_col]
        if score_col:
            confidence[frame_idx, slot, k] = values[score_col]
    return sleap_pose(path, positions, confidence, node_names, individual_names)


def _csv_node_columns(path: Path, columns: list[str]) -> dict[str, tuple[str, str, str | None]]:
    """``{node: (x column, y column, score column or None)}`` in column order."""
    found: dict[str, dict[str, str]] = {}
    for column in columns:
        node, _, coord = column.rpartition(".")
        if not node or coord not in ("x", "y", "score"):
            raise IngestError(
                f"SLEAP CSV column '{column}' is not <node>.x, <node>.y or <node>.score",
                path=path,
            )
        found.setdefault(node, {})[coord] = column
    incomplete = [node for node, coords in found.items() if not {"x", "y"} <= coords.keys()]
    if incomplete or not found:
        raise IngestError(
            f"SLEAP CSV nodes without both .x and .y columns: {incomplete or 'no node columns'}",
            path=path,
        )
    return {node: (c["x"], c["y"], c.get("score")) for node, c in found.items()}


def _csv_numbers(path: Path, table: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    values = {}
    for column in columns:
        text = table[column].replace("", "nan")
        try:
            values[column] = text.to_numpy(dtype=np.float64)
        except ValueError as exc:
            raise IngestError(
                f"SLEAP CSV column '{column}' holds non-numeric values: {exc}", path=path
            ) from exc
    return values


def _csv_frame_idx(path: Path, column: pd.Series) -> np.ndarray:
    try:
        frame_idx = column.to_numpy(dtype=np.float64)
    except ValueError as exc:
        raise IngestError(f"SLEAP CSV frame_idx is not numeric: {exc}", path=path) from exc
    bad = ~np.isfinite(frame_idx) | (frame_idx < 0) | (frame_idx != np.round(frame_idx))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise IngestError(
            f"SLEAP CSV frame_idx '{column.iloc[row]}' (data row {row + 1}) is not a "
            "non-negative integer",
            path=path,
        )
    return frame_idx.astype(np.int64)


def _csv_unique_tracks(
    path: Path, frame_idx: np.ndarray, track: np.ndarray, track_names: tuple[str, ...]
) -> None:
    tracked = track >= 0
    keys = frame_idx[tracked] * (len(track_names) + 1) + track[tracked]
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        key = int(unique[counts > 1][0])
        frame, k = divmod(key, len(track_names) + 1)
        raise IngestError(
            f"SLEAP CSV has {int(counts.max())} rows for track '{track_names[k]}' in frame {frame}",
            path=path,
            hint="each track holds one instance per frame; re-export the CSV from SLEAP",
        )
