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

A decision from content (:func:`session_cache_state`, then :func:`decide`) parses the
configuration and metadata and looks every input up in the digest cache. It also records a stat
snapshot (:mod:`w2t_bkin.runtime.stat_snapshot`) of everything it read, taken before reading it;
while that snapshot still matches, :func:`recorded_decision` reuses the recorded fingerprint and
checks only the outputs, without importing the schemas (``w2t-bkin status``, cached batches).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from w2t_bkin import __version__
from w2t_bkin.layout_constants import CONFIG_FILENAME, FINGERPRINT_VERSION, ROOT_METADATA_ENV
from w2t_bkin.runtime.fingerprint import (
    DIGEST_CACHE_NAME,
    DigestCache,
    file_digest,
    json_digest,
    stat_file,
)
from w2t_bkin.runtime.registry import OutputRecord, TaskRecord
from w2t_bkin.runtime.stat_snapshot import StatSnapshot, snapshot_matches, take_snapshot

if TYPE_CHECKING:
    from w2t_bkin.session.fingerprint import SessionFingerprint

# The configuration and metadata schemas (pydantic, NumPy) load only where a session is decided
# from its content: the stat-snapshot path of `w2t-bkin status` never imports them.

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


STAT_SNAPSHOT_KEY = "stat_snapshot"
"""Key of the :class:`~w2t_bkin.runtime.stat_snapshot.StatSnapshot` in a task's fingerprint."""


@dataclass(frozen=True)
class CacheInputs:
    """What a session's cache decision is made of, read from its files now.

    Attributes
    ----------
    fingerprint
        Digests of the content (inputs, content configuration sections, merged metadata).
    config_sections
        The configuration's content sections (JSON), for ``old → new`` reasons.
    metadata
        The merged metadata (JSON), likewise.
    snapshot
        The stat snapshot taken before any of it was read (``None`` when a file or folder
        could not be stat-ed: the next decision then reads the content again).
    """

    fingerprint: SessionFingerprint
    config_sections: dict[str, Any]
    metadata: dict[str, Any]
    snapshot: StatSnapshot | None = None

    def record(self) -> dict[str, Any]:
        """The task record's fingerprint: :func:`fingerprint_record` with the snapshot."""
        return fingerprint_record(
            self.fingerprint, self.config_sections, self.metadata, self.snapshot
        )


def fingerprint_record(
    fingerprint: SessionFingerprint,
    config_sections: Mapping[str, Any],
    metadata: Mapping[str, Any],
    snapshot: StatSnapshot | None = None,
) -> dict[str, Any]:
    """What a task record keeps so that a later decision can say ``old → new``.

    The digests (:meth:`SessionFingerprint.to_dict`), the package version, the configuration's
    content sections, the merged metadata (JSON) and, when given, the stat snapshot that lets
    :func:`recorded_decision` trust these digests without reading anything.
    """
    record = {
        **fingerprint.to_dict(),
        "w2t_bkin_version": __version__,
        "config": dict(config_sections),
        "metadata": dict(metadata),
    }
    if snapshot is not None:
        record[STAT_SNAPSHOT_KEY] = snapshot.to_dict()
    return record


