"""Raw → NWB for one synthetic session, against NeuroConv converting the same pose and video inputs.

Issue goal at full scale: 1 h, 2 cameras at 150 Hz (540,000 frames each), 18 keypoints,
600 trials, in <= 90 s wall on 2 cores with peak RSS <= 2 GB, and >= 2x faster than NeuroConv.

What each side does
-------------------
- **ours**: ``process_session``, the full pipeline (discovery, verification, TTL sync, Bpod trials,
  pose, external video references, NWB write, nwbinspector validation, QC report, provenance with
  input checksums). The workspace's video-probe cache is switched off through a benchmark copy of
  ``configuration.toml``, so every run is a cold first run rather than a warm re-run.
- **peer**: NeuroConv (pinned, installed on first use into ``benchmarks/.work/neuroconv-venv``)
  in one ``ConverterPipe`` writing one NWB file: one ``ExternalVideoInterface`` per camera with
  all its video files, and one ``DeepLabCutInterface`` per DLC ``.h5`` (one per camera here; one
  per chunk file when a camera is chunked, since the interface reads one file). It gets no
  timestamps from us: its per-frame times come from its own video scan
  (``get_original_timestamps``), which it also gives to the camera's pose. It does no TTL sync, no
  Bpod, no validation, QC or provenance. Ours reads cam1's pose from the SLEAP analysis file the
  session's metadata names; the peer reads cam1's DLC file, which holds the same poses.

Measurement
-----------
Each side runs in its own child process, which reports as JSON its own wall time and peak memory:
time from the child's first statement (before importing the conversion libraries, so imports are
counted, equally for both sides) until the NWB file is closed (ours: until ``process_session``
returned, i.e. after validation, QC and provenance); peak memory is the child's own high-water
mark (``VmHWM``: ``ru_maxrss`` would start at the benchmark runner's peak, see
``benchmarks/_memory.py``).

Run ``python -m benchmarks.bench_session small`` from the repository root (the ``full`` scale
takes many minutes to generate). Generated sessions are cached in
``benchmarks/.work/session-<scale>``; each run also writes
``benchmarks/.work/bench_session-<scale>.json`` (both children's reports, our phase durations,
what the peer's file holds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import _memory
from w2t_bkin.config import load_workspace_config, render_config_template

WORK = Path(__file__).resolve().parent / ".work"
SUBJECT, SESSION = "mouse01", "ses01"

SCALES = {
    "small": {"duration_s": 120.0, "rate_hz": 150.0, "n_keypoints": 18, "n_trials": 20},
    "full": {"duration_s": 3600.0, "rate_hz": 150.0, "n_keypoints": 18, "n_trials": 600},
}

# Pinned so that a results table names what was measured; extras as named by this release.
NEUROCONV_REQUIREMENT = "neuroconv[deeplabcut,video]==0.10.2"
NEUROCONV_VENV = WORK / "neuroconv-venv"
NEUROCONV_LOG = WORK / "neuroconv-install.log"
INSTALL_TIMEOUT_S = 1800.0

# Both children start their clock before importing anything heavy and end it after the file is
# closed (benchmarks/_memory.child_script); peak memory is the child's own (VmHWM).
OURS_SCRIPT = _memory.child_script(
    """
from pathlib import Path
from w2t_bkin.session import process_session

root, config = Path(sys.argv[1]), Path(sys.argv[2])
result = process_session(root, sys.argv[3], sys.argv[4], config_path=config)
report(
    {
        "ok": result.ok,
        "error": result.error,
        "failed_phase": result.failed_phase,
        "phase_durations_s": result.phase_durations_s,
        "nwb": result.outputs.get("nwb"),
    }
)
"""
)

PEER_SCRIPT = _memory.child_script(
    """
from datetime import datetime
from importlib.metadata import version

import numpy as np
from neuroconv import ConverterPipe
from neuroconv.datainterfaces import DeepLabCutInterface, ExternalVideoInterface

