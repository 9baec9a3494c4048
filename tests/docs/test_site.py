"""The documentation site builds with ``--strict`` and its pages look right in Chromium.

The reference pages are generated from the code at build time (``docs/hooks/reference.py``), so
they are checked against the code here: every command, configuration key and error class
appears. Two pages are rendered in headless Debian Chromium (through Playwright) at a desktop
and a phone width: no element reaches past the window, and screenshots are kept.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from _browser import assert_fits, keep_screenshot, open_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parents[2]
#: Regions of a Material for MkDocs page that scroll on their own (code blocks, wide tables)
#: or are off-canvas drawers at phone width.
SCROLLS_WITHIN = "pre, .md-typeset__scrollwrap, .md-sidebar, .md-nav, .md-search"


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


@pytest.mark.browser
@pytest.mark.parametrize("page_name", ["tutorial.html", "reference/configuration.html"])
@pytest.mark.parametrize("width_px", [1280, 390])
def test_pages_fit_the_window(
    site: Path, browser: Browser, page_name: str, width_px: int, tmp_path: Path
) -> None:
    with open_page(browser, width_px) as (page, errors):
        page.goto((site / page_name).as_uri())
        heading = (page.locator("h1").first.text_content() or "").rstrip("¶")
        assert heading.strip() in {
            "Tutorial: from raw files to a checked NWB file",
            "configuration.toml",
        }
        assert_fits(page, page_name, skip_hidden=True, scrolls_within=SCROLLS_WITHIN)
        name = f"{page_name.replace('/', '_')}-{width_px}.png"
        keep_screenshot(page, tmp_path, name, full_page=False)
    assert errors == []
