"""Video probing with PyAV: frame counts from the container index or packets, never decoding first.

Counting frames by decoding (``ffprobe -count_frames``) costs as much as playing the video and
times out on long high-rate recordings. Three ways are tried, cheapest first:

1. ``index``: MP4/MOV and AVI containers carry a per-frame sample table that lists every
   frame with its timestamp, byte offset and size. For MP4/MOV the table is expanded with NumPy
   straight from the ``moov`` box (:mod:`w2t_bkin.sources.mp4_sample_table`), composition
   offsets included, so streams with B-frames get presentation times too; it must agree with
   the table FFmpeg loaded when opening the file (count, time base, and the size, offset and
   decode time of entries sampled across the file). Otherwise (AVI ``idx1``, or an MP4 this
   reader does not model) FFmpeg's own index entries are used, only when the codec does not
   reorder frames (index timestamps are then presentation times). Either table is trusted only
   when it lists exactly the frames the header declares, timestamps are distinct, and every
   listed frame lies inside the file (a truncated copy fails this and goes to step 2, which
   reports the truncation).
2. ``demux``: each packet of the first video stream holds one frame, so reading packet headers
   gives the exact count and the presentation timestamps without touching a decoder.
3. ``decode``: only for streams whose packets carry no usable timestamps (e.g. raw H.264
   elementary streams), with a time limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from w2t_bkin.errors import IngestError, OutputError
from w2t_bkin.io_utils import atomic_write_bytes
from w2t_bkin.model.video import CameraVideos, ProbeMethod, VideoProbe
from w2t_bkin.runtime.fingerprint import FileStat
from w2t_bkin.sources.mp4_sample_table import Mp4SampleTable, read_mp4_sample_table

log = logging.getLogger(__name__)

_CACHE_VERSION = 2  # 2: keyed by runtime.fingerprint.FileStat (adds device and inode)

# Demuxers that load a complete per-frame sample table when the file is opened.
_INDEXED_FORMATS = frozenset({"mov", "mp4", "avi"})
# Of those, the ISO base media family whose sample table NumPy reads directly.
_MP4_FORMATS = frozenset({"mov", "mp4"})


@dataclass(frozen=True)
class _StreamInfo:
    """Header facts of the first video stream, read before counting."""

    rate_hz: float
    width: int
    height: int
    codec: str
    duration_s: float
    time_base: Fraction
    declared_frames: int


def probe_video(
    path: str | Path,
    *,
    decode_timeout_s: float = 300.0,
    cache_dir: Path | None = None,
) -> VideoProbe:
    """Count the frames of a video and read their presentation times.

    Frames are read from the container's sample index when it can be trusted (see the module
    docstring), otherwise counted by demuxing the packets of the first video stream (no
    decoding); empty flush packets and packets the container marks as discarded (before an edit
    list start) are not frames. Only when packets carry no usable timestamps is every frame
    decoded.

    Parameters
    ----------
    path
        Video file (any container FFmpeg reads: mp4, avi, mkv, mov, ...).
    decode_timeout_s
        Time limit in seconds for the decoding fallback (config key
        ``ingestion.video_decode_timeout_s``).
    cache_dir
        Folder for cached results, keyed by (resolved path, size, mtime); ``None`` disables
        the cache.

    Returns
    -------
    VideoProbe
        Frame count, rate, size, codec, duration and ``frame_pts_s`` ``(n_frames,) float64``.

    Raises
    ------
    IngestError
        The file is missing, empty, corrupt or truncated, has no video stream or no frames, or
        decoding took longer than ``decode_timeout_s``.
    """
    path = Path(path)
    stat = _stat_video(path)
    if cache_dir is not None:
        cached = _read_cache(Path(cache_dir), path, stat)
        if cached is not None:
            log.debug("video probe cache hit for %s", path)
            return cached
    probe = _probe_uncached(path, decode_timeout_s)
    if cache_dir is not None:
        try:
            _write_cache(Path(cache_dir), probe, stat)
        except OutputError as exc:  # a cache is a shortcut: losing it must not fail the probe
            log.warning("video probe cache not written: %s", exc)
    return probe


def probe_camera(camera_id: str, paths: Sequence[str | Path], **kw: Any) -> CameraVideos:
    """Probe the video chunks of one camera.

    Parameters
    ----------
    camera_id
        The ``[[cameras]].id`` from metadata.
    paths
        The camera's video files, already in recording order.
    **kw
        Passed to :func:`probe_video` (``decode_timeout_s``, ``cache_dir``).

    Returns
    -------
    CameraVideos
        One :class:`VideoProbe` per file, in the given order.
    """
    if not paths:
        raise IngestError(
            f"camera '{camera_id}' has no video files",
            hint="check the camera's 'paths' glob in session.toml",
        )
    return CameraVideos(camera_id=camera_id, chunks=tuple(probe_video(p, **kw) for p in paths))


# --- probing -------------------------------------------------------------------------------


def _stat_video(path: Path) -> os.stat_result:
    if not path.exists():
        raise IngestError(
            "video file not found", path=path, hint="check the camera's 'paths' in session.toml"
        )
    if not path.is_file():
        raise IngestError("video path is not a file", path=path, hint="point to a video file")
    stat = path.stat()
    if stat.st_size == 0:
        raise IngestError(
            "video file is empty (0 bytes)",
            path=path,
            hint="the recording or the copy failed; copy the file again from the acquisition PC",
        )
    return stat


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"{path}: cannot open as a video container: {_reason(exc)}",
            path=path,
            hint="the file is truncated or corrupt (e.g. an interrupted copy or recording), "
            "or not a video; re-copy it or re-export it from the acquisition software",
        ) from exc


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file name it appends (the message names the file first)."""
    return str(getattr(exc, "strerror", None) or exc)


