"""The documentation site builds with ``--strict`` and its pages look right in Chromium.

The reference pages are generated from the code at build time (``docs/hooks/reference.py``), so
they are checked against the code here: every command, configuration key and error class
appears. Two pages are rendered in headless Debian Chromium (through Playwright) at a desktop
and a phone width: no element reaches past the window, and screenshots are kept.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OVERFLOWING_JS = """
() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => getComputedStyle(e).visibility !== 'hidden' && e.offsetParent !== null)
  .filter(e => !e.closest('pre, .md-typeset__scrollwrap, .md-sidebar, .md-nav, .md-search'))
  .map(e => e.tagName.toLowerCase() + '.' + e.className)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _text(html_path: Path) -> str:
    return re.sub(r"<[^>]+>", " ", html_path.read_text())


def test_cli_reference_lists_every_command(site: Path) -> None:
    import typer

    from w2t_bkin.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    text = _text(site / "reference" / "cli.html")
    for name in root.list_commands(root.context_class(root)):  # type: ignore[attr-defined]
        assert f"w2t-bkin {name}" in text, name
    assert "--executor" in text and "--jobs" in text  # options of `run`


def test_configuration_reference_lists_every_key(site: Path) -> None:
    from w2t_bkin.config import Config

    text = _text(site / "reference" / "configuration.html")
    for section, field in Config.model_fields.items():
        assert section in text
        annotation = field.annotation
        for key in getattr(annotation, "model_fields", {}):
            assert key in text, f"{section}.{key}"


def test_errors_reference_lists_every_exit_code(site: Path) -> None:
    text = _text(site / "reference" / "errors.html")
    for code in (2, 3, 4, 5, 6, 7, 8, 70):
        assert re.search(rf"\b{code}\b", text), code
    assert "SessionBusyError" in text and "MissingExtraError" in text


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (make test installs Debian's chromium as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.browser
@pytest.mark.parametrize("page_name", ["tutorial.html", "reference/configuration.html"])
@pytest.mark.parametrize("width_px", [1280, 390])
def test_pages_fit_the_window(
    site: Path, browser: Any, page_name: str, width_px: int, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": width_px, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((site / page_name).as_uri())
    heading = (page.locator("h1").first.text_content() or "").rstrip("¶")
    assert heading.strip() in {
        "Tutorial: from raw files to a checked NWB file",
        "configuration.toml",
    }
    assert page.evaluate(OVERFLOWING_JS) == []
    assert errors == []
    shot = tmp_path / f"{page_name.replace('/', '_')}-{width_px}.png"
    page.screenshot(path=str(shot), full_page=False)
    keep = os.environ.get("W2T_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    page.close()
