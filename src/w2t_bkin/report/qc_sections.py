"""Sections of the QC report about timing: frame intervals and drops per camera, the Bpod states
around their sync pulses, the alignment statistics, and how a failed run ended.

Split from :mod:`w2t_bkin.report.qc`, which assembles the page; every text is escaped here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from w2t_bkin.model.stats import StreamStats
from w2t_bkin.report import qc_time_figures
from w2t_bkin.report.html import (
    STATUS_CLASS,
    badge_html,
    badge_only_html,
    esc,
    figure_html,
    missing_note,
    num_text,
    table_html,
)
from w2t_bkin.report.qc_inputs import FrameCheck, FrameTimeline, QCInputs, TrialStates

MAX_LISTED_DROPPED = 100
"""Dropped frame indices listed per camera; the rest are counted."""

MAX_LISTED_IN_TABLE = 3
"""Indices shown per cell of the alignment table; ``alignment_stats.json`` has them all."""


# ----------------------------------------------------------------------------- run outcome


GAP_FACTOR = 1.5
"""An interval above this many median intervals is a gap: between TTL pulses (the TTL table) and
between a video's own frame timestamps (cameras without a frame TTL)."""


def failure_html(qc: QCInputs) -> str:
    """One sentence on how the run ended, the error's first line and its fix; "" on success.

    The rest of a long error (and any traceback) belongs in ``pipeline.log``, not on top of the
    page a scientist opens first.
    """
    if qc.status == "succeeded":
        return ""
    phase = f" in phase {qc.failed_phase}" if qc.failed_phase else ""
    parts = [
        f'<p class="fail-text">This session {esc(qc.status)}{esc(phase)}; no NWB file was '
        "published. The sections below show what the run had checked before it stopped.</p>"
    ]
    first_line, hint = error_summary(qc.error)
    if first_line:
        parts.append(f'<p class="error"><b>Error:</b> {esc(first_line)}</p>')
    if hint:
        parts.append(f'<p class="error-hint"><b>Fix:</b> {esc(hint)}</p>')
    parts.append(
        '<p class="note">The full message is in status.json and pipeline.log in the session\'s '
        "processed folder.</p>"
    )
    return f'<div class="failure">{"".join(parts)}</div>'


