"""Facial motion of a real video (DeepLabCut's open-field example), against a plain reference.

The reference decodes the first frames with PyAV's own conversion to planar YUV (the video is
yuv444p, so plane 0 is the luma the extractor reads), bins and differences them in float64
with NumPy, one frame at a time: no code shared with the streamed, batched extractor.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from w2t_bkin.facemotion.compute import MotionParams, compute_camera_motion
from w2t_bkin.facemotion.frames import iter_frame_ranges
from w2t_bkin.facemotion.roi import ROI, check_rois
from w2t_bkin.sources.video import probe_video

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

VIDEO = "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"
N_REFERENCE = 120
ROI_BOX = (160, 80, 320, 320)  # x, y, width, height: the arena centre, binned 8x8


RANGES = [(3, 9), (60, 75), (110, 120)]


def _reference(path: Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``(N_REFERENCE, 40 * 40) float64`` binned luma of the first frames, and the raw
    ``(height, width) uint8`` luma crops of the frames in ``RANGES``."""
    x, y, width, height = ROI_BOX
    rows = []
    crops = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == N_REFERENCE:
                break
            luma = frame.to_ndarray(format="yuv444p")[0]
            crop = luma[y : y + height, x : x + width]
            if any(lo <= i < hi for lo, hi in RANGES):
                crops[i] = crop.copy()
            binned = crop.astype(np.float64).reshape(height // 8, 8, width // 8, 8)
            rows.append(binned.mean(axis=(1, 3)).ravel())
    return np.stack(rows), crops


def test_real_video_matches_a_frame_by_frame_reference(real_data: Path) -> None:
    path = real_data / VIDEO
    probe = probe_video(path)
    x, y, width, height = ROI_BOX
    rois = check_rois(
        "top",
        (ROI("arena", x, y, width, height, bin_px=8, n_components=10),),
        probe.width,
        probe.height,
    )
    motion = compute_camera_motion(
        "top",
        [path],
        rois,
        n_frames=probe.n_frames,
        frame_width_px=probe.width,
        frame_height_px=probe.height,
        params=MotionParams(fit_frames=600, segment_frames=200),
    )
    (arena,) = motion.rois
    assert probe.n_frames == 2330
    assert arena.motion_energy.shape == (2330,) and arena.projections.shape == (2330, 10)
    assert np.isnan(arena.motion_energy[0]) and np.isfinite(arena.motion_energy[1:]).all()
    assert arena.n_fit_frames == 600

    binned, crops = _reference(path)
    reference_motion = np.abs(np.diff(binned, axis=0))
    np.testing.assert_allclose(
        arena.motion_energy[1:N_REFERENCE], reference_motion.mean(axis=1), rtol=1e-5
    )
    components = arena.components.reshape(10, -1).T.astype(np.float64)
    centred = reference_motion - arena.mean_motion.ravel()[None, :]
    np.testing.assert_allclose(
        arena.projections[1:N_REFERENCE], centred @ components, rtol=1e-3, atol=1e-2
    )
    np.testing.assert_allclose(components.T @ components, np.eye(10), atol=1e-5)
    assert np.all(np.diff(arena.singular_values) <= 0)

    # the fit pass seeks (this video has B-frames): the frames it reads are the same pixels
    box = (x, y, x + width, y + height)
    for batch in iter_frame_ranges([path], box, RANGES, camera_id="top", batch_frames=4):
        for offset, crop in enumerate(batch.crops):
            np.testing.assert_array_equal(crop, crops.pop(batch.first_frame_idx + offset))
    assert not crops  # every frame of the ranges came back
