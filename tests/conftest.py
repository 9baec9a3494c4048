"""Shared fixtures: real sample data location and synthetic experiments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_data_root() -> Path:
    """Folder of the real public sample files (``W2T_TEST_DATA``, default ../shared/data)."""
    return Path(os.environ.get("W2T_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real sample data folder; skips when absent, fails under CI=true."""
    root = test_data_root()
    if not (root / "MANIFEST.md").is_file():
        message = f"real sample data not found at {root} (set W2T_TEST_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
