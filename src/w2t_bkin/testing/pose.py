"""Synthetic pose tracks and writers for the DeepLabCut and SLEAP file layouts.

The writers produce the layouts the real tools write (pandas MultiIndex tables for DLC, the
MATLAB-transposed analysis HDF5 for SLEAP), so files round-trip through the readers in
:mod:`w2t_bkin.sources.pose` with float32 values unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_SCORER = "DLC_resnet50_simulatedJan1shuffle1_1000"


def simulate_pose(
    n_frames: int,
    n_keypoints: int,
    *,
    n_individuals: int = 1,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
    nan_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Random-walk keypoints inside a ``width x height`` image.

    Parameters
    ----------
    n_frames, n_keypoints, n_individuals
        Array sizes.
    seed
        Seed of the random generator (same seed, same tracks).
    width, height
        Image size in pixels; positions stay within it.
    nan_fraction
        Fraction of (frame, individual, keypoint) entries set to NaN (position and confidence),
        as a tracker that lost the point would write.

    Returns
    -------
    positions
        ``(n_frames, n_individuals, n_keypoints, 2) float32`` pixels.
    confidence
        ``(n_frames, n_individuals, n_keypoints) float32`` in [0, 1].
    keypoint_names
        ``("kp0", "kp1", ...)``.
    """
    rng = np.random.default_rng(seed)
    shape = (n_frames, n_individuals, n_keypoints)
    start = rng.uniform((0, 0), (width, height), size=(1, n_individuals, n_keypoints, 2))
    steps = rng.normal(0.0, 2.0, size=(*shape, 2))
    walk = start + np.cumsum(steps, axis=0)
    # reflect into the image so long walks stay on screen
    bounds = np.array([width, height], dtype=np.float64)
    walk = bounds - np.abs(np.mod(walk, 2 * bounds) - bounds)
    positions = walk.astype(np.float32)
    confidence = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)
    if nan_fraction > 0:
        lost = rng.random(shape) < nan_fraction
        positions[lost] = np.nan
        confidence[lost] = np.nan
    names = tuple(f"kp{k}" for k in range(n_keypoints))
    return positions, confidence, names


