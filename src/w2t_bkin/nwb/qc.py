"""The session QC report: one self-contained HTML page (``qc/report.html``).

The page needs no network and no JavaScript: CSS is inline and figures are embedded as base64
PNG. Every text that comes from data or metadata is HTML-escaped. Each section says so when its
data are absent ("no Bpod data in this session") rather than disappearing, so a reader can tell
"nothing to show" from "not checked".

:class:`QCInputs` holds plain arrays, dicts and strings so this module depends on no sync or
session module; the session phase fills it from the sync and validation results.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin import __version__
from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.nwb import qc_figures
from w2t_bkin.nwb.validation import BLOCKING_IMPORTANCES

log = logging.getLogger(__name__)

MAX_LISTED_DROPPED = 100
"""Dropped frame indices listed per camera; the rest are counted."""

GAP_FACTOR = 1.5
"""An inter-pulse interval above this many median intervals counts as a gap in the TTL table."""

__all__ = ["QCInputs", "render_qc_report", "write_qc_report"]


@dataclass(frozen=True)
class QCInputs:
    """Everything the QC report shows, as plain data.

    Attributes
    ----------
    subject, session
        Identify the session in the title.
    generated_at
        When the report was made (naive datetimes are shown as given).
    w2t_bkin_version
        Version that produced the session.
    frame_checks
        One dict per camera with keys ``camera_id``, ``n_video_frames``, ``n_pulses``,
        ``n_matched``, ``n_dropped``, ``dropped_frames`` (list of int frame indices),
        ``n_spurious``, ``n_missing``, ``status`` (``"ok"``, ``"warn"``, ``"fail"`` ...),
        ``frame_clock`` (``"ttl"``, ``"video"``, ``"rate"``) and optionally
        ``frames_counted_by`` (``"index"``, ``"demux"``, ``"decode"``: how the video frames
        were counted, see :func:`~w2t_bkin.sources.video.probe_video`).
    ttl_channels
        Channel id -> pulse times, ``(n_pulses,) float64`` seconds.
    trial_alignment
        ``None`` without Bpod data; else a dict with ``trial_idx`` ``(n_trials,) int``,
        ``offsets_s`` ``(n_trials,) float64`` (reference - Bpod), ``residuals_ms``
        ``(n_matched,) float64``, ``labels`` (``n_trials`` strings), ``drift_ppm`` and
        ``offset_s`` (floats) of the fitted clock.
    pose_confidence
        Camera id -> ``{"keypoint_names": [...], "individual_names": [...], "confidence":
        (n_frames, n_individuals, n_keypoints) float32, "missing_fraction": (n_individuals,
        n_keypoints) float64}``. ``missing_fraction`` is the fraction of frames without a
        position; NaN confidence with a position means "no score". A 2-D ``confidence``
        ``(n_frames, n_keypoints)`` is one individual; without ``missing_fraction`` missing
        positions are not reported.
    validation_findings
        Finding dicts as in :class:`w2t_bkin.nwb.validation.ValidationReport` ``.findings``;
        ``None`` when validation did not run.
    warnings
        Data-quality warnings raised during the run.
    alignment_stats
        Rows (dicts) of the alignment statistics table.
    status
        How the run ended: ``"succeeded"`` or ``"failed"``.
    failed_phase, error
        The phase that failed and its error message (``None`` when the run succeeded).
    completed_phases
        Phases that finished; ``None`` means all. A section whose data come from a phase that
        did not finish says "not reached" instead of "none in this session".
    """

    subject: str
    session: str
    generated_at: dt.datetime | str = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    w2t_bkin_version: str = __version__
    frame_checks: Sequence[Mapping[str, Any]] = ()
    ttl_channels: Mapping[str, np.ndarray] = field(default_factory=dict)
    trial_alignment: Mapping[str, Any] | None = None
    pose_confidence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    validation_findings: Sequence[Mapping[str, Any]] | None = None
    warnings: Sequence[str] = ()
    alignment_stats: Sequence[Mapping[str, Any]] = ()
    status: str = "succeeded"
    failed_phase: str | None = None
    error: str | None = None
    completed_phases: Sequence[str] | None = None

    def reached(self, phase: str) -> bool:
        """Whether ``phase`` finished (the data it produces are in this report)."""
        return self.completed_phases is None or phase in self.completed_phases

    def not_reached(self, phase: str, what: str) -> str | None:
        """A "not reached" note when ``phase`` did not finish, else None."""
        if self.reached(phase):
            return None
        failed = f" in phase {self.failed_phase}" if self.failed_phase else ""
        return f"not reached: the session failed{failed} before {what} were available"


def render_qc_report(qc: QCInputs) -> str:
    """The QC report of one session as a complete HTML document."""
    title = f"QC report: subject {qc.subject}, session {qc.session}"
    frames_reached = functools.partial(_reached_or_note, qc, "synchronization", "frame times")
    sections = [
        _section("Summary", "summary", _status_block(qc) + _summary(qc)),
        _section(
            "Frame-count verification",
            "frames",
            frames_reached(lambda: _frame_table(qc.frame_checks)),
        ),
        _section(
            "Dropped frames", "dropped", frames_reached(lambda: _dropped_frames(qc.frame_checks))
        ),
        _section(
            "TTL pulses",
            "ttl",
            _reached_or_note(
                qc, "verification", "TTL pulses", lambda: _ttl_section(qc.ttl_channels)
            ),
        ),
        _section(
            "Trial alignment and clock drift",
            "trials",
            _reached_or_note(qc, "synchronization", "Bpod trial times", lambda: _trial_section(qc)),
        ),
        _section(
            "Pose confidence",
            "pose",
            _reached_or_note(
                qc, "ingestion", "pose tracks", lambda: _pose_section(qc.pose_confidence)
            ),
        ),
        _section("NWB validation", "validation", _validation_section(qc)),
        _section("Warnings", "warnings", _warnings_section(qc.warnings)),
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
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{_e(title)}</h1>",
            f'<p class="meta">generated {_e(generated)} by w2t-bkin {_e(qc.w2t_bkin_version)}</p>',
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )


def write_qc_report(qc: QCInputs, path: str | os.PathLike[str]) -> Path:
    """Render the report and write it atomically (parent folders are created)."""
    return atomic_write_text(path, render_qc_report(qc))


# ------------------------------------------------------------------------------------- sections


def _reached_or_note(qc: QCInputs, phase: str, what: str, body: Callable[[], str]) -> str:
    note = qc.not_reached(phase, what)
    return _missing(note) if note is not None else body()


def _status_block(qc: QCInputs) -> str:
    """The run's outcome; a failed run shows its phase and error before anything else."""
    if qc.status == "succeeded":
        return ""
    phase = f" in phase {qc.failed_phase}" if qc.failed_phase else ""
    error = f'<pre class="error">{_e(qc.error)}</pre>' if qc.error else ""
    return (
        f'<p class="fail-text">This session {_e(qc.status)}{_e(phase)}; no NWB file was '
        "published at the output path. The sections below show what the run had checked before "
        f"it stopped.</p>{error}"
    )


