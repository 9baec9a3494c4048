"""Shared fixtures: the real sample data, a headless browser, the MediaPipe pose bundle."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from _browser import launch_chromium
from _skip import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_data_root() -> Path:
    """Folder of the real public sample files (``W2T_TEST_DATA``, default ../shared/data)."""
    return Path(os.environ.get("W2T_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real sample data folder; skips when absent, fails under CI=true."""
    root = test_data_root()
    if not (root / "MANIFEST.md").is_file():
        skip_or_fail(f"real sample data not found at {root} (set W2T_TEST_DATA)")
    return root


@pytest.fixture
def workspace_copy(tmp_path: Path) -> Callable[[Path], Path]:
    """Copy a workspace that several tests share (module-scoped, processed once) to
    ``tmp_path/exp``, for one test to change freely.

    Links are copied as links, so raw files imported by link still point where they did.
    """

    def copy(workspace: Path) -> Path:
        return Path(shutil.copytree(workspace, tmp_path / "exp", symlinks=True))

    return copy


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The processing machine's zone is America/New_York (-05:00 in winter), a zone no test
    value uses: a time that took the machine's zone instead of the file's offset shows."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium through Playwright, launched once per test module.

    Not once per session: while Playwright's sync API is open it keeps an asyncio event loop
    running in the main thread, and libraries that choose sync or async behaviour by looking
    for a running loop (Prefect) then hand later tests coroutines instead of results.
    Skips with the reason when chromium or Playwright is missing, fails under CI=true
    (tests/_browser.py has the page helpers).
    """
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def mediapipe_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MediaPipe's pose ``.task`` bundle: the cached one, else built once from the wheel.

    Skips (fails under CI=true) when neither the bundle nor the mediapipe 0.10.21 wheel is there.
    """
    from w2t_bkin.pose.estimators.mediapipe_bundle import cached_or_built_bundle

    bundle = cached_or_built_bundle(tmp_path_factory.mktemp("mp") / "pose.task")
    if bundle is None:
        skip_or_fail(
            "no MediaPipe pose bundle: run `make mediapipe-model` (or set W2T_MEDIAPIPE_WHEEL)"
        )
    return bundle
