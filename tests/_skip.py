"""What a test does when something it needs is missing: skip locally, fail under ``CI=true``.

A developer without chromium, the MediaPipe bundle or the real sample data still gets a green
local run that says what was skipped and why; CI, which installs all of them, must never pass
by skipping (``CI=true`` is set by GitHub Actions, GitLab CI and most other runners).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether ``CI`` is ``true`` (any case) in the environment."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str, *, allow_module_level: bool = False) -> NoReturn:
    """Skip the test (or module) with ``reason``; fail it instead under ``CI=true``."""
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason, allow_module_level=allow_module_level)
