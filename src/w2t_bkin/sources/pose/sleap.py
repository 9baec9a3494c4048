"""SLEAP labels (``.slp``) and analysis exports (``.analysis.h5``, ``.analysis.csv``).

The analysis CSV reader lives in :mod:`~w2t_bkin.sources.pose.sleap_csv` and is re-exported
here; this module registers the one SLEAP reader (``source = "sleap"``) for all three.

``.slp`` files are read from their HDF5 tables (``frames``, ``instances``, ``points``,
``pred_points``) in whole-array operations; sleap-io supplies the skeleton, tracks, video and
provenance. Rules for ``.slp``:

* Every track becomes an individual, in the file's track order, even tracks with no instance
  in this video.
* Instances without a track are assigned per frame, in instance order, to extra individuals
  (``individual_0``, ... in an untracked file; ``untracked_0``, ... after the tracks otherwise).
* A frame can hold a user-labelled instance and a predicted one for the same animal (the user
  instance records the prediction it corrected, or both share a track). With
  ``prefer="predicted"`` (default) the predicted instance is kept, because it carries scores;
  ``prefer="user"`` keeps the human correction. User instances have NaN confidence.
* ``n_frames`` is the video's frame count when the video can be opened (or is given), else the
  last labelled frame index + 1.

Provenance: ``.slp`` files and analysis HDF5 exports made from predictions carry SLEAP's
provenance (``sleap_version``, or ``sleap.version`` in SLEAP 1.0-1.2; the model paths; the
predictor). The version becomes :attr:`PoseData.source_software_version`, the model paths the
scorer, the predictor :attr:`PoseData.model_description`. Proofread or hand-labelled files
record none of these, and nothing is filled in for them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from w2t_bkin.errors import IngestError, warn_data_quality
from w2t_bkin.extras import require
from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.h5_blocks import read_transposed
from w2t_bkin.sources.pose._sleap_common import SOURCE_SOFTWARE, sleap_pose, untracked_slots
from w2t_bkin.sources.pose.registry import PoseFile, register_pose_reader
from w2t_bkin.sources.pose.sleap_csv import (
    CSV_INDEX_COLUMNS,
    is_sleap_analysis_csv,
    read_sleap_analysis_csv,
)

log = logging.getLogger(__name__)

_USER, _PREDICTED = 0, 1


# --- analysis HDF5 --------------------------------------------------------------------------


def read_sleap_analysis_h5(path: str | Path) -> PoseData:
    """Read a SLEAP analysis export (``*.analysis.h5``), all tracks.

    Parameters
    ----------
    path
        HDF5 file with ``tracks`` and ``node_names`` (``point_scores``, ``track_names`` and
        ``edge_inds`` are used when present). SLEAP writes ``tracks`` transposed for MATLAB,
        ``(n_tracks, n_space, n_nodes, n_frames)``; the un-transposed
        ``(n_frames, n_nodes, n_space, n_tracks)`` layout is accepted too, recognised by where
        the node count sits (with 2-3 nodes, by the track count, else the longer axis is
        frames).

    Returns
    -------
    PoseData
        ``confidence`` holds ``point_scores``, NaN when the export has none (older SLEAP).

    Raises
    ------
    IngestError
        Not HDF5, missing datasets, or a ``tracks`` shape that fits neither layout.
    """
    path = Path(path)
    if not h5py.is_hdf5(path):
        raise IngestError("not an HDF5 file", path=path, hint="expected a SLEAP .analysis.h5")
    with h5py.File(path, "r") as h5:
        for name in ("tracks", "node_names"):
            if name not in h5:
                raise IngestError(
                    f"no '{name}' dataset; found {sorted(h5.keys())}",
                    path=path,
                    hint="export it from SLEAP with File > Export Analysis HDF5",
                )
        node_names = _decode_names(h5["node_names"][()])
        track_names = _decode_names(h5["track_names"][()]) if "track_names" in h5 else ()
        edge_inds = np.asarray(h5["edge_inds"][()]) if "edge_inds" in h5 else None
        provenance = _parse_provenance(path, h5["provenance"][()] if "provenance" in h5 else None)
        tracks = h5["tracks"]
        transposed = _analysis_layout(path, tracks.shape, len(node_names), track_names)
        positions = read_transposed(
            tracks,
            # (tracks, space, nodes, frames) or (frames, nodes, space, tracks) ->
            # (frames, tracks, nodes, space)
            (3, 0, 2, 1) if transposed else (0, 3, 1, 2),
        )
        n_frames, n_tracks, n_nodes, _ = positions.shape
        if "point_scores" not in h5:
            confidence = np.full((n_frames, n_tracks, n_nodes), np.nan, dtype=np.float32)
        else:
            scores = h5["point_scores"]
            if scores.ndim != 3:
                raise IngestError(
                    f"point_scores shape {scores.shape} does not match tracks shape {tracks.shape}",
                    path=path,
                )
            confidence = read_transposed(scores, (2, 0, 1) if transposed else (0, 2, 1))
            if confidence.shape != positions.shape[:3]:
                raise IngestError(
                    f"point_scores shape {scores.shape} does not match tracks shape {tracks.shape}",
                    path=path,
                )

    individual_names = track_names or tuple(f"individual_{i}" for i in range(n_tracks))
    if len(individual_names) != n_tracks:
        raise IngestError(f"{len(individual_names)} track_names for {n_tracks} tracks", path=path)
    return sleap_pose(
        path,
        positions,
        confidence,
        node_names,
        individual_names,
        _edges(edge_inds, n_nodes),
        provenance,
    )


def _parse_provenance(path: Path, raw: Any) -> dict[str, Any]:
    """The analysis export's ``provenance`` dataset (a JSON object), ``{}`` when absent."""
    if raw is None:
        return {}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        value = json.loads(text)
    except ValueError:
        log.debug("%s: 'provenance' is not JSON; ignored", path)
        return {}
    return value if isinstance(value, dict) else {}


