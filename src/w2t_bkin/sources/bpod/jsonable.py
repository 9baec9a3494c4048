"""pybpod / iblrig ``_iblrig_taskData.raw.jsonable`` files (see :mod:`w2t_bkin.sources.bpod`)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.bpod import BpodSession, flatten_settings
from w2t_bkin.sources.bpod._columns import ColumnBuilder, warn_if_not_monotonic

log = logging.getLogger(__name__)

JSONABLE_SUFFIX = ".jsonable"


def read_jsonable(path: Path) -> BpodSession:
    """One pybpod/iblrig ``.jsonable`` file (and its sibling settings) on its own Bpod clock."""
    builder = ColumnBuilder()
    starts: list[float] = []
    ends: list[float] = []
    trial_settings: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            trial = _jsonable_line(path, line_no, line)
            behavior = trial["behavior_data"]
            i = len(starts)
            starts.append(float(behavior["Trial start timestamp"]))
            ends.append(float(behavior["Trial end timestamp"]))
            builder.add_trial(
                i,
                starts[-1],
                behavior.get("States timestamps", {}),
                behavior.get("Events timestamps", {}),
                where=f"{path.name} line {line_no}",
            )
            trial_settings.append({k: v for k, v in trial.items() if k != "behavior_data"})
    starts_s = np.asarray(starts, dtype=np.float64)
    warn_if_not_monotonic(path, starts_s)
    settings, version, session_start = _iblrig_settings(path)
    return BpodSession(
        source_files=(path,),
        trial_start_s=starts_s,
        trial_end_s=np.asarray(ends, dtype=np.float64),
        trial_types=np.ones(len(starts), dtype=np.int64),
        trial_settings=tuple(trial_settings),
        settings=settings,
        session_start=session_start,
        software_version=version,
        **builder.columns(),
    )


def _jsonable_line(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        trial = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"line {line_no} is not valid JSON ({exc.msg} at column {exc.colno}); expected one "
            "JSON object per trial",
            path=path,
            hint="the file may be truncated by a crash; remove the broken line and re-run",
        ) from exc
    behavior = trial.get("behavior_data") if isinstance(trial, dict) else None
    missing = [
        k
        for k in ("Trial start timestamp", "Trial end timestamp")
        if not isinstance(behavior, dict) or k not in behavior
    ]
    if missing:
        raise IngestError(
            f"line {line_no}: expected 'behavior_data' with {', '.join(repr(k) for k in missing)}",
            path=path,
            hint="the file is not a pybpod/iblrig _iblrig_taskData.raw.jsonable",
        )
    return trial


def _iblrig_settings(path: Path) -> tuple[dict[str, Any], str | None, datetime | None]:
    """Settings, version and (naive, rig-local) start from a sibling iblrig settings file."""
    settings_path = path.with_name(
        path.name.replace("taskData.raw.jsonable", "taskSettings.raw.json")
    )
    if settings_path == path or not settings_path.is_file():
        return {}, None, None
    try:
        raw = json.loads(settings_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable iblrig settings %s: %s", settings_path, exc)
        return {}, None, None
    if not isinstance(raw, dict):
        return {}, None, None
    tag = raw.get("IBLRIG_VERSION_TAG")
    version = f"iblrig {tag}" if tag else None
    start = None
    if isinstance(raw.get("SESSION_DATETIME"), str):
        try:
            start = datetime.fromisoformat(raw["SESSION_DATETIME"])
        except ValueError:
            log.warning(
                "%s: unreadable SESSION_DATETIME %r", settings_path, raw["SESSION_DATETIME"]
            )
    return flatten_settings(raw), version, start
