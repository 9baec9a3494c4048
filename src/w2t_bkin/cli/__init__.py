"""The ``w2t-bkin`` command line: thin Typer commands that call the library and map errors.

User errors (``W2TError``) print one line plus a hint to stderr and exit with the error's exit
code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from w2t_bkin import __version__
from w2t_bkin.errors import W2TError
from w2t_bkin.report.backend import draw_to_files

app = typer.Typer(
    name="w2t-bkin",
    help="Raw behavioural-neuroscience sessions to synchronized, validated NWB files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's own help layout: Typer's rich panels show every flag as taking a "<bool>" value.
    rich_markup_mode=None,
)
stderr = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

_state: dict[str, Any] = {"debug": False, "argv": None}


def invocation() -> list[str]:
    """The command line the user typed (provenance records it, not a worker's ``sys.argv``)."""
    argv = _state["argv"]
    return ["w2t-bkin", *argv] if argv is not None else list(sys.argv)


def owns_process() -> bool:
    """Whether this process runs this one command and exits: the console script (``main()``
    reading ``sys.argv``), not a caller of ``main(argv)`` that goes on (a test, a program)."""
    return _state["argv"] is None


def _version(value: bool) -> None:
    if value:
        stdout.print(f"w2t-bkin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress to stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug
    # The level sits on the console handler: each session's pipeline.log still gets INFO records.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(_not_a_session_outcome)
    logging.basicConfig(handlers=[console], level=logging.DEBUG if debug else logging.INFO)


# The logger of w2t_bkin.session.driver (not imported here: it loads the whole pipeline).
_SESSION_LOGGER = "w2t_bkin.session"


def _not_a_session_outcome(record: logging.LogRecord) -> bool:
    """Drop the driver's record of a failed session: ``run`` prints each outcome itself.

    Without this filter a session that fails before its log opens (e.g. its lock is held)
    shows the same error twice on the console.
    """
    return not (record.name == _SESSION_LOGGER and record.levelno >= logging.ERROR)


def _register() -> None:
    """Import every ``*_cmd`` module of this package: each one adds its commands to ``app``.

    Imported here, not at the top, so that each command module can import ``app`` helpers
    without a cycle; found by name so that a new command group is one new module. Command
    modules import their heavy libraries inside the command functions (``--help`` stays fast).
    """
    import importlib
    import pkgutil

    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.endswith("_cmd"):
            importlib.import_module(f"{__name__}.{module.name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    The console script (``argv`` read from ``sys.argv``) exits when this returns: its objects
    are frozen out of the garbage collector first, so that the interpreter's final collections
    do not walk them all on the way out (0.17-0.27 s after a batch on worker processes or
    Dask, 0.03 s after ``status``). Everything is still released and closed as usual.
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            gc.freeze()


def _main(argv: list[str] | None) -> int:
    draw_to_files()  # no command shows a window
    _register()
    _state["argv"] = list(argv) if argv is not None else None
    try:
        result = app(args=argv, standalone_mode=False)
    except W2TError as exc:
        if _state["debug"]:
            raise
        stderr.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, markup=True)
        if exc.path is not None and str(exc.path) not in exc.message:
            stderr.print(f"  file: {escape(str(exc.path))}", highlight=False)
        if exc.hint:
            stderr.print(f"  [yellow]hint:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        stderr.print("aborted")
        return 1
    except Exception as exc:
        if _is_usage_error(exc):
            exc.show(file=sys.stderr)  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if _state["debug"]:
            raise
        stderr.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}")
        stderr.print("  rerun with --debug for the traceback and report it")
        return 70
    return result if isinstance(result, int) else 0


def _is_usage_error(exc: Exception) -> bool:
    """A command-line usage error (missing argument, unknown option, bad value, no arguments).

    Typer >= 0.24 raises the exceptions of its own bundled copy of click, older versions those of
    click itself; both derive from a ``ClickException`` with ``show()`` and ``exit_code``.
    """
    import click

    return any(
        klass.__name__ == "ClickException" and klass.__module__.endswith("click.exceptions")
        for klass in type(exc).__mro__
    ) or isinstance(exc, click.ClickException)