def dlc_dataframe(
    positions: np.ndarray,
    confidence: np.ndarray | None,
    keypoint_names: Sequence[str],
    *,
    scorer: str = DEFAULT_SCORER,
    individuals: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The pandas table DeepLabCut writes for these tracks.

    Columns are ``scorer/bodyparts/coords`` (single animal, ``individuals=None``, which needs
    ``n_individuals == 1``) or ``scorer/individuals/bodyparts/coords``; coords are ``x, y``
    (``, z``) then ``likelihood`` unless ``confidence`` is ``None`` (labelled-data files).
    """
    n_frames, n_individuals, n_keypoints, n_space = positions.shape
    if individuals is None and n_individuals != 1:
        raise ValueError("several individuals need individual names")
    if individuals is not None and len(individuals) != n_individuals:
        raise ValueError(f"{len(individuals)} names for {n_individuals} individuals")
    if len(keypoint_names) != n_keypoints:
        raise ValueError(f"{len(keypoint_names)} names for {n_keypoints} keypoints")
    coords = ["x", "y", "z"][:n_space] + ([] if confidence is None else ["likelihood"])
    # (frames, individuals, keypoints, coords) flattens to DLC's column order.
    parts = [positions.astype(np.float64)]
    if confidence is not None:
        parts.append(confidence.astype(np.float64)[..., None])
    values = np.concatenate(parts, axis=-1).reshape(n_frames, -1)
    levels: list[Sequence[str]] = [[scorer]]
    names = ["scorer"]
    if individuals is not None:
        levels.append(list(individuals))
        names.append("individuals")
    levels += [list(keypoint_names), coords]
    names += ["bodyparts", "coords"]
    columns = pd.MultiIndex.from_product(levels, names=names)
    return pd.DataFrame(values, columns=columns)


def write_dlc_h5(
    path: str | Path,
    positions: np.ndarray,
    confidence: np.ndarray | None,
    keypoint_names: Sequence[str],
    *,
    scorer: str = DEFAULT_SCORER,
    individuals: Sequence[str] | None = None,
    key: str = "df_with_missing",
) -> Path:
    """Write a DeepLabCut ``.h5`` (PyTables ``table`` format, key ``df_with_missing``).

    See :func:`dlc_dataframe` for the column layout. Returns ``path``.
    """
    path = Path(path)
    frame = dlc_dataframe(
        positions, confidence, keypoint_names, scorer=scorer, individuals=individuals
    )
    frame.to_hdf(path, key=key, format="table", mode="w")
    return path


def write_dlc_csv(
    path: str | Path,
    positions: np.ndarray,
    confidence: np.ndarray | None,
    keypoint_names: Sequence[str],
    *,
    scorer: str = DEFAULT_SCORER,
    individuals: Sequence[str] | None = None,
) -> Path:
    """Write a DeepLabCut ``.csv``: 3 header rows (4 with individuals), frame index column.

    See :func:`dlc_dataframe` for the column layout. Returns ``path``.
    """
    path = Path(path)
    frame = dlc_dataframe(
        positions, confidence, keypoint_names, scorer=scorer, individuals=individuals
    )
    frame.to_csv(path)
    return path


def write_sleap_analysis_h5(
    path: str | Path,
    positions: np.ndarray,
    confidence: np.ndarray | None,
    node_names: Sequence[str],
    track_names: Sequence[str],
    edge_inds: Sequence[tuple[int, int]] = (),
    *,
    transposed: bool = True,
) -> Path:
    """Write a SLEAP analysis HDF5 as ``sleap-convert``/"Export Analysis HDF5" does.

    Parameters
    ----------
    positions
        ``(n_frames, n_tracks, n_nodes, 2) float32``.
    confidence
        ``(n_frames, n_tracks, n_nodes) float32`` point scores; ``None`` omits
        ``point_scores`` (older exports).
    node_names, track_names, edge_inds
        Skeleton and track description.
    transposed
        ``True`` (SLEAP's default, for MATLAB): ``tracks (n_tracks, 2, n_nodes, n_frames)``,
        ``point_scores (n_tracks, n_nodes, n_frames)``, ``track_occupancy (n_frames,
        n_tracks)``. ``False``: the axes reversed.
    """
    path = Path(path)
    n_frames, n_tracks = positions.shape[:2]
    tracks = positions.astype(np.float64).transpose(1, 3, 2, 0)  # (tracks, space, nodes, frames)
    occupancy = (~np.isnan(positions).all(axis=(2, 3))).astype(np.uint8)  # (frames, tracks)
    scores = None if confidence is None else confidence.astype(np.float64).transpose(1, 2, 0)
    edges = np.asarray(edge_inds, dtype=np.int32).reshape(-1, 2)
    if not transposed:
        tracks = tracks.transpose(3, 2, 1, 0)
        occupancy = occupancy.T
        scores = None if scores is None else scores.transpose(2, 1, 0)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("tracks", data=tracks, compression="gzip")
        h5.create_dataset("track_occupancy", data=occupancy)
        h5.create_dataset("node_names", data=np.array([n.encode() for n in node_names]))
        if track_names:
            h5.create_dataset("track_names", data=np.array([t.encode() for t in track_names]))
        else:
            h5.create_dataset("track_names", data=np.zeros(0, dtype=np.float64))
        h5.create_dataset("edge_inds", data=edges)
        h5.create_dataset(
            "edge_names",
            data=np.array(
                [[node_names[a].encode(), node_names[b].encode()] for a, b in edges]
            ).reshape(-1, 2),
        )
        if scores is not None:
            h5.create_dataset("point_scores", data=scores, compression="gzip")
        h5.create_dataset("video_path", data="simulated.mp4")
        h5.create_dataset("video_ind", data=0)
        h5.create_dataset("labels_path", data="simulated.slp")
        h5.create_dataset("provenance", data="{}")
    log.debug("wrote %s (%d frames, %d tracks)", path, n_frames, n_tracks)
    return path
