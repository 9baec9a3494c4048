"""``w2t-bkin analyze dtw|segment``: compare and segment movements in pose results.

Inputs are pose results: the ``.npz`` predictions the pose job daemon writes, and every file our
pose readers take (DeepLabCut, SLEAP, Lightning Pose). Joints are named as in the file
(case-insensitive) or by index. The analysis is :mod:`w2t_bkin.analysis` (pure functions); this
module only loads the poses, turns options into arguments and prints or writes the results.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout

if TYPE_CHECKING:
    import numpy as np

    from w2t_bkin.analysis.dtw import DTWResult, PoseVariant

analyze_app = typer.Typer(
    help="Movement analysis of pose results: exact DTW, repetition segmentation.",
    no_args_is_help=True,
)
app.add_typer(analyze_app, name="analyze")

VARIANTS: dict[str, PoseVariant] = {
    "all": "all",
    "per-joint": "per_joint",
    "relation": "relation",
}
SIGNALS = ("joint_axis", "joint_pair_distance", "joint_speed", "joint_angle")
AXES = {"x": 0, "y": 1, "z": 2, "0": 0, "1": 1, "2": 2}


@dataclass(frozen=True)
class LoadedPoses:
    """One individual's poses from a pose results file.

    Attributes
    ----------
    positions
        ``(n_frames, n_keypoints, n_space) float64``; NaN where not detected.
    keypoint_names
        Names of the keypoint axis.
    skeleton_edges
        Keypoint index pairs the file declares.
    rate_hz
        Frame rate from the file's frame times, or ``None`` when the file has none.
    source
        The file.
    """

    positions: np.ndarray
    keypoint_names: tuple[str, ...]
    skeleton_edges: tuple[tuple[int, int], ...]
    rate_hz: float | None
    source: Path


def load_poses(path: Path, individual: str | None, use_3d: bool) -> LoadedPoses:
    """Read one individual's poses from a predictions ``.npz`` or any pose file we read."""
    import numpy as np

    from w2t_bkin.analysis.errors import AnalysisError

    rate_hz: float | None = None
    if path.suffix.lower() == ".npz":
        from w2t_bkin.pose.results import read_predictions

        predictions = read_predictions(path)
        if use_3d:
            if predictions.keypoints_3d is None:
                raise AnalysisError(
                    "--3d: this predictions file has no 3-D keypoints",
                    path=path,
                    hint="leave out --3d to compare the 2-D pixel positions",
                )
            positions = predictions.keypoints_3d
        else:
            positions = predictions.keypoints_px
        names, individuals = predictions.keypoint_names, predictions.individual_names
        edges = predictions.skeleton_edges
        rate_hz = _rate_from_times(predictions.frame_times_s)
    else:
        from w2t_bkin.sources.pose import read_pose

        if use_3d:
            raise AnalysisError(
                "--3d: only predictions .npz files carry 3-D keypoints",
                path=path,
                hint="leave out --3d",
            )
        pose = read_pose(path)
        positions, names = pose.positions, pose.keypoint_names
        individuals, edges = pose.individual_names, pose.skeleton_edges
    k = _individual_index(individual, individuals, path)
    return LoadedPoses(
        positions=np.asarray(positions[:, k], dtype=np.float64),
        keypoint_names=tuple(names),
        skeleton_edges=tuple(edges),
        rate_hz=rate_hz,
        source=path,
    )


def _rate_from_times(frame_times_s: np.ndarray) -> float | None:
    import numpy as np

    steps = np.diff(frame_times_s)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(1.0 / np.median(steps)) if steps.size else None


def _individual_index(individual: str | None, names: tuple[str, ...], path: Path) -> int:
    from w2t_bkin.analysis.errors import AnalysisError

    if individual is None:
        return 0
    if individual in names:
        return names.index(individual)
    if individual.isdigit() and int(individual) < len(names):
        return int(individual)
    raise AnalysisError(
        f"--individual {individual!r} is not in the file; expected one of {list(names)} "
        f"or an index 0..{len(names) - 1}",
        path=path,
    )


def joint_index(name: str, names: tuple[str, ...], option: str) -> int:
    """A joint given by name (case-insensitive) or index, checked against ``names``."""
    from w2t_bkin.analysis.errors import AnalysisError

    text = name.strip()
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text.isdigit() and int(text) < len(names):
        return int(text)
    close = difflib.get_close_matches(text.lower(), lowered, n=1)
    suggestion = f"; did you mean {names[lowered.index(close[0])]!r}?" if close else ""
    raise AnalysisError(
        f"{option}: joint {text!r} is not a keypoint of this file{suggestion} "
        f"(expected a name of {', '.join(names)} or an index 0..{len(names) - 1})",
        hint="joint names are those of the pose file's keypoints",
    )