def error_summary(error: str | None) -> tuple[str, str]:
    """The first line of an error that is not traceback, and its hint ("" when absent)."""
    lines = [line.rstrip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return "", ""
    first = lines[0]
    if first.startswith("Traceback"):
        # a traceback ends with the exception line: the last line that is not indented
        unindented = [line for line in lines[1:] if not line[:1].isspace()]
        first = unindented[-1] if unindented else first
    hints = [
        line.strip()[len("hint:") :].strip() for line in lines if line.strip().startswith("hint:")
    ]
    return first, hints[0] if hints else ""


# ------------------------------------------------------------------------------------- cameras


def camera_status(check: FrameCheck) -> tuple[str, str]:
    """Badge status and text of a camera: its findings, never a green "ok" beside a drop."""
    found = []
    if check.n_dropped:
        found.append(f"{check.n_dropped} dropped")
    if check.n_missing:
        found.append(f"{check.n_missing} lost pulse{'s' if check.n_missing != 1 else ''}")
    if check.n_spurious:
        found.append(f"{check.n_spurious} spurious pulse{'s' if check.n_spurious != 1 else ''}")
    status = check.status or "n/a"
    if found and STATUS_CLASS.get(status.lower()) == "ok":
        status = "warn"
    return status, ", ".join(found) if found else status


def camera_badge(check: FrameCheck) -> str:
    status, text = camera_status(check)
    return badge_html(f"camera {check.camera_id}", status, text)


def camera_status_cell(check: FrameCheck) -> str:
    return badge_only_html(camera_status(check)[0])


def frame_timing_html(checks: Sequence[FrameCheck], timelines: Sequence[FrameTimeline]) -> str:
    """Per camera: frame interval over time (drops and interpolations marked) and the lists."""
    if not checks and not timelines:
        return missing_note("no cameras in this session")
    by_camera = {t.camera_id: t for t in timelines}
    parts = []
    for check in checks:
        timeline = by_camera.get(check.camera_id)
        parts.append(f"<h3>{esc(check.camera_id)}</h3>")
        if timeline is not None and np.asarray(timeline.frame_times_s).size >= 2:
            parts.append(
                figure_html(
                    functools.partial(qc_time_figures.frame_intervals_png, timeline),
                    f"frame interval over time, camera {check.camera_id}",
                )
            )
        if check.frame_clock == "ttl":
            items = _dropped_item(check) + _interpolated_item(timeline)
        else:
            items = _own_clock_items(check, timeline)
        parts.append(f"<ul>{items}</ul>")
    return "".join(parts)


def _dropped_item(check: FrameCheck) -> str:
    camera = esc(check.camera_id)
    dropped = [int(i) for i in np.asarray(check.dropped_frames, dtype=np.int64)]
    if not dropped:
        return f"<li><b>{camera}</b>: no dropped frames</li>"
    listed = ", ".join(str(i) for i in dropped[:MAX_LISTED_DROPPED])
    more = len(dropped) - MAX_LISTED_DROPPED
    tail = f" <i>... and {more} more</i>" if more > 0 else ""
    return (
        f"<li><b>{camera}</b>: {len(dropped)} dropped frame(s) at indices "
        f'<span class="mono">{listed}</span>{tail}</li>'
    )


def _own_clock_items(check: FrameCheck, timeline: FrameTimeline | None) -> str:
    """A camera timed by its video's timestamps or a nominal rate: no pulses to count drops
    by; gaps in its own timestamps (:func:`timestamp_gaps`, file boundaries aside)
    are the only trace of dropped frames."""
    camera = esc(check.camera_id)
    source = "the video's own timestamps" if check.frame_clock == "video" else "a nominal rate"
    items = [
        f"<li><b>{camera}</b>: no frame TTL, frame times from {source}: dropped frames cannot "
        "be counted by pulses</li>"
    ]
    if timeline is None or check.frame_clock != "video":
        return "".join(items)
    after = timestamp_gaps(timeline)
    if after.size == 0:
        items.append("<li>no gaps in the video's timestamps</li>")
        return "".join(items)
    listed = ", ".join(str(int(i)) for i in after[:MAX_LISTED_DROPPED])
    more = after.size - MAX_LISTED_DROPPED
    tail = f" <i>... and {more} more</i>" if more > 0 else ""
    items.append(
        f"<li>{after.size} gap(s) in the video's timestamps (frames likely dropped) after frame "
        f'indices <span class="mono">{listed}</span>{tail}</li>'
    )
    return "".join(items)


def timestamp_gaps(timeline: FrameTimeline) -> np.ndarray:
    """``(n_gaps,) int64``: frames followed by an interval over :data:`GAP_FACTOR` x the median.

    Intervals across a video-file boundary (the pause between files) are not gaps.
    """
    times_s = np.asarray(timeline.frame_times_s, dtype=np.float64)
    if times_s.size < 3:
        return np.empty(0, np.int64)
    interval_s = np.diff(times_s)
    starts = np.asarray(timeline.chunk_starting_frame, dtype=np.int64)
    interval_s[starts[(starts > 0) & (starts < times_s.size)] - 1] = np.nan
    finite = interval_s[np.isfinite(interval_s)]
    if finite.size == 0:
        return np.empty(0, np.int64)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(interval_s > GAP_FACTOR * float(np.median(finite))).astype(np.int64)


def _interpolated_item(timeline: FrameTimeline | None) -> str:
    if timeline is None:
        return ""
    frames = [int(i) for i in np.asarray(timeline.interpolated_frame_idx, dtype=np.int64)]
    if not frames:
        return "<li>every frame has a pulse of its own</li>"
    listed = ", ".join(str(i) for i in frames[:MAX_LISTED_DROPPED])
    more = len(frames) - MAX_LISTED_DROPPED
    tail = f" <i>... and {more} more</i>" if more > 0 else ""
    return (
        f"<li>{len(frames)} frame(s) without a pulse of their own, times interpolated: "
        f'<span class="mono">{listed}</span>{tail}</li>'
    )


# -------------------------------------------------------------------------------------- trials


def trial_states_html(states: TrialStates | None) -> str:
    if states is None or states.n_trials == 0:
        return ""
    sync = ", ".join(states.sync_states)
    caption = (
        "Each row is a trial; bars are its Bpod states on the reference clock, time 0 at the "
        "trial's sync pulse"
        + (f" (the onset of {sync}, whose bars should start at 0)" if sync else "")
        + ". A white diamond at 0 marks a trial without a recorded pulse, placed by the clock "
        "model."
    )
    return (
        "<h3>Bpod states around each trial's sync pulse</h3>"
        + figure_html(
            functools.partial(qc_time_figures.trial_states_png, states),
            "Bpod states of each trial aligned to its sync pulse",
        )
        + f'<p class="note">{esc(caption)}</p>'
    )


# -------------------------------------------------------------------------- alignment stats


def alignment_stats_html(rows: Sequence[StreamStats]) -> str:
    """One short row per stream (index lists as counts and first few) and its notes below."""
    if not rows:
        return missing_note("no aligned streams")
    headers = [
        "stream",
        "kind",
        "status",
        "items",
        "pulses",
        "matched",
        "dropped",
        "lost pulses",
        "spurious",
        "unassigned",
        "residual RMS / max (ms)",
        "drift (ppm)",
        "offset (s)",
    ]
    body = []
    for row in rows:
        residuals = (
            f"{num_text(row.residual_rms_ms, '.3g')} / {num_text(row.residual_max_ms, '.3g')}"
            if row.has_clock
            else ""
        )
        cells = [
            f"<td>{esc(row.stream_id)}</td>",
            f"<td>{esc(row.kind)}</td>",
            f"<td>{esc(row.status)}</td>",
            f"<td>{row.n_items}</td>",
            f"<td>{row.n_pulses}</td>",
            f"<td>{row.n_matched}</td>",
            *(
                f"<td>{_index_summary(values)}</td>"
                for values in (
                    row.dropped_idx,
                    row.missing_idx,
                    row.spurious_idx,
                    row.unassigned_idx,
                )
            ),
            f"<td>{esc(residuals)}</td>",
            f"<td>{esc(num_text(row.drift_ppm, '.2f') if row.has_clock else '')}</td>",
            f"<td>{esc(num_text(row.offset_s, '.6f') if row.has_clock else '')}</td>",
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    notes = []
    for row in rows:
        items = [n for n in (row.notes or "").split("; ") if n]
        if row.frame_pts:
            items.append(f"container timestamps: {row.frame_pts}")
        if items:
            listed = "".join(f"<li>{esc(n)}</li>" for n in items)
            notes.append(f"<li><b>{esc(row.stream_id)}</b><ul>{listed}</ul></li>")
    notes_html = f'<ul class="notes">{"".join(notes)}</ul>' if notes else ""
    return (
        table_html(headers, body)
        + f'<p class="note">Index lists show their count and first {MAX_LISTED_IN_TABLE} '
        "entries; alignment_stats.json next to the NWB file has them in full.</p>" + notes_html
    )


def _index_summary(values: np.ndarray | None) -> str:
    if values is None:
        return ""
    indices = [int(i) for i in np.asarray(values, dtype=np.int64)]
    if not indices:
        return "0"
    head = ", ".join(str(i) for i in indices[:MAX_LISTED_IN_TABLE])
    more = ", ..." if len(indices) > MAX_LISTED_IN_TABLE else ""
    return f'{len(indices)} <span class="idx">({esc(head)}{more})</span>'
