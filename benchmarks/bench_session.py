"""Raw → NWB for one synthetic session (issue goal at full scale: 1 h, 2 cameras at 150 Hz,
540,000 frames each, 18 keypoints, 600 trials in <= 90 s wall on 2 cores, peak RSS <= 2 GB).

The peer is NeuroConv (DeepLabCutInterface + ExternalVideoInterface) converting the same pose and
video inputs; it is installed into a separate virtualenv under ``benchmarks/.work`` on first use.
When it cannot be installed (no network) its row says so instead of a number.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work"

SCALES = {
    "small": {"duration_s": 120.0, "rate_hz": 150.0, "n_keypoints": 18, "n_trials": 20},
    "full": {"duration_s": 3600.0, "rate_hz": 150.0, "n_keypoints": 18, "n_trials": 600},
}

NEUROCONV_SCRIPT = """
import sys, time
from pathlib import Path
from datetime import datetime, timezone
from neuroconv.datainterfaces import DeepLabCutInterface, ExternalVideoInterface
from neuroconv import ConverterPipe
pose, video, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
dlc = DeepLabCutInterface(file_path=pose)
vid = ExternalVideoInterface(file_paths=[video], video_name="cam0")
conv = ConverterPipe(data_interfaces=[dlc, vid])
meta = conv.get_metadata()
meta["NWBFile"]["session_start_time"] = datetime(2026, 11, 2, tzinfo=timezone.utc)
conv.run_conversion(nwbfile_path=out, metadata=meta, overwrite=True)
print(time.perf_counter() - t0)
"""


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _run_ours(root: Path) -> tuple[float, float]:
    code = (
        "import sys, time; from pathlib import Path; from w2t_bkin.session import process_session;"
        "t=time.perf_counter(); r=process_session(Path(sys.argv[1]),'mouse01','ses01');"
        "assert r.ok, r.error; print(time.perf_counter()-t)"
    )
    before = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1]), max(
        _peak_rss_mb(resource.RUSAGE_CHILDREN), before
    )


def _neuroconv_python() -> Path | None:
    venv = WORK / "neuroconv-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "neuroconv[deeplabcut,video]"],
                check=True,
                timeout=1200,
            )
        except (subprocess.SubprocessError, OSError):
            return None
    return python


def run(scale: str = "full") -> list[dict[str, Any]]:
    from w2t_bkin.testing import ExperimentSpec, write_experiment

    params = SCALES[scale]
    root = WORK / f"session-{scale}"
    if not (root / "data/raw/mouse01/ses01/truth.json").exists():
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
    ours_s, ours_rss = _run_ours(root)
    truth = json.loads((root / "data/raw/mouse01/ses01/truth.json").read_text())
    n_frames = truth["cameras"]["cam0"]["n_frames"]
    rows: list[dict[str, Any]] = [
        {
            "name": f"raw -> NWB, 2 cameras x {n_frames} frames, {params['n_keypoints']} kp",
            "value": ours_s,
            "unit": "s",
            "peak_mem_mb": ours_rss,
            "note": "goal <= 90 s and <= 2048 MB at full scale (incl. validation, QC, provenance)",
        }
    ]
    python = _neuroconv_python()
    session = root / "data/raw/mouse01/ses01"
    pose = sorted((session / "Pose/cam0").glob("*DLC_*.h5"))[0]
    video = sorted((session / "Video/cam0").glob("*.mp4"))[0]
    if python is None:
        rows.append(
            {
                "name": "NeuroConv DLC + video",
                "note": "not measured: NeuroConv could not be installed",
            }
        )
        return rows
    started = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-c", NEUROCONV_SCRIPT, str(pose), str(video), str(WORK / "neuroconv.nwb")],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        rows.append({"name": "NeuroConv DLC + video", "note": f"failed: {proc.stderr[-200:]}"})
        return rows
    peer_s = time.perf_counter() - started
    rows[0].update(
        {"peer": "NeuroConv (1 camera chunk)", "peer_value": peer_s, "ratio": peer_s / ours_s}
    )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "full"):
        print(row)