spec = json.loads(sys.argv[1])
interfaces = {}
for camera in spec["cameras"]:
    cam = camera["id"]
    video = ExternalVideoInterface(
        file_paths=camera["videos"], metadata_key=f"video_{cam}", video_name=f"Video{cam}"
    )
    # NeuroConv's own per-frame times (an OpenCV pass over every frame). Each file restarts at 0,
    # so a later chunk starts one median frame interval after its predecessor's last frame: the
    # glue a NeuroConv user writes for chunked recordings.
    segments, start_s = [], 0.0
    for times_s in video.get_original_timestamps():
        segments.append(np.asarray(times_s, dtype=float) - times_s[0] + start_s)
        step_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.0
        start_s = float(segments[-1][-1]) + step_s
    video.set_aligned_timestamps(segments)
    interfaces[f"Video{cam}"] = video
    # DeepLabCutInterface reads one output file: a chunked camera gets one per chunk file, each
    # timed by its own video segment.
    for pose_file, times_s in zip(camera["poses"], segments, strict=True):
        pose = DeepLabCutInterface(file_path=pose_file["path"], metadata_key=pose_file["key"])
        pose.set_aligned_timestamps(times_s)
        interfaces[pose_file["key"]] = pose
converter = ConverterPipe(data_interfaces=interfaces)
metadata = converter.get_metadata()
metadata["NWBFile"]["session_start_time"] = datetime.fromisoformat(spec["session_start_time"])
metadata["NWBFile"]["session_description"] = "NeuroConv peer of the w2t-bkin session benchmark"
for camera in spec["cameras"]:
    for pose_file, video_path in zip(camera["poses"], camera["videos"], strict=True):
        # Every DLC interface defaults to the same container and skeleton names: name each after
        # its camera (and chunk) and hang it off its camera's video device.
        key, label = pose_file["key"], pose_file["label"]
        metadata["Pose"]["Skeletons"][key]["name"] = f"Skeleton{label}"
        container = metadata["Pose"]["PoseEstimations"][key]
        container["name"] = f"PoseEstimation{label}"
        container["device_metadata_key"] = f"video_{camera['id']}_camera"
        container["original_videos"] = [video_path]
converter.run_conversion(nwbfile_path=spec["out"], metadata=metadata, overwrite=True)
report({"ok": True, "neuroconv_version": version("neuroconv")})
"""
)

# Run in the NeuroConv venv after the timed conversion: what the peer's file holds.
PEER_CHECK_SCRIPT = """
import json, sys
from ndx_pose import PoseEstimation
from pynwb import NWBHDF5IO
from pynwb.image import ImageSeries
with NWBHDF5IO(sys.argv[1], "r") as io:
    nwbfile = io.read()
    objects = list(nwbfile.objects.values())
    pose = [o for o in objects if isinstance(o, PoseEstimation)]
    videos = [o for o in objects if isinstance(o, ImageSeries)]
    print(json.dumps({
        "pose_estimations": sorted(p.name for p in pose),
        "image_series": sorted(v.name for v in videos),
        "external_files": sum(len(v.external_file) for v in videos),
        "video_timing": sorted(
            "timestamps" if v.timestamps is not None else f"rate {v.rate:g} Hz" for v in videos
        ),
        "pose_frames": sorted(
            len(next(iter(p.pose_estimation_series.values())).data) for p in pose
        ),
    }))
