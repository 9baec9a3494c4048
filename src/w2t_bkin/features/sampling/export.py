"""Export chosen frames from videos as PNG images plus a manifest, for labelling tools.

Decoding
--------
Frame ``i`` of a video is the ``i``-th frame in presentation order, i.e. the ``i``-th smallest
packet timestamp (pts) of its first video stream. One pass over the packet headers (demuxing,
no decoding) gives every frame's pts and the keyframes. For each wanted frame the reader seeks
to the last keyframe at or before it and decodes forward until a frame carries the wanted pts;
wanted frames in the same group of pictures share one seek. Nothing before the first keyframe
of a wanted frame is decoded, so the cost scales with the number of frames exported, not with
the video's length.

Layout (``out_dir``)
--------------------
::

    out_dir/
      manifest.csv                         video, frame_idx, t_s, pts_s, reason, image
      labeled-data/<video stem>/img<frame_idx>.png

``img<frame_idx>.png`` is zero-padded to ``ceil(log10(n_frames))`` digits, DeepLabCut's
``extract_frames`` naming, so ``labeled-data/<video stem>/`` can be copied into a DeepLabCut
project whose ``config.yaml`` lists that video, and its labelling GUI opens it. In SLEAP, add the
PNGs of one folder as an image-sequence video (``sleap_io.Video.from_filename(sorted(pngs))`` or
"Add Videos" and select them); ``manifest.csv`` maps each image back to its video, frame index
and synchronised time. Images are RGB, 8 bits per channel, exactly the decoded frame converted
by FFmpeg's swscale (``to_ndarray(format="rgb24")``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.features.sampling.errors import FrameExportError, SamplingError
from w2t_bkin.features.sampling.select import FrameSelection
from w2t_bkin.io_utils import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import av.container
    import av.stream

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_COLUMNS",
    "ExportResult",
    "VideoFrameIndex",
    "export_frames",
    "image_name",
    "index_video_frames",
    "read_frames",
]

MANIFEST_COLUMNS = ("video", "frame_idx", "t_s", "pts_s", "reason", "image")


@dataclass(frozen=True)
class VideoFrameIndex:
    """Presentation timestamps of every frame of a video's first video stream.

    Attributes
    ----------
    path
        The video file.
    pts
        ``(n_frames,) int64`` sorted presentation timestamps in stream ticks; frame ``i`` has
        ``pts[i]``.
    keyframe_pts
        ``(n_keyframes,) int64`` sorted pts of the keyframes (seek targets).
    time_base
        Seconds per tick, as ``(numerator, denominator)``.
    """

    path: Path
    pts: np.ndarray
    keyframe_pts: np.ndarray
    time_base: tuple[int, int]

    @property
    def n_frames(self) -> int:
        """Frames in the video."""
        return int(self.pts.shape[0])

    def pts_s(self, frame_idx: np.ndarray) -> np.ndarray:
        """``(n,) float64`` container times in seconds of the given frames."""
        num, den = self.time_base
        result: np.ndarray = self.pts[frame_idx].astype(np.float64) * num / den
        return result


def _open(path: Path) -> av.container.InputContainer:
    import av

    if not path.is_file():
        raise FrameExportError(
            f"video {path} does not exist", path=path, hint="check the video path of the sequence"
        )
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise IngestError(
            f"video {path} cannot be opened: {exc}",
            path=path,
            hint="check that the file is a complete video FFmpeg can read",
        ) from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.stream.Stream:
    if not container.streams.video:
        raise IngestError(f"{path} has no video stream", path=path, hint="pass a video file")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame threads: faster decoding, same frames
    return stream


def index_video_frames(path: str | Path) -> VideoFrameIndex:
    """Read the pts of every frame from packet headers (no decoding).

    Parameters
    ----------
    path
        Video file.

    Returns
    -------
    VideoFrameIndex
        Sorted frame pts and keyframe pts.

    Raises
    ------
    FrameExportError
        The packets carry no timestamps (e.g. a raw H.264 stream), or two frames share one.
    """
    video = Path(path)
    with _open(video) as container:
        stream = _video_stream(container, video)
        pts: list[int] = []
        keys: list[int] = []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue  # flush packets and samples before an edit list start are no frames
            if packet.pts is None:
                raise FrameExportError(
                    f"{video}: packets carry no timestamps, so frames cannot be found by seeking",
                    path=video,
                    hint="remux the video into MP4/MKV (ffmpeg -i in.h264 -c copy out.mp4)",
                )
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        time_base = stream.time_base
        assert time_base is not None
    frame_pts = np.sort(np.asarray(pts, dtype=np.int64))
    if frame_pts.size and np.any(np.diff(frame_pts) == 0):
        raise FrameExportError(
            f"{video}: two packets share a timestamp; frame indices would be ambiguous",
            path=video,
            hint="re-encode the video with unique timestamps",
        )
    return VideoFrameIndex(
        path=video,
        pts=frame_pts,
        keyframe_pts=np.sort(np.asarray(keys, dtype=np.int64)),
        time_base=(time_base.numerator, time_base.denominator),
    )


def read_frames(
    index: VideoFrameIndex, frame_idx: Sequence[int] | np.ndarray
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the given frames by seeking, in increasing frame order.

    Parameters
    ----------
    index
        The video's :func:`index_video_frames`.
    frame_idx
        Frame indices (any order, duplicates ignored).

    Yields
    ------
    tuple[int, np.ndarray]
        ``(frame_idx, image)`` with ``image`` ``(height, width, 3) uint8`` RGB.

    Raises
    ------
    FrameExportError
        A frame index is out of range, or decoding from the keyframe did not reach the frame.
    """
    wanted = np.unique(np.asarray(frame_idx, dtype=np.int64))
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= index.n_frames):
        bad = int(wanted[0] if wanted[0] < 0 else wanted[-1])
        raise FrameExportError(
            f"{index.path}: frame {bad} is out of range; the video has {index.n_frames} frames "
            f"(0..{index.n_frames - 1})",
            path=index.path,
            hint="check that the track and the video belong together (same frame count)",
        )
    if wanted.size == 0:
        return
    with _open(index.path) as container:
        stream = _video_stream(container, index.path)
        decoded: Iterator[object] | None = None
        last_pts: int | None = None
        for frame in wanted.tolist():
            target = int(index.pts[frame])
            k = int(np.searchsorted(index.keyframe_pts, target, side="right")) - 1
            key_pts = int(index.keyframe_pts[k]) if k >= 0 else int(index.pts[0])
            found = None
            # decode on from the current position when no keyframe lies between it and the target
            if decoded is not None and last_pts is not None and key_pts <= last_pts < target:
                found = _decode_until(decoded, target, index.path, frame)
            # else seek to the keyframe; should the demuxer land after the target (a seek index
            # that disagrees with the packets), step back one keyframe at a time
            starts = [int(p) for p in index.keyframe_pts[: max(k, 0) + 1][::-1]] + [-1]
            for start in starts if found is None else []:
                if start < 0:
                    container.seek(0)  # time 0 of the file (AV_TIME_BASE): its first keyframe
                else:
                    container.seek(start, stream=stream, backward=True, any_frame=False)
                decoded = container.decode(stream)
                found = _decode_until(decoded, target, index.path, frame)
                if found is not None:
                    break
            if found is None:
                raise FrameExportError(
                    f"{index.path}: decoding did not reach frame {frame} (pts {target}), not "
                    "even from the start of the file; the video's packets and frames disagree",
                    path=index.path,
                    hint="re-encode the video (ffmpeg -i in.mp4 out.mp4) and export again",
                )
            image, last_pts = found
            yield frame, image


