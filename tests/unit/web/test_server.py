"""``w2t-bkin server start|stop|status``: a real server process, its PID file, safe stopping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from w2t_bkin.cli import main
from w2t_bkin.web.server import ServerInfo, is_ours, pid_file, process_start

from ._helpers import make_workspace

SERVER_START_S = 60.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "exp", {"m1": ["s1"]})


def _start(root: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "w2t_bkin", "server", "start", str(root), "--port", "0"]
    return subprocess.Popen(
        [*command, "--no-browser", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_pid_file(root: Path, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()}")
        try:
            info = json.loads(pid_file(root).read_text())
            httpx.get(
                f"{info['url']}api/info",
                timeout=2,
                headers={"Authorization": f"Bearer {info['token']}"},
            )
            return info  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError, httpx.TransportError):
            time.sleep(0.1)
    raise AssertionError("the server did not start")


@pytest.fixture
def server(root: Path) -> Iterator[subprocess.Popen[str]]:
    process = _start(root)
    yield process
    if process.poll() is None:
        process.terminate()  # our own child, by its handle
        process.wait(10)


def test_start_status_stop(
    root: Path, server: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    info = _wait_for_pid_file(root, server)
    assert info["pid"] == server.pid and info["token"] is None
    assert oct(pid_file(root).stat().st_mode & 0o777) == "0o600"
    response = httpx.get(f"{info['url']}api/info", timeout=5)
    assert response.json()["root"] == str(root.resolve())
    assert main(["server", "status", str(root), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True and status["server"]["pid"] == server.pid
    assert main(["server", "start", str(root), "--port", "0", "--no-browser"]) == 9
    assert "already serves" in capsys.readouterr().err
    assert main(["server", "stop", str(root)]) == 0
    assert f"pid {server.pid}" in capsys.readouterr().out
    assert server.wait(10) == 0
    assert not pid_file(root).exists()
    assert main(["server", "status", str(root)]) == 1
    assert main(["server", "stop", str(root)]) == 9
    assert "no dashboard server is recorded" in capsys.readouterr().err


def test_any_address_warns_and_requires_the_token(root: Path) -> None:
    process = _start(root, "--host", "0.0.0.0")
    try:
        info = _wait_for_pid_file(root, process)
        token = info["token"]
        assert isinstance(token, str) and len(token) >= 40
        url = f"http://127.0.0.1:{info['port']}/api/overview"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(f"{url}?token={token}", timeout=5).status_code == 200
        assert main(["server", "stop", str(root)]) == 0
        _, err = process.communicate(timeout=10)
        assert "warning: serving on 0.0.0.0" in err
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def test_stop_never_signals_a_pid_that_is_not_the_dashboard(root: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info = ServerInfo(
            pid=bystander.pid,
            process_start=process_start(bystander.pid),
            url="http://127.0.0.1:1/",
            host="127.0.0.1",
            port=1,
            read_only=False,
            started_at="2026-01-01T00:00:00",
        )
        assert is_ours(info) is False  # its command line is not a w2t-bkin server
        pid_file(root).parent.mkdir(exist_ok=True)
        pid_file(root).write_text(json.dumps(info.to_dict()))
        assert main(["server", "stop", str(root)]) == 9
        time.sleep(0.2)
        assert bystander.poll() is None  # still running: never signalled
        assert not pid_file(root).exists()  # the stale record is gone
    finally:
        bystander.kill()
        bystander.wait(10)


def test_port_in_use_is_a_clear_error(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["server", "start", str(root), "--port", str(port), "--no-browser"])
    assert code == 9
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert not pid_file(root).exists()


def test_help_does_not_import_the_web_stack() -> None:
    code = (
        "import sys; from w2t_bkin.cli import main; main(['server', '--help']); "
        "web = ('fastapi', 'uvicorn', 'jinja2', 'starlette'); "
        "print(sorted(m for m in web if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "start" in out.stdout and "stop" in out.stdout and "status" in out.stdout


def test_not_a_workspace_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "start", str(tmp_path / "nothing"), "--no-browser"]) != 0
    assert "error:" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
