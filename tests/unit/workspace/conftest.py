"""Fixtures of the workspace tests: a fresh workspace with one subject and one session."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp_path/exp``: ``data init`` defaults, subject ``m1`` (no metadata), session ``s1``."""
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo())
    add_subject(root, "m1", {})
    add_session(root, "m1", "s1")
    return root