def _analysis_layout(
    path: Path,
    shape: tuple[int, ...],
    n_nodes: int,
    track_names: tuple[str, ...],
) -> bool:
    """``True`` for SLEAP's MATLAB-transposed layout, ``False`` for the plain one."""
    if len(shape) != 4:
        raise IngestError(f"'tracks' has shape {shape}, expected 4 dimensions", path=path)
    transposed = shape[2] == n_nodes and shape[1] in (2, 3)
    plain = shape[1] == n_nodes and shape[2] in (2, 3)
    if transposed and plain:
        # Only with 2-3 nodes. The other datasets are transposed alike, so they cannot tell;
        # the track count can, else the frame axis is taken to be the longer one.
        transposed = shape[0] == len(track_names) if track_names else shape[3] >= shape[0]
        log.debug("%s: ambiguous tracks shape %s, transposed=%s", path, shape, transposed)
        return transposed
    if not (transposed or plain):
        raise IngestError(
            f"'tracks' has shape {shape}, which fits neither (n_tracks, 2|3, {n_nodes}, "
            f"n_frames) nor (n_frames, {n_nodes}, 2|3, n_tracks) for {n_nodes} node_names",
            path=path,
        )
    return transposed


def _decode_names(raw: Any) -> tuple[str, ...]:
    array = np.asarray(raw)
    if array.size == 0 or array.dtype.kind not in "SUO":
        return ()  # SLEAP writes an empty float array when there are no tracks
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel())


def _edges(edge_inds: np.ndarray | None, n_nodes: int) -> tuple[tuple[int, int], ...]:
    if edge_inds is None or edge_inds.size == 0:
        return ()
    edges = edge_inds.reshape(-1, 2) if edge_inds.shape[-1] == 2 else edge_inds.T
    edges = edges.astype(np.int64)
    if edges.min() < 0 or edges.max() >= n_nodes:
        return ()
    return tuple((int(a), int(b)) for a, b in edges)


# --- .slp -----------------------------------------------------------------------------------


