"""The frame/pulse mismatch error: what was found, and a hint that fits how frames were placed."""

from __future__ import annotations

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.frame_grid import _Slots, _Who


def _mismatch_error(
    who: _Who,
    n_frames: int,
    pulses: np.ndarray,
    kept: np.ndarray,
    spurious: np.ndarray,
    pulse_slot: np.ndarray,
    slots: _Slots,
    pts_note: str,
) -> SyncError:
    step = np.diff(pulse_slot)
    gap_after = np.flatnonzero(step > 1)
    shown = ", ".join(
        f"after pulse {i} at {kept[i]:.6f} s ({int(step[i]) - 1} missing)" for i in gap_after[:10]
    )
    more = f" and {gap_after.size - 10} more" if gap_after.size > 10 else ""
    if slots.how == "frame_counter":
        pts_state = "not used: the frame counter placed the frames"
    else:
        pts_state = "used" if slots.how == "pts" else f"not used: {pts_note}"
    message = (
        f"camera {who.camera_id!r} has {n_frames} frames but its TTL channel {who.ttl_id!r} has "
        f"{pulses.size} pulses ({int(spurious.sum())} removed as spurious, {kept.size} kept): "
        f"{slots.problem}. Container timestamps {pts_state}. "
        f"Pulse gaps: {shown or 'none'}{more}"
    )
    if slots.how == "frame_counter":
        hint = (
            "the frame counter places frames only on a pulse train that spans exactly the "
            "counted frames: use a TTL file holding only the pulses recorded while the video "
            "was, check that the camera's ttl_id is its frame-trigger channel and that its "
            "counter files belong to its videos, in order; or leave frame_counter out to let "
            "the counts, the container timestamps and frame_pulse_policy decide"
        )
    elif slots.how == "pts":
        hint = (
            "the video's timestamps cannot place the frames on the pulses, and no "
            "frame_pulse_policy can: check that the camera's ttl_id is its frame-trigger "
            "channel and that its video files are listed in recording order; pulses recorded "
            "before the video started or after it stopped let a stretch of video without "
            "dropped frames slide over them, so use a TTL file holding only the pulses recorded "
            "while the video was, or declare those pulses with the camera's saved_frames"
        )
    elif slots.fatal:
        hint = (
            "the extra pulses are frames acquired but never saved, or pulses recorded before "
            "the video started or after it stopped, and no frame_pulse_policy can tell which: "
            "use a video whose timestamps show the missing frames (camera hardware timestamps, "
            "or a variable-frame-rate container), or a TTL file holding only the pulses "
            "recorded while the video was; when the extra pulses were recorded before the "
            "camera started saving or after it stopped, declare them with the camera's "
            "saved_frames (skip_leading_pulses, skip_trailing_pulses, or a pulses_from_s/"
            "pulses_to_s window on the TTL clock); also check that the camera's ttl_id is its "
            "frame-trigger channel"
        )
    else:
        hint = (
            "set verification.frame_pulse_policy = 'repair' (or 'warn') to interpolate frames "
            "without a pulse (flagged), use a video whose timestamps show dropped frames (camera "
            "hardware timestamps, or a variable-frame-rate container) so that camera drops can "
            "be told from lost pulses, or check that the camera's ttl_id is its frame-trigger "
            "channel"
        )
    return SyncError(message, hint=hint)