def _probe_uncached(path: Path, decode_timeout_s: float) -> VideoProbe:
    with _open(path) as container:
        stream = _first_video_stream(container, path)
        info = _stream_info(container, stream)
        method: ProbeMethod = "index"
        pts_ticks = _index_pts_ticks(container, stream, info, path)
        if pts_ticks is None:
            method = "demux"
            pts_ticks = _demux_pts_ticks(container, stream, info, path)
    if pts_ticks is None:
        log.info("%s: packets carry no usable timestamps; counting frames by decoding", path)
        method = "decode"
        n_frames, pts_ticks = _decode_pts_ticks(path, decode_timeout_s)
    else:
        n_frames = int(pts_ticks.shape[0])
    if n_frames == 0:
        raise IngestError(
            "video stream has no frames",
            path=path,
            hint="the recording stopped before the first frame; remove the file from the session",
        )
    frame_pts_s = None if pts_ticks is None else _ticks_to_seconds(pts_ticks, info.time_base)
    return VideoProbe(
        path=path,
        n_frames=n_frames,
        rate_hz=info.rate_hz,
        width=info.width,
        height=info.height,
        codec=info.codec,
        duration_s=_duration_s(info, frame_pts_s, n_frames),
        method=method,
        frame_pts_s=frame_pts_s,
    )


