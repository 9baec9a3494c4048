"""Small synthetic sessions with known ground truth for the NWB assembly tests."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.pose import PoseData
from w2t_bkin.model.stats import StreamStats
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.model.video import CameraVideos, VideoProbe
from w2t_bkin.nwb.assembly import CameraAssembly, SessionAssembly, TrialsAssembly

START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
CLOCK = "NI-DAQ clock of TTL channel 'ttl_cam'; t=0 is session_start_time."
RATE_HZ = 30.0
CHUNK_FRAMES = (12, 8)
N_FRAMES = sum(CHUNK_FRAMES)
KEYPOINTS = ("nose", "ear_left", "tail_base")
EDGES = ((0, 1), (0, 2))
DRIFT = 1.0 + 20e-6
OFFSET_S = 1.25


def to_reference(bpod_s: np.ndarray) -> np.ndarray:
    """The Bpod -> reference clock map of the synthetic session."""
    return OFFSET_S + np.asarray(bpod_s, dtype=np.float64) * DRIFT


def write_tiny_video(path: Path, n_frames: int, size_px: int = 32) -> VideoProbe:
    """A real mpeg4 video of ``n_frames`` grey frames, and its probe."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(int(RATE_HZ)))
        stream.width = stream.height = size_px
        stream.pix_fmt = "yuv420p"
        for k in range(n_frames):
            image = np.full((size_px, size_px, 3), (k * 10) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return VideoProbe(
        path=path,
        n_frames=n_frames,
        rate_hz=RATE_HZ,
        width=size_px,
        height=size_px,
        codec="mpeg4",
        duration_s=n_frames / RATE_HZ,
        method="demux",
    )


def camera_videos(folder: Path, camera_id: str = "cam_top") -> CameraVideos:
    folder.mkdir(parents=True, exist_ok=True)
    chunks = tuple(
        write_tiny_video(folder / f"{camera_id}_{k}.mp4", n) for k, n in enumerate(CHUNK_FRAMES)
    )
    return CameraVideos(camera_id=camera_id, chunks=chunks)


def frame_times() -> np.ndarray:
    rng = np.random.default_rng(1)
    return 0.5 + np.arange(N_FRAMES) / RATE_HZ + rng.uniform(-1e-4, 1e-4, N_FRAMES)


def pose_data(n_individuals: int = 1, seed: int = 2, source: Path | None = None) -> PoseData:
    rng = np.random.default_rng(seed)
    shape = (N_FRAMES, n_individuals, len(KEYPOINTS))
    positions = rng.uniform(0, 32, (*shape, 2)).astype(np.float32)
    positions[3, 0, 1, :] = np.nan  # undetected keypoint
    positions[0, 0, 2, :] = np.nan  # NaN in the first frame must not drop the keypoint
    confidence = rng.uniform(0, 1, shape).astype(np.float32)
    confidence[3, 0, 1] = np.nan
    return PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=KEYPOINTS,
        individual_names=tuple(f"mouse{k}" for k in range(n_individuals)),
        source_software="DeepLabCut",
        source_file=source or Path("cam_topDLC_resnet50.h5"),
        skeleton_edges=EDGES,
        source_software_version="2.3.9",
        scorer="DLC_resnet50_demoMay1shuffle1_1000",
    )


def bpod_session() -> BpodSession:
    state_names = ("ITI", "Reward", "Stimulus", "WaitForLick")
    # trial, state, start, stop: WaitForLick is visited twice in trial 1; Reward only in trial 0, 2
    visits = [
        (0, 2, 0.00, 0.50),
        (0, 3, 0.50, 1.20),
        (0, 1, 1.20, 1.30),
        (0, 0, 1.30, 3.00),
        (1, 2, 3.00, 3.50),
        (1, 3, 3.50, 3.90),
        (1, 3, 3.95, 4.60),
        (1, 0, 4.60, 6.00),
        (2, 2, 6.00, 6.50),
        (2, 3, 6.50, 7.00),
        (2, 1, 7.00, 7.10),
        (2, 0, 7.10, 9.00),
    ]
    # Stored out of order to check that assembly orders rows by trial and time.
    visits = visits[4:] + visits[:4]
    events = [(0, 0, 1.10), (0, 1, 1.19), (1, 1, 3.80), (2, 0, 6.70), (2, 1, 6.95), (2, 0, 7.05)]
    v = np.array(visits)
    e = np.array(events)
    return BpodSession(
        source_files=(Path("mouse1_task_20240501.mat"),),
        trial_start_s=np.array([0.0, 3.0, 6.0]),
        trial_end_s=np.array([3.0, 6.0, 9.0]),
        trial_types=np.array([1, 2, 1], dtype=np.int64),
        state_names=state_names,
        state_trial_idx=v[:, 0].astype(np.int64),
        state_name_idx=v[:, 1].astype(np.int64),
        state_start_s=v[:, 2],
        state_stop_s=v[:, 3],
        event_names=("Port1In", "Port1Out"),
        event_trial_idx=e[:, 0].astype(np.int64),
        event_name_idx=e[:, 1].astype(np.int64),
        event_time_s=e[:, 2],
        settings={
            "RewardAmount_ul": 3.5,
            "nTrials": 3,
            "GUI": {"Sound": True, "Port": "COM3"},
            "Delays": [0.1, 0.2],
        },
        software_version="0.7.9",
    )