def read_sleap_slp(
    path: str | Path,
    *,
    video_index: int = 0,
    prefer: Literal["predicted", "user"] = "predicted",
    n_video_frames: int | None = None,
) -> PoseData:
    """Read the instances of one video of a SLEAP ``.slp`` file.

    Parameters
    ----------
    path
        SLEAP labels or predictions file.
    video_index
        Which of the file's videos to read.
    prefer
        Which instance to keep when a user-labelled and a predicted instance describe the same
        animal in a frame (see the module docstring).
    n_video_frames
        Frame count of the video, when known; otherwise it is read from the video if sleap-io
        can open it, else taken as the last labelled frame + 1.

    Returns
    -------
    PoseData
        ``(n_frames, n_tracks [+ untracked slots], n_nodes, 2)``; confidence is the predicted
        point score, NaN for user-labelled points.

    Raises
    ------
    IngestError
        Not an HDF5 ``.slp``, no such video, or more than one skeleton in use.
    MissingExtraError
        sleap-io (the ``pose`` extra) is not installed.
    """
    path = Path(path)
    # imported here: the import is slow, and sleap-io is the optional 'pose' extra
    sleap_io = require("sleap_io", "pose", f"reading SLEAP file {path}")
    if not h5py.is_hdf5(path):
        raise IngestError("not an HDF5 file", path=path, hint="expected a SLEAP .slp file")
    try:
        labels = sleap_io.load_slp(str(path), lazy=True, open_videos=n_video_frames is None)
    except Exception as exc:  # sleap-io raises many types for malformed files
        raise IngestError(f"sleap-io cannot read the file: {exc}", path=path) from exc
    if not 0 <= video_index < len(labels.videos):
        raise IngestError(
            f"video_index {video_index} out of range: the file has {len(labels.videos)} videos",
            path=path,
        )
    with h5py.File(path, "r") as h5:
        format_id = float(h5["metadata"].attrs.get("format_id", 1.0))
        frames = h5["frames"][()]
        instances = h5["instances"][()]
        points = h5["points"][()]
        pred_points = h5["pred_points"][()]

    frames = frames[frames["video"] == video_index]
    inst_rows, inst_frame_idx = _instances_of_frames(frames)
    inst = instances[inst_rows]
    skeleton = _skeleton(path, labels, inst)
    n_nodes = len(skeleton.node_names)
    inst, inst_frame_idx = _select(inst, inst_frame_idx, prefer)

    xy, score = _instance_points(path, inst, points, pred_points, n_nodes, format_id)
    n_tracks = len(labels.tracks)
    track = inst["track"].astype(np.int64)
    slot = untracked_slots(track, inst_frame_idx, n_tracks)
    n_untracked = int(slot.max()) - n_tracks + 1 if len(slot) and slot.max() >= n_tracks else 0
    prefix = "untracked" if n_tracks else "individual"
    individual_names = (
        *(t.name for t in labels.tracks),
        *(f"{prefix}_{k}" for k in range(n_untracked)),
    )
    if not individual_names:
        raise IngestError(f"video {video_index} has no instances", path=path)

    n_frames = _n_frames(path, labels, video_index, inst_frame_idx, n_video_frames)
    positions = np.full((n_frames, len(individual_names), n_nodes, 2), np.nan, np.float32)
    confidence = np.full((n_frames, len(individual_names), n_nodes), np.nan, np.float32)
    positions[inst_frame_idx, slot] = xy
    confidence[inst_frame_idx, slot] = score
    return sleap_pose(
        path,
        positions,
        confidence,
        tuple(skeleton.node_names),
        individual_names,
        tuple((int(a), int(b)) for a, b in skeleton.edge_inds),
        dict(labels.provenance),
    )


