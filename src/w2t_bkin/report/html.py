"""HTML building blocks of the reports: escaped cells, tables, badges, figures, the page style.

Every text that comes from data or metadata passes through :func:`esc` (HTML-escaped). Figures
are embedded as base64 PNG, so a page needs no network and no JavaScript.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def figure_html(draw: Callable[[], bytes], alt: str) -> str:
    # One figure failing must not cost the whole report; the reader sees why it is missing.
    try:
        png = draw()
    except Exception as exc:
        log.warning("QC figure '%s' could not be drawn: %s", alt, exc, exc_info=True)
        return missing_note(f"figure could not be drawn: {type(exc).__name__}: {exc}")
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></figure>'


def section_html(title: str, anchor: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def table_html(headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


STATUS_CLASS = {
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


def badge_html(label: str, status: str, text: str | None = None) -> str:
    css = STATUS_CLASS.get(status.lower(), "na")
    return (
        f'<span class="badge {css}"><span class="label">{esc(label)}</span>'
        f"{esc(text if text is not None else status)}</span>"
    )


def badge_only_html(status: str) -> str:
    css = STATUS_CLASS.get(status.lower(), "na")
    return f'<span class="badge {css}">{esc(status)}</span>'


def missing_note(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return num_text(value, ".6g")
    return str(value)


def num_text(value: Any, spec: str) -> str:
    number = as_float(value)
    return format(number, spec) if math.isfinite(number) else "n/a"


def as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt_ppm(drift_ppm: float) -> str:
    return f"{drift_ppm:.2f} ppm" if math.isfinite(drift_ppm) else "n/a"


PAGE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#1d1d1f;line-height:1.4;padding:0 1em}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.meta,.note{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;max-width:100%}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
td.wrap{overflow-wrap:anywhere}
th{background:#f4f4f6}
.badges{display:flex;flex-wrap:wrap;gap:.5em}
.badge{display:inline-block;border-radius:1em;padding:.15em .8em;font-size:.9em;color:#fff}
.badge .label{font-weight:600;margin-right:.4em}
.ok{background:#2e7d32}.warn{background:#ed8a00}.fail{background:#c62828}.na{background:#8a8a8e}
.missing{color:#666;font-style:italic}.ok-text{color:#2e7d32}
.fail-text{color:#c62828;font-weight:600}
.failure{border-left:4px solid #c62828;background:#fdf1f1;padding:.4em 1em;margin:1em 0}
.failure p{margin:.4em 0}.error{overflow-wrap:anywhere}
.idx{color:#666;font-size:.85em;font-family:ui-monospace,Menlo,Consolas,monospace}
ul.notes{font-size:.9em;overflow-wrap:anywhere}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
tr.imp-error td,tr.imp-pynwb_validation td,tr.imp-critical td{background:#fde8e8}
tr.imp-check_not_run td{background:#f1f1f1;color:#555}
tr.imp-best_practice_violation td{background:#fff4e0}
tr.imp-best_practice_suggestion td{background:#f4f8ff}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
figure{margin:.8em 0}figure img{max-width:100%;height:auto}
"""
