"""The shared test helpers themselves: skip-or-fail, the chromium launcher and its page helpers.

A helper that skipped where it must fail would let CI pass without its browser or model; a page
helper that saw no overflow would let every layout test pass. Both are checked here against
known answers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import _browser
from _browser import assert_fits, keep_screenshot, open_page, page_layout
from _skip import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.mark.parametrize(("ci", "outcome"), [("", "skip"), ("false", "skip"), ("TRUE", "fail")])
def test_skip_or_fail_fails_only_under_ci(
    ci: str, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match=r"^thing not found \(install it\)$"):
        skip_or_fail("thing not found (install it)")


@pytest.mark.parametrize(("ci", "expected"), [("", pytest.skip.Exception), ("true", None)])
def test_missing_chromium_skips_with_the_fix_and_fails_under_ci(
    ci: str, expected: type[BaseException] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(_browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(expected or pytest.fail.Exception) as info:
        _browser.chromium_executable()
    assert str(info.value) == (
        f"{tmp_path / 'chromium'} not found (apt-get install chromium, or `make browser-deps`)"
    )


def test_chromium_on_path_is_used_when_debians_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = tmp_path / "bin" / "chromium"
    found.parent.mkdir()
    found.write_text("#!/bin/sh\n")
    found.chmod(0o755)
    monkeypatch.setattr(_browser, "CHROMIUM", tmp_path / "usr-bin-chromium")
    monkeypatch.setenv("PATH", str(found.parent))
    assert _browser.chromium_executable() == found


@pytest.mark.parametrize("ci", ["", "true"])
def test_missing_playwright_skips_with_the_install_command(
    ci: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import -> ImportError
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as info, _browser.launch_chromium():
        pass
    assert str(info.value) == "playwright is not installed (pip install -e '.[test]')"


PAGE = """<!doctype html><html><head><style>body { margin: 0 }</style></head><body>
<p>fits</p><div class="wide" style="width: %dpx; height: 10px"></div>
<pre><span class="code" style="display: inline-block; width: 900px">scrolls</span></pre>
<div class="ghost" style="visibility: hidden; width: 900px"></div>
<script>console.error("boom"); console.log("fine"); setTimeout(() => { throw new Error("late") });
</script></body></html>"""


@pytest.mark.browser
def test_page_helpers_measure_overflow_and_record_errors(browser: Browser, tmp_path: Path) -> None:
    with open_page(browser, 400) as (page, errors):
        page.set_content(PAGE % 650)
        page.wait_for_timeout(50)  # the timer's uncaught error
        layout = page_layout(page)
        assert (layout.width_px, layout.scroll_width_px) == (400, 900)
        assert layout.overflowing == ("div.wide 650px", "span.code 900px", "div.ghost 900px")
        kept = page_layout(page, skip_hidden=True, scrolls_within="pre")
        assert kept.overflowing == ("div.wide 650px",)
        with pytest.raises(AssertionError, match="the page is 900px wide at 400px"):
            assert_fits(page, "the page", skip_hidden=True, scrolls_within="pre")
        page.set_content('<body style="margin: 0"><div style="width: 400px">edge</div></body>')
        assert_fits(page, "a page as wide as the window")
    assert errors == ["boom", "uncaught: late"]


@pytest.mark.browser
def test_screenshots_are_kept_and_copied(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "extra"
    monkeypatch.setenv("W2T_SCREENSHOTS", str(extra))
    with open_page(browser, 320) as (page, errors):
        page.set_content("<p>hello</p>")
        path = keep_screenshot(page, tmp_path, "hello.png", full_page=False)
    assert errors == []
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 320  # IHDR width: the viewport
    assert (extra / "hello.png").read_bytes() == png
