"""Synthetic videos of moving Gaussian blobs with known trajectories (facial motion ground truth).

Each blob oscillates around its centre along x and y with a known displacement, the way a
whisker pad or a nose moves in a face camera. Because the trajectory is known, so is its speed,
which the motion energy and the first motion SVD component of an ROI around the blob must
follow. :func:`write_gray_video` writes any ``(n, height, width) uint8`` array as a video: with
``codec="ffv1"`` (lossless) a decoded frame equals the written one exactly, which lets tests
compare against values computed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

__all__ = ["Blob", "BlobVideo", "blob_frames", "write_blob_video", "write_gray_video"]

_BATCH_FRAMES = 256


@dataclass(frozen=True)
class Blob:
    """A Gaussian blob oscillating around ``(centre_x_px, centre_y_px)``.

    The displacement is ``amplitude_px * envelope(t) * sin(2 pi frequency_hz t + phase_rad)``
    along the unit direction ``(direction_x, direction_y)``, where ``envelope`` switches the
    motion on and off in bouts of ``bout_s`` seconds (seeded), so that speed varies over
    time as in real behaviour rather than being a pure sinusoid.
    """

    centre_x_px: float
    centre_y_px: float
    sigma_px: float = 4.0
    brightness: float = 150.0
    amplitude_px: float = 6.0
    frequency_hz: float = 2.0
    phase_rad: float = 0.0
    direction_x: float = 1.0
    direction_y: float = 0.0
    bout_s: float = 1.0
    seed: int = 0

    def displacement_px(self, t_s: np.ndarray) -> np.ndarray:
        """``(n,) float64`` signed displacement along the direction at times ``t_s``."""
        bouts = np.floor(np.asarray(t_s) / self.bout_s).astype(np.int64)
        n_bouts = int(bouts.max()) + 1 if bouts.size else 0
        # each bout moves with its own amplitude (0 to 1): rest and movement alternate
        gains = np.random.default_rng(self.seed).uniform(0.0, 1.0, n_bouts)
        gains[::3] = 0.0  # one bout in three is still
        envelope = gains[bouts]
        return (
            self.amplitude_px
            * envelope
            * np.sin(2 * np.pi * self.frequency_hz * t_s + self.phase_rad)
        )

    def positions_px(self, t_s: np.ndarray) -> np.ndarray:
        """``(n, 2) float64`` blob centre ``(x, y)`` in pixels at times ``t_s``."""
        d = self.displacement_px(t_s)
        norm = float(np.hypot(self.direction_x, self.direction_y)) or 1.0
        return np.stack(
            [
                self.centre_x_px + d * self.direction_x / norm,
                self.centre_y_px + d * self.direction_y / norm,
            ],
            axis=1,
        )


@dataclass(frozen=True)
class BlobVideo:
    """What :func:`write_blob_video` wrote: the file and the ground truth.

    Attributes
    ----------
    path
        The video file.
    positions_px
        ``(n_frames, n_blobs, 2) float64`` centre of each blob in each frame.
    speed_px_per_frame
        ``(n_frames, n_blobs) float64``: distance each blob moved since the previous frame
        (NaN at frame 0).
    """

    path: Path
    positions_px: np.ndarray
    speed_px_per_frame: np.ndarray


def blob_frames(
    blobs: tuple[Blob, ...],
    frame_idx: np.ndarray,
    rate_hz: float,
    width: int,
    height: int,
    *,
    background: float = 60.0,
    noise_std: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Render frames ``(n, height, width) uint8`` of ``blobs`` at frame indices ``frame_idx``."""
    t_s = frame_idx.astype(np.float64) / rate_hz
    x = np.arange(width, dtype=np.float64)
    y = np.arange(height, dtype=np.float64)
    image = np.full((frame_idx.shape[0], height, width), background, dtype=np.float64)
    for blob in blobs:
        centre = blob.positions_px(t_s)
        gx = np.exp(-((x[None, :] - centre[:, 0:1]) ** 2) / (2 * blob.sigma_px**2))
        gy = np.exp(-((y[None, :] - centre[:, 1:2]) ** 2) / (2 * blob.sigma_px**2))
        image += blob.brightness * gy[:, :, None] * gx[:, None, :]
    if noise_std > 0:
        # per-frame seeds: the same frame has the same noise whatever the batching
        for i, idx in enumerate(frame_idx):
            rng = np.random.default_rng([seed, int(idx)])
            image[i] += rng.normal(0.0, noise_std, (height, width))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_gray_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    rate_hz: float,
    *,
    codec: Literal["libx264", "ffv1", "mpeg4"] = "libx264",
) -> Path:
    """Encode grey frames as a yuv420p video (grey levels in the luma plane, neutral chroma).

    Parameters
    ----------
    path
        Output file; the container comes from the suffix (``.mp4``, ``.mkv``, ``.avi``).
    frames
        Batches ``(n, height, width) uint8`` (or single ``(height, width)`` frames), in order;
        height and width even.
    rate_hz
        Frame rate stored in the container.
    codec
        ``"libx264"`` (lossy, ultrafast), ``"ffv1"`` (lossless: decoded luma equals the
        input exactly; use ``.mkv`` or ``.avi``) or ``"mpeg4"``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    rate = Fraction(rate_hz).limit_denominator(1_000_000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        stream.codec_context.time_base = 1 / rate
        pts = 0
        for batch in _batches(frames):
            n, height, width = batch.shape
            if height % 2 or width % 2:
                raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
            if pts == 0:
                stream.width, stream.height = width, height
            yuv = np.full((n, height * 3 // 2, width), 128, dtype=np.uint8)
            yuv[:, :height] = batch
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(yuv[i], format="yuv420p")
                frame.pts = pts
                pts += 1
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _batches(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for batch in frames:
        array = np.asarray(batch, dtype=np.uint8)
        yield array[None] if array.ndim == 2 else array


def write_blob_video(
    path: str | Path,
    blobs: tuple[Blob, ...],
    n_frames: int,
    rate_hz: float = 30.0,
    *,
    width: int = 64,
    height: int = 48,
    background: float = 60.0,
    noise_std: float = 1.0,
    codec: Literal["libx264", "ffv1", "mpeg4"] = "libx264",
    seed: int = 0,
) -> BlobVideo:
    """Write a video of moving blobs, rendered and encoded in batches (bounded memory).

    Parameters
    ----------
    path
        Output file.
    blobs
        The blobs; their trajectories are the ground truth returned.
    n_frames, rate_hz
        Length and frame rate.
    width, height
        Frame size in pixels (even).
    background, noise_std
        Grey level of the background and the standard deviation of seeded Gaussian pixel noise.
    codec
        See :func:`write_gray_video`.
    seed
        Seed of the pixel noise.

    Returns
    -------
    BlobVideo
        The file, and each blob's position and per-frame speed.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")

    def render() -> Iterator[np.ndarray]:
        for start in range(0, n_frames, _BATCH_FRAMES):
            idx = np.arange(start, min(start + _BATCH_FRAMES, n_frames), dtype=np.int64)
            yield blob_frames(
                blobs,
                idx,
                rate_hz,
                width,
                height,
                background=background,
                noise_std=noise_std,
                seed=seed,
            )

    write_gray_video(path, render(), rate_hz, codec=codec)
    t_s = np.arange(n_frames, dtype=np.float64) / rate_hz
    positions = np.stack([blob.positions_px(t_s) for blob in blobs], axis=1)
    speed = np.full((n_frames, len(blobs)), np.nan)
    speed[1:] = np.linalg.norm(np.diff(positions, axis=0), axis=2)
    return BlobVideo(Path(path), positions, speed)
