"""Video probing: exact frame counts and timestamps on synthetic and real videos, bad inputs."""

from __future__ import annotations

import logging
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.video import CameraVideos, VideoProbe, probe_camera, probe_video
from w2t_bkin.testing.video import decode_frame_index, write_video


def decoded_frame_indices(path: Path) -> list[int]:
    """Index drawn in each decoded frame, in decode output order."""
    with av.open(str(path)) as container:
        return [decode_frame_index(f.to_ndarray(format="gray")) for f in container.decode(video=0)]


def decoded_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def stream_time_base(path: Path) -> Fraction:
    with av.open(str(path)) as container:
        time_base = container.streams.video[0].time_base
        assert time_base is not None
        return Fraction(time_base)


def write_raw_h264(source: Path, target: Path) -> Path:
    """Remux a video into a raw H.264 elementary stream: packets without timestamps."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="h264") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
            if packet.size:
                packet.stream = out_stream
                dst.mux(packet)
    return target


# --- synthetic videos ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec", "method"),
    [
        ("const.mp4", "libx264", "index"),  # sample table read at open
        ("const.avi", "mpeg4", "index"),  # idx1 chunk
        ("const.mkv", "libx264", "demux"),  # cues list key frames only
    ],
)
def test_constant_rate_count_and_pts_equal_ground_truth(tmp_path, name, codec, method):
    path = write_video(tmp_path / name, 45, 30.0, codec=codec)

    probe = probe_video(path)

    assert probe.method == method
    assert probe.n_frames == 45 == decoded_count(path)
    assert (probe.width, probe.height) == (64, 48)
    assert probe.codec == ("h264" if codec == "libx264" else "mpeg4")
    assert probe.rate_hz == pytest.approx(30.0)
    assert probe.duration_s == pytest.approx(1.5, abs=1 / 30)
    assert probe.frame_pts_s is not None
    assert probe.frame_pts_s.dtype == np.float64
    tick_s = float(stream_time_base(path))
    np.testing.assert_allclose(probe.frame_pts_s, np.arange(45) / 30.0, rtol=0, atol=tick_s)


def test_writer_draws_frame_index_in_order(tmp_path):
    path = write_video(tmp_path / "order.mp4", 70, 150.0, width=32, height=32, seed=3)
    assert decoded_frame_indices(path) == list(range(70))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_pts_with_dropped_frames_round_trip(tmp_path, suffix):
    camera_times_s = np.arange(120) / 100.0 + 2.0  # camera clock does not start at 0
    dropped = [7, 8, 50, 51, 52, 99]
    saved_s = np.delete(camera_times_s, dropped)
    path = write_video(tmp_path / f"vfr{suffix}", saved_s.size, 100.0, pts_s=saved_s)

    probe = probe_video(path)

    assert probe.n_frames == 114 == decoded_count(path)
    assert probe.frame_pts_s is not None
    tick_s = float(stream_time_base(path))
    np.testing.assert_allclose(probe.frame_pts_s, saved_s - saved_s[0], rtol=0, atol=tick_s)
    # the gaps where frames were dropped are visible in the timestamps
    gaps = np.flatnonzero(np.diff(probe.frame_pts_s) > 1.5 / 100.0)
    np.testing.assert_array_equal(gaps, [6, 47, 93])


def packet_pts_s(path: Path) -> np.ndarray:
    """Sorted packet presentation times relative to the first, read independently of w2t_bkin."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = np.sort([p.pts for p in container.demux(stream) if p.size and not p.is_discard])
        time_base = Fraction(stream.time_base)
        return (pts - pts[0]).astype(np.float64) * time_base.numerator / time_base.denominator


def assert_probe_matches_packets(
    path: Path, method: str, n_frames: int, true_pts_s: np.ndarray
) -> None:
    """The probe used ``method``, agrees with decoding (count) and packets (times), and its
    times are the ones the video was written with (``true_pts_s``, within one tick)."""
    probe = probe_video(path)
    assert probe.method == method
    assert probe.n_frames == n_frames == decoded_count(path)
    assert probe.frame_pts_s is not None
    np.testing.assert_array_equal(probe.frame_pts_s, packet_pts_s(path))
    tick_s = float(stream_time_base(path))
    np.testing.assert_allclose(probe.frame_pts_s, true_pts_s, rtol=0, atol=tick_s)


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_index_times_equal_packet_times_for_variable_timing(tmp_path, suffix):
    saved_s = np.cumsum(np.random.default_rng(4).uniform(0.005, 0.03, size=200))
    path = write_video(tmp_path / f"vfr{suffix}", saved_s.size, 60.0, pts_s=saved_s)

    assert_probe_matches_packets(path, "index", 200, saved_s - saved_s[0])


