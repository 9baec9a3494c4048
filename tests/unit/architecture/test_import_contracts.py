"""The import contracts of ``pyproject.toml`` hold, and a deliberate violation breaks them.

Each violation is planted in a copy of the package in a temporary folder; ``lint-imports`` runs
on the copy exactly as ``make lint`` runs on the real tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(
        REPO / "src" / "w2t_bkin",
        repo / "src" / "w2t_bkin",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return repo


def test_the_package_keeps_every_contract() -> None:
    run = lint_imports(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 5 kept, 0 broken." in run.stdout


VIOLATIONS = {
    # contract broken: (module to plant, its text, text the report must contain)
    "model imports a reader": (
        "model/_planted.py",
        "from w2t_bkin.sources import video\n",
        "w2t_bkin.model is not allowed to import w2t_bkin.sources",
    ),
    "sync imports pynwb": (
        "sync/_planted.py",
        "import pynwb\n",
        "w2t_bkin.sync is not allowed to import pynwb",
    ),
    "runtime imports domain code": (
        "runtime/_planted.py",
        "from w2t_bkin.session import process_session\n",
        "w2t_bkin.runtime is not allowed to import w2t_bkin.session",
    ),
    "the session writes NWB itself": (
        "session/_planted.py",
        "import pynwb\n",
        "w2t_bkin.session is not allowed to import pynwb",
    ),
    "a lower layer imports the CLI": (
        "nwb/_planted.py",
        "from w2t_bkin.cli import app\n",
        "w2t_bkin.nwb._planted -> w2t_bkin.cli",
    ),
    "an import cycle": (
        "report/_planted.py",
        "from w2t_bkin.report import qc\n",
        "No cycles are allowed in w2t_bkin.report",
    ),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_a_planted_violation_breaks_the_contracts(package_copy: Path, case: str) -> None:
    relative, text, expected = VIOLATIONS[case]
    planted = package_copy / "src" / "w2t_bkin" / relative
    extra: Path | None = None
    if case == "an import cycle":  # qc imports the planted module back
        extra = package_copy / "src" / "w2t_bkin" / "report" / "qc.py"
        original = extra.read_text()
        extra.write_text(original + "\nfrom w2t_bkin.report import _planted  # noqa\n")
    planted.write_text(text)
    try:
        run = lint_imports(package_copy)
    finally:
        planted.unlink()
        if extra is not None:
            extra.write_text(original)
    assert run.returncode != 0
    assert "BROKEN" in run.stdout
    assert expected in run.stdout, run.stdout