def output_records(outputs: Mapping[str, Path], outputs_dir: Path) -> dict[str, OutputRecord]:
    """The :class:`OutputRecord` of each existing output file (paths relative to the folder).

    Digests come from the workspace digest cache, as for :func:`decide`. Missing files and
    folders are left out (a failed run may list outputs it could not write).
    """
    cache = _digest_cache(_workspace_cache_dir(outputs_dir))
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

    :func:`session_cache_state` without the stat snapshot.
    """
    state = session_cache_state(root, subject, session, config_path)
    return state.fingerprint, state.config_sections, state.metadata


def session_cache_state(
    root: Path, subject: str, session: str, config_path: Path | None = None
) -> CacheInputs:
    """Everything a cache decision is made of, with the stat snapshot taken first.

    Cheap: the configuration, the merged metadata and the input globs are read, and inputs are
    digested through the workspace digest cache (a file is read only when it changed); nothing
    is decoded.

    The snapshot is taken in two steps, each before what it vouches for is read: the
    configuration, every metadata file the session may merge (absent ones too) and every folder
    under the session's raw folder before the configuration, metadata and globs are read; the
    input files, once the globs name them, before they are digested. Whatever changes meanwhile
    makes the snapshot mismatch next time.

    Raises
    ------
    ConfigError, MetadataError, DiscoveryError, IngestError
        As the configuration and discovery phases of a run would.
    """
    from w2t_bkin.config import CONTENT_SECTIONS
    from w2t_bkin.session.context import load_context
    from w2t_bkin.session.fingerprint import session_fingerprint, workspace_digest_cache
    from w2t_bkin.workspace.discovery import require_session_files

    before = _settings_snapshot(root, subject, session, config_path)
    ctx = load_context(root, subject, session, config_path)
    files = require_session_files(ctx.raw_dir, ctx.metadata)
    snapshot = _with_inputs(
        before, root, files.all_inputs(), [s.path for s in ctx.metadata_sources]
    )
    cache = workspace_digest_cache(ctx.workspace.cache)
    fingerprint = session_fingerprint(ctx.config, ctx.metadata, files, cache)
    sections = ctx.config.model_dump(mode="json", include=set(CONTENT_SECTIONS))
    return CacheInputs(fingerprint, sections, ctx.metadata.model_dump(mode="json"), snapshot)


def recorded_decision(
    root: Path,
    subject: str,
    session: str,
    config_path: Path | None,
    previous: TaskRecord | None,
) -> CacheDecision | None:
    """The decision from ``previous``'s stat snapshot alone, or ``None`` when it cannot say.

    When the last run succeeded with this package version, recorded a snapshot with this
    configuration file, and every file and folder of the snapshot stats the same, the session's
    fingerprint is the recorded one: only its outputs are checked (as :func:`decide` does, their
    checksums through the digest cache). Nothing else is read, and neither the configuration nor
    the metadata schema is imported.

    ``None`` (decide from the content with :func:`session_cache_state` and :func:`decide`) when
    any of that does not hold -- which also gives the reasons (``input changed: …``).
    """
    if previous is None or not previous.succeeded:
        return None
    before = previous.fingerprint
    if before.get("w2t_bkin_version") != __version__:
        return None
    if before.get("fingerprint_version") != FINGERPRINT_VERSION:
        return None
    if previous.cache_key is None or previous.cache_key != _recorded_cache_key(before):
        return None
    snapshot = StatSnapshot.from_dict(before.get(STAT_SNAPSHOT_KEY))
    if snapshot is None or not snapshot_matches(snapshot, root, _context(root, config_path)):
        return None
    outputs_dir = Path(root) / "data" / "processed" / subject / session
    reasons = tuple(_output_reasons(previous, outputs_dir))
    return CacheDecision("stale" if reasons else "cached", reasons)


def _settings_snapshot(
    root: Path, subject: str, session: str, config_path: Path | None
) -> StatSnapshot | None:
    """The first step of the snapshot: settings files and the session's folders."""
    try:
        return take_snapshot(
            root,
            [_config_file(root, config_path), *_metadata_candidates(root, subject, session)],
            [Path(root) / "data" / "raw" / subject / session],
            _context(root, config_path),
        )
    except OSError:
        return None  # something cannot be stat-ed: no snapshot, decided from content next time


def _with_inputs(
    before: StatSnapshot | None, root: Path, inputs: list[Path], metadata_read: list[Path]
) -> StatSnapshot | None:
    """``before`` with the input files added (stat-ed now, before they are digested)."""
    if before is None:
        return None
    try:
        inputs_now = take_snapshot(root, inputs)
        read = take_snapshot(root, metadata_read)
    except OSError:
        return None
    if not set(read.files) <= set(before.files):
        # Metadata came from a file the first step did not stat: the snapshot cannot vouch.
        return None
    return StatSnapshot(
        {**before.files, **inputs_now.files}, before.dirs, before.walk_roots, before.context
    )


def _config_file(root: Path, config_path: Path | None) -> Path:
    return config_path if config_path is not None else Path(root) / CONFIG_FILENAME


def _metadata_candidates(root: Path, subject: str, session: str) -> list[Path]:
    """Every metadata file a session may merge, lowest precedence first, existing or not (one
    that appears later must mismatch); see :func:`w2t_bkin.metadata.metadata_files`."""
    raw = Path(root) / "data" / "raw"
    env = os.environ.get(ROOT_METADATA_ENV)
    candidates = [Path(env)] if env else []
    return [
        *candidates,
        raw / "metadata.toml",
        raw / subject / "subject.toml",
        raw / subject / session / "session.toml",
    ]


def _context(root: Path, config_path: Path | None) -> dict[str, str | None]:
    # The same --config file (by real path: relative or linked spellings are the same file), and
    # the same $W2T_ROOT_METADATA setting.
    return {
        "config_path": os.path.realpath(_config_file(root, config_path)),
        ROOT_METADATA_ENV: os.environ.get(ROOT_METADATA_ENV) or None,
    }


def _recorded_cache_key(before: Mapping[str, Any]) -> str:
    """:func:`cache_key` of a recorded fingerprint, from its JSON form."""
    fingerprint = {
        key: before.get(key)
        for key in ("fingerprint_version", "config_sha256", "metadata_sha256", "input_sha256")
    }
    return json_digest({"fingerprint": fingerprint, "w2t_bkin_version": __version__})


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
    cache = _digest_cache(_workspace_cache_dir(outputs_dir))
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


def _digest_cache(cache_dir: Path) -> DigestCache:
    """One digest cache object per workspace and process, for the output checks (the same file
    as :func:`w2t_bkin.session.fingerprint.workspace_digest_cache`, without importing it)."""
    return _digest_cache_at(str(Path(cache_dir).absolute()))


@functools.lru_cache(maxsize=16)
def _digest_cache_at(cache_dir: str) -> DigestCache:
    return DigestCache(Path(cache_dir) / DIGEST_CACHE_NAME)
