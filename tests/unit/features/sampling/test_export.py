"""Frame export: seeked frames equal sequentially decoded ones; layout and manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from w2t_bkin.features.sampling import FrameExportError, FrameSelection, SamplingError
from w2t_bkin.features.sampling.export import (
    MANIFEST_COLUMNS,
    export_frames,
    image_name,
    index_video_frames,
    read_frames,
)
from w2t_bkin.testing.video import decode_frame_index, write_video

OPENFIELD = "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"


def _sequential(path: Path, frames: set[int]) -> dict[int, np.ndarray]:
    """The wanted frames, decoded one after the other from the start (the reference)."""
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in frames:
                found[i] = frame.to_ndarray(format="rgb24")
            if i >= max(frames):
                break
    return found


def _selection(frames: list[int], t_s: list[float], reason: str = "uniform") -> FrameSelection:
    return FrameSelection(
        frame_idx=np.asarray(frames, dtype=np.int64),
        t_s=np.asarray(t_s, dtype=np.float64),
        reason=np.full(len(frames), reason),
    )


def test_image_names_follow_deeplabcut_padding() -> None:
    assert image_name(7, 300) == "img007.png"
    assert image_name(1234, 2330) == "img1234.png"
    assert image_name(0, 1) == "img0.png"


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 frames, keyframe every 250, timestamps with a dropped-frame gap after frame 99."""
    pts_s = np.arange(300) / 30.0
    pts_s[100:] += 0.5
    path = tmp_path_factory.mktemp("video") / "cam0.mp4"
    return write_video(path, 300, 30.0, width=64, height=48, pts_s=pts_s)


def test_read_frames_by_seeking_equals_sequential_decoding(synthetic_video: Path) -> None:
    index = index_video_frames(synthetic_video)
    assert index.n_frames == 300
    # keyframes at frames 0 and 250: frames 251 and 299 come from the second one
    np.testing.assert_array_equal(np.searchsorted(index.pts, index.keyframe_pts), [0, 250])
    wanted = [299, 0, 100, 99, 250, 249, 251]
    got = dict(read_frames(index, wanted))
    assert sorted(got) == sorted(wanted)
    reference = _sequential(synthetic_video, set(wanted))
    for frame, image in got.items():
        np.testing.assert_array_equal(image, reference[frame])
        assert decode_frame_index(image[..., 0]) == frame  # the index drawn into the frame
    np.testing.assert_allclose(index.pts_s(np.array([99, 100])), [99 / 30, 100 / 30 + 0.5])


def test_export_writes_pngs_and_manifest(synthetic_video: Path, tmp_path: Path) -> None:
    selection = FrameSelection(
        frame_idx=np.array([7, 150, 299]),
        t_s=np.array([10.25, 15.5, 20.0]),
        reason=np.array(["uniform", "kmeans:1", "reward#0"]),
    )
    result = export_frames([(synthetic_video, selection)], tmp_path / "out")
    names = [p.relative_to(tmp_path / "out").as_posix() for p in result.images]
    assert names == [
        "labeled-data/cam0/img007.png",
        "labeled-data/cam0/img150.png",
        "labeled-data/cam0/img299.png",
    ]
    reference = _sequential(synthetic_video, {7, 150, 299})
    for frame, path in zip((7, 150, 299), result.images, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), reference[frame])
    with result.manifest.open(newline="") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [r[1:3] + r[4:] for r in rows[1:]] == [
        ["7", "10.25", "uniform", names[0]],
        ["150", "15.5", "kmeans:1", names[1]],
        ["299", "20.0", "reward#0", names[2]],
    ]
    assert float(rows[2][3]) == pytest.approx(150 / 30 + 0.5, abs=1e-4)  # container time
    assert rows[1][0] == str(synthetic_video)


def test_export_refuses_out_of_range_frames_and_clashing_names(
    synthetic_video: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good" / "cam1.mp4"
    good.parent.mkdir()
    good.write_bytes(synthetic_video.read_bytes())
    with pytest.raises(FrameExportError, match=r"frame 300 is out of range.*300 frames \(0..299\)"):
        export_frames(
            [(good, _selection([1], [0.0])), (synthetic_video, _selection([5, 300], [0.0, 1.0]))],
            tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()  # checked before the first image was written
    with pytest.raises(SamplingError, match="strictly increasing frame indices"):
        export_frames([(synthetic_video, _selection([9, 5], [0.0, 1.0]))], tmp_path / "out")
    other = tmp_path / "other" / "cam0.mp4"
    other.parent.mkdir()
    other.write_bytes(synthetic_video.read_bytes())
    with pytest.raises(SamplingError, match="have the same name 'cam0'"):
        export_frames(
            [(synthetic_video, _selection([1], [0.0])), (other, _selection([2], [0.0]))], tmp_path
        )
    with pytest.raises(FrameExportError, match="does not exist") as info:
        index_video_frames(tmp_path / "missing.mp4")
    assert info.value.exit_code == 4


REAL_VIDEOS = [
    OPENFIELD,  # H.264 with B-frames, 640x480, 2330 frames, 12 keyframes
    "lightning_pose/eks/data/mirror-mouse/180607_004.mp4",  # H.264, B-frames, 4 keyframes
    "sleap/sleap/tests/data/videos/dance.mp4",  # H.264, B-frames, irregular keyframes
    "dlc_single_animal/deepof/tests/test_examples/test_single_topview/Videos/"
    "testDLC_video_circular_arena.mp4",  # MPEG-4 part 2
    "video/DeepLabCut-live/check_install/dog_clip.avi",  # AVI container
]


@pytest.mark.real_data
@pytest.mark.parametrize("relative", REAL_VIDEOS, ids=lambda r: Path(r).name)
def test_exported_real_frames_equal_sequentially_decoded_frames(
    real_data: Path, tmp_path: Path, relative: str
) -> None:
    video = real_data / relative
    index = index_video_frames(video)
    n = index.n_frames
    # the first frames, the middle, the last, and both sides of the second and third keyframes
    keys = np.searchsorted(index.pts, index.keyframe_pts[1:3])
    wanted = sorted({0, 1, n // 2, n - 1, *(keys - 1).tolist(), *keys.tolist()})
    selection = _selection(wanted, list(np.arange(len(wanted)) / 30.0))
    result = export_frames([(video, selection)], tmp_path)
    reference = _sequential(video, set(wanted))
    assert len(reference) == len(wanted)
    for frame, path in zip(wanted, result.images, strict=True):
        assert path.name == image_name(frame, n)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), reference[frame])


@pytest.mark.real_data
def test_openfield_video_has_the_documented_frame_count(real_data: Path) -> None:
    index = index_video_frames(real_data / OPENFIELD)
    assert index.n_frames == 2330  # MANIFEST: counted by decoding every frame
    assert image_name(1234, index.n_frames) == "img1234.png"
