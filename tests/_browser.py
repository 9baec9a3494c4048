"""Headless Chromium for the browser tests: one launch per test session, pages that record errors.

Drives Debian's ``/usr/bin/chromium`` through Playwright, never a downloaded browser. Without
chromium or Playwright the tests that ask for the ``browser`` fixture (tests/conftest.py) skip
with the reason, and fail when ``CI=true`` (CI must not pass by skipping them).

Helpers here are shared by the QC page, dashboard and documentation site tests:

- :func:`open_page` opens a page at a viewport width and records console errors and uncaught
  page exceptions while it is open;
- :func:`page_layout` / :func:`assert_fits` find elements that reach past the right edge of the
  window (horizontal overflow, what a person sees as a page that scrolls sideways);
- :func:`keep_screenshot` writes a full-page PNG, also to ``$W2T_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from _skip import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
#: No GPU, no sandbox (containers), and nothing that reaches the network on its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT_HEIGHT_PX = 900
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: The page's width and the elements whose box reaches past the right edge of the viewport.
#: ``skipHidden`` leaves out elements that are not shown (visibility hidden, display none, or
#: fixed off-canvas drawers); ``scrollsWithin`` is a selector of regions that scroll on their own.
_LAYOUT_JS = """
({skipHidden, scrollsWithin}) => ({
  widthPx: window.innerWidth,
  scrollWidthPx: document.documentElement.scrollWidth,
  overflowing: Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .filter(e => !skipHidden ||
      (getComputedStyle(e).visibility !== 'hidden' && e.offsetParent !== null))
    .filter(e => !scrollsWithin || !e.closest(scrollsWithin))
    .map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' +
         Math.round(e.getBoundingClientRect().width) + 'px'),
})
"""


def chromium_executable() -> Path:
    """Debian's chromium: ``/usr/bin/chromium``, else ``chromium`` on ``PATH``."""
    if CHROMIUM.is_file():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        skip_or_fail(f"{CHROMIUM} not found (apt-get install chromium, or `make browser-deps`)")
    return Path(found)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Headless chromium through Playwright; skips (fails under CI=true) without either."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, width_px: int) -> Iterator[tuple[Page, list[str]]]:
    """A new page ``width_px`` wide and the errors it reports while open; closed on exit.

    The list collects, in order, console messages of type ``error`` (with the URL that logged
    them: a failed image or script load names the file) and uncaught exceptions.
    """
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.text} {message.location.get('url', '')}".rstrip())

    page = browser.new_page(viewport={"width": width_px, "height": VIEWPORT_HEIGHT_PX})
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    try:
        yield page, errors
    finally:
        page.close()


@dataclass(frozen=True)
class Layout:
    """Horizontal fit of a rendered page."""

    width_px: int
    """The viewport's inner width."""
    scroll_width_px: int
    """``document.documentElement.scrollWidth``: wider than ``width_px`` scrolls sideways."""
    overflowing: tuple[str, ...]
    """``tag.class <width>px`` of each element whose right edge is past the viewport's."""


def page_layout(page: Page, *, skip_hidden: bool = False, scrolls_within: str = "") -> Layout:
    """Measure ``page`` as rendered now (see ``_LAYOUT_JS`` for the two filters)."""
    found = page.evaluate(_LAYOUT_JS, {"skipHidden": skip_hidden, "scrollsWithin": scrolls_within})
    return Layout(
        width_px=int(found["widthPx"]),
        scroll_width_px=int(found["scrollWidthPx"]),
        overflowing=tuple(found["overflowing"]),
    )


def assert_fits(
    page: Page, what: str, *, skip_hidden: bool = False, scrolls_within: str = ""
) -> None:
    """Fail when ``page`` (described as ``what``) is wider than its window or has an element
    reaching past the right edge."""
    layout = page_layout(page, skip_hidden=skip_hidden, scrolls_within=scrolls_within)
    width = layout.width_px
    assert layout.scroll_width_px <= width, (
        f"{what} is {layout.scroll_width_px}px wide at {width}px"
    )
    assert layout.overflowing == (), f"{what} at {width}px: {list(layout.overflowing)}"


def keep_screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """Write a PNG of ``page`` to ``folder/name`` (and to ``$W2T_SCREENSHOTS`` when set)."""
    path = folder / name
    png = page.screenshot(path=str(path), full_page=full_page)
    assert png[:8] == PNG_SIGNATURE
    extra = os.environ.get("W2T_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path
