"""``server start --prefect`` without the extra, and import hygiene (no Prefect needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from w2t_bkin.cli import main


def test_server_start_prefect_without_the_extra_exits_7_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "init", str(tmp_path / "exp")]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "prefect", None)  # import prefect -> ModuleNotFoundError
    code = main(["server", "start", str(tmp_path / "exp"), "--prefect", "--no-browser"])
    err = capsys.readouterr().err
    assert code == 7
    assert "serving Prefect deployments (server start --prefect) needs the optional" in err
    assert "'prefect', which is not installed" in err
    assert "pip install 'w2t-bkin[prefect]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "exp/.w2t/server.json").exists()  # no dashboard started either


def test_the_option_is_documented_and_import_w2t_bkin_deploy_loads_no_prefect() -> None:
    code = (
        "import sys, w2t_bkin.deploy, w2t_bkin.deploy.errors, w2t_bkin.cli.server_cmd; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'fastapi')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", "server", "start", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    ).stdout
    words = " ".join(help_text.split())  # Rich wraps the help in boxes
    assert "--prefect" in words
    assert "Serve the Prefect deployments process-session and batch-process-sessions" in words