"""


def _ensure_session(scale: str) -> Path:
    """The generated workspace of ``scale``, created on first use and reused after."""
    from w2t_bkin.testing import ExperimentSpec, write_experiment

    params = SCALES[scale]
    root = WORK / f"session-{scale}"
    if not (root / f"data/raw/{SUBJECT}/{SESSION}/truth.json").exists():
        spec = ExperimentSpec(
            duration_s=params["duration_s"],
            rate_hz=params["rate_hz"],
            n_keypoints=int(params["n_keypoints"]),
            n_trials=int(params["n_trials"]),
            width=32,
            height=32,
            n_bpod_files=2,
            jitter_s=1e-4,
            camera_drift_ppm=20.0,
            bpod_drift_ppm=50.0,
            dropped_frame_fraction=0.001,
        )
        write_experiment(root, spec)
    return root


def _cold_config(root: Path, scale: str) -> Path:
    """A copy of the workspace configuration with the video-probe cache off (a cold first run).

    The input digest cache of the workspace is removed too: every input is hashed again, as on
    a first run.
    """
    (root / ".w2t" / "cache" / "fingerprints.sqlite").unlink(missing_ok=True)
    config = load_workspace_config(root)
    cold = config.model_copy(
        update={"ingestion": config.ingestion.model_copy(update={"cache_video_probes": False})}
    )
    path = WORK / f"session-{scale}.bench-config.toml"
    path.write_text(render_config_template(cold))
    return path


def _run_ours(root: Path, scale: str) -> dict[str, Any]:
    measured = _memory.child_json(
        [
            sys.executable,
            "-c",
            OURS_SCRIPT,
            str(root),
            str(_cold_config(root, scale)),
            SUBJECT,
            SESSION,
        ],
        "w2t-bkin process_session",
    )
    if not measured["ok"]:
        raise RuntimeError(
            f"process_session failed in phase {measured['failed_phase']}: {measured['error']}"
        )
    return measured


def check_against_truth(nwb_path: Path, session_dir: Path, truth: dict[str, Any]) -> str:
    """Compare what our NWB file holds with the generator's truth and the raw files.

    Speed at scale is only worth reporting for a right file: frame times of every camera and
    trial start times within 1 ms of the truth, every TTL pulse of every raw file in the TTL
    table (exactly), pose positions of the first and last keypoint equal to the DLC file. Returns
    a one-line summary; raises ``RuntimeError`` on any mismatch.
    """
    import h5py
    import numpy as np

    from w2t_bkin.sources.pose.io import read_pose

    problems: list[str] = []
    worst_frame_ms = 0.0
    with h5py.File(nwb_path, "r") as handle:
        for camera_id, camera in truth["cameras"].items():
            written = handle[f"acquisition/{camera_id}/timestamps"][:]
            expected = np.asarray(camera["frame_times_s"])
            if written.shape != expected.shape:
                problems.append(f"{camera_id}: {written.shape} frame times, truth {expected.shape}")
                continue
            worst_frame_ms = max(worst_frame_ms, float(np.max(np.abs(written - expected))) * 1e3)
        table = handle["acquisition/TTLEvents"]
        times_s, codes = table["timestamp"][:], table["channel"][:]
        names = [n.decode() for n in table["meanings_tables/channel_meanings/meaning"][:]]
        for code, name in enumerate(names):
            raw = np.loadtxt(session_dir / "TTLs" / f"{_ttl_file_stem(name)}.txt", ndmin=1)
            pulses = times_s[codes == code]
            if pulses.shape != raw.shape or np.max(np.abs(pulses - raw), initial=0.0) > 1e-9:
                problems.append(f"TTL {name}: {pulses.size} pulses written, {raw.size} in the file")
        starts = handle["intervals/trials/start_time"][:]
        expected_starts = np.asarray(truth["trials"]["trial_start_reference_s"])
        worst_trial_ms = float(np.max(np.abs(starts - expected_starts))) * 1e3
        module = handle["processing/behavior/PoseEstimation_cam0"]
        dlc = next((session_dir / "Pose" / "cam0").glob("*DLC_*.h5"))
        source = read_pose(dlc)
        for k in (0, source.n_keypoints - 1):
            name = source.keypoint_names[k]
            if not np.array_equal(
                module[f"{name}/data"][:], source.positions[:, 0, k], equal_nan=True
            ):
                problems.append(f"cam0 pose {name}: positions differ from {dlc.name}")
    if worst_frame_ms > 1.0 or worst_trial_ms > 1.0:
        problems.append(f"times off by {worst_frame_ms:.3f} / {worst_trial_ms:.3f} ms")
    if problems:
        raise RuntimeError(f"{nwb_path} does not hold the session: {'; '.join(problems)}")
    return (
        f"file checked: frame times max error {worst_frame_ms * 1e3:.1f} us, trial starts "
        f"{worst_trial_ms * 1e3:.1f} us, all {times_s.size} TTL pulses exact, pose equal"
    )


def _ttl_file_stem(channel_id: str) -> str:
    """``ttl_cam0`` -> ``cam0_frame``, ``ttl_cue`` -> ``cue``: the generator's TTL file names."""
    name = channel_id.removeprefix("ttl_")
    return f"{name}_frame" if name.startswith("cam") else name


def _neuroconv_python() -> tuple[Path | None, str]:
    """The NeuroConv venv's interpreter, installing it once; else None and the reason."""
    return _memory.peer_python(
        NEUROCONV_VENV, (NEUROCONV_REQUIREMENT,), NEUROCONV_LOG, INSTALL_TIMEOUT_S
    )


