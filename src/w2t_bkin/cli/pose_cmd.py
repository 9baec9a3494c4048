"""``w2t-bkin pose process|benchmark|build-model|backends``: pose estimation from the shell.

The estimators are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from w2t_bkin.cli import app, stdout
from w2t_bkin.cli._options import check_choice, parse_key_values

pose_app = typer.Typer(
    help="Pose estimation: run, benchmark, build the MediaPipe model.", no_args_is_help=True
)
app.add_typer(pose_app, name="pose")

_BACKEND_HELP = "Estimator backend (see `w2t-bkin pose backends`)."
_MODEL_HELP = "Model: a .task bundle (mediapipe), a DLC config.yaml, a SLEAP model folder."
_OPTION_EXAMPLE = "min_pose_detection_confidence=0.3"
_OPTION_HELP = "Backend option KEY=VALUE (repeatable; VALUE is read as JSON when it parses)."


@pose_app.command("backends")
def backends() -> None:
    """List the estimator backends."""
    from w2t_bkin.pose.estimators import backend_entry, list_backends

    for name in list_backends():
        stdout.print(f"{name:<12} {backend_entry(name).description}", highlight=False)


@pose_app.command("process")
def process(
    video: Path = typer.Argument(..., help="Video file."),
    backend: str = typer.Option("mediapipe", "--backend", "-b", help=_BACKEND_HELP),
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Predictions file (.npz); default <video stem>.<backend>.pose.npz next to VIDEO.",
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Only the first N frames."),
    option: list[str] = typer.Option([], "--option", help=_OPTION_HELP),
    nwb: Path | None = typer.Option(
        None, "--nwb", help="Also write an NWB file (ndx-pose PoseEstimation) to this path."
    ),
) -> None:
    """Estimate poses in every frame of VIDEO and write them to a compact .npz file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from w2t_bkin.pose.estimators import make_estimator
    from w2t_bkin.pose.process import process_video
    from w2t_bkin.pose.results import write_predictions

    target = output or video.with_name(f"{video.stem}.{backend.lower()}.pose.npz")
    estimator = make_estimator(backend, model, **parse_key_values(option, example=_OPTION_EXAMPLE))
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} frames"))
    try:
        with Progress(*columns, TimeRemainingColumn(), transient=True, console=stdout) as bar:
            task = bar.add_task(video.name, total=None)

            def report(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            predictions = process_video(video, estimator, progress=report, max_frames=max_frames)
    finally:
        estimator.close()
    write_predictions(predictions, target)
    if nwb is not None:
        from w2t_bkin.pose.nwb_export import write_predictions_nwb

        write_predictions_nwb(predictions, nwb)
    m = predictions.metrics
    stdout.print(
        f"{predictions.n_frames} frames, {predictions.detected.any(axis=1).sum()} with a "
        f"detection, {m.throughput_fps:.1f} frames/s -> {target}"
        + (f" and {nwb}" if nwb is not None else ""),
        highlight=False,
    )


@pose_app.command("benchmark")
def benchmark(
    video: Path = typer.Argument(..., help="Video file."),
    passes: int = typer.Option(
        3, "--passes", "-n", help="Measured passes (a warm-up pass runs first)."
    ),
    backend: str = typer.Option("mediapipe", "--backend", "-b", help=_BACKEND_HELP),
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    max_frames: int | None = typer.Option(300, "--max-frames", help="Frames per pass (0: all)."),
    output_format: str = typer.Option("table", "--format", "-f", help="table or json."),
    option: list[str] = typer.Option([], "--option", help=_OPTION_HELP),
) -> None:
    """Per-frame latency (mean/p50/p95/p99), throughput with and without decoding, peak RSS."""
    from w2t_bkin.pose.benchmark import benchmark_video
    from w2t_bkin.pose.estimators import make_estimator

    check_choice(output_format, ("table", "json"))
    estimator = make_estimator(backend, model, **parse_key_values(option, example=_OPTION_EXAMPLE))
    try:
        result = benchmark_video(video, estimator, passes=passes, max_frames=max_frames or None)
    finally:
        estimator.close()
    summary = result.summary()
    if output_format == "json":
        stdout.print_json(json.dumps(summary))
        return
    latency = summary["latency_ms"]
    lines = [
        f"backend        {summary['backend']} ({summary['device']})",
        f"model          {summary['model']}",
        f"frames x passes {summary['frames_per_pass']} x {summary['passes']} (+1 warm-up)",
        "latency ms     mean {mean:.2f}  p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}".format(
            **latency
        ),
        f"throughput     {summary['throughput_fps']:.1f} frames/s with decoding, "
        f"{summary['throughput_no_decode_fps']:.1f} without",
        f"model load     {summary['model_load_s']:.2f} s",
        f"peak RSS       {summary['peak_rss_mib']:.0f} MiB",
    ]
    stdout.print("\n".join(lines), highlight=False)


@pose_app.command("build-model")
def build_model(
    wheel: Path | None = typer.Option(
        None,
        "--wheel",
        help="mediapipe 0.10.21 wheel (default: $W2T_MEDIAPIPE_WHEEL, else the wheels cache).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Bundle path (default: models cache)."
    ),
) -> None:
    """Build MediaPipe's pose .task bundle offline from the mediapipe 0.10.21 wheel."""
    from w2t_bkin.pose.errors import PoseModelError
    from w2t_bkin.pose.estimators.mediapipe_bundle import (
        build_pose_landmarker_bundle,
        find_source_wheel,
        wheels_cache_dir,
    )

    source = wheel or find_source_wheel()
    if source is None:
        raise PoseModelError(
            f"no mediapipe 0.10.21 wheel given and none in {wheels_cache_dir()}",
            hint=f"download it from the package registry: pip download mediapipe==0.10.21 "
            f"--no-deps --only-binary=:all: --python-version 3.11 "
            f"--platform manylinux_2_28_x86_64 -d {wheels_cache_dir()} "
            "(or run `make mediapipe-model`)",
        )
    target = build_pose_landmarker_bundle(source, output)
    stdout.print(f"built {target}", highlight=False)