def _instances_of_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of every instance of ``frames`` in the instances table, and its frame index."""
    start = frames["instance_id_start"].astype(np.int64)
    counts = frames["instance_id_end"].astype(np.int64) - start
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = np.repeat(start, counts) + offsets
    return rows, np.repeat(frames["frame_idx"].astype(np.int64), counts)


def _skeleton(path: Path, labels: Any, inst: np.ndarray) -> Any:
    used = np.unique(inst["skeleton"]) if len(inst) else np.array([0])
    if len(used) > 1:
        raise IngestError(
            f"instances use {len(used)} skeletons ({[labels.skeletons[i].name for i in used]})",
            path=path,
            hint="split the file per skeleton in SLEAP before ingesting it",
        )
    return labels.skeletons[int(used[0])]


def _select(
    inst: np.ndarray, frame_idx: np.ndarray, prefer: Literal["predicted", "user"]
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the less preferred of user/predicted instances describing the same animal."""
    if prefer not in ("predicted", "user"):
        raise ValueError(f"prefer must be 'predicted' or 'user', not {prefer!r}")
    kind = inst["instance_type"].astype(np.int64)
    keep_kind = _PREDICTED if prefer == "predicted" else _USER
    is_user = kind == _USER
    linked = inst["from_predicted"].astype(np.int64)
    keep = np.ones(len(inst), dtype=bool)
    if keep_kind == _PREDICTED:
        # a user instance that corrects a prediction present in this video duplicates it
        pred_ids = inst["instance_id"][kind == _PREDICTED]
        keep &= ~(is_user & (linked >= 0) & np.isin(linked, pred_ids))
    else:
        corrected = linked[is_user & (linked >= 0)]
        keep &= ~((kind == _PREDICTED) & np.isin(inst["instance_id"], corrected))
    # tracked duplicates: per (frame, track) keep the preferred kind, then the first instance
    track = inst["track"].astype(np.int64)
    tracked = keep & (track >= 0)
    rank = (kind != keep_kind).astype(np.int64)
    order = np.lexsort((np.arange(len(inst)), rank, track, frame_idx))
    order = order[tracked[order]]
    key_f, key_t = frame_idx[order], track[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (key_f[1:] != key_f[:-1]) | (key_t[1:] != key_t[:-1])
    keep[order[~first]] = False
    return inst[keep], frame_idx[keep]


def _instance_points(
    path: Path,
    inst: np.ndarray,
    points: np.ndarray,
    pred_points: np.ndarray,
    n_nodes: int,
    format_id: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``xy (n_instances, n_nodes, 2) float32`` and ``score (n_instances, n_nodes) float32``."""
    start = inst["point_id_start"].astype(np.int64)
    if np.any(inst["point_id_end"].astype(np.int64) - start != n_nodes):
        raise IngestError(f"instances do not all have {n_nodes} points", path=path)
    idx = start[:, None] + np.arange(n_nodes)
    is_pred = inst["instance_type"] == _PREDICTED
    xy = np.full((len(inst), n_nodes, 2), np.nan, dtype=np.float32)
    score = np.full((len(inst), n_nodes), np.nan, dtype=np.float32)
    for table, rows in ((points, ~is_pred), (pred_points, is_pred)):
        if not rows.any():
            continue
        pts = table[idx[rows]]
        visible = pts["visible"].astype(bool)
        xy[rows, :, 0] = np.where(visible, pts["x"], np.nan)
        xy[rows, :, 1] = np.where(visible, pts["y"], np.nan)
        if table is pred_points:
            score[rows] = np.where(visible, pts["score"], np.nan)
    if format_id < 1.1:
        xy -= 0.5  # files before format 1.1 stored pixel centres at +0.5
    return xy, score


def _n_frames(
    path: Path,
    labels: Any,
    video_index: int,
    frame_idx: np.ndarray,
    n_video_frames: int | None,
) -> int:
    n_labelled = int(frame_idx.max()) + 1 if len(frame_idx) else 0
    if n_video_frames is None:
        try:
            shape = labels.videos[video_index].shape
        except Exception:  # the video file may be absent; any backend failure means unknown
            shape = None
        if shape is None:
            log.info("%s: video not readable; n_frames = last labelled frame + 1", path)
            return n_labelled
        n_video_frames = int(shape[0])
    if n_labelled > n_video_frames:
        warn_data_quality(
            f"{path}: labels reach frame {n_labelled - 1} but the video has {n_video_frames} "
            "frames; keeping all labelled frames",
            stacklevel=3,
        )
        return n_labelled
    return n_video_frames


# --- registration ---------------------------------------------------------------------------


def _claims_sleap(file: PoseFile) -> bool:
    """``.slp``, an HDF5 file with ``tracks`` and ``node_names``, or a SLEAP analysis CSV."""
    if file.suffix == ".slp" or file.hdf5_kind == "sleap_analysis":
        return True
    return file.csv_header is not None and is_sleap_analysis_csv(file.csv_header)


def _refuse_sleap(file: PoseFile, software: str) -> IngestError | None:
    """``.slp`` files and analysis CSVs are SLEAP's only; an analysis HDF5 is read as declared."""
    if file.suffix == ".slp":
        return IngestError(f".slp files are SLEAP files, not {software}", path=file.path)
    if file.csv_header is not None:
        return IngestError(
            f"this is a SLEAP analysis CSV, not a {software} file",
            path=file.path,
            hint="declare source = 'sleap' for it",
        )
    return None


@register_pose_reader(
    "sleap",
    software=SOURCE_SOFTWARE,
    suffixes=(".slp", ".h5", ".hdf5", ".csv"),
    names=(".slp", ".analysis.h5"),
    claims=_claims_sleap,
    refuse=_refuse_sleap,
    priority=2,
)
def _read_sleap(file: PoseFile, n_video_frames: int | None) -> PoseData:
    if file.suffix == ".slp":
        return read_sleap_slp(file.path, n_video_frames=n_video_frames)
    if file.hdf5_kind is not None:
        return read_sleap_analysis_h5(file.path)
    header = file.csv_header or []
    if not is_sleap_analysis_csv(header):
        raise IngestError(
            f"not a SLEAP analysis CSV: the header starts {header[:3]}",
            path=file.path,
            hint="SLEAP files are .slp, .analysis.h5, or .analysis.csv with the columns "
            "track, frame_idx, instance.score, <node>.x, <node>.y, <node>.score",
        )
    return read_sleap_analysis_csv(file.path, n_video_frames=n_video_frames)


__all__ = [
    "CSV_INDEX_COLUMNS",
    "SOURCE_SOFTWARE",
    "is_sleap_analysis_csv",
    "read_sleap_analysis_csv",
    "read_sleap_analysis_h5",
    "read_sleap_slp",
]