#: Trial labels that mean a trial time was not bracketed by matched sync pulses.
TRIAL_WARN_LABELS = ("unaligned", "extrapolated")


def _trial_badge(alignment: Mapping[str, Any]) -> str:
    drift = _fmt_ppm(_float(alignment.get("drift_ppm")))
    labels = np.asarray(alignment.get("labels") or [], dtype=str)
    flagged = {name: int(np.count_nonzero(labels == name)) for name in TRIAL_WARN_LABELS}
    flagged = {name: n for name, n in flagged.items() if n}
    if not flagged:
        return _badge("Bpod alignment", "ok", drift)
    text = ", ".join(f"{n} {name}" for name, n in flagged.items())
    return _badge("Bpod alignment", "warn", f"{text} of {labels.size} trials; {drift}")


def _summary(qc: QCInputs) -> str:
    badges: list[str] = []
    if qc.status == "succeeded":
        badges.append(_badge("session", "ok", "succeeded"))
    else:
        where = f" in {qc.failed_phase}" if qc.failed_phase else ""
        badges.append(_badge("session", "fail", f"{qc.status}{where}"))
    for check in qc.frame_checks:
        badges.append(_badge(f"camera {check.get('camera_id')}", str(check.get("status", "n/a"))))
    if not qc.frame_checks:
        badges.append(_badge("cameras", "n/a", "no cameras"))
    badges.append(
        _badge("TTL channels", "ok" if qc.ttl_channels else "n/a", str(len(qc.ttl_channels)))
    )
    if qc.trial_alignment is None:
        reached = qc.reached("synchronization")
        badges.append(_badge("Bpod alignment", "n/a", "no Bpod" if reached else "not reached"))
    else:
        badges.append(_trial_badge(qc.trial_alignment))
    if qc.validation_findings is None:
        reached = qc.reached("assembly")
        badges.append(_badge("NWB validation", "n/a", "not run" if reached else "not reached"))
    else:
        blocking = [
            f for f in qc.validation_findings if str(f.get("importance")) in BLOCKING_IMPORTANCES
        ]
        badges.append(
            _badge(
                "NWB validation",
                "fail" if blocking else "ok",
                f"{len(blocking)} blocking" if blocking else "clean",
            )
        )
    badges.append(_badge("warnings", "warn" if qc.warnings else "ok", str(len(qc.warnings))))
    return f'<div class="badges">{"".join(badges)}</div>'


