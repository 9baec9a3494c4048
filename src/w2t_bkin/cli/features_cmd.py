"""``w2t-bkin features run|status|clean|lineage``: the cached feature pipeline from a TOML file.

The pipeline format is described in :mod:`w2t_bkin.features.toml`; the feature package is
imported inside the commands, so ``w2t-bkin --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.cli._options import check_choice
from w2t_bkin.errors import W2TError

features_app = typer.Typer(
    help="Cached, lineage-tracked features on pose tracks (pipelines from TOML files).",
    no_args_is_help=True,
)
app.add_typer(features_app, name="features")

FORMATS = ("table", "json")


class _RichProgress:
    """Shows a progress bar per step while entries are computed (stderr)."""

    def __init__(self) -> None:
        from rich.progress import Progress

        self.progress = Progress(console=stderr, transient=True)
        self.task: Any = None

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_phase(self, phase: str, message: str = "") -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(escape(f"{phase}: {message}"), total=None)

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=epoch, total=total)

    def on_class_start(self, index: int, total: int, name: str) -> None:
        return None

    def on_entry_start(self, index: int, total: int, key: str) -> None:
        return None

    def on_entry_end(self, index: int, total: int, key: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, total=total)


def _status_table(frame: Any, title: str) -> Table:
    table = Table(title=title)
    for name in frame.columns:
        table.add_column(str(name), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    return table


@features_app.command("run")
def run(
    pipeline_file: Path = typer.Argument(..., help="Pipeline TOML file."),
    force_from: str | None = typer.Option(
        None, "--force-from", help="Recompute this step and everything downstream of it."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not show progress bars."),
) -> None:
    """Run every step that is not cached, then print the pipeline status."""
    from w2t_bkin.features.dataset import FeatureDataset
    from w2t_bkin.features.toml import load_pipeline

    pipeline, config, root = load_pipeline(pipeline_file)
    with FeatureDataset(root) as ds:
        if no_progress:
            pipeline.run(ds, force_from, max_parallel_steps=config.max_parallel_steps)
        else:
            with _RichProgress() as progress:
                pipeline.run(
                    ds, force_from, max_parallel_steps=config.max_parallel_steps, progress=progress
                )
        stdout.print(_status_table(pipeline.status(ds), "pipeline"))


@features_app.command("status")
def status(
    pipeline_file: Path = typer.Argument(..., help="Pipeline TOML file."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Each step's predicted run id and whether it is cached, partial, missing or stale."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.features.dataset import FeatureDataset
    from w2t_bkin.features.toml import load_pipeline

    pipeline, _, root = load_pipeline(pipeline_file)
    with FeatureDataset(root) as ds:
        frame = pipeline.status(ds)
    if output_format == "json":
        print(json.dumps(json.loads(frame.to_json(orient="records")), indent=2))
        return
    stdout.print(_status_table(frame, "pipeline"))


@features_app.command("clean")
def clean(
    pipeline_file: Path = typer.Argument(..., help="Pipeline TOML file."),
    apply: bool = typer.Option(False, "--apply", help="Delete; without it, only list."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Runs of this pipeline's features that it no longer uses, and orphan run folders."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.features.dataset import FeatureDataset
    from w2t_bkin.features.toml import load_pipeline

    pipeline, _, root = load_pipeline(pipeline_file)
    with FeatureDataset(root) as ds:
        frame = pipeline.clean(ds, dry_run=not apply)
    if output_format == "json":
        print(json.dumps(json.loads(frame.to_json(orient="records")), indent=2))
        return
    stdout.print(_status_table(frame, "clean" if apply else "clean (dry run; --apply deletes)"))


@features_app.command("lineage")
def lineage(
    feature: str = typer.Argument(..., help="Feature name, e.g. kinematics."),
    run_id: str = typer.Argument(..., help="Run id, e.g. 0.1-3f2a..."),
    dataset: Path = typer.Option(Path("."), "--dataset", help="Feature dataset folder."),
    output_format: str = typer.Option("table", "--format", help="table (a tree) or json."),
) -> None:
    """The full upstream tree of one run."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.features.dataset import FeatureDataset

    if not (dataset / "dataset.json").is_file():
        raise W2TError(
            f"{dataset} is not a feature dataset (no dataset.json)",
            hint="pass --dataset with the folder named by the pipeline file's 'dataset' key",
            path=dataset,
        )
    with FeatureDataset(dataset) as ds:
        if not ds.registry.has_run(feature, run_id):
            raise W2TError(
                f"no run {feature}/{run_id} in {dataset}",
                hint="list runs with 'w2t-bkin features status PIPELINE.toml'",
            )
        tree = ds.registry.lineage(feature, run_id)
    if output_format == "json":
        print(json.dumps(tree, indent=2))
        return
    from rich.tree import Tree

    def grow(node: dict[str, Any], into: Any) -> None:
        for up in node["upstream"]:
            grow(up, into.add(escape(f"{up['feature']} {up['run_id']}")))

    root_node = Tree(escape(f"{tree['feature']} {tree['run_id']}"))
    grow(tree, root_node)
    stdout.print(root_node)
