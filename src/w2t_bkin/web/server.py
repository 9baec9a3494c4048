"""Running the dashboard: the PID file, ``start`` in the foreground, ``stop`` and ``status``.

The PID file ``ROOT/.w2t/server.json`` (mode 0600: it holds the access token of a server
bound beyond loopback) records the server's PID, the start time of that process, its URL and
its command line. ``stop`` signals a PID only after checking that the process with that PID
started at the recorded time and runs a ``w2t-bkin server`` command line: a PID reused by
another program since is never signalled, and no process is ever looked up by name.

Nothing here imports FastAPI or uvicorn at module level except :func:`serve`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.errors import MissingExtraError
from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.runtime.registry import utc_now
from w2t_bkin.web.errors import ServerError
from w2t_bkin.web.security import is_loopback, new_token

PID_FILE = "server.json"
#: Seconds ``stop`` waits for the server to exit after SIGTERM (a running batch is cancelled
#: first, which takes effect when its sessions end their current phase).
STOP_TIMEOUT_S = 60.0
#: Words a dashboard server's command line holds (``w2t-bkin server start`` or ``-m w2t_bkin``).
_COMMAND_MARKERS = (("w2t-bkin", "w2t_bkin"), ("server",))


def pid_file(root: Path) -> Path:
    """Where the server of the workspace at ``root`` records itself."""
    return Path(root) / ".w2t" / PID_FILE


@dataclass(frozen=True)
class ServerInfo:
    """What the PID file records about a running server."""

    pid: int
    process_start: str | None
    url: str
    host: str
    port: int
    read_only: bool
    started_at: str
    token: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_info(root: Path) -> ServerInfo | None:
    """The PID file's record, or None when there is none.

    Raises
    ------
    ServerError
        The PID file exists but is not a record this module wrote.
    """
    path = pid_file(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServerInfo(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ServerError(
            f"the server PID file {path} cannot be read: {exc}",
            hint=f"if no dashboard runs for this workspace, delete {path}",
            path=path,
        ) from exc


def is_ours(info: ServerInfo) -> bool:
    """Whether ``info.pid`` is still the dashboard process that wrote the PID file."""
    command = process_command_line(info.pid)
    if command is None:
        return False
    if info.process_start is not None and process_start(info.pid) != info.process_start:
        return False  # the PID was reused by a process started later
    return all(any(word in command for word in words) for words in _COMMAND_MARKERS)


def process_command_line(pid: int) -> str | None:
    """The command line of process ``pid`` (None when there is no such process)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux: no such process
    except OSError:
        return None
    try:  # no /proc (macOS): ask ps about this one PID
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as an opaque text comparable with a later call."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[19]  # field 22: start time in clock ticks
    except (OSError, IndexError):
        pass
    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def status(root: Path) -> ServerInfo | None:
    """The running server of ``root``, or None (a stale PID file is removed)."""
    info = read_info(root)
    if info is None:
        return None
    if not is_ours(info):
        pid_file(root).unlink(missing_ok=True)
        return None
    return info


def stop(root: Path, timeout_s: float = STOP_TIMEOUT_S) -> ServerInfo:
    """Stop the server of ``root`` (SIGTERM to its verified PID); returns what it was.

    Raises
    ------
    ServerError
        No PID file, the PID is no longer the dashboard (the stale file is removed and nothing
        is signalled), or the server did not exit within ``timeout_s``.
    """
    info = read_info(root)
    if info is None:
        raise ServerError(
            f"no dashboard server is recorded for {root} (no {pid_file(root)})",
            hint="start one with: w2t-bkin server start ROOT",
        )
    if not is_ours(info):
        pid_file(root).unlink(missing_ok=True)
        raise ServerError(
            f"the dashboard recorded for {root} (pid {info.pid}) is no longer running; "
            "removed its stale PID file and signalled nothing",
            hint="start one with: w2t-bkin server start ROOT",
        )
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_ours(info):
            pid_file(root).unlink(missing_ok=True)
            return info
        time.sleep(0.1)
    raise ServerError(
        f"the dashboard (pid {info.pid}) did not exit within {timeout_s:.0f} s of SIGTERM",
        hint=f"a batch may be finishing a phase; check again with: w2t-bkin server status {root}",
    )


