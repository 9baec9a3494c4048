"""Keys of the upstream w2t-bkin (0.0.2 to 0.0.14) TOML files and where each one went here.

One table, :data:`UPSTREAM_KEYS`, serves three readers: ``w2t-bkin data migrate`` (which key
moves where, and why a key is dropped), the unknown-key messages of
:mod:`w2t_bkin.tomlerrors` (an upstream key names its new key and ``data migrate`` instead of a
misleading "did you mean"), and ``docs/migration.md`` (:func:`render_key_table`).

Key patterns are dotted TOML paths: ``[]`` stands for any item of an array of tables
(``cameras[].order``) and ``*`` for any id of a table of tables (``pose.cameras.*.artifacts``).
This module sits in the bottom import layer: it imports nothing from the package. It is longer
than ~600 lines on purpose: most of it is the one declarative key table, which reads best whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

SchemaKind = Literal["configuration", "metadata"]
LocPath = tuple[str | int, ...]

# Generations of upstream files (labels shown by `data migrate` and in docs/migration.md).
CONFIG_SESSIONCONFIG: Final = "0.0.14 SessionConfig"
CONFIG_TEMPLATE: Final = "0.0.14 `data init` template"
CONFIG_DOCUMENTED: Final = "documented parameters"
CONFIG_STANDARD: Final = "configs/standard.toml"
CONFIG_002: Final = "0.0.2 schema"
META_014: Final = "0.0.14 metadata"
META_DICT_TRIAL_TYPES: Final = "documented dict-form trial types"
META_LEGACY_SESSION: Final = "legacy session ([session], [[bpod.trial_types]])"

CONFIG_GENERATIONS: Final = (
    CONFIG_SESSIONCONFIG,
    CONFIG_TEMPLATE,
    CONFIG_DOCUMENTED,
    CONFIG_STANDARD,
    CONFIG_002,
)
METADATA_GENERATIONS: Final = (META_014, META_DICT_TRIAL_TYPES, META_LEGACY_SESSION)

# Models whose unknown-key errors consult this table, by class name (tomlerrors cannot import
# the schema modules: they sit above it).
SCHEMA_OF_MODEL: Final[dict[str, SchemaKind]] = {
    "Config": "configuration",
    "SessionMetadata": "metadata",
}


@dataclass(frozen=True)
class UpstreamKey:
    """One upstream key (or table) and its counterpart here.

    Attributes
    ----------
    schema
        ``"configuration"`` (configuration.toml) or ``"metadata"`` (metadata.toml, subject.toml,
        session.toml).
    key
        Upstream key pattern (see the module docstring).
    new_keys
        The key(s) holding the value here; empty when nothing does (the key is dropped).
    reason
        Why the key moved, how its value converts, or why it has no counterpart.
    generations
        The upstream generations that have the key.
    table
        True for a whole table (its keys are listed separately, or all dropped alike).
    """

    schema: SchemaKind
    key: str
    new_keys: tuple[str, ...]
    reason: str
    generations: tuple[str, ...]
    table: bool = False

    @property
    def new_key(self) -> str | None:
        """The single new key of a plain key; ``None`` when dropped."""
        return self.new_keys[0] if self.new_keys else None


_ALL_CONFIG = (CONFIG_SESSIONCONFIG, CONFIG_TEMPLATE, CONFIG_DOCUMENTED, CONFIG_002)
_TEMPLATE_AND_DOCS = (CONFIG_TEMPLATE, CONFIG_DOCUMENTED)
_NO_POSE_GENERATION = (
    "pose is generated per model here: [pose.models.<id>] backend (deeplabcut, sleap, "
    "mediapipe) for cameras without paths; existing outputs are declared with "
    "[pose.cameras.<id>] paths"
)
_NO_FIXED_OFFSET = (
    "no fixed shift is applied here: the clock fit finds every trial's offset from its own pulse"
)
_NO_TOLERANCE = (
    "no frame-count tolerance here: missing pulses are located from pulse gaps "
    "(synchronization.pulse_gap_factor) and handled per verification.frame_pulse_policy"
)
_ALWAYS_VERIFIED = "verification always runs here; verification.frame_pulse_policy sets its policy"
_BPOD_CLOCK = (
    "several Bpod files of a session are put on one clock from their own trial times and Info "
    "start times, never by adding the previous file's last trial end"
)
_FIXED_LAYOUT = (
    "the workspace layout is fixed here: ROOT/data/raw, data/interim, data/processed and models/"
)
_NO_EFFECT = "had no effect upstream either"
_NOT_WRITTEN = "accepted and ignored upstream; this version does not write it"
_ONE_GLOB = "one glob becomes a list of globs"
_TIME_ORDER = (
    "'time_asc'/'time_desc' (file modification times, which change when files are copied) "
    "become 'name_asc'/'name_desc': files sort by name, digit runs by value; check that the "
    "names sort in recording order"
)


def _config(
    key: str, new: str | tuple[str, ...] | None, reason: str, *gens: str, table: bool = False
) -> UpstreamKey:
    return _entry("configuration", key, new, reason, gens, table)


def _meta(
    key: str, new: str | tuple[str, ...] | None, reason: str, *gens: str, table: bool = False
) -> UpstreamKey:
    return _entry("metadata", key, new, reason, gens, table)


def _entry(
    schema: SchemaKind,
    key: str,
    new: str | tuple[str, ...] | None,
    reason: str,
    gens: tuple[str, ...],
    table: bool,
) -> UpstreamKey:
    new_keys = () if new is None else ((new,) if isinstance(new, str) else new)
    return UpstreamKey(schema, key, new_keys, reason, gens, table)


_CONFIG_KEYS = (
    # logging
    _config(
        "logging.level",
        "execution.log_level",
        "same levels; CRITICAL becomes ERROR, the highest level here",
        *_ALL_CONFIG,
        CONFIG_STANDARD,
    ),
    _config(
        "logging.structured",
        None,
        f"{_NO_EFFECT}; pipeline.log is plain text",
        *_ALL_CONFIG,
        CONFIG_STANDARD,
    ),
    # 0.0.14 SessionConfig
    _config(
        "discovery",
        None,
        f"{_NO_EFFECT}: what a session holds is declared in its metadata",
        CONFIG_SESSIONCONFIG,
        table=True,
    ),
    _config("artifacts", None, _NO_POSE_GENERATION, CONFIG_SESSIONCONFIG, table=True),
    _config(
        "ingestion.ttl_signals.enable_loading",
        "assembly.write_ttl",
        "TTL files are always read (synchronization needs them); the value now says whether "
        "the pulses are written to the NWB file",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "ingestion.video.enable_loading",
        "assembly.write_videos",
        "videos are always probed and checked; the value now says whether they are linked in "
        "the NWB file",
        CONFIG_SESSIONCONFIG,
    ),
    _config("ingestion.video.ttl_validation", None, _ALWAYS_VERIFIED, CONFIG_SESSIONCONFIG),
    _config("ingestion.video.ttl_tolerance", None, _NO_TOLERANCE, CONFIG_SESSIONCONFIG),
    _config(
        "ingestion.video.mismatch_warn_only",
        "verification.frame_pulse_policy",
        "true becomes 'warn', false becomes 'fail'",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "ingestion.bpod.enable_loading",
        "assembly.write_bpod",
        "Bpod files declared in metadata are always read; the value now says whether trials, "
        "states and events are written to the NWB file",
        CONFIG_SESSIONCONFIG,
    ),
    _config("ingestion.bpod.continuous_time", None, _BPOD_CLOCK, CONFIG_SESSIONCONFIG),
    _config(
        "ingestion.pose.enable_loading",
        "assembly.write_pose",
        "pose files declared in metadata are always read; the value now says whether they are "
        "written to the NWB file",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "ingestion.pose.file_type",
        None,
        "each pose file's format is recognised from the file itself (.h5, .csv, .slp)",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "synchronization.strategy",
        None,
        "one method here: each trial's sync onset is matched to its TTL pulse through a fitted "
        "clock model (synchronization.clock_model)",
        CONFIG_SESSIONCONFIG,
        *_TEMPLATE_AND_DOCS,
    ),
    _config(
        "synchronization.reference_channel",
        None,
        f"{_NO_EFFECT}; each camera names its pulse channel with ttl_id in metadata",
        CONFIG_SESSIONCONFIG,
        *_TEMPLATE_AND_DOCS,
    ),
    _config("synchronization.alignment_method", None, _NO_EFFECT, CONFIG_SESSIONCONFIG),
    _config(
        "synchronization.tolerance",
        "synchronization.trial_match_tolerance_s",
        "same meaning, in seconds",
        CONFIG_SESSIONCONFIG,
    ),
    _config("synchronization.global_offset", None, _NO_FIXED_OFFSET, CONFIG_SESSIONCONFIG),
    _config(
        "synchronization.robust_min_matches",
        "synchronization.min_matched_trials",
        "at least 2 here: a clock fit needs two matched trials",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "synchronization.robust_max_start_trial_search",
        None,
        "the trial matcher here does not search for a start trial",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "assembly.ttls.mode",
        "assembly.write_ttl",
        "'assemble' becomes true, 'skip' false",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "assembly.behavior.mode",
        "assembly.write_bpod",
        "'assemble' becomes true, 'skip' false",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "assembly.videos.mode",
        "assembly.write_videos",
        "'link' becomes true, 'skip' false; upstream's default 'assemble' linked no videos (a "
        "bug) and becomes true",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "assembly.pose.mode",
        "assembly.write_pose",
        "'assemble' becomes true, 'skip' false",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "finalization.qc_report",
        "finalization.qc_report",
        "same key; the report is qc/report.html here",
        CONFIG_SESSIONCONFIG,
    ),
    _config(
        "finalization.alignment_stats",
        None,
        "alignment_stats.json is always written here",
        CONFIG_SESSIONCONFIG,
    ),
    _config("finalization.provenance", "finalization.provenance", "same key", CONFIG_SESSIONCONFIG),
    _config(
        "finalization.skip_validation",
        "finalization.validate_nwb",
        "inverted: skip_validation = true becomes validate_nwb = false",
        CONFIG_SESSIONCONFIG,
    ),
    # `data init` template and documented parameters
    _config("synchronization.alignment.method", None, _NO_EFFECT, *_TEMPLATE_AND_DOCS),
    _config(
        "synchronization.alignment.tolerance_s",
        "synchronization.trial_match_tolerance_s",
        "same meaning, in seconds",
        *_TEMPLATE_AND_DOCS,
    ),
    _config(
        "synchronization.alignment.global_offset_s", None, _NO_FIXED_OFFSET, *_TEMPLATE_AND_DOCS
    ),
    _config("verification.enabled", None, _ALWAYS_VERIFIED, *_TEMPLATE_AND_DOCS),
    _config("verification.check_frame_counts", None, _ALWAYS_VERIFIED, *_TEMPLATE_AND_DOCS),
    _config("verification.check_sync_mismatch", None, _ALWAYS_VERIFIED, *_TEMPLATE_AND_DOCS),
    _config(
        "verification.mismatch_tolerance_frames",
        None,
        _NO_TOLERANCE,
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "verification.warn_on_mismatch",
        "verification.frame_pulse_policy",
        "true becomes 'warn', false becomes 'fail'",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "bpod.parse",
        "assembly.write_bpod",
        "Bpod files declared in metadata are always read; the value now says whether trials, "
        "states and events are written to the NWB file",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "bpod.pattern",
        None,
        "Bpod file globs are metadata here: [bpod] path in data/raw/metadata.toml or session.toml",
        *_TEMPLATE_AND_DOCS,
    ),
    _config(
        "bpod.order",
        None,
        "file order is metadata here: [bpod] order ('name_asc' or 'name_desc')",
        *_TEMPLATE_AND_DOCS,
    ),
    _config("bpod.continuous_time", None, _BPOD_CLOCK, *_TEMPLATE_AND_DOCS),
    _config(
        "bpod.sync.trial_types",
        None,
        "trial-type sync rules are metadata here: copy them to [[bpod.sync.trial_types]] in "
        "data/raw/metadata.toml",
        CONFIG_DOCUMENTED,
        CONFIG_STANDARD,
        table=True,
    ),
    _config(
        "acquisition",
        None,
        "videos are never concatenated here: the chunks of a camera are linked in order in one "
        "ImageSeries",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
        table=True,
    ),
    _config("preprocessing", None, _NO_POSE_GENERATION, *_TEMPLATE_AND_DOCS, table=True),
    _config(
        "video.analysis.frame_count_timeout",
        "ingestion.video_decode_timeout_s",
        "seconds; upstream never applied it (its limit was a fixed 30 s)",
        *_TEMPLATE_AND_DOCS,
    ),
    _config(
        "video.transcode",
        None,
        "videos are linked as they are: no transcoding (upstream's transcoder was empty too)",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
        table=True,
    ),
    _config(
        "nwb.link_external_video",
        "assembly.write_videos",
        "same meaning",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "nwb.file_name_template",
        None,
        "the NWB file is always sub-<subject>_ses-<session>.nwb (DANDI naming)",
        CONFIG_DOCUMENTED,
        CONFIG_002,
    ),
    _config(
        "nwb.session_description_template",
        None,
        "session_description comes from metadata",
        CONFIG_DOCUMENTED,
        CONFIG_002,
    ),
    _config(
        "nwb.lab",
        None,
        "metadata here: lab in data/raw/metadata.toml",
        CONFIG_DOCUMENTED,
        CONFIG_002,
    ),
    _config(
        "nwb.institution",
        None,
        "metadata here: institution in data/raw/metadata.toml",
        CONFIG_DOCUMENTED,
        CONFIG_002,
    ),
    _config(
        "qc.generate_report",
        "finalization.qc_report",
        "same meaning",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "qc.include_verification",
        None,
        "the QC report always shows the verification results",
        *_TEMPLATE_AND_DOCS,
        CONFIG_002,
    ),
    _config(
        "qc.out_template",
        None,
        "the report is always qc/report.html in the session's processed folder",
        CONFIG_DOCUMENTED,
        CONFIG_002,
    ),
    _config(
        "ecephys",
        None,
        "not implemented upstream; this version has no ecephys section",
        CONFIG_TEMPLATE,
        table=True,
    ),
    _config(
        "paths", None, _FIXED_LAYOUT, CONFIG_DOCUMENTED, CONFIG_STANDARD, CONFIG_002, table=True
    ),
    _config(
        "paths.root_metadata",
        None,
        "set the W2T_ROOT_METADATA environment variable instead",
        CONFIG_DOCUMENTED,
    ),
    _config(
        "paths.metadata_file",
        None,
        "session metadata is always session.toml here",
        CONFIG_STANDARD,
        CONFIG_002,
    ),
    _config(
        "project",
        None,
        "the workspace folder is the project here",
        CONFIG_STANDARD,
        CONFIG_002,
        table=True,
    ),
    # 0.0.2 schema
    _config(
        "timebase.source",
        None,
        "chosen per camera here: frame_clock ('ttl', 'video' or 'rate') in [[cameras]]",
        CONFIG_002,
    ),
    _config(
        "timebase.mapping",
        None,
        "the clock model is synchronization.clock_model here",
        CONFIG_002,
    ),
    _config(
        "timebase.jitter_budget_s",
        None,
        "no jitter budget here; synchronization.trial_match_tolerance_s bounds each trial's "
        "match (not set from this value: the two mean different things)",
        CONFIG_002,
    ),
    _config("timebase.offset_s", None, _NO_FIXED_OFFSET, CONFIG_002),
    _config("timebase.ttl_id", None, "set per camera here: ttl_id in [[cameras]]", CONFIG_002),
    _config(
        "timebase.neuropixels_stream",
        None,
        "this version has no Neuropixels time base",
        CONFIG_002,
    ),
    _config(
        "labels",
        None,
        f"{_NO_POSE_GENERATION}; models are [pose.models.<id>] entries",
        CONFIG_002,
        table=True,
    ),
    _config(
        "facemap",
        None,
        "Facemap itself is not run; facial motion (the Facemap method) is declared per camera "
        "in metadata: [[facemotion.cameras.<camera>.rois]]",
        CONFIG_002,
        table=True,
    ),
)

_METADATA_KEYS = (
    _meta(
        "timestamps_reference_time",
        None,
        "always equal to session_start_time here",
        META_014,
    ),
    _meta(
        "slices",
        None,
        "this version writes no NWB 'slices' field; move the text into notes if it matters",
        META_014,
    ),
    _meta(
        "devices[].model.model_name",
        "devices[].model_name",
        "the model sub-table is flattened into the device",
        META_014,
    ),
    _meta(
        "devices[].model.manufacturer",
        "devices[].manufacturer",
        "the model sub-table is flattened into the device",
        META_014,
    ),
    _meta(
        "devices[].model.model_number",
        "devices[].model_number",
        "the model sub-table is flattened into the device",
        META_014,
    ),
    _meta(
        "devices[].model.description",
        "devices[].description",
        "the model sub-table is flattened into the device",
        META_014,
    ),
    _meta(
        "devices[].serial_number",
        "devices[].serial_number",
        "rejected by the upstream schema, accepted here",
        META_014,
    ),
    _meta("electrode_groups", None, _NOT_WRITTEN, META_014, table=True),
    _meta("imaging_planes", None, _NOT_WRITTEN, META_014, table=True),
    _meta("ogen_sites", None, _NOT_WRITTEN, META_014, table=True),
    _meta("processing_modules", None, _NOT_WRITTEN, META_014, table=True),
    _meta("cameras[].paths", "cameras[].paths", _ONE_GLOB, META_014),
    _meta("cameras[].order", "cameras[].order", _TIME_ORDER, META_014),
    _meta(
        "cameras[].manufacturer",
        None,
        "describe the camera as a [[devices]] entry and name it with device = '<name>'",
        META_014,
    ),
    _meta(
        "cameras[].model",
        None,
        "describe the camera as a [[devices]] entry and name it with device = '<name>'",
        META_014,
    ),
    _meta("TTLs[].paths", "TTLs[].paths", _ONE_GLOB, META_014),
    _meta("TTLs[].order", "TTLs[].order", _TIME_ORDER, META_014),
    _meta("bpod.path", "bpod.path", _ONE_GLOB, META_014, META_LEGACY_SESSION),
    _meta("bpod.order", "bpod.order", _TIME_ORDER, META_014, META_LEGACY_SESSION),
    _meta("bpod.continuous_time", None, _BPOD_CLOCK, META_014, META_LEGACY_SESSION),
    _meta(
        "bpod.sync.trial_types",
        "bpod.sync.trial_types",
        'the list form is kept; the table form [bpod.sync.trial_types."<n>"] becomes one '
        "[[bpod.sync.trial_types]] entry with trial_type = <n>",
        META_014,
        META_DICT_TRIAL_TYPES,
    ),
    _meta(
        "bpod.trial_types",
        ("bpod.sync.trial_types", "bpod.trial_type_names"),
        "each entry becomes a [[bpod.sync.trial_types]] rule; its description names the trial "
        "type in bpod.trial_type_names",
        META_LEGACY_SESSION,
        table=True,
    ),
    _meta(
        "bpod.trial_types[].trial_type",
        "bpod.sync.trial_types[].trial_type",
        "same value",
        META_LEGACY_SESSION,
    ),
    _meta(
        "bpod.trial_types[].sync_signal",
        "bpod.sync.trial_types[].sync_signal",
        "same value",
        META_LEGACY_SESSION,
    ),
    _meta(
        "bpod.trial_types[].sync_ttl",
        "bpod.sync.trial_types[].sync_ttl",
        "same value",
        META_LEGACY_SESSION,
    ),
    _meta(
        "bpod.trial_types[].description",
        "bpod.trial_type_names.<trial_type>",
        "the description names the trial type in the NWB trials table",
        META_LEGACY_SESSION,
    ),
    _meta(
        "pose.cameras.*.artifacts",
        None,
        "the folder of generated outputs is [pose.models.<id>] artifacts here",
        META_014,
    ),
    _meta(
        "session",
        ("session_id", "session_description", "experimenter", "subject"),
        "the legacy [session] table: its keys become top-level session keys and [subject] keys",
        META_LEGACY_SESSION,
        table=True,
    ),
    _meta("session.id", "session_id", "same value", META_LEGACY_SESSION),
    _meta("session.subject_id", "subject.subject_id", "same value", META_LEGACY_SESSION),
    _meta(
        "session.date",
        None,
        "a date without time of day or time zone; session_start_time needs both (set it, e.g. "
        "2025-01-01T10:00:00+01:00)",
        META_LEGACY_SESSION,
    ),
    _meta(
        "session.experimenter",
        "experimenter",
        "one name becomes a list of names",
        META_LEGACY_SESSION,
    ),
    _meta("session.description", "session_description", "same value", META_LEGACY_SESSION),
    _meta("session.sex", "subject.sex", "same value", META_LEGACY_SESSION),
    _meta(
        "session.age",
        "subject.age",
        "kept when it is an ISO-8601 duration such as P60D",
        META_LEGACY_SESSION,
    ),
    _meta("session.genotype", "subject.genotype", "same value", META_LEGACY_SESSION),
)

UPSTREAM_KEYS: Final[tuple[UpstreamKey, ...]] = _CONFIG_KEYS + _METADATA_KEYS
"""Every documented upstream key whose name, place or value differs here."""


def pattern_parts(loc: LocPath) -> tuple[str, ...]:
    """``("cameras", 1, "fps")`` as pattern parts ``("cameras", "[]", "fps")``."""
    return tuple("[]" if isinstance(part, int) else part for part in loc)


def split_key(pattern: str) -> tuple[str, ...]:
    """``"cameras[].order"`` as parts ``("cameras", "[]", "order")``."""
    return tuple(part for part in re.split(r"\.|(\[\])", pattern) if part)


def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    return len(pattern) == len(parts) and all(
        p == q or (p == "*" and q != "[]") for p, q in zip(pattern, parts, strict=True)
    )


_SPLIT_KEYS: Final = tuple((split_key(entry.key), entry) for entry in UPSTREAM_KEYS)


def find_upstream_key(schema: SchemaKind, loc: LocPath) -> UpstreamKey | None:
    """The entry for exactly this key (or table), else ``None``."""
    return _find(schema, pattern_parts(loc))


def find_enclosing_key(schema: SchemaKind, loc: LocPath) -> UpstreamKey | None:
    """The entry of the nearest upstream table enclosing ``loc`` (not ``loc`` itself)."""
    parts = pattern_parts(loc)
    for end in range(len(parts) - 1, 0, -1):
        entry = _find(schema, parts[:end])
        if entry is not None and entry.table:
            return entry
    return None


def _find(schema: SchemaKind, parts: tuple[str, ...]) -> UpstreamKey | None:
    for pattern, entry in _SPLIT_KEYS:
        if entry.schema == schema and _matches(pattern, parts):
            return entry
    return None


def _keys_inside(schema: SchemaKind, loc: LocPath) -> list[UpstreamKey]:
    parts = pattern_parts(loc)
    return [
        entry
        for pattern, entry in _SPLIT_KEYS
        if entry.schema == schema
        and len(pattern) > len(parts)
        and _matches(pattern[: len(parts)], parts)
    ]


def upstream_key_message(schema: SchemaKind, loc: LocPath) -> str | None:
    """The unknown-key message for an upstream key at ``loc``, or ``None`` if it is not one.

    The key itself, a table holding upstream keys, or a key inside an upstream table all count.
    """
    key = _loc_text(loc)
    entry = find_upstream_key(schema, loc) or find_enclosing_key(schema, loc)
    if entry is not None:
        new_keys, reason = entry.new_keys, entry.reason
    else:
        inside = _keys_inside(schema, loc)
        if not inside:
            return None
        new_keys = tuple(dict.fromkeys(k for e in inside for k in e.new_keys))
        reasons = {e.reason for e in inside}
        reason = reasons.pop() if len(reasons) == 1 else "see docs/migration.md"
    migrate = "`w2t-bkin data migrate ROOT`"
    if new_keys:
        return (
            f"'{key}' is an upstream w2t-bkin key: it is {_quoted(new_keys)} here; "
            f"{migrate} converts it"
        )
    return (
        f"'{key}' is an upstream w2t-bkin key with no counterpart here ({reason}); "
        f"{migrate} removes it and says why"
    )


def _loc_text(loc: LocPath) -> str:
    """``("cameras", 0, "model")`` as ``cameras[0].model``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _quoted(keys: tuple[str, ...]) -> str:
    quoted = [f"'{key}'" for key in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def render_key_table(schema: SchemaKind) -> str:
    """A Markdown table of the ``schema``'s upstream keys: key, new key, generations, reason."""
    lines = [
        "| upstream key | key here | upstream generations | what happens |",
        "|---|---|---|---|",
    ]
    for entry in UPSTREAM_KEYS:
        if entry.schema != schema:
            continue
        key = f"`{entry.key}`" + (" (table)" if entry.table else "")
        new = ", ".join(f"`{k}`" for k in entry.new_keys) or "dropped"
        lines.append(f"| {key} | {new} | {'; '.join(entry.generations)} | {entry.reason} |")
    return "\n".join(lines) + "\n"
