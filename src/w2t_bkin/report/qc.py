"""The session QC report: one self-contained HTML page (``qc/report.html``).

The page needs no network and no JavaScript: CSS is inline and figures are embedded as base64
PNG. Every text that comes from data or metadata is HTML-escaped. Each section says so when its
data are absent ("no Bpod data in this session") rather than disappearing, so a reader can tell
"nothing to show" from "not checked".

:class:`QCInputs` holds plain arrays, dicts and strings so this module depends on no sync or
session module; the session phase fills it from the sync and validation results.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from w2t_bkin.io_utils import atomic_write_text, drop_resident_pages
from w2t_bkin.nwb.validation import BLOCKING_IMPORTANCES
from w2t_bkin.report import qc_figures, qc_time_figures
from w2t_bkin.report.html import (
    PAGE_CSS,
    as_float,
    badge_html,
    cell_text,
    esc,
    figure_html,
    fmt_ppm,
    missing_note,
    num_text,
    section_html,
    table_html,
)
from w2t_bkin.report.qc_ephys import probe_clock_badges, probe_clocks_html
from w2t_bkin.report.qc_inputs import (
    FrameCheck,
    FrameTimeline,
    PoseConfidence,
    ProbeClockQC,
    QCInputs,
    TrialAlignmentSummary,
    TrialStates,
)
from w2t_bkin.report.qc_sections import GAP_FACTOR as GAP_FACTOR
from w2t_bkin.report.qc_sections import (
    MAX_LISTED_DROPPED,
    alignment_stats_html,
    camera_badge,
    camera_status_cell,
    failure_html,
    frame_timing_html,
    trial_states_html,
)

log = logging.getLogger(__name__)


__all__ = [
    "MAX_LISTED_DROPPED",
    "FrameCheck",
    "FrameTimeline",
    "PoseConfidence",
    "ProbeClockQC",
    "QCInputs",
    "TrialAlignmentSummary",
    "TrialStates",
    "data_section_tasks",
    "join_data_sections",
    "render_data_sections",
    "render_qc_report",
    "write_qc_report",
]


def render_qc_report(qc: QCInputs, data_sections: Sequence[str] | None = None) -> str:
    """The QC report of one session as a complete HTML document.

    ``data_sections``: what :func:`render_data_sections` returned for this session's data,
    drawn beforehand (while the NWB file was being validated); ``None`` draws them now.
    """
    title = f"QC report: subject {qc.subject}, session {qc.session}"
    sections = [
        section_html("Summary", "summary", _summary(qc)),
        *(data_sections if data_sections is not None else render_data_sections(qc)),
        section_html("NWB validation", "validation", _validation_section(qc)),
        section_html("Warnings", "warnings", _warnings_section(qc.warnings)),
    ]
    generated = (
        qc.generated_at.isoformat(timespec="seconds")
        if isinstance(qc.generated_at, dt.datetime)
        else str(qc.generated_at)
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            f"<style>{PAGE_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{esc(title)}</h1>",
            failure_html(qc),
            f'<p class="meta">generated {esc(generated)} by w2t-bkin '
            f"{esc(qc.w2t_bkin_version)}</p>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )


def render_data_sections(qc: QCInputs) -> list[str]:
    """The sections drawn from the session's data, with every figure: frames, TTL, trials,
    ephys clocks, alignment statistics and pose.

    They do not depend on the validation findings, the warnings or the outcome of the run,
    which only the summary and the last two sections show.
    """
    return join_data_sections(qc, [draw() for draw in data_section_tasks(qc)])


def data_section_tasks(qc: QCInputs) -> list[Callable[[], str]]:
    """:func:`render_data_sections` as independent pieces of work, for two processes to share:
    one per section, and the pose section one per camera (the longest ones).

    ``join_data_sections(qc, [task() for task in tasks])`` is ``render_data_sections(qc)``.
    """
    frames_reached = functools.partial(_reached_or_note, qc, "synchronization", "frame times")
    tasks: list[Callable[[], str]] = [
        lambda: section_html(
            "Frame-count verification",
            "frames",
            frames_reached(lambda: _frame_table(qc.frame_checks)),
        ),
        lambda: section_html(
            "Frame intervals and dropped frames",
            "dropped",
            frames_reached(lambda: frame_timing_html(qc.frame_checks, qc.frame_timelines)),
        ),
        lambda: section_html(
            "TTL pulses",
            "ttl",
            _reached_or_note(
                qc, "verification", "TTL pulses", lambda: _ttl_section(qc.ttl_channels)
            ),
        ),
        lambda: section_html(
            "Trial alignment and clock drift",
            "trials",
            _reached_or_note(qc, "synchronization", "Bpod trial times", lambda: _trial_section(qc)),
        ),
        *([lambda: _probe_clock_section(qc)[0]] if qc.probe_clocks else []),
        lambda: section_html(
            "Alignment statistics",
            "alignment",
            _reached_or_note(
                qc,
                "synchronization",
                "alignment statistics",
                lambda: alignment_stats_html(qc.alignment_stats),
            ),
        ),
    ]
    if _pose_by_camera(qc):
        tasks += [functools.partial(_pose_camera, c, e) for c, e in qc.pose_confidence.items()]
    else:
        tasks.append(
            lambda: _reached_or_note(
                qc, "ingestion", "pose tracks", lambda: missing_note("no pose data in this session")
            )
        )
    return tasks


def join_data_sections(qc: QCInputs, parts: Sequence[str]) -> list[str]:
    """The data sections from what each of :func:`data_section_tasks` returned, in order."""
    n_cameras = len(qc.pose_confidence) if _pose_by_camera(qc) else 1
    fixed, pose = list(parts[:-n_cameras]), parts[-n_cameras:]
    return [*fixed, section_html("Pose confidence", "pose", "".join(pose))]


def _pose_by_camera(qc: QCInputs) -> bool:
    return bool(qc.pose_confidence) and qc.not_reached("ingestion", "pose tracks") is None


def write_qc_report(
    qc: QCInputs, path: str | os.PathLike[str], data_sections: Sequence[str] | None = None
) -> Path:
    """Render the report and write it atomically (parent folders are created).

    ``data_sections``: as for :func:`render_qc_report`.
    """
    return atomic_write_text(path, render_qc_report(qc, data_sections))


# ------------------------------------------------------------------------------------- sections


def _probe_clock_section(qc: QCInputs) -> list[str]:
    """The ephys clock section, only for sessions with a probe clock fit (none: no section)."""
    if not qc.probe_clocks:
        return []
    return [section_html("Ephys clocks", "ephys-clocks", probe_clocks_html(qc.probe_clocks))]


def _reached_or_note(qc: QCInputs, phase: str, what: str, body: Callable[[], str]) -> str:
    note = qc.not_reached(phase, what)
    return missing_note(note) if note is not None else body()


#: Trial labels that mean a trial time was not bracketed by matched sync pulses.
TRIAL_WARN_LABELS = ("unaligned", "extrapolated")


def _trial_badge(alignment: TrialAlignmentSummary) -> str:
    drift = fmt_ppm(as_float(alignment.drift_ppm))
    labels = np.asarray(alignment.alignment_label, dtype=str)
    flagged = {name: int(np.count_nonzero(labels == name)) for name in TRIAL_WARN_LABELS}
    flagged = {name: n for name, n in flagged.items() if n}
    if not flagged:
        return badge_html("Bpod alignment", "ok", drift)
    text = ", ".join(f"{n} {name}" for name, n in flagged.items())
    return badge_html("Bpod alignment", "warn", f"{text} of {labels.size} trials; {drift}")


def _summary(qc: QCInputs) -> str:
    badges: list[str] = []
    if qc.status == "succeeded":
        badges.append(badge_html("session", "ok", "succeeded"))
    else:
        where = f" in {qc.failed_phase}" if qc.failed_phase else ""
        badges.append(badge_html("session", "fail", f"{qc.status}{where}"))
    badges.extend(camera_badge(check) for check in qc.frame_checks)
    if not qc.frame_checks:
        cameras = "no cameras" if qc.reached("synchronization") else "not reached"
        badges.append(badge_html("cameras", "n/a", cameras))
    if qc.ttl_channels or qc.reached("verification"):
        n_ttl = str(len(qc.ttl_channels))
        badges.append(badge_html("TTL channels", "ok" if qc.ttl_channels else "n/a", n_ttl))
    else:
        badges.append(badge_html("TTL channels", "n/a", "not reached"))
    if qc.trial_alignment is None:
        reached = qc.reached("synchronization")
        badges.append(badge_html("Bpod alignment", "n/a", "no Bpod" if reached else "not reached"))
    else:
        badges.append(_trial_badge(qc.trial_alignment))
    badges.extend(probe_clock_badges(qc.probe_clocks))
    if qc.validation_findings is None:
        reached = qc.reached("assembly")
        badges.append(badge_html("NWB validation", "n/a", "not run" if reached else "not reached"))
    else:
        blocking = [
            f for f in qc.validation_findings if str(f.get("importance")) in BLOCKING_IMPORTANCES
        ]
        badges.append(
            badge_html(
                "NWB validation",
                "fail" if blocking else "ok",
                f"{len(blocking)} blocking" if blocking else "clean",
            )
        )
    badges.append(badge_html("warnings", "warn" if qc.warnings else "ok", str(len(qc.warnings))))
    return f'<div class="badges">{"".join(badges)}</div>'


def _frame_table(checks: Sequence[FrameCheck]) -> str:
    if not checks:
        return missing_note("no cameras in this session")
    columns = [
        ("camera_id", "camera"),
        ("frame_clock", "frame clock"),
        ("n_video_frames", "video frames"),
        ("frames_counted_by", "counted by"),
        ("n_pulses", "TTL pulses"),
        ("n_matched", "matched"),
        ("n_dropped", "dropped"),
        ("n_spurious", "spurious pulses"),
        ("n_missing", "lost pulses"),
        ("status", "status"),
    ]
    rows = []
    for check in checks:
        cells = []
        for key, _ in columns:
            value = getattr(check, key)
            if key == "status":
                cells.append(f"<td>{camera_status_cell(check)}</td>")
            else:
                cells.append(f"<td>{esc(cell_text(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return table_html([label for _, label in columns], rows)


def _ttl_section(channels: Mapping[str, np.ndarray]) -> str:
    if not channels:
        return missing_note("no TTL channels in this session")
    rows = []
    for name, raw in channels.items():
        times_s = np.asarray(raw, dtype=np.float64)
        ipi_s = np.diff(times_s)
        median_ipi = float(np.median(ipi_s)) if ipi_s.size else math.nan
        n_gaps = int(np.count_nonzero(ipi_s > GAP_FACTOR * median_ipi)) if ipi_s.size else 0
        cells = [
            name,
            times_s.size,
            num_text(times_s[0], ".3f") if times_s.size else "",
            num_text(times_s[-1], ".3f") if times_s.size else "",
            num_text(median_ipi * 1e3, ".3f"),
            num_text(1.0 / median_ipi, ".3f") if median_ipi > 0 else "",
            n_gaps,
        ]
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    table = table_html(
        [
            "channel",
            "pulses",
            "first (s)",
            "last (s)",
            "median interval (ms)",
            "rate (Hz)",
            f"gaps (> {GAP_FACTOR} x median)",
        ],
        rows,
    )
    timeline = figure_html(
        lambda: qc_figures.ttl_timeline_png(channels), "TTL pulse raster of all channels"
    )
    if any(np.asarray(t).size >= 2 for t in channels.values()):
        ipi = figure_html(
            lambda: qc_figures.ipi_histograms_png(channels),
            "inter-pulse interval histograms per channel",
        )
    else:
        ipi = missing_note("no channel has two pulses: no inter-pulse intervals")
    return table + timeline + "<h3>Inter-pulse intervals</h3>" + ipi


def _trial_section(qc: QCInputs) -> str:
    alignment = qc.trial_alignment
    if alignment is None:
        return missing_note("no Bpod data in this session")
    offsets_s = np.asarray(alignment.offsets_s, dtype=np.float64)
    trial_idx = np.asarray(alignment.trial_idx)
    residuals_ms = np.asarray(alignment.residuals_ms, dtype=np.float64)
    labels = np.asarray(alignment.alignment_label, dtype=str)
    drift_ppm = as_float(alignment.drift_ppm)
    offset_s = as_float(alignment.offset_s)
    finite = residuals_ms[np.isfinite(residuals_ms)]

    facts = [
        ("clock drift", fmt_ppm(drift_ppm)),
        ("clock offset", f"{offset_s:.6f} s" if math.isfinite(offset_s) else "n/a"),
        ("trials", str(offsets_s.size)),
        ("matched trials (with residual)", str(finite.size)),
        (
            "max |residual|",
            f"{np.max(np.abs(finite)):.3f} ms" if finite.size else "n/a",
        ),
        (
            "RMS residual",
            f"{math.sqrt(float(np.mean(finite**2))):.3f} ms" if finite.size else "n/a",
        ),
    ]
    if labels.size:
        names, counts = np.unique(labels, return_counts=True)
        facts.append(
            ("trial labels", ", ".join(f"{n}: {c}" for n, c in zip(names, counts, strict=True)))
        )
    fact_list = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    if offsets_s.size:
        figure = figure_html(
            lambda: qc_figures.trial_alignment_png(trial_idx, offsets_s, labels, residuals_ms),
            "trial offsets coloured by label, and clock-fit residuals",
        )
    else:
        figure = missing_note("Bpod data present but no trial offsets were computed")
    return f'<dl class="facts">{fact_list}</dl>' + figure + trial_states_html(qc.trial_states)


MAX_POSE_FIGURES = 8
"""Individuals per camera drawn as a figure; the rest get their table only."""


def _pose_camera(camera_id: str, entry: PoseConfidence) -> str:
    try:
        return _pose_camera_html(camera_id, entry)
    finally:
        # A file-backed confidence array (a long session's) leaves memory once drawn.
        drop_resident_pages(entry.confidence)


def _pose_camera_html(camera_id: str, entry: PoseConfidence) -> str:
    parts = [f"<h3>{esc(camera_id)}</h3>"]
    names = [str(n) for n in entry.keypoint_names]
    confidence = np.asarray(entry.confidence)
    if confidence.ndim == 2:  # one individual
        confidence = confidence[:, np.newaxis, :]
    individuals = [str(n) for n in entry.individual_names] or [
        f"individual_{k}" for k in range(confidence.shape[1] if confidence.ndim == 3 else 0)
    ]
    missing = entry.missing_fraction
    missing_fraction = None if missing is None else np.asarray(missing, dtype=np.float64)
    expected = (len(individuals), len(names))
    if (
        confidence.ndim != 3
        or confidence.shape[1:] != expected
        or (missing_fraction is not None and missing_fraction.shape != expected)
    ):
        parts.append(
            missing_note(
                f"confidence cannot be summarised: shape {confidence.shape} does not match "
                f"{len(individuals)} individual(s) x {len(names)} keypoint(s)"
            )
        )
        return "".join(parts)
    if confidence.shape[0] == 0:
        parts.append(missing_note("pose present but no frames"))
        return "".join(parts)
    times = None if entry.frame_times_s is None else np.asarray(entry.frame_times_s)
    if times is not None and times.shape != (confidence.shape[0],):
        times = None  # frames not matched one-to-one to times: count frames instead
    for i, individual in enumerate(individuals):
        if len(individuals) > 1:
            parts.append(f"<h4>{esc(camera_id)}: {esc(individual)}</h4>")
        parts.append(
            _individual_pose(
                f"{camera_id}/{individual}" if len(individuals) > 1 else camera_id,
                names,
                confidence[:, i, :],
                None if missing_fraction is None else missing_fraction[i],
                draw=i < MAX_POSE_FIGURES,
                frame_times_s=times,
            )
        )
    if len(individuals) > MAX_POSE_FIGURES:
        parts.append(
            f'<p class="note">figures for the first {MAX_POSE_FIGURES} of '
            f"{len(individuals)} individuals; tables for all.</p>"
        )
    return "".join(parts)


def _individual_pose(
    label: str,
    names: list[str],
    confidence: np.ndarray,
    missing_fraction: np.ndarray | None,
    *,
    draw: bool,
    frame_times_s: np.ndarray | None = None,
) -> str:
    """Confidence figures (per keypoint, over time) and per-keypoint table of one individual.

    ``confidence`` is ``(n_frames, n_keypoints)``; ``missing_fraction`` ``(n_keypoints,)`` is
    the fraction of frames without a position (None: unknown); ``frame_times_s``
    ``(n_frames,)`` places the frames on the reference clock (None: frame numbers).
    """
    stats = qc_figures.confidence_stats(names, confidence)
    has_scores = stats.fraction_nan < 1.0
    parts = []
    if not has_scores.any():
        parts.append(
            missing_note("no confidence scores in the source file: positions only (see % missing)")
        )
    elif draw:
        parts.append(
            figure_html(
                functools.partial(qc_figures.pose_confidence_png, label, stats),
                f"confidence per keypoint, {label}",
            )
        )
        parts.append(
            figure_html(
                functools.partial(
                    qc_time_figures.confidence_over_time_png,
                    label,
                    names,
                    confidence,
                    frame_times_s,
                ),
                f"confidence over time, {label}",
            )
        )
    rows = []
    for k, name in enumerate(stats.keypoint_names):
        scored = bool(has_scores[k])
        cells = (
            name,
            num_text(stats.median[k], ".3f") if scored else "no scores",
            num_text(stats.q1[k], ".3f") + " - " + num_text(stats.q3[k], ".3f") if scored else "",
            num_text(100 * stats.fraction_low[k], ".1f") if scored else "",
            num_text(100 * missing_fraction[k], ".1f") if missing_fraction is not None else "n/a",
            num_text(100 * stats.fraction_nan[k], ".1f"),
        )
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    parts.append(
        table_html(
            [
                "keypoint",
                "median",
                "IQR",
                f"% scored frames < {qc_figures.LOW_CONFIDENCE}",
                "% frames missing (no position)",
                "% frames without score",
            ],
            rows,
        )
    )
    parts.append(
        f'<p class="note">{stats.n_frames:,} frames; percentiles from '
        f"{stats.n_frames_used:,} frames at a regular stride, percentages from all frames.</p>"
    )
    return "".join(parts)


#: Validation columns whose long unbroken names (HDF5 paths, check names) may break anywhere.
_WRAP = {c: ' class="wrap"' for c in ("check_name", "message", "object_name", "location")}


def _validation_section(qc: QCInputs) -> str:
    findings = qc.validation_findings
    if findings is None:
        note = qc.not_reached("assembly", "an NWB file to validate")
        return missing_note(note or "NWB validation was not run")
    if not findings:
        return '<p class="ok-text">nwbinspector and PyNWB report no findings.</p>'
    columns = ["importance", "check_name", "message", "object_type", "object_name", "location"]
    rows = [
        f'<tr class="imp-{esc(str(f.get("importance", "")).lower())}">'
        + "".join(f"<td{_WRAP.get(c, '')}>{esc(cell_text(f.get(c)))}</td>" for c in columns)
        + "</tr>"
        for f in findings
    ]
    return table_html(["importance", "check", "message", "type", "object", "location"], rows)


def _warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return '<p class="ok-text">no warnings</p>'
    return "<ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"


# -------------------------------------------------------------------------------------- helpers
