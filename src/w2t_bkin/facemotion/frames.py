"""Stream the grey levels of a rectangle of every frame of a camera's videos with PyAV.

Frames are decoded in a background thread (FFmpeg releases the GIL, so decoding overlaps the
NumPy work of the consumer) and handed over in batches of ``(n, height, width) uint8`` crops
through a queue of at most ``_QUEUE_BATCHES`` batches: memory stays bounded whatever the video
length. Grey is the luma plane (Y) of planar YUV and grey formats, read without a colour
conversion; other pixel formats (RGB, packed YUV) are converted by FFmpeg.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np

from w2t_bkin.facemotion.errors import FaceMotionDecodeError

log = logging.getLogger(__name__)

__all__ = ["FrameBatch", "in_thread", "iter_frame_batches", "iter_frame_ranges"]

T = TypeVar("T")

_QUEUE_BATCHES = 3
# 8-bit formats whose first plane is the luma (or grey) image, one byte per pixel.
_LUMA_FORMATS = frozenset(
    {
        "gray",
        "yuv410p",
        "yuv411p",
        "yuv420p",
        "yuv422p",
        "yuv440p",
        "yuv444p",
        "yuvj411p",
        "yuvj420p",
        "yuvj422p",
        "yuvj440p",
        "yuvj444p",
        "nv12",
        "nv21",
    }
)


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive frames of a camera.

    Attributes
    ----------
    first_frame_idx
        Index of the batch's first frame among all frames of the camera (chunks concatenated).
    crops
        ``(n, height, width) uint8`` grey levels of the requested rectangle.
    """

    first_frame_idx: int
    crops: np.ndarray


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """``(height, width) uint8`` grey image of a decoded frame (a view where possible)."""
    if frame.format.name in _LUMA_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(
            plane.height, plane.line_size
        )
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")


def _decode(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    batch_frames: int,
    stop_frame_idx: int | None,
    camera_id: str,
) -> Iterator[FrameBatch]:
    """Decode in the calling thread (the producer side of :func:`iter_frame_batches`)."""
    x0, y0, x1, y1 = box
    frame_idx = 0
    buffer = np.empty((batch_frames, y1 - y0, x1 - x0), dtype=np.uint8)
    filled = 0
    for path in paths:
        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise FaceMotionDecodeError(
                f"camera '{camera_id}': cannot open video {path}: {exc}",
                hint="check that the file is a complete video (re-copy it from the rig)",
                path=path,
            ) from exc
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: decoding is the costly part
            try:
                for frame in container.decode(stream):
                    if stop_frame_idx is not None and frame_idx >= stop_frame_idx:
                        break
                    gray = _luma(frame)
                    if gray.shape[0] < y1 or gray.shape[1] < x1:
                        raise FaceMotionDecodeError(
                            f"camera '{camera_id}': frame {frame_idx} of {path} is "
                            f"{gray.shape[1]}x{gray.shape[0]} px, smaller than the ROIs "
                            f"(up to x={x1}, y={y1})",
                            hint="the camera's chunks must share one frame size",
                            path=path,
                        )
                    buffer[filled] = gray[y0:y1, x0:x1]
                    filled += 1
                    frame_idx += 1
                    if filled == batch_frames:
                        yield FrameBatch(frame_idx - filled, buffer)
                        buffer = np.empty_like(buffer)  # the consumer may still hold the last
                        filled = 0
            except av.FFmpegError as exc:
                raise FaceMotionDecodeError(
                    f"camera '{camera_id}': decoding {path} failed after frame {frame_idx}: {exc}",
                    hint="check that the file is a complete video (re-copy it from the rig)",
                    path=path,
                ) from exc
        if stop_frame_idx is not None and frame_idx >= stop_frame_idx:
            break
    if filled:
        yield FrameBatch(frame_idx - filled, buffer[:filled])


def iter_frame_batches(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    *,
    camera_id: str,
    batch_frames: int = 64,
    stop_frame_idx: int | None = None,
) -> Iterator[FrameBatch]:
    """Yield the crops of ``box`` from every frame of ``paths`` (one camera's chunks, in order).

    Parameters
    ----------
    paths
        The camera's video files in recording order; frame indices continue across them.
    box
        ``(x0, y0, x1, y1)`` pixel rectangle to keep (x1, y1 exclusive).
    camera_id
        Named in errors.
    batch_frames
        Frames per batch (the last batch may be shorter).
    stop_frame_idx
        Stop before this frame index (``None``: decode every frame).

    Yields
    ------
    FrameBatch
        Consecutive batches, ``crops (n, y1 - y0, x1 - x0) uint8``.

    Raises
    ------
    FaceMotionDecodeError
        A file cannot be opened or decoded.
    """
    return in_thread(
        lambda: _decode(paths, box, batch_frames, stop_frame_idx, camera_id), camera_id
    )


