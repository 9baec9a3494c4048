"""Motion energy and motion SVD on videos with known content (synthetic blobs, hand values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.facemotion.compute import MotionParams, compute_camera_motion
from w2t_bkin.facemotion.errors import FaceMotionDecodeError
from w2t_bkin.facemotion.result import CameraMotion
from w2t_bkin.facemotion.roi import ROI, check_rois
from w2t_bkin.testing.blobs import Blob, blob_frames, write_blob_video, write_gray_video

WIDTH, HEIGHT = 64, 48
LEFT = Blob(18.0, 24.0, amplitude_px=4.0, frequency_hz=3.0, seed=1)
RIGHT = Blob(46.0, 24.0, amplitude_px=4.0, frequency_hz=1.3, direction_x=0, direction_y=1, seed=2)


def _motion(paths: list[Path], rois: tuple[ROI, ...], n_frames: int, **params: int) -> CameraMotion:
    checked = check_rois("face", rois, WIDTH, HEIGHT)
    return compute_camera_motion(
        "face",
        paths,
        checked,
        n_frames=n_frames,
        frame_width_px=WIDTH,
        frame_height_px=HEIGHT,
        params=MotionParams(**params),
    )


def test_motion_energy_equals_hand_computed_values(tmp_path: Path) -> None:
    frames = np.full((4, 16, 16), 10, dtype=np.uint8)
    frames[1:3, 0:4, 0:4] = 50  # frame 1: a 4x4 block brightens by 40; frame 2: unchanged
    frames[3, 8:12, 8:12] = 90  # frame 3: the block goes back, another rises by 80
    path = write_gray_video(tmp_path / "tiny.mkv", frames, 30.0, codec="ffv1")
    rois = check_rois(
        "face",
        (ROI("all", bin_px=1, n_components=2), ROI("corner", 0, 0, 8, 8, bin_px=2, n_components=0)),
        16,
        16,
    )
    motion = compute_camera_motion(
        "face", [path], rois, n_frames=4, frame_width_px=16, frame_height_px=16
    )
    whole, corner = motion.rois
    # whole frame, 256 pixels: 16 * 40 / 256; 0; (16 * 40 + 16 * 80) / 256
    np.testing.assert_array_equal(whole.motion_energy, [np.nan, 2.5, 0.0, 7.5])
    # 8x8 corner binned 2x2 -> 16 bins, 4 of which change by 40 (then back)
    np.testing.assert_array_equal(corner.motion_energy, [np.nan, 10.0, 0.0, 10.0])
    assert corner.projections.shape == (4, 0) and corner.components.shape == (0, 4, 4)
    assert whole.projections.shape == (4, 2) and whole.n_fit_frames == 3
    assert np.isnan(whole.projections[0]).all() and np.isfinite(whole.projections[1:]).all()


@pytest.fixture(scope="module")
def blob_video(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("blobs") / "face.mp4"
    return write_blob_video(path, (LEFT, RIGHT), 600, 30.0, width=WIDTH, height=HEIGHT)


def test_first_component_tracks_the_blob_in_its_roi(blob_video) -> None:  # type: ignore[no-untyped-def]
    rois = (ROI("left", 0, 0, 32, 48, bin_px=2, n_components=8), ROI("right", 32, 0, bin_px=2))
    motion = _motion([blob_video.path], rois, 600, fit_frames=300, segment_frames=100)
    speed = blob_video.speed_px_per_frame[1:]
    for i, roi in enumerate(motion.rois):
        own, other = speed[:, i], speed[:, 1 - i]
        first = roi.projections[1:, 0]
        assert np.corrcoef(first, own)[0, 1] > 0.97, roi.roi.roi_id
        assert np.corrcoef(roi.motion_energy[1:], own)[0, 1] > 0.97, roi.roi.roi_id
        assert abs(np.corrcoef(first, other)[0, 1]) < 0.5, roi.roi.roi_id
        assert roi.n_fit_frames == 300
    assert motion.rois[1].projections.shape == (600, 100)  # default n_components


def test_chunks_and_batch_size_do_not_change_the_result(tmp_path: Path) -> None:
    frames = blob_frames((LEFT, RIGHT), np.arange(180), 30.0, WIDTH, HEIGHT, noise_std=1.0)
    whole = write_gray_video(tmp_path / "whole.mkv", frames, 30.0, codec="ffv1")
    first = write_gray_video(tmp_path / "a.mkv", frames[:100], 30.0, codec="ffv1")
    second = write_gray_video(tmp_path / "b.mkv", frames[100:], 30.0, codec="ffv1")
    rois = (ROI("left", 0, 0, 32, 48, bin_px=2, n_components=5),)
    one = _motion([whole], rois, 180, fit_frames=90, segment_frames=30).rois[0]
    split = _motion([first, second], rois, 180, fit_frames=90, segment_frames=30, batch_frames=7)
    two = split.rois[0]
    np.testing.assert_array_equal(one.motion_energy, two.motion_energy)
    np.testing.assert_allclose(one.components, two.components, atol=1e-6)
    np.testing.assert_allclose(one.projections, two.projections, atol=1e-3, rtol=1e-5)
    # frame 100 (first of the second chunk) differs from frame 99 of the first chunk
    expected = np.abs(_binned(frames[100]) - _binned(frames[99])).mean()
    assert two.motion_energy[100] == pytest.approx(expected, rel=1e-6)


def _binned(frame: np.ndarray) -> np.ndarray:
    left = frame[:48, :32].astype(np.float64)
    return left.reshape(24, 2, 16, 2).mean(axis=(1, 3))


@pytest.mark.parametrize(("n_frames", "found"), [(601, "600 frames"), (599, "more frames")])
def test_frame_count_other_than_probed_is_an_error(
    blob_video,  # type: ignore[no-untyped-def]
    n_frames: int,
    found: str,
) -> None:
    with pytest.raises(FaceMotionDecodeError) as caught:
        _motion([blob_video.path], (ROI("left", 0, 0, 32, 48, n_components=0),), n_frames)
    assert caught.value.exit_code == 4
    assert caught.value.message == (
        f"camera 'face': decoding face.mp4 gave {found}, but probing counted {n_frames}; the "
        "motion signals would not line up with the frame times"
    )


def test_unreadable_video_names_camera_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(FaceMotionDecodeError, match=r"camera 'face': cannot open video .*broken"):
        _motion([bad], (ROI("left", 0, 0, 32, 48),), 10)
