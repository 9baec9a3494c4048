"""MediaPipe Pose Landmarker (human, 33 keypoints, 2-D image and 3-D world landmarks), offline.

Runs in process on the CPU through MediaPipe's Tasks API in VIDEO mode (the detector runs on
the first frame and when tracking is lost; the landmark model tracks in between). The model is
a ``.task`` bundle: by default the one ``w2t-bkin pose build-model`` builds from the mediapipe
0.10.21 wheel (:mod:`.mediapipe_bundle`), or any Pose Landmarker ``.task`` file the user passes.

Outputs per frame and person: keypoints in pixels (MediaPipe's normalised image coordinates
times the frame size), scores (landmark *visibility*), and world landmarks in metres (origin
between the hips). MediaPipe does not track identities: with ``num_poses > 1`` the person slots
are in the detector's order, frame by frame.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.extras import require
from w2t_bkin.io_utils import sha256_file
from w2t_bkin.pose.errors import PoseModelError, UnknownPoseBackendError
from w2t_bkin.pose.estimators.base import EstimatorInfo, FrameBuffers
from w2t_bkin.pose.estimators.mediapipe_bundle import default_bundle_path

log = logging.getLogger(__name__)

__all__ = ["MEDIAPIPE_KEYPOINTS", "MediaPipeEstimator"]

MEDIAPIPE_KEYPOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
"""The 33 BlazePose landmarks, in MediaPipe's output order (``PoseLandmark``)."""


class MediaPipeEstimator:
    """The ``mediapipe`` backend.

    Parameters
    ----------
    model
        A Pose Landmarker ``.task`` file; ``None`` for
        :func:`.mediapipe_bundle.default_bundle_path`.
    num_poses
        Maximum number of people per frame (person slots in the output).
    min_pose_detection_confidence, min_pose_presence_confidence, min_tracking_confidence
        MediaPipe's thresholds, in [0, 1].

    Raises
    ------
    PoseModelError
        The model file does not exist or is not a ``.task`` bundle.
    UnknownPoseBackendError
        An option is out of range.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        num_poses: int = 1,
        min_pose_detection_confidence: float = 0.5,
        min_pose_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        self.model_path = _model_path(model)
        thresholds = {
            "min_pose_detection_confidence": min_pose_detection_confidence,
            "min_pose_presence_confidence": min_pose_presence_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        bad = {k: v for k, v in thresholds.items() if not 0.0 <= v <= 1.0}
        if bad or num_poses < 1:
            raise UnknownPoseBackendError(
                f"mediapipe options out of range: {bad or {'num_poses': num_poses}}",
                hint="confidences are in [0, 1]; num_poses is at least 1",
            )
        self._thresholds = thresholds
        self.num_poses = int(num_poses)
        mp = require("mediapipe", "pose", "MediaPipe pose estimation")
        version = str(getattr(mp, "__version__", "unknown"))
        from mediapipe.tasks.python import vision

        self._info = EstimatorInfo(
            backend="mediapipe",
            backend_version=version,
            model=str(self.model_path),
            model_sha256=sha256_file(self.model_path),
            keypoint_names=MEDIAPIPE_KEYPOINTS,
            skeleton_edges=tuple(
                (int(c.start), int(c.end)) for c in vision.PoseLandmarksConnections.POSE_LANDMARKS
            ),
            individual_names=tuple(f"person_{i}" for i in range(self.num_poses)),
            keypoints_3d_units="m",
            device="cpu",
            versions={"mediapipe": version, "numpy": np.__version__},
        )
        self._landmarker: Any = None
        self._used = False
        self._size = (0, 0)

    @property
    def info(self) -> EstimatorInfo:
        """Backend, model file (with its SHA-256) and the 33 keypoints."""
        return self._info

    def load(self) -> float:
        """Create the landmarker (reads the bundle); returns seconds taken, 0.0 when loaded."""
        if self._landmarker is not None:
            return 0.0
        started = time.perf_counter()
        self._landmarker = self._create()
        self._used = False
        return time.perf_counter() - started

    def _create(self) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=self.num_poses,
            **self._thresholds,
        )
        try:
            return vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise PoseModelError(
                f"MediaPipe cannot load the pose model: {exc}",
                path=self.model_path,
                hint="pass a Pose Landmarker .task bundle, or rebuild the default one with "
                "`w2t-bkin pose build-model --wheel mediapipe-0.10.21-....whl`",
            ) from exc

    def close(self) -> None:
        """Release the landmarker (idempotent)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def start_video(self, width: int, height: int, rate_hz: float | None) -> None:
        """Start a new video: a used landmarker is recreated, since VIDEO mode needs
        increasing timestamps and would carry tracking over from the previous video."""
        if self._landmarker is None:
            self.load()
        elif self._used:
            self._landmarker.close()
            self._landmarker = self._create()
        self._used = False
        self._size = (width, height)

    def infer(self, frame_rgb: np.ndarray, frame_idx: int, t_ms: int, out: FrameBuffers) -> None:
        """Run the landmarker on one RGB frame and write its landmarks into ``out``."""
        import mediapipe as mp

        if self._landmarker is None:
            self.load()
        self._used = True
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb))
        result = self._landmarker.detect_for_video(image, t_ms)
        height, width = frame_rgb.shape[:2]
        scale = np.array([width, height], dtype=np.float32)
        for slot, (image_marks, world_marks) in enumerate(
            zip(result.pose_landmarks, result.pose_world_landmarks, strict=False)
        ):
            if slot >= self.num_poses:
                break
            # MediaPipe returns one small object per landmark; 33 per frame is its API's floor.
            marks = np.array(
                [
                    (m.x, m.y, m.visibility if m.visibility is not None else np.nan)
                    for m in image_marks
                ],
                dtype=np.float32,
            )
            xy = marks[:, :2] * scale
            out.keypoints_px[frame_idx, slot] = xy
            out.scores[frame_idx, slot] = marks[:, 2]
            out.detected[frame_idx, slot] = True
            out.boxes_px[frame_idx, slot] = (*xy.min(axis=0), *xy.max(axis=0))
            if out.keypoints_3d is not None:
                out.keypoints_3d[frame_idx, slot] = np.array(
                    [(m.x, m.y, m.z) for m in world_marks], dtype=np.float32
                )


def _model_path(model: str | Path | None) -> Path:
    path = Path(model) if model is not None else default_bundle_path()
    if not path.is_file():
        default = model is None
        raise PoseModelError(
            "MediaPipe pose model not found"
            + (" (the default bundle has not been built)" if default else ""),
            path=path,
            hint="build it offline with `make mediapipe-model` (or `w2t-bkin pose build-model "
            "--wheel mediapipe-0.10.21-....whl`), or pass a Pose Landmarker .task file "
            "with --model",
        )
    if path.suffix.lower() != ".task":
        raise PoseModelError(
            f"MediaPipe pose model must be a .task bundle, found a '{path.suffix}' file",
            path=path,
            hint="pass a Pose Landmarker .task bundle (a bare .tflite lacks the detector)",
        )
    return path