def metadata() -> SessionMetadata:
    return SessionMetadata.model_validate(
        {
            "session_description": "Head-fixed licking task, synthetic test session",
            "session_id": "ses-01",
            "experimenter": ["Doe, Jane"],
            "institution": "Test University",
            "lab": "Test Lab",
            "protocol": "IACUC-1",
            "keywords": ["licking", "pose"],
            "experiment_description": "Synthetic data for the assembly tests.",
            "notes": "Nothing unusual.",
            "subject": {
                "subject_id": "mouse1",
                "species": "Mus musculus",
                "sex": "F",
                "age": "P90D",
                "genotype": "wild type",
                "strain": "C57BL/6J",
                "weight": "0.025 kg",
                "description": "test mouse",
            },
            "devices": [
                {
                    "name": "top_camera",
                    "description": "Top-view camera",
                    "manufacturer": "FLIR",
                    "model_name": "Blackfly S",
                    "model_number": "BFS-U3-16S2M",
                    "serial_number": "SN123",
                }
            ],
            "TTLs": [
                {"id": "ttl_cam", "paths": ["TTLs/cam*.txt"], "description": "top camera frames"},
                {"id": "ttl_bpod", "paths": ["TTLs/bpod*.txt"], "description": "Bpod trial sync"},
            ],
            "cameras": [
                {
                    "id": "cam_top",
                    "paths": ["Video/top*.mp4"],
                    "ttl_id": "ttl_cam",
                    "device": "top_camera",
                    "description": "top view",
                },
                {"id": "cam_side", "fps": 30.0, "frame_clock": "rate"},
            ],
        }
    )


def ttl_channels() -> tuple[TTLChannel, ...]:
    return (
        TTLChannel(
            channel_id="ttl_cam",
            times_s=frame_times()[np.arange(N_FRAMES) != 7],
            source_files=(Path("cam_0.txt"), Path("cam_1.txt")),
        ),
        TTLChannel(
            channel_id="ttl_bpod",
            times_s=to_reference(np.array([0.0, 3.0, 6.0])),
            source_files=(Path("bpod.txt"),),
            description="",
        ),
    )


def session(tmp_path: Path, *, videos: bool = True, trials: bool = True) -> SessionAssembly:
    has_pulse = np.ones(N_FRAMES, dtype=bool)
    has_pulse[7] = False
    top = CameraAssembly(
        camera_id="cam_top",
        frame_times_s=frame_times(),
        frame_clock="ttl",
        videos=camera_videos(tmp_path / "raw" / "Video") if videos else None,
        pose=pose_data(),
        description="top view",
        frame_has_pulse=has_pulse,
        skeleton_name="mouse_top",
    )
    side = CameraAssembly(
        camera_id="cam_side",
        frame_times_s=np.arange(N_FRAMES) / RATE_HZ,
        frame_clock="rate",
        videos=None,
        pose=pose_data(n_individuals=2, seed=3, source=Path("cam_side.slp")),
    )
    bpod = bpod_session()
    trial_assembly = TrialsAssembly(
        bpod=bpod,
        to_reference=to_reference,
        alignment_label=np.array(["matched", "interpolated", "matched"]),
        trial_type_names={1: "go", 2: "nogo"},
        outcome=np.array(["hit", "miss", "hit"]),
        actions={"Reward": "reward_valve_open", "Stimulus": "tone"},
    )
    return SessionAssembly(
        metadata=metadata(),
        session_start_time=START,
        reference_clock_description=CLOCK,
        identifier="sub-mouse1_ses-01_test",
        ttl_channels=ttl_channels(),
        cameras=(top, side),
        trials=trial_assembly if trials else None,
        alignment_stats=(
            StreamStats(
                stream_id="cam_top",
                kind="camera",
                n_items=20,
                n_pulses=19,
                n_matched=19,
                residual_rms_ms=0.05,
                residual_max_ms=0.1,
                drift_ppm=float("nan"),
                offset_s=0.0,
                dropped_idx=np.array([], dtype=np.int64),
                spurious_idx=np.array([], dtype=np.int64),
                missing_idx=np.array([7], dtype=np.int64),
                unassigned_idx=np.array([], dtype=np.int64),
                status="repaired",
                frame_pts="used",
                notes="1 lost pulse interpolated",
            ),
            StreamStats(
                stream_id="bpod:ttl_cue",
                kind="trials",
                n_items=3,
                n_pulses=3,
                n_matched=3,
                residual_rms_ms=0.01,
                residual_max_ms=0.02,
                drift_ppm=20.0,
                offset_s=OFFSET_S,
                dropped_idx=np.array([], dtype=np.int64),
                spurious_idx=np.array([], dtype=np.int64),
                missing_idx=np.array([], dtype=np.int64),
                unassigned_idx=np.array([], dtype=np.int64),
                status="exact",
            ),
        ),
    )
