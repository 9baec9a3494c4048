"""ROI resolution, validation errors and spatial binning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import MetadataError
from w2t_bkin.facemotion.errors import ROIError
from w2t_bkin.facemotion.roi import ROI, bin_frames, bounding_box, check_rois


def test_unset_width_and_height_reach_the_frame_edges() -> None:
    (roi,) = check_rois("face", (ROI("nose", x_px=10, y_px=6, bin_px=2),), 64, 48)
    assert (roi.width_px, roi.height_px, roi.binned_shape, roi.n_pixels) == (54, 42, (21, 27), 567)


def test_roi_outside_the_frame_names_camera_roi_file_and_fix() -> None:
    rois = (ROI("whisker", x_px=600, y_px=400, width_px=80, height_px=40, n_components=5),)
    meta = Path("/lab/data/raw/metadata.toml")
    with pytest.raises(ROIError) as caught:
        check_rois("face", rois, 640, 480, video=Path("/v/face.mp4"), declared_in=meta)
    error = caught.value
    assert isinstance(error, MetadataError) and error.exit_code == 2
    assert error.message == (
        "camera 'face', facial motion ROI 'whisker' (x=600 y=400 width=80 height=40 px) "
        "(declared in /lab/data/raw/metadata.toml): it reaches x=680, y=440, outside the frame "
        "of 640x480 px (face.mp4); expected x + width <= 640 and y + height <= 480"
    )
    assert error.hint == (
        "move or shrink ROI 'whisker' in [[facemotion.cameras.face.rois]] so that "
        "0 <= x, x + width <= 640, 0 <= y and y + height <= 480"
    )


def test_corner_outside_the_frame() -> None:
    with pytest.raises(ROIError, match=r"ROI 'nose' .*corner lies outside the frame of 64x48 px"):
        check_rois("face", (ROI("nose", x_px=64, y_px=0),), 64, 48)


@pytest.mark.parametrize(
    ("rois", "message"),
    [
        ((), "camera 'face': facial motion is configured but declares no ROI"),
        ((ROI("a", 0, 0, 8, 8), ROI("a", 8, 8, 8, 8)), "ROI id 'a' is declared twice"),
        ((ROI("a", 0, 0, 3, 8, bin_px=4),), "3x8 px is smaller than one 4x4 bin"),
    ],
)
def test_other_bad_rois(rois: tuple[ROI, ...], message: str) -> None:
    with pytest.raises(ROIError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_rois("face", rois, 64, 48)


def test_bin_frames_averages_blocks_and_drops_partial_ones() -> None:
    crops = np.arange(2 * 5 * 7, dtype=np.uint8).reshape(2, 5, 7)
    binned = bin_frames(crops, 2)
    assert binned.shape == (2, 2 * 3) and binned.dtype == np.float32
    # frame 0, block (0, 0): pixels 0, 1, 7, 8 -> mean 4; block (1, 2): 18, 19, 25, 26 -> 22
    assert binned[0, 0] == 4.0 and binned[0, 5] == 22.0
    assert binned[1, 0] == 4.0 + 35.0
    np.testing.assert_array_equal(bin_frames(crops, 1), crops.reshape(2, 35).astype(np.float32))


def test_components_are_limited_to_the_binned_pixels() -> None:
    (roi,) = check_rois("face", (ROI("a", 0, 0, 8, 8, bin_px=4, n_components=5),), 64, 48)
    assert (roi.n_pixels, roi.n_components) == (4, 4)


def test_bounding_box_holds_every_roi() -> None:
    rois = check_rois("c", (ROI("a", 4, 10, 8, 6), ROI("b", 20, 2, 10, 4)), 64, 48)
    assert bounding_box(rois) == (4, 2, 30, 16)