def in_thread(make: Callable[[], Iterator[T]], name: str) -> Iterator[T]:
    """Run the generator ``make()`` in a thread of its own, at most a few items ahead.

    The items are handed over through a queue of ``_QUEUE_BATCHES`` items (bounded memory);
    an exception in the thread is raised in the consumer; a consumer that stops early stops
    the thread. NumPy and FFmpeg release the GIL in their loops, so the two sides run at once.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_BATCHES)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in make():
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, who re-raises it
            slots.put(exc)

    thread = threading.Thread(target=produce, name=f"facemotion-{name}", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                slots.get_nowait()
            thread.join(timeout=0.05)


class _SeekFailed(Exception):
    """Seeking did not land where the packet timestamps say: read sequentially instead."""


def _chunk_pts(path: Path) -> np.ndarray | None:
    """``(n_frames,) int64`` sorted presentation timestamps from the packets (no decoding).

    ``None`` when a packet has no timestamp or two share one: frames cannot be found by
    timestamp then.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # empty flush packets are no frame; discarded ones (before an edit list's start) are
        # dropped by the decoder, so they are no frame either
        ticks = [p.pts for p in container.demux(stream) if p.size and not p.is_discard]
    if any(t is None for t in ticks):
        return None
    pts = np.sort(np.asarray(ticks, dtype=np.int64))
    if pts.size and np.any(np.diff(pts) == 0):
        return None
    return pts


def iter_frame_ranges(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    ranges: Sequence[tuple[int, int]],
    *,
    camera_id: str,
    batch_frames: int = 64,
    n_frames: int | None = None,
) -> Iterator[FrameBatch]:
    """Yield the crops of ``box`` of the frames in ``ranges`` only, seeking to each range.

    Each frame is found by its presentation timestamp among the chunk's packet timestamps
    (read by demuxing, without decoding); decoding starts at the key frame before a range,
    so frames between ranges are skipped at the cost of one group of pictures per range.
    Where a chunk's packets lack timestamps, or a seek lands elsewhere than expected, every
    frame up to the end of the last range is decoded instead (same frames, slower).

    Parameters
    ----------
    ranges
        Sorted ``[start, stop)`` frame index ranges over all chunks (a frame shared by two
        ranges is yielded for each).
    n_frames
        Frames the probe counted in all chunks: when the packets list another number, frame
        indices cannot be found by timestamp, and every frame is decoded instead.

    Yields
    ------
    FrameBatch
        Batches of consecutive frames within one range (a range may give several).
    """
    if not ranges:
        return iter(())
    try:
        chunk_pts = [_chunk_pts(path) for path in paths]
    except (av.FFmpegError, OSError):
        chunk_pts = [None]
    known = [pts for pts in chunk_pts if pts is not None]
    if len(known) < len(chunk_pts) or (
        n_frames is not None and sum(pts.size for pts in known) != n_frames
    ):
        return _filtered(paths, box, ranges, camera_id, batch_frames)

    def seeking() -> Iterator[FrameBatch]:
        try:
            yield from _seek_ranges(paths, box, ranges, known, camera_id, batch_frames)
        except _SeekFailed as exc:
            log.debug("camera %s: %s; decoding sequentially", camera_id, exc)
            yield from _filtered_decode(paths, box, ranges, camera_id, batch_frames, exc.args[1])

    return in_thread(seeking, camera_id)


def _filtered(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    ranges: Sequence[tuple[int, int]],
    camera_id: str,
    batch_frames: int,
) -> Iterator[FrameBatch]:
    return in_thread(
        lambda: _filtered_decode(paths, box, ranges, camera_id, batch_frames, 0), camera_id
    )


def _filtered_decode(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    ranges: Sequence[tuple[int, int]],
    camera_id: str,
    batch_frames: int,
    from_frame_idx: int,
) -> Iterator[FrameBatch]:
    """Sequential decoding, keeping the frames of ``ranges`` at or after ``from_frame_idx``."""
    for batch in _decode(paths, box, batch_frames, ranges[-1][1], camera_id):
        first, n = batch.first_frame_idx, batch.crops.shape[0]
        for lo, hi in ranges:
            lo = max(lo, from_frame_idx)
            a, b = max(lo, first), min(hi, first + n)
            if a < b:
                yield FrameBatch(a, batch.crops[a - first : b - first])


def _seek_ranges(
    paths: Sequence[Path],
    box: tuple[int, int, int, int],
    ranges: Sequence[tuple[int, int]],
    chunk_pts: list[np.ndarray],
    camera_id: str,
    batch_frames: int,
) -> Iterator[FrameBatch]:
    counts = np.array([pts.size for pts in chunk_pts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    x0, y0, x1, y1 = box
    for chunk_i, path in enumerate(paths):
        c_lo, c_hi = int(starts[chunk_i]), int(starts[chunk_i + 1])
        local = [(max(lo, c_lo) - c_lo, min(hi, c_hi) - c_lo) for lo, hi in ranges]
        local = [(a, b) for a, b in local if a < b]
        if not local:
            continue
        pts = chunk_pts[chunk_i]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for a, b in local:
                container.seek(int(pts[a]), stream=stream, backward=True, any_frame=False)
                expected = a
                buffer = np.empty((min(batch_frames, b - a), y1 - y0, x1 - x0), dtype=np.uint8)
                filled = 0
                for frame in container.decode(stream):
                    if frame.pts is None:
                        raise _SeekFailed("a decoded frame has no timestamp", c_lo + expected)
                    idx = int(np.searchsorted(pts, frame.pts))
                    if idx < expected:
                        continue  # between the key frame and the range
                    if idx != expected or pts[idx] != frame.pts:
                        raise _SeekFailed(f"seek to frame {c_lo + a} landed later", c_lo + expected)
                    buffer[filled] = _luma(frame)[y0:y1, x0:x1]
                    filled += 1
                    expected += 1
                    if filled == buffer.shape[0] or expected == b:
                        yield FrameBatch(c_lo + expected - filled, buffer[:filled])
                        buffer = np.empty_like(buffer)
                        filled = 0
                    if expected == b:
                        break
                if expected != b:
                    raise _SeekFailed(f"chunk {path.name} ended early", c_lo + expected)
