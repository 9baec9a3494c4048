"""Every command and Python block of the tutorial, migration guide and how-to guides runs.

A page is run top to bottom in a fresh folder, like a reader following it:

* a ``console`` block holds commands (``$ command``, continued on lines starting ``> ``),
  each followed by the output it shows. The
  shown output must match what the command prints (stdout and stderr together): a line ``...``
  stands for any number of lines and ``...`` inside a line for any text; a command must exit 0.
* a ``python`` block runs in one namespace per page (its asserts are the checks); its output
  is not compared.

A block right after a line ``<!-- skip-test -->`` is not run (for commands that need hardware or
a server); the comment does not show on the page (an attribute on the fence itself would stop
mkdocs rendering the block as code).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "tutorial.md",
    "migration.md",
    *sorted(p.relative_to(DOCS).as_posix() for p in DOCS.glob("how-to/*.md")),
]
SKIP_MARK = "<!-- skip-test -->"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    language: str
    line: int
    text: str


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        language, _info, body = match.groups()
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        if language in ("console", "python") and before != SKIP_MARK:
            found.append(Block(language, text.count("\n", 0, match.start()) + 1, body))
    return found


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, shown output lines)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs and not pairs[-1][1] and (line == ">" or line.startswith("> ")):
            # a continuation line (the shell's "> " prompt), e.g. the body of a here-document
            pairs[-1] = (pairs[-1][0] + "\n" + line[2:], [])
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"line {block.line}: output before any '$ ' command: {line!r}")
    return pairs


def shown_pattern(shown: list[str]) -> re.Pattern[str]:
    """A regex for the shown output: ``...`` lines match any lines, ``...`` in a line any text."""
    parts = []
    for line in shown:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = [re.escape(piece) for piece in line.rstrip().split("...")]
            parts.append("[^\n]*".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts))


def check_output(where: str, command: str, shown: list[str], printed: str) -> None:
    if not shown:
        return
    # blank lines before and after the output are not shown on a page (native libraries print
    # some); trailing spaces neither
    normalised = "\n".join(line.rstrip() for line in printed.strip("\n").splitlines()) + "\n"
    if shown_pattern(shown).fullmatch(normalised) is None:
        raise AssertionError(
            f"{where}: `{command}` printed:\n{printed}\n--- which does not match what the page "
            "shows:\n" + "\n".join(shown)
        )


def run_page(page: Path, folder: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CI", None)  # a reader's shell, not the test environment
    env["COLUMNS"] = "200"
    # the pages use the sample data by this name (W2T_TEST_DATA, default ../shared/data)
    env["W2T_TEST_DATA"] = str(
        Path(os.environ.get("W2T_TEST_DATA", DOCS.parents[1] / "shared" / "data")).resolve()
    )
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(page):
        where = f"{page.name}:{block.line}"
        if block.language == "python":
            # a reader's Python: warnings are shown, not errors as under this suite's settings
            with (
                contextlib.chdir(folder),
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("default")
                exec(compile(block.text, where, "exec"), namespace)
            continue
        for command, shown in commands(block):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, (
                f"{where}: `{command}` exited {done.returncode}:\n{done.stdout}"
            )
            check_output(where, command, shown, done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_block_of_the_page_runs(page: str, tmp_path: Path) -> None:
    run_page(DOCS / page, tmp_path)


def test_shown_output_patterns() -> None:
    pattern = shown_pattern(["a", "...", "c ... e"])
    assert pattern.fullmatch("a\nb\nb\nc d e\n")
    assert pattern.fullmatch("a\nc  e\n")
    assert not pattern.fullmatch("a\nb\nc d f\n")
    assert not shown_pattern(["exact"]).fullmatch("exact\nmore\n")


def test_a_wrong_shown_output_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```console\n$ echo hello\nbye\n```\n")
    with pytest.raises(AssertionError, match="does not match what the page shows"):
        run_page(page, tmp_path)
    page.write_text("```console\n$ exit 3\n```\n")
    with pytest.raises(AssertionError, match="exited 3"):
        run_page(page, tmp_path)


def test_a_block_after_the_skip_mark_is_not_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ true\n```\n\n"
        f"{SKIP_MARK}\n```console\n$ needs-a-gpu\n```\n\n"
        "```python\nx = 1\n```\n"
    )
    assert [(b.language, b.line) for b in blocks(page)] == [("console", 1), ("python", 10)]