def write_bframe_video(
    path: Path, n_frames: int = 80, *, options: dict[str, str] | None = None, audio: bool = False
) -> Path:
    """H.264 with B-frames (decode order differs from presentation order), optionally after an
    audio track so the video is not the container's first stream."""
    with av.open(str(path), "w", options=options or {}) as container:
        if audio:
            sound = container.add_stream("aac", rate=48000)
        stream = container.add_stream("libx264", rate=50)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "medium", "bf": "3"}
        rng = np.random.default_rng(0)
        for frame_idx in range(n_frames):
            image = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            if audio:
                samples = np.zeros((1, 960), dtype=np.float32)
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, frame_idx * 960
                container.mux(sound.encode(chunk))
        container.mux(stream.encode())
        if audio:
            container.mux(sound.encode())
    return path


def test_reordered_frames_get_presentation_times_from_the_sample_table(tmp_path):
    # With B-frames FFmpeg's index holds decode times; the MP4 ctts box holds the offsets that
    # turn them into presentation times, so no demuxing is needed.
    path = write_bframe_video(tmp_path / "bframes.mp4")
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.has_b_frames

    assert_probe_matches_packets(path, "index", 80, np.arange(80) / 50.0)


def test_video_that_is_not_the_first_track(tmp_path):
    path = write_bframe_video(tmp_path / "with_audio.mp4", audio=True)
    with av.open(str(path)) as container:
        assert container.streams.video[0].index == 1

    assert_probe_matches_packets(path, "index", 80, np.arange(80) / 50.0)


def test_fragmented_mp4_is_counted_from_packets(tmp_path):
    # Fragments describe their samples in moof boxes, not in one sample table.
    path = write_bframe_video(
        tmp_path / "fragmented.mp4", options={"movflags": "frag_keyframe+empty_moov"}
    )

    assert_probe_matches_packets(path, "demux", 80, np.arange(80) / 50.0)


def test_edit_list_that_drops_leading_frames_is_left_to_ffmpeg(tmp_path):
    # Moving the edit start past the first frames makes players (and FFmpeg) discard them;
    # the sample-table reader does not model that, so packets decide.
    path = write_bframe_video(tmp_path / "edited.mp4")
    data = bytearray(path.read_bytes())
    elst = data.index(b"elst")
    version = data[elst + 4]
    assert version == 0 and int.from_bytes(data[elst + 8 : elst + 12], "big") == 1
    media_time_at = elst + 16  # after version/flags, entry count and segment duration
    media_time = int.from_bytes(data[media_time_at : media_time_at + 4], "big", signed=True)
    tick_per_frame = stream_time_base(path).denominator // 50
    data[media_time_at : media_time_at + 4] = (media_time + 5 * tick_per_frame).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with av.open(str(path)) as container:
        kept = sum(1 for p in container.demux(video=0) if p.size and not p.is_discard)
    assert kept < 80

    probe = probe_video(path)

    assert probe.method == "demux"
    assert probe.n_frames == kept
    np.testing.assert_array_equal(probe.frame_pts_s, packet_pts_s(path))


