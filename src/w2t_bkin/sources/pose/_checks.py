"""Data checks shared by the pose readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError, warn_data_quality


def check_nan(
    path: Path,
    positions: np.ndarray,
    individual_names: tuple[str, ...],
    keypoint_names: tuple[str, ...],
    present: np.ndarray | None = None,
    *,
    per_individual: bool = True,
) -> None:
    """Reject all-NaN files; report keypoints that are NaN in every frame.

    Parameters
    ----------
    path
        The file the arrays come from (named in messages).
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space) float32``.
    individual_names, keypoint_names
        Names of the individual and keypoint axes.
    present
        ``(n_individuals, n_keypoints) bool``: slots the file has columns for (slots it cannot
        hold, such as arena corners of a tracked mouse, are not reported). ``None``: all.
    per_individual
        Report (individual, keypoint) pairs; ``False`` reports a keypoint only when it is NaN
        for every individual (fragmented SLEAP tracks are mostly empty by design).

    Raises
    ------
    IngestError
        Every value is NaN.
    """
    missing = _never_finite(positions)  # (n_individuals, n_keypoints)
    if present is None:
        present = np.ones_like(missing)
    if positions.size == 0 or missing[present].all():
        raise IngestError(
            "every pose value is NaN (no keypoint was detected in any frame)",
            path=path,
            hint="the file holds no detections; re-run pose estimation or remove the file",
        )
    if per_individual and len(individual_names) > 1:
        pairs = np.argwhere(missing & present)
        named = [f"{individual_names[i]}/{keypoint_names[k]}" for i, k in pairs]
    else:
        never = (missing | ~present).all(axis=0)
        named = [keypoint_names[k] for k in np.flatnonzero(never)]
    if named:
        warn_data_quality(
            f"{path}: keypoints NaN in every frame (kept as NaN): {', '.join(named)}", stacklevel=4
        )


def _never_finite(positions: np.ndarray, block_frames: int = 1 << 15) -> np.ndarray:
    """``(n_individuals, n_keypoints) bool``: slots that are NaN in every frame.

    Scans blocks of frames and stops once every slot has a value (usually within the first
    block), so a 500,000-frame session costs one block, and never a full-size mask.
    """
    missing = np.ones(positions.shape[1:3], dtype=bool)
    for start in range(0, positions.shape[0], block_frames):
        missing &= np.isnan(positions[start : start + block_frames]).all(axis=(0, 3))
        if not missing.any():
            break
    return missing