def _joints(text: str, count: int | None, names: tuple[str, ...], option: str) -> tuple[int, ...]:
    from w2t_bkin.analysis.errors import AnalysisError

    parts = [p for p in text.split(",") if p.strip()]
    if count is not None and len(parts) != count:
        raise AnalysisError(
            f"{option} {text!r}: expected {count} comma-separated joints, found {len(parts)}"
        )
    return tuple(joint_index(p, names, option) for p in parts)


def _check_same_model(a: LoadedPoses, b: LoadedPoses) -> None:
    from w2t_bkin.analysis.errors import AnalysisError

    if a.keypoint_names != b.keypoint_names or a.positions.shape[2] != b.positions.shape[2]:
        raise AnalysisError(
            f"{a.source.name} has keypoints {list(a.keypoint_names)} in "
            f"{a.positions.shape[2]}-D, {b.source.name} {list(b.keypoint_names)} in "
            f"{b.positions.shape[2]}-D; expected the same keypoints",
            hint="compare results of the same pose model",
        )


@analyze_app.command("dtw")
def dtw_command(
    a: Path = typer.Argument(..., help="Pose results of the first recording."),
    b: Path = typer.Argument(..., help="Pose results of the second recording."),
    variant: str = typer.Option(
        "all", "--variant", help="all (every joint at once), per-joint, or relation (joint pairs)."
    ),
    pair: list[str] = typer.Option(
        [], "--pair", help="Joint pair A,B for --variant relation (repeatable; default: skeleton)."
    ),
    angle: list[str] = typer.Option(
        [], "--angle", help="Compare joint angles A,B,C (angle at B) instead of positions."
    ),
    window: int | None = typer.Option(
        None, "--window", min=0, help="Sakoe–Chiba band half-width in frames (default: none)."
    ),
    individual: str | None = typer.Option(None, "--individual", help="Name or index."),
    use_3d: bool = typer.Option(False, "--3d", help="Use the 3-D keypoints of .npz results."),
    root: str | None = typer.Option(
        None, "--root", help="Root-relative: subtract this joint (or the mean of A,B,...)."
    ),
    scale_by: str | None = typer.Option(
        None, "--scale-by", help="Divide by the median distance between joints A,B."
    ),
    procrustes: bool = typer.Option(
        False, "--procrustes", help="Rotate a onto b on the frames DTW matched, then realign."
    ),
    with_path: bool = typer.Option(False, "--path", help="Include the warping paths."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write JSON here."),
) -> None:
    """Exact DTW distance (per matched frame pair) between two pose recordings."""
    from w2t_bkin.analysis import angles as angles_mod
    from w2t_bkin.analysis import dtw as dtw_mod
    from w2t_bkin.analysis import invariance
    from w2t_bkin.analysis.errors import AnalysisError

    if variant not in VARIANTS:
        raise AnalysisError(
            f"--variant {variant!r} is unknown; expected one of {', '.join(VARIANTS)}"
        )
    if pair and variant != "relation":
        raise AnalysisError(
            f"--pair names joint pairs for --variant relation, not --variant {variant}",
            hint="add --variant relation, or leave out --pair",
        )
    poses_a = load_poses(a, individual, use_3d)
    poses_b = load_poses(b, individual, use_3d)
    _check_same_model(poses_a, poses_b)
    names = poses_a.keypoint_names
    pos_a, pos_b = poses_a.positions, poses_b.positions
    invariances: dict[str, Any] = {}
    if root is not None:
        roots = _joints(root, None, names, "--root")
        pos_a = invariance.root_relative(pos_a, roots)
        pos_b = invariance.root_relative(pos_b, roots)
        invariances["root"] = [names[j] for j in roots]
    if scale_by is not None:
        ends = _joints(scale_by, 2, names, "--scale-by")
        pos_a, length_a = invariance.scale_by_length(pos_a, (ends[0], ends[1]))
        pos_b, length_b = invariance.scale_by_length(pos_b, (ends[0], ends[1]))
        invariances["scale_by"] = {
            "joints": [names[j] for j in ends],
            "lengths": [length_a, length_b],
        }
    kind = VARIANTS[variant]
    labels: list[str]
    if angle:
        if kind == "relation" or procrustes:
            raise AnalysisError(
                "--angle compares joint angles: it takes --variant all or per-joint and no "
                "--procrustes (angles do not change under rotation)"
            )
        triplets = [_joints(t, 3, names, "--angle") for t in angle]
        feat_a = angles_mod.joint_angles(pos_a, triplets)
        feat_b = angles_mod.joint_angles(pos_b, triplets)
        labels = ["-".join(names[j] for j in t) for t in triplets]
        if kind == "all":
            results = [dtw_mod.dtw(feat_a, feat_b, window=window, return_path=with_path)]
            labels = ["angles " + ", ".join(labels)]
        else:
            results = [
                dtw_mod.dtw(feat_a[:, k], feat_b[:, k], window=window, return_path=with_path)
                for k in range(len(triplets))
            ]
    elif procrustes:
        if kind != "all":
            raise AnalysisError("--procrustes aligns whole poses: it takes --variant all")
        fitted = invariance.dtw_procrustes(pos_a, pos_b, window=window)
        results = [fitted.result]
        labels = ["all joints"]
        invariances["procrustes"] = {
            "rotation_deg": fitted.transform.rotation_deg,
            "translation": fitted.transform.translation.tolist(),
            "iterations": fitted.iterations,
            "converged": fitted.converged,
        }
    else:
        pairs: list[tuple[int, int]] = []
        if kind == "relation":
            pairs = [_pair(p, names) for p in pair] or list(poses_a.skeleton_edges)
            if not pairs:
                raise AnalysisError(
                    "--variant relation needs joint pairs: the file has no skeleton edges",
                    hint="name them with --pair A,B (repeatable)",
                )
        results = dtw_mod.dtw_poses(
            pos_a,
            pos_b,
            variant=kind,
            pairs=pairs,
            window=window,
            return_path=with_path,
        )
        if kind == "all":
            labels = ["all joints"]
        elif kind == "per_joint":
            labels = list(names)
        else:
            labels = [f"{names[i]}-{names[j]}" for i, j in pairs]
    if not with_path:
        results = [_without_path(r) for r in results]
    report = {
        "a": str(a),
        "b": str(b),
        "variant": variant,
        "representation": "angles" if angle else ("3d" if use_3d else "2d"),
        "window": window,
        "invariances": invariances,
        "results": [_result_dict(label, r) for label, r in zip(labels, results, strict=True)],
    }
    _emit(report, as_json, output, lambda: _dtw_table(report))
    not_aligned = [label for label, r in zip(labels, results, strict=True) if not r.aligned]
    if not_aligned:
        stderr.print(
            f"note: nothing was detected in one recording for {', '.join(not_aligned)}; "
            "their distance is NaN",
            highlight=False,
        )


def _pair(text: str, names: tuple[str, ...]) -> tuple[int, int]:
    i, j = _joints(text, 2, names, "--pair")
    return i, j


def _without_path(result: DTWResult) -> DTWResult:
    from dataclasses import replace

    return replace(result, path=None)


def _result_dict(label: str, r: DTWResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "label": label,
        "distance": _json_float(r.distance),
        "total_cost": _json_float(r.total_cost),
        "path_length": r.path_length,
        "n_frames": list(r.n_frames),
        "n_missing": list(r.n_missing),
    }
    if r.path is not None:
        out["path"] = r.path.tolist()
    return out


def _json_float(value: float) -> float | str:
    """JSON has no NaN or infinity: those become the strings ``"nan"`` and ``"inf"``."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return value


def _dtw_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"DTW ({report['variant']}, {report['representation']})")
    for column in ("", "distance", "path length", "frames a/b", "missing a/b"):
        table.add_column(column, justify="left" if not column else "right")
    for r in report["results"]:
        distance = r["distance"]
        table.add_row(
            escape(r["label"]),
            f"{distance:.6g}" if isinstance(distance, float) else distance,
            str(r["path_length"]),
            "/".join(map(str, r["n_frames"])),
            "/".join(map(str, r["n_missing"])),
        )
    return table


def _emit(report: dict[str, Any], as_json: bool, output: Path | None, table: Any) -> None:
    text = json.dumps(report, indent=2, allow_nan=False)
    if output is not None:
        from w2t_bkin.io_utils import atomic_write_text

        atomic_write_text(output, text + "\n")
    if as_json:
        typer.echo(text)
    else:
        stdout.print(table())
        if output is not None:
            stdout.print(f"written: {escape(str(output))}", highlight=False)


@analyze_app.command("segment")
def segment_command(
    results: Path = typer.Argument(..., help="Pose results of one recording."),
    signal: str = typer.Option(..., "--signal", help=f"The 1-D signal: {', '.join(SIGNALS)}."),
    joints: str = typer.Option(
        ..., "--joints", help="Joint(s): 1 for axis and speed, A,B for distance, A,B,C for angle."
    ),
    axis: str = typer.Option("y", "--axis", help="Coordinate for joint_axis: x, y or z."),
    invert: bool = typer.Option(False, "--invert", help="Repetitions are troughs, not peaks."),
    min_distance_s: float | None = typer.Option(
        None, "--min-distance-s", min=0, help="Shortest time between repetition peaks."
    ),
    min_prominence: float | None = typer.Option(
        None, "--min-prominence", min=0, help="Smallest peak prominence (signal units)."
    ),
    min_height: float | None = typer.Option(None, "--min-height", help="Smallest peak value."),
    max_gap_s: float = typer.Option(
        0.1, "--max-gap-s", min=0, help="Fill gaps up to this long; longer gaps split."
    ),
    rate_hz: float | None = typer.Option(
        None, "--rate-hz", help="Frame rate (default: from the .npz frame times)."
    ),
    individual: str | None = typer.Option(None, "--individual", help="Name or index."),
    use_3d: bool = typer.Option(False, "--3d", help="Use the 3-D keypoints of .npz results."),
    compare: bool = typer.Option(
        False,
        "--compare",
        help="Also compare the repetitions with each other: all-pairs exact DTW of the whole "
        "pose (root-relative with --root).",
    ),
    root: str | None = typer.Option(
        None, "--root", help="With --compare: subtract this joint (or the mean of A,B,...)."
    ),
    window: int | None = typer.Option(
        None, "--window", min=0, help="With --compare: Sakoe–Chiba half-width in frames."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="With --compare: threads (default: every core)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write JSON here."),
) -> None:
    """Repetitions of a movement, valley to valley, on a signal of the poses."""
    from w2t_bkin.analysis.errors import AnalysisError
    from w2t_bkin.analysis.segment import SegmentationConfig, SignalSpec, segment_poses

    if signal not in SIGNALS:
        raise AnalysisError(f"--signal {signal!r} is unknown; expected one of {', '.join(SIGNALS)}")
    if axis.lower() not in AXES:
        raise AnalysisError(f"--axis {axis!r} is unknown; expected x, y or z")
    poses = load_poses(results, individual, use_3d)
    rate = rate_hz if rate_hz is not None else poses.rate_hz
    if rate is None:
        raise AnalysisError(
            f"{results.name} records no frame times, so the frame rate is unknown",
            path=results,
            hint="give it with --rate-hz (e.g. --rate-hz 30)",
        )
    needed = {"joint_axis": 1, "joint_speed": 1, "joint_pair_distance": 2, "joint_angle": 3}
    idx = _joints(joints, needed[signal], poses.keypoint_names, "--joints")
    spec = SignalSpec(signal, idx, axis=AXES[axis.lower()], invert=invert)  # type: ignore[arg-type]
    config = SegmentationConfig(
        signal=spec,
        rate_hz=rate,
        min_distance_s=min_distance_s,
        min_prominence=min_prominence,
        min_height=min_height,
        max_gap_s=max_gap_s,
    )
    seg = segment_poses(poses.positions, config)
    report: dict[str, Any] = {
        "results": str(results),
        "joints": [poses.keypoint_names[j] for j in idx],
        **seg.to_dict(),
    }
    if compare:
        report["comparison"] = _compare_repetitions(poses, seg, root, window, threads)
    _emit(report, as_json, output, lambda: _segment_table(report))


def _compare_repetitions(
    poses: LoadedPoses,
    seg: Any,
    root: str | None,
    window: int | None,
    threads: int | None,
) -> dict[str, Any]:
    """All-pairs normalised DTW distances between the repetitions (whole pose)."""
    import numpy as np

    from w2t_bkin.analysis.dtw import dtw_distance_matrix
    from w2t_bkin.analysis.invariance import root_relative
    from w2t_bkin.analysis.segment import slice_segments

    positions = poses.positions
    roots: list[str] = []
    if root is not None:
        idx = _joints(root, None, poses.keypoint_names, "--root")
        positions = root_relative(positions, idx)
        roots = [poses.keypoint_names[j] for j in idx]
    pieces = slice_segments(positions, seg)
    matrix = dtw_distance_matrix(pieces, window=window, n_threads=threads)
    off_diagonal = matrix[~np.eye(len(pieces), dtype=bool)]
    finite = off_diagonal[np.isfinite(off_diagonal)]
    return {
        "variant": "all",
        "root": roots,
        "window": window,
        "distance_matrix": [[_json_float(float(v)) for v in row] for row in matrix],
        "mean_distance": _json_float(float(finite.mean())) if finite.size else None,
    }


def _segment_table(report: dict[str, Any]) -> Table:
    config = report["config"]
    table = Table(
        title=f"{len(report['segments'])} repetitions of {config['signal']['kind']} "
        f"({', '.join(report['joints'])}); {report['n_filled_frames']} frames filled"
    )
    for column in ("#", "start", "peak", "end", "duration s", "complete"):
        table.add_column(column, justify="right")
    comparison = report.get("comparison")
    if comparison is not None and comparison["mean_distance"] is not None:
        table.caption = (
            f"mean DTW distance between repetitions: {comparison['mean_distance']:.4g} "
            "(per matched frame pair)"
        )
    for k, s in enumerate(report["segments"]):
        table.add_row(
            str(k),
            str(s["start_frame"]),
            str(s["peak_frame"]),
            str(s["end_frame"]),
            f"{s['duration_s']:.3f}",
            "yes" if s["complete"] else "no",
        )
    return table
