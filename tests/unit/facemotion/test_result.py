"""The .npz result file: round trip, schema version and shape checks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.facemotion.errors import FaceMotionCacheError
from w2t_bkin.facemotion.result import CameraMotion, ROIMotion, load_motion, save_motion
from w2t_bkin.facemotion.roi import ROI


def _motion() -> CameraMotion:
    rng = np.random.default_rng(0)
    roi = ROI("whisker", 4, 2, 8, 6, bin_px=2, n_components=3, description="whisker pad")
    energy = rng.random(10).astype(np.float32)
    energy[0] = np.nan
    return CameraMotion(
        camera_id="face",
        n_frames=10,
        frame_width_px=64,
        frame_height_px=48,
        rois=(
            ROIMotion(
                roi=roi,
                motion_energy=energy,
                projections=rng.random((10, 3)).astype(np.float32),
                components=rng.random((3, 3, 4)).astype(np.float32),
                singular_values=np.array([3, 2, 1], dtype=np.float32),
                mean_motion=rng.random((3, 4)).astype(np.float32),
                n_fit_frames=9,
            ),
        ),
        key="abc123",
    )


def test_round_trip(tmp_path: Path) -> None:
    motion = _motion()
    loaded = load_motion(save_motion(motion, tmp_path / "sub" / "face.npz"))
    assert (loaded.camera_id, loaded.n_frames, loaded.key) == ("face", 10, "abc123")
    assert (loaded.frame_width_px, loaded.frame_height_px) == (64, 48)
    (got,), (want,) = loaded.rois, motion.rois
    assert got.roi == want.roi and got.n_fit_frames == 9
    for name in ("motion_energy", "projections", "components", "singular_values", "mean_motion"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = save_motion(_motion(), tmp_path / "face.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    header["schema_version"] = 99
    arrays["header"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())
    with pytest.raises(FaceMotionCacheError) as caught:
        load_motion(path)
    assert caught.value.message == (
        f"facial motion file {path} has schema version 99, this w2t-bkin reads version 1"
    )


def test_wrong_shape_and_foreign_file_are_refused(tmp_path: Path) -> None:
    path = save_motion(_motion(), tmp_path / "face.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["roi0_projections"] = arrays["roi0_projections"][:5]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())
    with pytest.raises(FaceMotionCacheError, match=r"array projections is float32 \(5, 3\), "):
        load_motion(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(FaceMotionCacheError, match="is not a facial motion file written by"):
        load_motion(path)