def _frame_table(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return _missing("no cameras in this session")
    columns = [
        ("camera_id", "camera"),
        ("frame_clock", "frame clock"),
        ("n_video_frames", "video frames"),
        ("frames_counted_by", "counted by"),
        ("n_pulses", "TTL pulses"),
        ("n_matched", "matched"),
        ("n_dropped", "dropped"),
        ("n_spurious", "spurious pulses"),
        ("n_missing", "missing pulses"),
        ("status", "status"),
    ]
    rows = []
    for check in checks:
        cells = []
        for key, _ in columns:
            value = check.get(key)
            if key == "status":
                cells.append(f"<td>{_badge_only(str(value if value is not None else 'n/a'))}</td>")
            else:
                cells.append(f"<td>{_e(_cell(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table([label for _, label in columns], rows)


def _dropped_frames(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return _missing("no cameras in this session")
    items = []
    for check in checks:
        camera = _e(check.get("camera_id"))
        dropped = [int(i) for i in np.asarray(check.get("dropped_frames", ()), dtype=np.int64)]
        if not dropped:
            items.append(f"<li><b>{camera}</b>: no dropped frames</li>")
            continue
        listed = ", ".join(str(i) for i in dropped[:MAX_LISTED_DROPPED])
        more = len(dropped) - MAX_LISTED_DROPPED
        tail = f" <i>... and {more} more</i>" if more > 0 else ""
        items.append(
            f"<li><b>{camera}</b>: {len(dropped)} dropped frame(s) at indices "
            f'<span class="mono">{listed}</span>{tail}</li>'
        )
    return f"<ul>{''.join(items)}</ul>"


def _ttl_section(channels: Mapping[str, np.ndarray]) -> str:
    if not channels:
        return _missing("no TTL channels in this session")
    rows = []
    for name, raw in channels.items():
        times_s = np.asarray(raw, dtype=np.float64)
        ipi_s = np.diff(times_s)
        median_ipi = float(np.median(ipi_s)) if ipi_s.size else math.nan
        n_gaps = int(np.count_nonzero(ipi_s > GAP_FACTOR * median_ipi)) if ipi_s.size else 0
        cells = [
            name,
            times_s.size,
            _num(times_s[0], ".3f") if times_s.size else "",
            _num(times_s[-1], ".3f") if times_s.size else "",
            _num(median_ipi * 1e3, ".3f"),
            _num(1.0 / median_ipi, ".3f") if median_ipi > 0 else "",
            n_gaps,
        ]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    table = _table(
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
    timeline = _figure(
        lambda: qc_figures.ttl_timeline_png(channels), "TTL pulse raster of all channels"
    )
    if any(np.asarray(t).size >= 2 for t in channels.values()):
        ipi = _figure(
            lambda: qc_figures.ipi_histograms_png(channels),
            "inter-pulse interval histograms per channel",
        )
    else:
        ipi = _missing("no channel has two pulses: no inter-pulse intervals")
    return table + timeline + "<h3>Inter-pulse intervals</h3>" + ipi


def _trial_section(qc: QCInputs) -> str:
    alignment = qc.trial_alignment
    stats_table = _dict_table(qc.alignment_stats)
    if alignment is None:
        return _missing("no Bpod data in this session") + stats_table
    offsets_s = np.asarray(alignment.get("offsets_s", ()), dtype=np.float64)
    trial_idx = np.asarray(alignment.get("trial_idx", np.arange(offsets_s.size)))
    residuals_ms = np.asarray(alignment.get("residuals_ms", ()), dtype=np.float64)
    labels = alignment.get("labels")
    drift_ppm = _float(alignment.get("drift_ppm"))
    offset_s = _float(alignment.get("offset_s"))
    finite = residuals_ms[np.isfinite(residuals_ms)]

    facts = [
        ("clock drift", _fmt_ppm(drift_ppm)),
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
    if labels is not None:
        names, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
        facts.append(
            ("trial labels", ", ".join(f"{n}: {c}" for n, c in zip(names, counts, strict=True)))
        )
    fact_list = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    if offsets_s.size:
        figure = _figure(
            lambda: qc_figures.trial_alignment_png(trial_idx, offsets_s, labels, residuals_ms),
            "trial offsets coloured by label, and clock-fit residuals",
        )
    else:
        figure = _missing("Bpod data present but no trial offsets were computed")
    return f'<dl class="facts">{fact_list}</dl>' + figure + stats_table


MAX_POSE_FIGURES = 8
"""Individuals per camera drawn as a figure; the rest get their table only."""


def _pose_section(pose: Mapping[str, Mapping[str, Any]]) -> str:
    if not pose:
        return _missing("no pose data in this session")
    parts = []
    for camera_id, entry in pose.items():
        parts.append(f"<h3>{_e(camera_id)}</h3>")
        names = [str(n) for n in entry.get("keypoint_names", ())]
        confidence = np.asarray(entry.get("confidence", np.empty((0, len(names)))))
        if confidence.ndim == 2:  # one individual
            confidence = confidence[:, np.newaxis, :]
        individuals = [str(n) for n in entry.get("individual_names", ())] or [
            f"individual_{k}" for k in range(confidence.shape[1] if confidence.ndim == 3 else 0)
        ]
        missing = entry.get("missing_fraction")
        missing_fraction = None if missing is None else np.asarray(missing, dtype=np.float64)
        expected = (len(individuals), len(names))
        if (
            confidence.ndim != 3
            or confidence.shape[1:] != expected
            or (missing_fraction is not None and missing_fraction.shape != expected)
        ):
            parts.append(
                _missing(
                    f"confidence cannot be summarised: shape {confidence.shape} does not match "
                    f"{len(individuals)} individual(s) x {len(names)} keypoint(s)"
                )
            )
            continue
        if confidence.shape[0] == 0:
            parts.append(_missing("pose present but no frames"))
            continue
        for i, individual in enumerate(individuals):
            if len(individuals) > 1:
                parts.append(f"<h4>{_e(camera_id)}: {_e(individual)}</h4>")
            parts.append(
                _individual_pose(
                    f"{camera_id}/{individual}" if len(individuals) > 1 else camera_id,
                    names,
                    confidence[:, i, :],
                    None if missing_fraction is None else missing_fraction[i],
                    draw=i < MAX_POSE_FIGURES,
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
) -> str:
    """Confidence figure and per-keypoint table of one individual.

    ``confidence`` is ``(n_frames, n_keypoints)``; ``missing_fraction`` ``(n_keypoints,)`` is
    the fraction of frames without a position (None: unknown).
    """
    stats = qc_figures.confidence_stats(names, confidence)
    has_scores = stats.fraction_nan < 1.0
    parts = []
    if not has_scores.any():
        parts.append(
            _missing("no confidence scores in the source file: positions only (see % missing)")
        )
    elif draw:
        parts.append(
            _figure(
                functools.partial(qc_figures.pose_confidence_png, label, stats),
                f"confidence per keypoint, {label}",
            )
        )
    rows = []
    for k, name in enumerate(stats.keypoint_names):
        scored = bool(has_scores[k])
        cells = (
            name,
            _num(stats.median[k], ".3f") if scored else "no scores",
            _num(stats.q1[k], ".3f") + " - " + _num(stats.q3[k], ".3f") if scored else "",
            _num(100 * stats.fraction_low[k], ".1f") if scored else "",
            _num(100 * missing_fraction[k], ".1f") if missing_fraction is not None else "n/a",
            _num(100 * stats.fraction_nan[k], ".1f"),
        )
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    parts.append(
        _table(
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


def _validation_section(qc: QCInputs) -> str:
    findings = qc.validation_findings
    if findings is None:
        note = qc.not_reached("assembly", "an NWB file to validate")
        return _missing(note or "NWB validation was not run")
    if not findings:
        return '<p class="ok-text">nwbinspector and PyNWB report no findings.</p>'
    columns = ["importance", "check_name", "message", "object_type", "object_name", "location"]
    rows = [
        f'<tr class="imp-{_e(str(f.get("importance", "")).lower())}">'
        + "".join(f"<td>{_e(_cell(f.get(c)))}</td>" for c in columns)
        + "</tr>"
        for f in findings
    ]
    return _table(["importance", "check", "message", "type", "object", "location"], rows)


def _warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return '<p class="ok-text">no warnings</p>'
    return "<ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"


# -------------------------------------------------------------------------------------- helpers


def _figure(draw: Callable[[], bytes], alt: str) -> str:
    # One figure failing must not cost the whole report; the reader sees why it is missing.
    try:
        png = draw()
    except Exception as exc:
        log.warning("QC figure '%s' could not be drawn: %s", alt, exc, exc_info=True)
        return _missing(f"figure could not be drawn: {type(exc).__name__}: {exc}")
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _section(title: str, anchor: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _table(headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _dict_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    body = [
        "<tr>" + "".join(f"<td>{_e(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    ]
    return "<h3>Alignment statistics</h3>" + _table(columns, body)


_STATUS_CLASS = {
    "ok": "ok",
    "pass": "ok",
    "passed": "ok",
    "clean": "ok",
    "warn": "warn",
    "warning": "warn",
    "repaired": "warn",
    "fail": "fail",
    "failed": "fail",
    "error": "fail",
    "critical": "fail",
}


def _badge(label: str, status: str, text: str | None = None) -> str:
    css = _STATUS_CLASS.get(status.lower(), "na")
    return (
        f'<span class="badge {css}"><span class="label">{_e(label)}</span>'
        f"{_e(text if text is not None else status)}</span>"
    )


def _badge_only(status: str) -> str:
    css = _STATUS_CLASS.get(status.lower(), "na")
    return f'<span class="badge {css}">{_e(status)}</span>'


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return _num(value, ".6g")
    return str(value)


def _num(value: Any, spec: str) -> str:
    number = _float(value)
    return format(number, spec) if math.isfinite(number) else "n/a"


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt_ppm(drift_ppm: float) -> str:
    return f"{drift_ppm:.2f} ppm" if math.isfinite(drift_ppm) else "n/a"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#1d1d1f;line-height:1.4;padding:0 1em}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.meta,.note{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f6}
.badges{display:flex;flex-wrap:wrap;gap:.5em}
.badge{display:inline-block;border-radius:1em;padding:.15em .8em;font-size:.9em;color:#fff}
.badge .label{font-weight:600;margin-right:.4em}
.ok{background:#2e7d32}.warn{background:#ed8a00}.fail{background:#c62828}.na{background:#8a8a8e}
.missing{color:#666;font-style:italic}.ok-text{color:#2e7d32}
.fail-text{color:#c62828;font-weight:600}pre.error{background:#fde8e8;padding:.6em;white-space:pre-wrap}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
tr.imp-error td,tr.imp-pynwb_validation td,tr.imp-critical td{background:#fde8e8}
tr.imp-best_practice_violation td{background:#fff4e0}
tr.imp-best_practice_suggestion td{background:#f4f8ff}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
figure{margin:.8em 0}figure img{max-width:100%;height:auto}
"""
