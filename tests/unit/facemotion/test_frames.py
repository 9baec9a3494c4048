"""Streaming frames: seeking to frame ranges gives the same pixels as decoding every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.facemotion.frames import iter_frame_batches, iter_frame_ranges
from w2t_bkin.testing.blobs import Blob, write_blob_video, write_gray_video

BOX = (8, 4, 40, 36)


def _collect(batches, n_frames: int) -> dict[int, np.ndarray]:  # type: ignore[no-untyped-def]
    frames: dict[int, np.ndarray] = {}
    for batch in batches:
        for offset, crop in enumerate(batch.crops):
            frames[batch.first_frame_idx + offset] = crop.copy()
    assert all(0 <= i < n_frames for i in frames)
    return frames


@pytest.fixture(scope="module")
def gop_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two H.264 chunks (key frames every 250 frames) of one recording: 300 + 260 frames."""
    folder = tmp_path_factory.mktemp("gop")
    blob = Blob(24.0, 20.0, amplitude_px=5.0, frequency_hz=2.0, seed=4)
    first = write_blob_video(folder / "a.mp4", (blob,), 300, 30.0, width=48, height=40)
    second = write_blob_video(folder / "b.mp4", (blob,), 260, 30.0, width=48, height=40, seed=1)
    return [first.path, second.path]


def test_ranges_equal_the_same_frames_decoded_in_order(gop_videos: list[Path]) -> None:
    everything = _collect(iter_frame_batches(gop_videos, BOX, camera_id="c", batch_frames=16), 560)
    assert sorted(everything) == list(range(560))
    ranges = [(3, 9), (240, 262), (290, 310), (551, 560)]  # past key frames, across chunks
    picked = _collect(
        iter_frame_ranges(gop_videos, BOX, ranges, camera_id="c", batch_frames=5), 560
    )
    assert sorted(picked) == [i for lo, hi in ranges for i in range(lo, hi)]
    for i, crop in picked.items():
        np.testing.assert_array_equal(crop, everything[i], err_msg=f"frame {i}")


def test_without_usable_timestamps_every_frame_is_decoded_and_filtered(
    gop_videos: list[Path],
) -> None:
    ranges = [(3, 9), (8, 20), (290, 310)]  # overlapping by a frame, as the fit asks
    seeking = list(iter_frame_ranges(gop_videos, BOX, ranges, camera_id="c", n_frames=560))
    # a probe count other than the packets' makes timestamps unusable: sequential decoding
    decoding = list(iter_frame_ranges(gop_videos, BOX, ranges, camera_id="c", n_frames=561))
    for batches in (seeking, decoding):
        indices = [b.first_frame_idx + i for b in batches for i in range(b.crops.shape[0])]
        assert indices == [*range(3, 9), *range(8, 20), *range(290, 310)]
    np.testing.assert_array_equal(
        np.concatenate([b.crops for b in seeking]), np.concatenate([b.crops for b in decoding])
    )


def test_batches_are_consecutive_within_a_range(gop_videos: list[Path]) -> None:
    batches = list(iter_frame_ranges(gop_videos, BOX, [(295, 305)], camera_id="c", batch_frames=4))
    assert [(b.first_frame_idx, b.crops.shape[0]) for b in batches] == [
        (295, 4),
        (299, 1),
        (300, 4),
        (304, 1),
    ]


def test_stop_frame_and_batch_shapes(tmp_path: Path) -> None:
    frames = np.arange(10 * 8 * 8, dtype=np.uint8).reshape(10, 8, 8)
    path = write_gray_video(tmp_path / "f.mkv", frames, 10.0, codec="ffv1")
    batches = list(
        iter_frame_batches([path], (2, 2, 6, 8), camera_id="c", batch_frames=4, stop_frame_idx=7)
    )
    assert [(b.first_frame_idx, b.crops.shape) for b in batches] == [(0, (4, 6, 4)), (4, (3, 6, 4))]
    np.testing.assert_array_equal(batches[1].crops[2], frames[6, 2:8, 2:6])
