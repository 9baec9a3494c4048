"""``w2t-bkin config show|schema``: the effective configuration and its schema."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from w2t_bkin.cli import app

config_app = typer.Typer(help="Show the configuration and its schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    root: Path = typer.Argument(Path("."), help="Experiment folder."),
    config: Path | None = typer.Option(None, "--config", help="Another configuration file."),
) -> None:
    """Print the effective configuration (defaults filled in)."""
    from w2t_bkin.config import load_workspace_config, render_config_template
    from w2t_bkin.workspace.layout import open_workspace

    if config is None:
        open_workspace(root)  # ROOT must be a workspace: defaults for a typo'd path would mislead
    print(render_config_template(load_workspace_config(root, config)), end="")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of configuration.toml."""
    from w2t_bkin.config import config_json_schema

    print(json.dumps(config_json_schema(), indent=2))
