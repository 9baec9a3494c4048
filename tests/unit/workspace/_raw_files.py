"""Small raw files for the import tests: placeholder files and a tiny DeepLabCut table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.testing.pose import write_dlc_h5

#: A DeepLabCut scorer name as DLC writes it (network, project, shuffle, iteration).
DLC = "DLC_resnet50_rigNov21shuffle1_1000"


def touch(folder: Path, *names: str) -> Path:
    """Write each ``folder/name`` (parents created) holding one TTL-like line; returns folder."""
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("0.1\n")
    return folder


def write_dlc(path: Path) -> None:
    """A DeepLabCut .h5 of 3 frames, one individual, keypoint ``a`` at (0, 0), scored ``DLC``."""
    write_dlc_h5(path, np.zeros((3, 1, 1, 2)), np.ones((3, 1, 1)), ("a",), scorer=DLC)