@dataclass(frozen=True)
class ServeOptions:
    """How ``server start`` serves a workspace."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 4200
    read_only: bool = False
    open_browser: bool = True
    jobs_dirs: tuple[Path, ...] = ()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    ServerError
        The address is taken or cannot be bound; the hint names a fix.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another port with --port (0 picks a free one), or stop the program "
            "using it",
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(options: ServeOptions, announce: Any = print) -> None:
    """Serve the dashboard in the foreground until SIGTERM or Ctrl-C.

    ``announce`` receives the lines to show the user (URL, warnings).

    Raises
    ------
    ServerError
        A dashboard already runs for this workspace, or the address cannot be bound.
    MissingExtraError
        FastAPI, uvicorn or Jinja2 is not installed (the ``web`` extra).
    """
    uvicorn = _require_web()
    from w2t_bkin.web.app import DashboardSettings, create_app
    from w2t_bkin.workspace.layout import open_workspace

    root = open_workspace(options.root).root
    running = status(root)
    if running is not None:
        raise ServerError(
            f"a dashboard already serves {root} at {running.url} (pid {running.pid})",
            hint=f"open it, or stop it first: w2t-bkin server stop {root}",
        )
    loopback = is_loopback(options.host)
    token = None if loopback else new_token()
    settings = DashboardSettings(
        root=root,
        read_only=options.read_only,
        access_token=token,
        loopback_only=loopback,
        jobs_dirs=list(options.jobs_dirs),
    )
    app = create_app(settings)
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    shown_host = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    url = f"http://{f'[{shown_host}]' if ':' in shown_host else shown_host}:{port}/"
    if token is not None:
        announce(
            f"warning: serving on {options.host}, reachable from other machines; every request "
            "must carry the access token below (anyone with it can start runs"
            + (")" if not options.read_only else "; this server is read-only)")
        )
        url_with_token = f"{url}?token={token}"
    else:
        url_with_token = url
    info = ServerInfo(
        pid=os.getpid(),
        process_start=process_start(os.getpid()),
        url=url,
        host=options.host,
        port=port,
        read_only=options.read_only,
        started_at=utc_now(),
        token=token,
    )
    path = pid_file(root)
    atomic_write_text(path, json.dumps(info.to_dict(), indent=2))
    os.chmod(path, 0o600)
    announce(f"w2t-bkin dashboard of {root}: {url_with_token}")
    announce("stop it with Ctrl-C or: w2t-bkin server stop " + str(root))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = _server_class(uvicorn)(config)
    if options.open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url_with_token)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        current = read_info_quietly(root)
        if current is not None and current.pid == os.getpid():
            path.unlink(missing_ok=True)


def _server_class(uvicorn: Any) -> Any:
    """uvicorn's server, but SIGTERM and Ctrl-C end it normally (exit 0, PID file removed).

    uvicorn shuts down gracefully on those signals and then raises them again, which kills
    the process before the PID file is cleaned up and shows Ctrl-C as a traceback.
    """

    class QuietServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()  # a stop requested by signal is this server's normal end

    return QuietServer


def read_info_quietly(root: Path) -> ServerInfo | None:
    try:
        return read_info(root)
    except ServerError:
        return None


def _require_web() -> Any:
    """uvicorn (and, through the app, FastAPI and Jinja2), or which extra installs them."""
    import importlib

    for module in ("fastapi", "jinja2", "uvicorn"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = exc.name is not None and module.startswith(exc.name)
            raise MissingExtraError(
                module, "web", purpose="the dashboard", cause=None if missing else str(exc)
            ) from exc
    return sys.modules["uvicorn"]