def _decode_until(
    decoded: Iterator[object], target_pts: int, path: Path, frame_idx: int
) -> tuple[np.ndarray, int] | None:
    """Decode forward to the frame with ``target_pts``: its RGB image and pts, or None.

    None when decoding passed the target without meeting it (the seek landed too late) or the
    stream ended.
    """
    import av

    for frame in decoded:
        assert isinstance(frame, av.VideoFrame)
        if frame.pts is None:
            raise FrameExportError(
                f"{path}: decoded frames carry no timestamps near frame {frame_idx}",
                path=path,
                hint="remux or re-encode the video with timestamps",
            )
        if frame.pts == target_pts:
            return frame.to_ndarray(format="rgb24"), int(frame.pts)
        if frame.pts > target_pts:
            return None
    return None


def _png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``(h, w, 3) uint8`` RGB image as PNG with FFmpeg's encoder (lossless)."""
    import av

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(image, format="rgb24"))
    packets += codec.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def image_name(frame_idx: int, n_frames: int) -> str:
    """DeepLabCut's image name: ``img`` + frame index zero-padded to ``ceil(log10(n_frames))``."""
    width = max(1, math.ceil(math.log10(n_frames))) if n_frames > 1 else 1
    return f"img{frame_idx:0{width}d}.png"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_frames` wrote.

    Attributes
    ----------
    manifest
        ``out_dir/manifest.csv``.
    images
        Paths of the PNG files, in manifest order.
    """

    manifest: Path
    images: tuple[Path, ...]


def _check_selection(index: VideoFrameIndex, selection: FrameSelection) -> None:
    """Refuse a selection that is not sorted and unique, or has frames the video lacks."""
    frames = np.asarray(selection.frame_idx)
    lengths = {len(frames), len(selection.t_s), len(selection.reason)}
    if len(lengths) != 1 or np.any(np.diff(frames) <= 0):
        raise SamplingError(
            f"the selection for {index.path} must hold strictly increasing frame indices with "
            f"one time and reason each; found {len(frames)} frames, {len(selection.t_s)} times, "
            f"{len(selection.reason)} reasons",
            hint="build selections with the w2t_bkin.features.sampling functions",
        )
    if frames.size and (frames[0] < 0 or frames[-1] >= index.n_frames):
        bad = int(frames[0] if frames[0] < 0 else frames[-1])
        raise FrameExportError(
            f"{index.path}: frame {bad} is out of range; the video has {index.n_frames} frames "
            f"(0..{index.n_frames - 1})",
            path=index.path,
            hint="check that the track and the video belong together (same frame count)",
        )


def export_frames(
    videos: Sequence[tuple[str | Path, FrameSelection]], out_dir: str | Path
) -> ExportResult:
    """Write the selected frames of each video as PNG images and one manifest.

    Parameters
    ----------
    videos
        ``(video path, selection)`` pairs; each selection's frame indices index that video.
        Video file names (stems) must be distinct: they name the image folders.
    out_dir
        Output folder (see the module docstring for the layout); created when missing. Images
        of the same name are replaced; the manifest lists this export only.

    Returns
    -------
    ExportResult
        Manifest and image paths. Every file is written atomically.
    """
    root = Path(out_dir)
    stems: dict[str, Path] = {}
    for video, _ in videos:
        path = Path(video)
        other = stems.setdefault(path.stem, path)
        if other != path:
            raise SamplingError(
                f"videos {other} and {path} have the same name {path.stem!r}; their frames "
                "would share one labeled-data folder",
                hint="export them to separate folders, or rename one video",
            )
    # every video is indexed and every frame index checked before the first image is written
    indexed = [(index_video_frames(video), selection) for video, selection in videos]
    for index, selection in indexed:
        _check_selection(index, selection)
    rows: list[tuple[str, int, float, float, str, str]] = []
    images: list[Path] = []
    for index, selection in indexed:
        folder = root / "labeled-data" / index.path.stem
        pts_s = index.pts_s(selection.frame_idx)
        # FrameSelection frames are unique and sorted, as read_frames yields them
        for i, (frame, image) in enumerate(read_frames(index, selection.frame_idx)):
            target = folder / image_name(frame, index.n_frames)
            atomic_write_bytes(target, _png_bytes(image))
            relative = target.relative_to(root).as_posix()
            t_s, reason = float(selection.t_s[i]), str(selection.reason[i])
            rows.append((str(index.path), frame, t_s, float(pts_s[i]), reason, relative))
            images.append(target)
        log.info("exported %d frames of %s to %s", len(selection), index.path, folder)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows((v, f, repr(t), repr(p), r, im) for v, f, t, p, r, im in rows)
    manifest = atomic_write_text(root / "manifest.csv", text.getvalue())
    return ExportResult(manifest=manifest, images=tuple(images))
