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
    missing = np.isnan(positions).all(axis=(0, 3))  # (n_individuals, n_keypoints)
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
