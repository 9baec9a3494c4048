"""Helpers of the end-to-end tests: edit a generated session's files, read back what a run made.

Each edit is a text replacement that must match exactly once, so a change in what
``w2t_bkin.testing`` writes fails the test that depends on it instead of silently editing
nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in the text file ``path`` by ``new``."""
    text = path.read_text()
    assert text.count(old) == 1, (old, text)
    path.write_text(text.replace(old, new))


def processed_frame_times_s(
    root: Path, camera: str = "cam0", subject: str = "mouse01", session: str = "ses01"
) -> np.ndarray:
    """Process one session and read ``camera``'s frame times (seconds) back from its NWB file.

    Returns
    -------
    numpy.ndarray
        ``(n_frames,)`` float64: the stored timestamps, or ``starting_time + i / rate`` when the
        frames were evenly spaced and stored that way.
    """
    from w2t_bkin.nwb.inspection import read_nwb
    from w2t_bkin.session import process_session

    result = process_session(root, subject, session)
    assert result.failed_phase is None, result.error
    nwb_path = root / f"data/processed/{subject}/{session}/sub-{subject}_ses-{session}.nwb"
    with read_nwb(nwb_path) as nwb:
        series = nwb.acquisition[camera]
        if series.timestamps is not None:
            return np.asarray(series.timestamps[:])
        return series.starting_time + np.arange(series.num_samples) / series.rate