def _first_video_stream(
    container: av.container.InputContainer, path: Path
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        found = ", ".join(s.type for s in container.streams) or "none"
        raise IngestError(
            f"no video stream (streams found: {found})",
            path=path,
            hint="this is not a camera video; check the camera's 'paths' glob in session.toml",
        )
    return container.streams.video[0]


def _stream_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> _StreamInfo:
    rate = stream.average_rate or stream.guessed_rate
    time_base = stream.time_base or Fraction(1, 1_000_000)
    if stream.duration is not None:
        duration_s = float(stream.duration * time_base)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    else:
        duration_s = float("nan")
    ctx = stream.codec_context
    return _StreamInfo(
        rate_hz=float(rate) if rate else float("nan"),
        width=int(ctx.width),
        height=int(ctx.height),
        codec=str(ctx.name),
        duration_s=duration_s,
        time_base=Fraction(time_base),
        declared_frames=int(stream.frames or 0),
    )


def _index_pts_ticks(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: _StreamInfo,
    path: Path,
) -> np.ndarray | None:
    """Sorted frame pts ``(n_frames,) int64`` from the sample index, or ``None`` if untrusted."""
    formats = set(container.format.name.split(","))
    if not _INDEXED_FORMATS.intersection(formats):
        return None  # e.g. Matroska cues list key frames only
    if _MP4_FORMATS.intersection(formats):
        samples = read_mp4_sample_table(path, stream.index)
        if samples is not None and _table_agrees_with_ffmpeg(samples, stream, info, path):
            # the same table FFmpeg holds: if it is not trusted, its entries are not either
            return _trusted_frame_ticks(
                samples.presentation_ticks, samples.size_bytes, samples.offset_bytes, path
            )
    if stream.codec_context.has_b_frames:
        return None  # index timestamps are decode times; presentation order differs
    entries = stream.index_entries
    if entries is None or info.declared_frames <= 0 or len(entries) != info.declared_frames:
        return None
    table = np.fromiter(  # one small C struct per frame, ~0.5 us each; no Python list
        ((e.timestamp, e.is_discard, e.pos, e.size) for e in entries),
        dtype=[("ticks", np.int64), ("discard", np.bool_), ("pos", np.int64), ("size", np.int64)],
        count=len(entries),
    )
    kept = ~table["discard"]  # before an edit-list start: decoders drop these frames
    return _trusted_frame_ticks(table["ticks"][kept], table["size"][kept], table["pos"][kept], path)


def _trusted_frame_ticks(
    ticks: np.ndarray, size_bytes: np.ndarray, offset_bytes: np.ndarray, path: Path
) -> np.ndarray | None:
    """Sorted ticks of the non-empty samples ``(n_frames,) int64``; ``None`` if untrusted.

    ``ticks``, ``size_bytes`` and ``offset_bytes`` are ``(n_samples,) int64`` in any order.
    """
    if int((offset_bytes + size_bytes).max()) > path.stat().st_size:
        log.info("%s: the index lists frames beyond the end of the file; demuxing", path)
        return None
    # Empty entries are not frames, exactly as empty packets are not when demuxing.
    sorted_ticks = np.sort(ticks[size_bytes > 0], kind="stable")  # timsort: runs stay cheap
    if sorted_ticks.size == 0 or np.any(np.diff(sorted_ticks) == 0):
        return None
    return sorted_ticks


def _table_agrees_with_ffmpeg(
    table: Mp4SampleTable, stream: av.video.stream.VideoStream, info: _StreamInfo, path: Path
) -> bool:
    """Whether FFmpeg loaded the same samples: count, time base and entries across the file.

    Reading every FFmpeg entry is what the NumPy reader avoids; 33 entries spread over the file
    (first and last included) catch a wrong track, a mis-parsed box or samples FFmpeg dropped.
    """
    entries = stream.index_entries
    n_samples = table.n_samples
    if (
        entries is None
        or len(entries) != n_samples
        or n_samples == 0
        or info.declared_frames != n_samples
        or info.time_base != Fraction(1, table.timescale)
    ):
        log.info("%s: the sample table disagrees with FFmpeg's header or index", path)
        return False
    first_decode_ticks = int(entries[0].timestamp)
    for sample_idx in np.unique(np.linspace(0, n_samples - 1, 33).astype(np.int64)).tolist():
        entry = entries[sample_idx]
        if (
            entry.is_discard
            or entry.size != table.size_bytes[sample_idx]
            or entry.pos != table.offset_bytes[sample_idx]
            or entry.timestamp - first_decode_ticks != table.decode_ticks[sample_idx]
        ):
            log.info("%s: sample %d differs from FFmpeg's index entry", path, sample_idx)
            return False
    return True


def _demux_pts_ticks(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: _StreamInfo,
    path: Path,
) -> np.ndarray | None:
    """Sorted packet pts ``(n_frames,) int64`` in stream ticks, or ``None`` when unusable."""
    ticks = array("q")  # 8 bytes per frame; a list of ints would take ~36
    n_missing_pts = 0
    n_packets = 0  # every packet with data, discarded ones included, to detect truncation
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet at end of stream, not a frame
                continue
            n_packets += 1
            if packet.is_discard:  # before the edit-list start: decoders drop it
                continue
            pts = packet.pts
            if pts is None:
                n_missing_pts += 1
            else:
                ticks.append(pts)
    except av.error.FFmpegError as exc:
        raise IngestError(
            f"{path}: corrupt video data after packet {n_packets}: {_reason(exc)}",
            path=path,
            hint="the file is damaged; re-copy it from the acquisition PC",
        ) from exc
    if 0 < n_packets < info.declared_frames:
        raise IngestError(
            f"truncated video: the header declares {info.declared_frames} frames but only "
            f"{n_packets} could be read",
            path=path,
            hint="the recording or copy was interrupted; re-copy the file",
        )
    if n_missing_pts or not ticks:
        return None
    sorted_ticks = np.sort(np.frombuffer(ticks, dtype=np.int64))
    if np.any(np.diff(sorted_ticks) == 0):
        log.info("%s: duplicate packet timestamps", path)
        return None
    return sorted_ticks


def _decode_pts_ticks(path: Path, timeout_s: float) -> tuple[int, np.ndarray | None]:
    """Decode every frame; return the count and sorted pts ticks (``None`` if any is missing)."""
    deadline = time.monotonic() + timeout_s
    pts: list[int | None] = []
    with _open(path) as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                pts.append(frame.pts)
                if time.monotonic() > deadline:  # a clock read is ~1% of a frame decode
                    raise IngestError(
                        f"counting frames by decoding took longer than {timeout_s:g} s "
                        f"({len(pts)} frames decoded so far)",
                        path=path,
                        hint="raise ingestion.video_decode_timeout_s in configuration.toml, or "
                        "remux the video into mp4/mkv so frames can be counted without decoding",
                    )
        except av.error.FFmpegError as exc:
            raise IngestError(
                f"{path}: corrupt video data after frame {len(pts)}: {_reason(exc)}",
                path=path,
                hint="the file is damaged; re-copy it from the acquisition PC",
            ) from exc
    if any(p is None for p in pts):
        return len(pts), None
    return len(pts), np.sort(np.asarray(pts, dtype=np.int64))


def _ticks_to_seconds(ticks: np.ndarray, time_base: Fraction) -> np.ndarray:
    """Ticks relative to the first frame, in seconds (integer offsets first: exact until scale)."""
    offsets = ticks - ticks[0]
    return offsets.astype(np.float64) * time_base.numerator / time_base.denominator


def _duration_s(info: _StreamInfo, frame_pts_s: np.ndarray | None, n_frames: int) -> float:
    if np.isfinite(info.duration_s) and info.duration_s > 0:
        return info.duration_s
    if frame_pts_s is not None and np.isfinite(info.rate_hz) and info.rate_hz > 0:
        return float(frame_pts_s[-1] + 1.0 / info.rate_hz)
    if np.isfinite(info.rate_hz) and info.rate_hz > 0:
        return n_frames / info.rate_hz
    return float("nan")


# --- cache ---------------------------------------------------------------------------------


def _cache_paths(cache_dir: Path, path: Path, stat: os.stat_result) -> tuple[Path, Path, str]:
    """Entry files of ``path``'s probe, keyed by its stat identity (path, size, mtime, inode).

    ``stat`` was taken when the probe started: a file changed since gets another key.
    """
    resolved = path.resolve()
    identity = FileStat(
        str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_dev, stat.st_ino
    ).key()
    key = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return (
        cache_dir / f"video-probe-{key}.json",
        cache_dir / f"video-probe-{key}.npy",
        identity,
    )


def _read_cache(cache_dir: Path, path: Path, stat: os.stat_result) -> VideoProbe | None:
    json_path, npy_path, identity = _cache_paths(cache_dir, path, stat)
    if not json_path.is_file():
        return None
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
        if record.get("cache_version") != _CACHE_VERSION or record.get("identity") != identity:
            return None
        frame_pts_s = None
        if record["has_pts"]:
            frame_pts_s = np.load(npy_path, allow_pickle=False)
            if frame_pts_s.shape != (record["n_frames"],):
                return None
        return VideoProbe(
            path=path,
            n_frames=int(record["n_frames"]),
            rate_hz=float(record["rate_hz"]),
            width=int(record["width"]),
            height=int(record["height"]),
            codec=str(record["codec"]),
            duration_s=float(record["duration_s"]),
            method=record["method"],
            frame_pts_s=frame_pts_s,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A damaged cache entry is only a lost shortcut: probe again and overwrite it.
        log.warning("ignoring unreadable video probe cache %s: %s", json_path, exc)
        return None


def _write_cache(cache_dir: Path, probe: VideoProbe, stat: os.stat_result) -> None:
    json_path, npy_path, identity = _cache_paths(cache_dir, probe.path, stat)
    if probe.frame_pts_s is not None:
        # The .npy goes first: the .json is the commit marker that makes the entry valid.
        atomic_write_bytes(npy_path, _npy_bytes(probe.frame_pts_s))
    record = {
        "cache_version": _CACHE_VERSION,
        "identity": identity,
        "n_frames": probe.n_frames,
        "rate_hz": probe.rate_hz,
        "width": probe.width,
        "height": probe.height,
        "codec": probe.codec,
        "duration_s": probe.duration_s,
        "method": probe.method,
        "has_pts": probe.frame_pts_s is not None,
    }
    atomic_write_bytes(json_path, json.dumps(record, indent=1).encode("utf-8"))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
