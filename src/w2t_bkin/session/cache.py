"""The cache decision: may a session's last outputs stand, and if not, why not.

A session is ``cached`` (its outputs stand) only when its last recorded run succeeded, its
:func:`cache_key` (content fingerprint plus package version) is the current one, and every output
it recorded is still there with the checksum it had. Otherwise it must run, and the decision says
why, in the words of ``snakemake --reason`` / ``dvc status``:

=========================================================  ===================================
``never run``                                              no recorded run
``forced (--force)``                                       the caller asked
``last run failed``                                        the last run did not succeed
``input changed: Video/cam0.avi``                          input paths relative to the session
``input added: …`` / ``input removed: …``                  folder
``config synchronization.trial_match_tolerance_s: …``      content sections, ``old → new``
``metadata subject.sex: 'F' → 'M'``                        merged metadata, ``old → new``
``package version changed: 0.1.0 → 0.2.0``
``output missing: sub-…nwb``                               relative to the output folder
``output changed: provenance.json (checksum differs)``
=========================================================  ===================================

State ``run`` means the session must run whatever changed (never run, forced, last run failed);
``stale`` means it succeeded before and something changed since; ``cached`` means nothing did.

Nested settings are compared key by key: dict keys join with dots, list items are named
``[i]`` by index or ``[<id>]`` when every item is a table with an ``id`` (cameras, TTLs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from w2t_bkin import __version__
from w2t_bkin.config import CONTENT_SECTIONS
from w2t_bkin.runtime.fingerprint import file_digest, json_digest, stat_file
from w2t_bkin.runtime.registry import OutputRecord, TaskRecord
from w2t_bkin.session.context import load_context
from w2t_bkin.session.fingerprint import (
    SessionFingerprint,
    session_fingerprint,
    workspace_digest_cache,
)
from w2t_bkin.workspace.discovery import require_session_files

CacheState = Literal["run", "cached", "stale"]


@dataclass(frozen=True)
class CacheDecision:
    """Whether a session must run (``run``, ``stale``) or its outputs stand (``cached``)."""

    state: CacheState
    reasons: tuple[str, ...]

    @property
    def must_run(self) -> bool:
        return self.state != "cached"


def cache_key(fingerprint: SessionFingerprint) -> str:
    """SHA-256 of the content fingerprint and the package version: equal means same outputs."""
    return json_digest({"fingerprint": fingerprint.to_dict(), "w2t_bkin_version": __version__})


def fingerprint_record(
    fingerprint: SessionFingerprint,
    config_sections: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """What a task record keeps so that a later decision can say ``old → new``.

    The digests (:meth:`SessionFingerprint.to_dict`), the package version, the configuration's
    content sections and the merged metadata (JSON).
    """
    return {
        **fingerprint.to_dict(),
        "w2t_bkin_version": __version__,
        "config": dict(config_sections),
        "metadata": dict(metadata),
    }


def output_records(outputs: Mapping[str, Path], outputs_dir: Path) -> dict[str, OutputRecord]:
    """The :class:`OutputRecord` of each existing output file (paths relative to the folder).

    Digests come from the workspace digest cache, as for :func:`decide`. Missing files and
    folders are left out (a failed run may list outputs it could not write).
    """
    cache = workspace_digest_cache(_workspace_cache_dir(outputs_dir))
    records = {}
    for name, path in sorted(outputs.items()):
        path = Path(path)
        if not path.is_file():
            continue
        records[name] = OutputRecord(
            path=_relative(path, outputs_dir),
            sha256=file_digest(path, cache),
            size_bytes=path.stat().st_size,
        )
    return records


def session_cache_inputs(
    root: Path, subject: str, session: str, config_path: Path | None = None
) -> tuple[SessionFingerprint, dict[str, Any], dict[str, Any]]:
    """The current fingerprint, content config sections and merged metadata of a session.

    Cheap: the configuration, the merged metadata and the input globs are read, and inputs are
    digested through the workspace digest cache (a file is read only when it changed); nothing
    is decoded.

    Raises
    ------
    ConfigError, MetadataError, DiscoveryError, IngestError
        As the configuration and discovery phases of a run would.
    """
    ctx = load_context(root, subject, session, config_path)
    files = require_session_files(ctx.raw_dir, ctx.metadata)
    cache = workspace_digest_cache(ctx.workspace.cache)
    fingerprint = session_fingerprint(ctx.config, ctx.metadata, files, cache)
    sections = ctx.config.model_dump(mode="json", include=set(CONTENT_SECTIONS))
    return fingerprint, sections, ctx.metadata.model_dump(mode="json")


def decide(
    task_key: str,
    current: SessionFingerprint,
    current_config_sections: Mapping[str, Any],
    current_metadata: Mapping[str, Any],
    previous: TaskRecord | None,
    outputs_dir: Path,
    force: bool = False,
) -> CacheDecision:
    """Decide whether ``task_key`` must run, with every reason (see the module notes).

    Parameters
    ----------
    previous
        The task's last recorded run (any status), or None.
    outputs_dir
        The session's output folder; relative output paths of ``previous`` are resolved in it.
    force
        The caller asked to run anyway (``--force``): state ``run``.
    """
    if previous is None:
        return CacheDecision("run", ("never run",))
    reasons: list[str] = []
    if force:
        reasons.append("forced (--force)")
    if not previous.succeeded:
        reasons.append("last run failed")
    before = previous.fingerprint
    reasons += _input_reasons(before.get("input_sha256", {}), current.input_sha256)
    reasons += _settings_reasons(
        "config",
        before.get("config"),
        before.get("config_sha256"),
        current_config_sections,
        current.config_sha256,
    )
    reasons += _settings_reasons(
        "metadata",
        before.get("metadata"),
        before.get("metadata_sha256"),
        current_metadata,
        current.metadata_sha256,
    )
    old_version = before.get("w2t_bkin_version")
    if old_version != __version__:
        reasons.append(f"package version changed: {old_version} → {__version__}")
    if before.get("fingerprint_version") != current.to_dict()["fingerprint_version"]:
        reasons.append("fingerprint scheme changed")
    if previous.succeeded:
        reasons += _output_reasons(previous, outputs_dir)
        if not reasons and previous.cache_key != cache_key(current):
            reasons.append("cache key changed")
    if force or not previous.succeeded:
        return CacheDecision("run", tuple(reasons))
    return CacheDecision("stale" if reasons else "cached", tuple(reasons))


def _input_reasons(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    reasons = []
    for name in sorted(set(before) | set(now)):
        if name not in before:
            reasons.append(f"input added: {name}")
        elif name not in now:
            reasons.append(f"input removed: {name}")
        elif before[name] != now[name]:
            reasons.append(f"input changed: {name}")
    return reasons


def _settings_reasons(
    label: str,
    before: Any,
    before_sha256: Any,
    now: Mapping[str, Any],
    now_sha256: str,
) -> list[str]:
    """``<label> <key>: old → new`` per changed setting; one line when the old values are lost."""
    if before_sha256 == now_sha256:
        return []
    if not isinstance(before, Mapping):
        return [f"{label} changed"]
    changes = [f"{label} {key}: {_show(old)} → {_show(new)}" for key, old, new in diff(before, now)]
    return changes or [f"{label} changed"]


def _output_reasons(previous: TaskRecord, outputs_dir: Path) -> list[str]:
    cache = workspace_digest_cache(_workspace_cache_dir(outputs_dir))
    reasons = []
    for _name, out in sorted(previous.outputs.items()):
        path = Path(out.path) if Path(out.path).is_absolute() else outputs_dir / out.path
        shown = _relative(path, outputs_dir)
        try:
            stat_file(path)
        except OSError:
            reasons.append(f"output missing: {shown}")
            continue
        if not path.is_file():
            reasons.append(f"output missing: {shown}")
        elif file_digest(path, cache) != out.sha256:
            reasons.append(f"output changed: {shown} (checksum differs)")
    return reasons


_ABSENT = object()


def diff(before: Any, now: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every leaf that differs (missing: ``(absent)``).

    Dict keys join with dots; list items are ``[i]``, or ``[<id>]`` when every item of both
    lists is a dict with an ``id``.
    """
    if isinstance(before, Mapping) and isinstance(now, Mapping):
        changes = []
        for key in sorted(set(before) | set(now), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            changes += diff(before.get(key, _ABSENT), now.get(key, _ABSENT), name)
        return changes
    if isinstance(before, list) and isinstance(now, list):
        old, new = _items(before), _items(now)
        changes = []
        for key in list(old) + [k for k in new if k not in old]:
            changes += diff(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{prefix}[{key}]")
        return changes
    return [] if before == now else [(prefix, before, now)]


def _items(values: list[Any]) -> dict[str, Any]:
    if values and all(isinstance(v, Mapping) and "id" in v for v in values):
        return {str(v["id"]): v for v in values}
    return {str(i): v for i, v in enumerate(values)}


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.as_posix()


def _workspace_cache_dir(outputs_dir: Path) -> Path:
    """``ROOT/.w2t/cache`` of the output folder ``ROOT/data/processed/<subject>/<session>``.

    A folder outside that layout gets a cache of its own (``<folder>/.w2t/cache``).
    """
    parents = outputs_dir.parents
    root = parents[3] if len(parents) > 3 else outputs_dir
    return root / ".w2t" / "cache"
