"""``w2t-bkin server start|stop|status``: the local web dashboard of a workspace.

The dashboard (FastAPI, uvicorn, Jinja2: the ``web`` extra) is imported inside ``start``, so
``w2t-bkin --help`` never loads it. ``stop`` signals only the PID recorded in
``ROOT/.w2t/server.json`` after checking that it still is the dashboard process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.cli._options import check_choice

if TYPE_CHECKING:
    from types import ModuleType


def _web_server() -> ModuleType:
    """``w2t_bkin.web.server``, imported when a server command runs (``--help`` stays fast)."""
    from w2t_bkin.web import server

    return server


def _serve_prefect(root: Path) -> None:
    """``server start --prefect``: Prefect's runner in the foreground until Ctrl-C."""
    from w2t_bkin.extras import require

    require("prefect", "prefect", purpose="serving Prefect deployments (server start --prefect)")
    from w2t_bkin.deploy.prefect_flows import serve_deployments

    serve_deployments(root, announce=lambda line: stdout.print(escape(line), highlight=False))


server_app = typer.Typer(help="The local web dashboard of a workspace.", no_args_is_help=True)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    root: Path = typer.Argument(Path("."), help="Experiment folder."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on. Anything but loopback (e.g. 0.0.0.0) requires the printed "
        "access token on every request.",
    ),
    port: int = typer.Option(4200, "--port", min=0, max=65535, help="Port (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    read_only: bool = typer.Option(
        False, "--read-only", help="Show everything, start and cancel nothing."
    ),
    jobs_dir: list[Path] = typer.Option(
        [], "--jobs-dir", help="A pose job daemon folder to show (repeatable; default ROOT/jobs)."
    ),
    prefect: bool = typer.Option(
        False,
        "--prefect",
        help="Serve the Prefect deployments process-session and batch-process-sessions of ROOT "
        "instead of the dashboard (to PREFECT_API_URL; extra `prefect`). The dashboard options "
        "do not apply; start the dashboard separately to have both.",
    ),
) -> None:
    """Serve the dashboard in the foreground until Ctrl-C or `w2t-bkin server stop`."""
    if prefect:
        _serve_prefect(root)
        return
    server = _web_server()

    def announce(line: str) -> None:
        target = stderr if line.startswith("warning:") else stdout
        target.print(escape(line), highlight=False)

    server.serve(
        server.ServeOptions(
            root=root,
            host=host,
            port=port,
            read_only=read_only,
            open_browser=not no_browser,
            jobs_dirs=tuple(jobs_dir),
        ),
        announce=announce,
    )


@server_app.command("stop")
def server_stop(root: Path = typer.Argument(Path("."), help="Experiment folder.")) -> None:
    """Stop the workspace's dashboard (the PID its PID file records, verified first)."""
    info = _web_server().stop(root)
    stdout.print(f"stopped the dashboard at {info.url} (pid {info.pid})", highlight=False)


@server_app.command("status")
def server_status(
    root: Path = typer.Argument(Path("."), help="Experiment folder."),
    output_format: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Whether a dashboard serves the workspace, and where. Exit 1 when none does."""
    check_choice(output_format, ("text", "json"))
    info = _web_server().status(root)
    if output_format == "json":
        data = None if info is None else {k: v for k, v in info.to_dict().items() if k != "token"}
        print(json.dumps({"running": info is not None, "server": data}, indent=2))
    elif info is None:
        stdout.print(f"no dashboard serves {escape(str(root))}", highlight=False)
    else:
        mode = " (read-only)" if info.read_only else ""
        stdout.print(
            f"dashboard at {info.url}{mode}, pid {info.pid}, since {info.started_at}",
            highlight=False,
        )
    if info is None:
        raise typer.Exit(1)