def test_truncated_faststart_mp4_is_not_trusted_from_its_index(tmp_path):
    # With the sample table at the front, a cut copy still opens and its index lists every
    # frame; frames past the end of the file must not be counted.
    whole = write_video(tmp_path / "whole.mp4", 60, 30.0)
    front = tmp_path / "front.mp4"
    with (
        av.open(str(whole)) as src,
        av.open(str(front), "w", options={"movflags": "faststart"}) as dst,
    ):
        out_stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = out_stream
                dst.mux(packet)
    assert probe_video(front).method == "index"
    os.truncate(front, front.stat().st_size * 2 // 3)

    with pytest.raises(IngestError, match=r"front\.mp4: truncated video: the header declares 60"):
        probe_video(front)


def test_probe_camera_starting_frames_over_chunks(tmp_path):
    paths = [
        write_video(tmp_path / f"cam0_{i}.mp4", n, 60.0, seed=i) for i, n in enumerate([10, 7, 12])
    ]

    camera = probe_camera("cam0", paths)

    assert isinstance(camera, CameraVideos)
    assert camera.camera_id == "cam0"
    assert [c.path for c in camera.chunks] == paths
    assert camera.n_frames == 29
    np.testing.assert_array_equal(camera.starting_frame, [0, 10, 17])
    assert camera.starting_frame.dtype == np.int64


def test_probe_camera_without_files_is_an_error():
    with pytest.raises(IngestError, match="camera 'cam1' has no video files"):
        probe_camera("cam1", [])


def test_raw_stream_without_timestamps_falls_back_to_decoding(tmp_path):
    source = write_video(tmp_path / "src.mp4", 30, 25.0)
    raw = write_raw_h264(source, tmp_path / "raw.h264")

    probe = probe_video(raw)

    assert probe.method == "decode"
    assert probe.n_frames == 30 == decoded_count(raw)
    assert probe.frame_pts_s is None


def test_decode_fallback_timeout_names_file_and_config_key(tmp_path):
    source = write_video(tmp_path / "src.mp4", 30, 25.0)
    raw = write_raw_h264(source, tmp_path / "raw.h264")

    with pytest.raises(IngestError, match=r"raw\.h264.*longer than 1e-09 s") as info:
        probe_video(raw, decode_timeout_s=1e-9)
    assert "ingestion.video_decode_timeout_s" in str(info.value)


# --- cache -----------------------------------------------------------------------------------


def assert_same_probe(a: VideoProbe, b: VideoProbe) -> None:
    assert a.path == b.path
    assert (a.n_frames, a.rate_hz, a.width, a.height) == (b.n_frames, b.rate_hz, b.width, b.height)
    assert (a.codec, a.duration_s, a.method) == (b.codec, b.duration_s, b.method)
    assert a.frame_pts_s is not None and b.frame_pts_s is not None
    np.testing.assert_array_equal(a.frame_pts_s, b.frame_pts_s)


@pytest.fixture
def count_opens(monkeypatch):
    """Count av.open calls while keeping the real behaviour."""
    calls: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        calls.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return calls


def test_cache_hit_does_not_reopen_the_video(tmp_path, count_opens):
    path = write_video(tmp_path / "v.mp4", 20, 30.0)
    cache_dir = tmp_path / "cache"
    count_opens.clear()

    first = probe_video(path, cache_dir=cache_dir)
    second = probe_video(path, cache_dir=cache_dir)

    assert count_opens == [str(path)]
    assert sorted(p.suffix for p in cache_dir.iterdir()) == [".json", ".npy"]
    assert_same_probe(first, second)


def test_cache_is_invalidated_when_mtime_changes(tmp_path, count_opens):
    path = write_video(tmp_path / "v.mp4", 20, 30.0)
    cache_dir = tmp_path / "cache"
    probe_video(path, cache_dir=cache_dir)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    count_opens.clear()

    probe = probe_video(path, cache_dir=cache_dir)

    assert count_opens == [str(path)]
    assert probe.n_frames == 20
    assert len(list(cache_dir.glob("*.json"))) == 2


def test_damaged_cache_entry_is_ignored_and_rewritten(tmp_path, caplog, count_opens):
    path = write_video(tmp_path / "v.mp4", 20, 30.0)
    cache_dir = tmp_path / "cache"
    first = probe_video(path, cache_dir=cache_dir)
    (json_path,) = cache_dir.glob("*.json")
    json_path.write_text("{not json")
    count_opens.clear()

    with caplog.at_level(logging.WARNING, logger="w2t_bkin.sources.video"):
        second = probe_video(path, cache_dir=cache_dir)

    assert "ignoring unreadable video probe cache" in caplog.text
    assert count_opens == [str(path)]
    assert_same_probe(first, second)
    assert probe_video(path, cache_dir=cache_dir).n_frames == 20  # rewritten entry is valid
    assert count_opens == [str(path)]


def test_unwritable_cache_is_logged_and_the_probe_still_returned(tmp_path, caplog):
    path = write_video(tmp_path / "a.mp4", 12, 30.0)
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")

    with caplog.at_level(logging.WARNING, logger="w2t_bkin.sources.video"):
        probe = probe_video(path, cache_dir=not_a_folder)

    assert probe.n_frames == 12
    assert "video probe cache not written" in caplog.text
    assert not_a_folder.read_text() == "a file where the cache folder should be"


def test_decode_result_without_pts_is_cached(tmp_path):
    source = write_video(tmp_path / "src.mp4", 12, 25.0)
    raw = write_raw_h264(source, tmp_path / "raw.h264")
    cache_dir = tmp_path / "cache"
    probe_video(raw, cache_dir=cache_dir)

    cached = probe_video(raw, cache_dir=cache_dir)

    assert (cached.n_frames, cached.method, cached.frame_pts_s) == (12, "decode", None)
    assert [p.suffix for p in cache_dir.iterdir()] == [".json"]


# --- bad inputs ------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(IngestError, match=r"nope\.mp4: video file not found") as info:
        probe_video(tmp_path / "nope.mp4")
    assert info.value.hint is not None


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(IngestError, match=r"empty\.mp4: video file is empty \(0 bytes\)"):
        probe_video(path)


def test_truncated_mp4_is_an_error(tmp_path):
    whole = write_video(tmp_path / "whole.mp4", 60, 30.0)
    cut = tmp_path / "cut.mp4"
    shutil.copyfile(whole, cut)
    os.truncate(cut, whole.stat().st_size // 2)

    with pytest.raises(IngestError, match=r"cut\.mp4: cannot open as a video container") as info:
        probe_video(cut)
    assert "truncated or corrupt" in str(info.value)


def test_truncated_avi_reports_declared_and_read_frames(tmp_path):
    whole = write_video(tmp_path / "whole.avi", 60, 30.0, codec="mpeg4")
    cut = tmp_path / "cut.avi"
    shutil.copyfile(whole, cut)
    os.truncate(cut, whole.stat().st_size // 2)

    with pytest.raises(IngestError, match=r"cut\.avi: truncated video: the header declares 60"):
        probe_video(cut)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(IngestError, match=r"notes\.mp4: cannot open as a video container"):
        probe_video(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

    with pytest.raises(IngestError, match=r"sound\.mp4: no video stream \(streams found: audio\)"):
        probe_video(path)


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))

    with pytest.raises(IngestError, match=r"zero\.avi: video stream has no frames"):
        probe_video(path)


# --- real videos -----------------------------------------------------------------------------

REAL_VIDEOS = [
    (
        "dlc_single_animal/DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4",
        2330,
        (640, 480),
        30.0,
    ),
    ("lightning_pose/eks/data/mirror-mouse/180607_004.mp4", 1000, (396, 406), 250.0),
    (
        "sleap/sleap/docs/notebooks/analysis_example/20190128_113421.120s.mp4",
        3000,
        (1024, 1024),
        25.0,
    ),
]


@pytest.mark.real_data
@pytest.mark.parametrize(("relpath", "n_frames", "size", "rate_hz"), REAL_VIDEOS)
def test_real_videos_frame_counts(real_data, relpath, n_frames, size, rate_hz):
    probe = probe_video(real_data / relpath)

    assert probe.method == "index"  # B-frames: presentation times from the ctts box
    np.testing.assert_array_equal(probe.frame_pts_s, packet_pts_s(real_data / relpath))
    assert probe.n_frames == n_frames
    assert (probe.width, probe.height) == size
    assert probe.rate_hz == pytest.approx(rate_hz, rel=1e-4)
    assert probe.codec == "h264"
    assert probe.frame_pts_s is not None
    assert probe.frame_pts_s.shape == (n_frames,)
    np.testing.assert_allclose(np.diff(probe.frame_pts_s), 1 / rate_hz, rtol=1e-3)


@pytest.mark.real_data
def test_real_avi_count_equals_decoded_count(real_data):
    path = real_data / "video/DeepLabCut-live/check_install/dog_clip.avi"

    probe = probe_video(path)

    assert probe.n_frames == decoded_count(path) == 296
    assert (probe.width, probe.height, probe.codec) == (350, 370, "mpeg4")
    assert probe.rate_hz == pytest.approx(30.0)
