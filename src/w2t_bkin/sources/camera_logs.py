"""Per-frame logs a camera embeds in its frames: the frame counter and the GPIO pin states.

Machine-vision cameras (FLIR/Point Grey, Basler) can embed, in every frame they acquire, a
frame counter and the state of their GPIO pins; acquisition software (IBL's iblrig with
Bonsai) writes them, one value per SAVED frame, as raw little-endian float64 files
(``_iblrig_<label>Camera.frame_counter.bin``, ``_iblrig_<label>Camera.GPIO.bin``).

Frame counter
    The camera increments it once per ACQUIRED frame, so a step of ``k > 1`` between two
    consecutive saved frames means ``k - 1`` frames were acquired but never saved (the host
    dropped them). It is a 32-bit register: after ``2**32 - 1`` it wraps to 0.
GPIO
    A uint32 whose top 4 bits are the 4 pins: pin 1 is bit 31, pin 4 is bit 28 (ibllib's
    ``load_camera_gpio`` convention); the other 28 bits are always 0.

Readers load the whole file with :func:`numpy.fromfile` and validate it with array operations;
a bad value is an :class:`~w2t_bkin.errors.IngestError` naming the file and the row (0-based
saved-frame index).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError

__all__ = ["COUNTER_WRAP", "N_GPIO_PINS", "GpioLog", "read_frame_counter", "read_gpio_log"]

#: The embedded frame counter is a 32-bit register.
COUNTER_WRAP = 2**32
#: A wrap is only accepted when at most this many frames went unsaved across it.
_MAX_FRAMES_ACROSS_WRAP = 2**16
N_GPIO_PINS = 4
#: Bit of each pin (pin 1 first).
_GPIO_BITS = np.arange(31, 31 - N_GPIO_PINS, -1, dtype=np.uint64)
_GPIO_LOW_MASK = np.uint64((1 << (32 - N_GPIO_PINS)) - 1)

_FORMAT_HINT = (
    "the file must hold one little-endian float64 per saved frame (as iblrig/Bonsai write "
    "_iblrig_<label>Camera.{frame_counter,GPIO}.bin); check that the path names the right file "
    "and that it was copied completely"
)


@dataclass(frozen=True, eq=False)
class GpioLog:
    """GPIO pin states of one camera, one row per saved frame.

    Attributes
    ----------
    pin_states
        ``(n_frames, 4) bool``: column ``k`` is pin ``k + 1`` (bit ``31 - k``), True when high.
    rising_frame_idx, falling_frame_idx
        One ``(n_edges,) int64`` array per pin: the saved frames at which the pin is first
        seen high (rising) or low (falling) after the previous frame. A pin already high in
        frame 0 has no edge there: its rise happened before the recording.
    path
        The file read.
    """

    pin_states: np.ndarray
    rising_frame_idx: tuple[np.ndarray, ...]
    falling_frame_idx: tuple[np.ndarray, ...]
    path: Path

    @property
    def n_frames(self) -> int:
        return int(self.pin_states.shape[0])

    def edge_frame_idx(self, pin: int) -> np.ndarray:
        """``(n_edges,) int64``: sorted frames of every edge of ``pin`` (1 to 4)."""
        k = pin - 1
        return np.sort(np.concatenate([self.rising_frame_idx[k], self.falling_frame_idx[k]]))


def read_frame_counter(path: str | Path) -> np.ndarray:
    """Read a camera's embedded frame counter, one value per saved frame.

    Parameters
    ----------
    path
        A raw float64 file (``*.frame_counter.bin``).

    Returns
    -------
    numpy.ndarray
        ``(n_frames,) int64``: the counter of every saved frame, unwrapped (a 32-bit wrap adds
        ``2**32`` to every later value), strictly increasing.

    Raises
    ------
    IngestError
        The file is missing, empty, not a whole number of float64 values, or holds a value that
        is not finite, not a non-negative integer, or not larger than the previous one (a
        counter that repeats or goes backwards, unless it is a 32-bit wrap: from near
        ``2**32 - 1`` to near 0 with at most 65536 frames unsaved across it).
    """
    path = Path(path)
    raw = _read_float64(path, "frame counter")
    row = _first(~np.isfinite(raw) | (raw < 0) | (raw != np.floor(raw)))
    if row is not None:
        raise IngestError(
            f"{path}: frame counter at row {row} (0-based saved frame) is "
            f"{float(raw[row])!r}; expected a non-negative integer",
            hint=f"the file may be corrupt or not a frame counter; {_FORMAT_HINT}",
            path=path,
        )
    if raw.max() >= 2.0**53:  # float64 holds integers exactly only below 2**53
        row = int(np.argmax(raw))
        raise IngestError(
            f"{path}: frame counter at row {row} is {float(raw[row])!r}, too large to be exact "
            "in float64",
            hint=_FORMAT_HINT,
            path=path,
        )
    counter = raw.astype(np.int64)
    step = np.diff(counter)
    # a 32-bit register wraps to 0: from near the top to near the bottom, few frames across
    across = step + COUNTER_WRAP
    wrap = (step < 0) & (counter[1:] < COUNTER_WRAP) & (across >= 1)
    wrap &= across <= _MAX_FRAMES_ACROSS_WRAP
    if wrap.any():
        counter[1:] += COUNTER_WRAP * np.cumsum(wrap)
        step = np.diff(counter)
    row = _first(step <= 0)
    if row is not None:
        what = "repeats" if step[row] == 0 else "goes backwards"
        raise IngestError(
            f"{path}: frame counter {what} from {int(raw[row])} at row {row} to "
            f"{int(raw[row + 1])} at row {row + 1} (0-based saved frames); a camera's frame "
            "counter increases by at least one per saved frame",
            hint="the file may join several recordings (the counter restarts when the camera "
            "does): give one counter file per video file, in the same order as the videos",
            path=path,
        )
    return counter


def read_gpio_log(path: str | Path) -> GpioLog:
    """Read a camera's embedded GPIO pin states, one row per saved frame.

    Parameters
    ----------
    path
        A raw float64 file (``*.GPIO.bin``) holding uint32 values whose top 4 bits are the pins.

    Returns
    -------
    GpioLog

    Raises
    ------
    IngestError
        The file is missing, empty, not a whole number of float64 values, or holds a value that
        is not a uint32 with only its top 4 bits set.
    """
    path = Path(path)
    raw = _read_float64(path, "GPIO")
    bad = ~np.isfinite(raw) | (raw < 0) | (raw >= 2.0**32) | (raw != np.floor(raw))
    words = np.where(bad, 0, raw).astype(np.uint64)
    bad |= (words & _GPIO_LOW_MASK) != 0
    row = _first(bad)
    if row is not None:
        raise IngestError(
            f"{path}: GPIO value at row {row} (0-based saved frame) is {float(raw[row])!r}; "
            "expected a uint32 with only its top 4 bits (the 4 pins) set",
            hint=f"the file may be corrupt or not a GPIO log; {_FORMAT_HINT}",
            path=path,
        )
    states = ((words[:, None] >> _GPIO_BITS[None, :]) & np.uint64(1)).astype(bool)
    change = np.diff(states.astype(np.int8), axis=0)
    rising = tuple(np.flatnonzero(change[:, k] == 1).astype(np.int64) + 1 for k in range(4))
    falling = tuple(np.flatnonzero(change[:, k] == -1).astype(np.int64) + 1 for k in range(4))
    return GpioLog(states, rising, falling, path)


def _read_float64(path: Path, what: str) -> np.ndarray:
    """``(n,) float64`` values of a raw little-endian float64 file, at least one."""
    try:
        size = path.stat().st_size
        if size % 8 == 0 and size > 0:
            return np.fromfile(path, dtype="<f8")
    except OSError as exc:
        raise IngestError(
            f"{path}: cannot read the {what} file: {exc.strerror or exc}",
            hint="check that the file exists and is readable",
            path=path,
        ) from None
    if size == 0:
        raise IngestError(
            f"{path}: the {what} file is empty; expected one float64 per saved frame",
            hint="the acquisition may have stopped before the first frame; remove the file's "
            "entry from the metadata if the camera saved nothing",
            path=path,
        )
    raise IngestError(
        f"{path}: the {what} file has {size} bytes, not a multiple of 8; expected one float64 "
        "per saved frame",
        hint=_FORMAT_HINT,
        path=path,
    )


def _first(mask: np.ndarray) -> int | None:
    """Index of the first True of ``mask``, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None