def _peer_inputs(session_dir: Path, out: Path, start_time: str) -> dict[str, Any]:
    """Every camera's video chunks and their DLC .h5 files, as the peer's JSON argument."""
    cameras = []
    for camera_dir in sorted(p for p in (session_dir / "Video").iterdir() if p.is_dir()):
        cam = camera_dir.name
        videos = sorted(camera_dir.glob("*.mp4"))
        poses = sorted((session_dir / "Pose" / cam).glob("*DLC_*.h5"))
        if [p.name.split("DLC_")[0] for p in poses] != [v.stem for v in videos]:
            raise RuntimeError(
                f"Pose/{cam} DLC files {[p.name for p in poses]} do not pair one to one with "
                f"Video/{cam} files {[v.name for v in videos]}"
            )
        labels = [cam] if len(videos) == 1 else [v.stem for v in videos]
        cameras.append(
            {
                "id": cam,
                "videos": [str(v) for v in videos],
                "poses": [
                    {"path": str(p), "key": f"pose_{label}", "label": label}
                    for p, label in zip(poses, labels, strict=True)
                ],
            }
        )
    return {"cameras": cameras, "out": str(out), "session_start_time": start_time}


def _run_peer(python: Path, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    measured = _memory.child_json(
        [str(python), "-c", PEER_SCRIPT, json.dumps(inputs)], "NeuroConv conversion"
    )
    check = _memory.child_json(
        [str(python), "-c", PEER_CHECK_SCRIPT, inputs["out"]], "reading the NeuroConv NWB file"
    )
    return measured, check


def run(scale: str = "full") -> list[dict[str, Any]]:
    params = SCALES[scale]
    root = _ensure_session(scale)
    session_dir = root / f"data/raw/{SUBJECT}/{SESSION}"
    truth = json.loads((session_dir / "truth.json").read_text())
    n_frames = truth["cameras"]["cam0"]["n_frames"]
    ours = _run_ours(root, scale)
    checked = check_against_truth(Path(ours["nwb"]), session_dir, truth)
    inputs = _peer_inputs(session_dir, WORK / f"neuroconv-{scale}.nwb", truth["session_start_time"])
    n_videos = sum(len(c["videos"]) for c in inputs["cameras"])
    ours_text = (
        "ours: full pipeline (TTL sync, Bpod trials, pose [cam0 DLC .h5, cam1 SLEAP .h5], "
        f"video refs, validation, QC, provenance), cold probe cache; {checked}"
    )
    row: dict[str, Any] = {
        "name": (
            f"raw -> NWB, {len(inputs['cameras'])} cameras x {n_frames} frames, "
            f"{params['n_keypoints']} kp, {params['n_trials']} trials"
        ),
        "value": ours["elapsed_s"],
        "unit": "s",
        "peak_mem_mb": ours["peak_rss_mib"],
    }
    goal = "goal at full scale: <= 90 s, <= 2048 MiB, ratio >= 2"
    timing = "times: child wall incl. imports"
    details_path = WORK / f"bench_session-{scale}.json"
    python, reason = _neuroconv_python()
    if python is None:
        row["note"] = f"{ours_text}; peer NeuroConv not measured: {reason}; {timing}; {goal}"
        details_path.write_text(json.dumps({"ours": ours, "peer": reason}, indent=1, default=str))
        return [row]
    peer, check = _run_peer(python, inputs)
    details = {"ours": ours, "peer": peer, "peer_file": check}
    details_path.write_text(json.dumps(details, indent=1, default=str))
    n_cameras = len(inputs["cameras"])
    n_poses = sum(len(c["poses"]) for c in inputs["cameras"])
    if len(check["pose_estimations"]) != n_poses or len(check["image_series"]) != n_cameras:
        raise RuntimeError(
            f"NeuroConv file should hold {n_poses} PoseEstimation and {n_cameras} ImageSeries: "
            f"{check}"
        )
    version = peer["neuroconv_version"]
    row.update(
        {
            "peer": f"NeuroConv {version}",
            "peer_value": peer["elapsed_s"],
            "ratio": peer["elapsed_s"] / ours["elapsed_s"],
            "note": (
                f"{ours_text}; peer: NeuroConv {version} DeepLabCutInterface + "
                f"ExternalVideoInterface per camera ({n_poses} DLC .h5, {n_videos} video files, "
                f"one NWB; frame times from its own video scan; no sync/Bpod/validation/QC), "
                f"peer peak {peer['peak_rss_mib']:.0f} MiB; {timing}; {goal}"
            ),
        }
    )
    return [row]


if __name__ == "__main__":
    scale_arg = sys.argv[1] if len(sys.argv) > 1 else "full"
    for result_row in run(scale_arg):
        print(json.dumps(result_row, indent=1))
    print(f"details: {WORK / f'bench_session-{scale_arg}.json'}")
