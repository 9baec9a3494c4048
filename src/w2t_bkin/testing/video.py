"""Synthetic videos whose frames carry their own index, for tests and benchmarks.

Each frame is a grid of 4x4-pixel cells. The first :data:`N_INDEX_BITS` cells (row-major) hold
the bits of the frame index, black for 0 and white for 1, so that a decoded frame tells which
frame it is even after lossy compression (:func:`decode_frame_index`). The remaining cells hold
a seeded grey texture so that frames are not trivially identical.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

log = logging.getLogger(__name__)

CELL_PX = 4
"""Side of one bit cell in pixels (a multiple of the 2x2 chroma block of yuv420p)."""

N_INDEX_BITS = 24
"""Bits of the frame index drawn in each frame: indices up to 16,777,215."""

PTS_TIME_BASE = Fraction(1, 90_000)
"""Time base used when explicit presentation times are written (the MPEG 90 kHz clock)."""

_BATCH_FRAMES = 4096


def _index_cells(frame_idx: np.ndarray) -> np.ndarray:
    """Bit cells of each frame index: ``(n, N_INDEX_BITS) uint8``, 0 or 255."""
    bits = (frame_idx[:, None] >> np.arange(N_INDEX_BITS, dtype=np.int64)[None, :]) & 1
    return (bits * 255).astype(np.uint8)


def _frames_gray(frame_idx: np.ndarray, width: int, height: int, texture: np.ndarray) -> np.ndarray:
    """Render frames ``(n, height, width) uint8`` for a batch of frame indices."""
    n_cols, n_rows = width // CELL_PX, height // CELL_PX
    cells = np.broadcast_to(texture, (frame_idx.shape[0], n_rows * n_cols)).copy()
    cells[:, :N_INDEX_BITS] = _index_cells(frame_idx)
    grid = cells.reshape(-1, n_rows, n_cols)
    frames = np.repeat(np.repeat(grid, CELL_PX, axis=1), CELL_PX, axis=2)
    out = np.zeros((frame_idx.shape[0], height, width), dtype=np.uint8)
    out[:, : n_rows * CELL_PX, : n_cols * CELL_PX] = frames
    return out


def decode_frame_index(gray: np.ndarray) -> int:
    """Read back the frame index drawn by :func:`write_video`.

    Parameters
    ----------
    gray
        ``(height, width) uint8`` luma plane of one decoded frame.

    Returns
    -------
    int
        The frame index the frame was written with.
    """
    n_cols = gray.shape[1] // CELL_PX
    bit_idx = np.arange(N_INDEX_BITS)
    rows, cols = bit_idx // n_cols, bit_idx % n_cols
    # Sample the centre of each cell: compression blurs cell borders, not centres.
    centre = CELL_PX // 2
    values = gray[rows * CELL_PX + centre, cols * CELL_PX + centre]
    bits = (values > 127).astype(np.int64)
    return int(np.sum(bits << bit_idx))


def write_video(
    path: str | Path,
    n_frames: int,
    rate_hz: float,
    *,
    width: int = 64,
    height: int = 48,
    pts_s: np.ndarray | None = None,
    codec: Literal["libx264", "mpeg4"] = "libx264",
    seed: int = 0,
) -> Path:
    """Write a real encoded video whose frame ``i`` shows the index ``i`` as bit cells.

    Parameters
    ----------
    path
        Output file; the container comes from the suffix (``.mp4``, ``.mkv``, ``.avi``, ...).
    n_frames
        Number of frames to write (>= 1).
    rate_hz
        Nominal frame rate in frames per second; stored as the stream's average rate.
    width, height
        Frame size in pixels; even, and large enough for the index cells
        (``(width // 4) * (height // 4) >= 24``).
    pts_s
        ``(n_frames,) float64`` presentation times in seconds of the saved frames on the camera
        clock, non-negative and strictly increasing; gaps model dropped frames. Written as
        packet timestamps in a 1/90000 s time base, so the container carries variable timing.
        Needs a container with real timestamps (mp4, mkv, mov), not AVI. ``None`` writes a
        constant rate.
    codec
        ``"libx264"`` (H.264, ultrafast preset) or ``"mpeg4"`` (MPEG-4 part 2).
    seed
        Seed of the grey texture in the cells that do not carry index bits.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    _check_write_args(path, n_frames, width, height, pts_s)
    rate = Fraction(rate_hz).limit_denominator(1_000_000)
    n_cells = (width // CELL_PX) * (height // CELL_PX)
    texture = np.random.default_rng(seed).integers(40, 216, n_cells, dtype=np.uint8)

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        if pts_s is not None:
            stream.time_base = PTS_TIME_BASE
            stream.codec_context.time_base = PTS_TIME_BASE
            ticks = np.round(np.asarray(pts_s, dtype=np.float64) / float(PTS_TIME_BASE))
            pts_ticks = ticks.astype(np.int64)
        else:
            stream.codec_context.time_base = 1 / rate
            pts_ticks = np.arange(n_frames, dtype=np.int64)
        _encode_all(container, stream, n_frames, width, height, texture, pts_ticks)
    log.debug("wrote synthetic video %s (%d frames)", path, n_frames)
    return path


def write_raw_h264(source: str | Path, target: str | Path) -> Path:
    """Remux an H.264 video into a raw H.264 elementary stream (``.h264``).

    The packets of such a stream carry no timestamps, so its frames can only be counted by
    decoding them (the probe's slow fallback, bounded by ``ingestion.video_decode_timeout_s``).

    Parameters
    ----------
    source
        A video written by :func:`write_video` with ``codec="libx264"``.
    target
        Output file.

    Returns
    -------
    Path
        ``target``.
    """
    target = Path(target)
    with av.open(str(source)) as src, av.open(str(target), "w", format="h264") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
            if packet.size:  # the empty flush packet is not a frame
                packet.stream = out_stream
                dst.mux(packet)
    return target


def _check_write_args(
    path: Path, n_frames: int, width: int, height: int, pts_s: np.ndarray | None
) -> None:
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    if (width // CELL_PX) * (height // CELL_PX) < N_INDEX_BITS:
        raise ValueError(f"{width}x{height} is too small for {N_INDEX_BITS} index cells")
    if pts_s is None:
        return
    pts = np.asarray(pts_s, dtype=np.float64)
    if pts.shape != (n_frames,):
        raise ValueError(f"pts_s must have shape ({n_frames},), got {pts.shape}")
    if pts[0] < 0 or np.any(np.diff(pts) <= 0):
        raise ValueError("pts_s must be non-negative and strictly increasing")
    if path.suffix.lower() == ".avi":
        raise ValueError("AVI cannot carry variable timestamps; use .mp4, .mkv or .mov")


def _encode_all(
    container: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    n_frames: int,
    width: int,
    height: int,
    texture: np.ndarray,
    pts_ticks: np.ndarray,
) -> None:
    """Encode frames in batches (rendering is vectorised; only encoding is per frame)."""
    for start in range(0, n_frames, _BATCH_FRAMES):
        frame_idx = np.arange(start, min(start + _BATCH_FRAMES, n_frames), dtype=np.int64)
        # yuv420p as one (height * 3 / 2, width) array: luma rows, then neutral chroma rows.
        # Building it directly avoids a per-frame swscale conversion (25x slower).
        yuv = np.full((frame_idx.shape[0], height * 3 // 2, width), 128, dtype=np.uint8)
        yuv[:, :height] = _frames_gray(frame_idx, width, height, texture)
        for offset, index in enumerate(frame_idx):
            frame = av.VideoFrame.from_ndarray(yuv[offset], format="yuv420p")
            frame.pts = int(pts_ticks[index])
            container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
