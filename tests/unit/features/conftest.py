"""Fixtures of the feature pipeline tests: a small dataset of tracks with known motion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from unit.features._features import add_linear_track
from w2t_bkin.features.dataset import FeatureDataset


@pytest.fixture
def ds(tmp_path: Path) -> Iterator[FeatureDataset]:
    """Three sessions of one mouse (speeds 1, 2, 3 px/s) and one of another (4 px/s)."""
    dataset = FeatureDataset(tmp_path / "dataset")
    for i, session in enumerate(("s1", "s2", "s3"), start=1):
        add_linear_track(dataset, "m1", session, speed_px_s=float(i))
    add_linear_track(dataset, "m2", "s1", speed_px_s=4.0)
    yield dataset
    dataset.close()
