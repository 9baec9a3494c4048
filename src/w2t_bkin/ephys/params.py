"""Dispatch parameters: one schema for the command-line flags and the ``--params`` JSON file.

The flags of ``w2t-bkin ephys dispatch`` and the keys of ``--params FILE.json`` are the same
fields of :class:`DispatchParams`, with the same defaults. The file may use the upstream
(aind-ephys-job-dispatch) key names: ``debug_duration``, ``min_recording_duration``,
``no_split_segments``, ``no_split_groups``, ``concatenate``, ``nwb_files`` as a comma string,
``spikeinterface_info`` as a JSON string or a path. :func:`resolve_params` merges the two
sources: a flag given on the command line wins over the file, and every key on which they
disagree is returned as a :class:`ParamConflict` (the CLI prints it, the manifest records it):
never a silent override, in either direction.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from w2t_bkin.ephys.errors import DispatchParamsError

__all__ = [
    "DEFAULT_EXCLUDE_STREAMS",
    "DispatchParams",
    "InputFormat",
    "ParamConflict",
    "ResolvedParams",
    "SpikeInterfaceInfo",
    "canonical_keys",
    "load_params_file",
    "resolve_params",
]

InputFormat = Literal["aind", "spikeglx", "openephys", "nwb", "spikeinterface"]

DEFAULT_EXCLUDE_STREAMS: tuple[str, ...] = (
    r"nidq",
    r"NI-DAQ",
    r"SYNC",
    r"ADC",
    r"obx",
    r"LFP",
    r"\.lf$",
)
"""Regular expressions (``re.search``, case-sensitive) of streams that are never sorted:
NI-DAQ/NIDQ analog and digital inputs, sync channels, ADC channels, OneBox streams and LFP
bands (an LFP stream is attached to its AP partner instead)."""


class SpikeInterfaceInfo(BaseModel):
    """``--input spikeinterface``: which SpikeInterface reader to run, on what.

    Attributes
    ----------
    reader_type
        A key of ``spikeinterface.extractors.recording_extractor_full_dict`` (``"intan"``,
        ``"openephysbinary"``, ...) or ``"spikeinterface"`` for anything ``si.load`` reads
        (binary folders, zarr, JSON).
    reader_kwargs
        Keyword arguments of the reader; a list gives one session per entry (needs
        ``multi_session``). Paths are relative to the data folder.
    keep_stream_substrings, skip_stream_substrings
        Keep only / drop streams whose name contains one of these (neo readers).
    probe_paths
        ProbeInterface JSON per stream name (``{stream: path}``) or one for all streams.
    session_names
        Session name per ``reader_kwargs`` entry (default ``session0``, ``session1``, ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reader_type: str
    reader_kwargs: dict[str, Any] | list[dict[str, Any]] = Field(default_factory=dict)
    keep_stream_substrings: tuple[str, ...] = ()
    skip_stream_substrings: tuple[str, ...] = ()
    probe_paths: str | dict[str, str] | None = None
    session_names: tuple[str, ...] = ()

    @field_validator(
        "keep_stream_substrings", "skip_stream_substrings", "session_names", mode="before"
    )
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keep_or_skip(self) -> SpikeInterfaceInfo:
        if self.keep_stream_substrings and self.skip_stream_substrings:
            raise ValueError("give keep_stream_substrings or skip_stream_substrings, not both")
        return self

    def kwargs_list(self) -> list[dict[str, Any]]:
        """``reader_kwargs`` as a list (one entry per session)."""
        kwargs = self.reader_kwargs
        return [dict(k) for k in kwargs] if isinstance(kwargs, list) else [dict(kwargs)]


class DispatchParams(BaseModel):
    """Every setting of a dispatch; flags and ``--params`` keys are these fields.

    Attributes
    ----------
    input
        Input format: ``aind``, ``spikeglx``, ``openephys``, ``nwb`` or ``spikeinterface``.
    split_segments
        One job per segment (Open Ephys recording, SpikeGLX gate/trigger). Off: one job holds
        every segment of a stream (multi-segment recording).
    concatenate
        One job per stream whose segments are concatenated into one segment (implies no
        segment split).
    split_groups
        One job per channel group (shank, NWB electrode group) when there are several.
    debug, debug_duration_s
        Clip every segment (AP and LFP) to its first ``debug_duration_s`` seconds.
    skip_timestamps_check
        Do not check the timestamps (jobs then have ``skip_times`` false).
    min_recording_duration_s
        Skip jobs shorter than this, measured on the job itself (after split and clip);
        ``<= 0`` disables.
    multi_session
        Allow several sessions in the data folder; names get a ``{session}__`` prefix.
    nwb_files
        NWB files to read (relative to the data folder); default: every ``*.nwb`` found.
    spikeinterface_info
        Reader spec for ``input = "spikeinterface"``.
    include_streams, exclude_streams
        Regular expressions on stream names: keep only streams matching one of
        ``include_streams`` (when given), then drop those matching ``exclude_streams``.
    timestamps_max_negative_count, timestamps_negative_step_s, timestamps_max_gap_s,
    timestamps_max_zero_fraction
        Timestamp rules (upstream thresholds): more than ``max_negative_count`` steps below
        ``-negative_step_s``; any step above ``max_gap_s``; a fraction of zero steps at or
        above ``max_zero_fraction`` -> ``skip_times``.
    timestamps_chunk_samples
        Samples read per chunk by the timestamp check.
    verify_reload
        Reload every job from a relocated data folder before writing it.
    compact_json
        Write job files without indentation (about 6x smaller).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    input: InputFormat
    split_segments: bool = True
    concatenate: bool = False
    split_groups: bool = True
    debug: bool = False
    debug_duration_s: float = Field(
        30.0, gt=0, validation_alias=AliasChoices("debug_duration_s", "debug_duration")
    )
    skip_timestamps_check: bool = False
    min_recording_duration_s: float = Field(
        -1.0,
        validation_alias=AliasChoices("min_recording_duration_s", "min_recording_duration"),
    )
    multi_session: bool = False
    nwb_files: tuple[str, ...] = ()
    spikeinterface_info: SpikeInterfaceInfo | None = None
    include_streams: tuple[str, ...] = ()
    exclude_streams: tuple[str, ...] = DEFAULT_EXCLUDE_STREAMS
    timestamps_max_negative_count: int = Field(10, ge=0)
    timestamps_negative_step_s: float = Field(2e-4, ge=0)
    timestamps_max_gap_s: float = Field(2e-3, gt=0)
    timestamps_max_zero_fraction: float = Field(0.02, gt=0, le=1)
    timestamps_chunk_samples: int = Field(1_000_000, ge=2)
    verify_reload: bool = True
    compact_json: bool = True

    @field_validator("nwb_files", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # upstream passes "a.nwb,b.nwb"; "" means none
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return () if value is None else value

    @field_validator("debug_duration_s", mode="before")
    @classmethod
    def _debug_duration_default(cls, value: Any) -> Any:
        # upstream's params path writes null for "not given"; here it is the same default
        return 30.0 if value is None else value

    @field_validator("spikeinterface_info", mode="before")
    @classmethod
    def _info_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _json_or_file(value, "spikeinterface_info")
        return value

    @model_validator(mode="before")
    @classmethod
    def _concatenate_implies_no_split(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("concatenate") is True:
            if data.get("split_segments") is True:
                raise ValueError(
                    "concatenate (one job of all segments) contradicts split_segments (one job "
                    "per segment); give one of them"
                )
            data = {**data, "split_segments": False}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DispatchParams:
        if self.input == "spikeinterface" and self.spikeinterface_info is None:
            raise ValueError("input 'spikeinterface' needs spikeinterface_info (reader_type ...)")
        return self

    def digest_fields(self) -> dict[str, Any]:
        """The parameters as JSON values (for provenance and the manifest)."""
        return self.model_dump(mode="json")


_UPSTREAM_NEGATIONS = {"no_split_segments": "split_segments", "no_split_groups": "split_groups"}
_ALIASES = {
    "debug_duration": "debug_duration_s",
    "min_recording_duration": "min_recording_duration_s",
}


def canonical_keys(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Rename upstream keys to field names; ``no_split_*: true`` becomes ``split_*: false``.

    Raises
    ------
    DispatchParamsError
        An unknown key (the closest known key is suggested), or a key given twice under two
        names with different values.
    """
    known = set(DispatchParams.model_fields) | set(_ALIASES) | set(_UPSTREAM_NEGATIONS)
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in raw.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see: w2t-bkin ephys dispatch --help"
            raise DispatchParamsError(
                f"{source}: unknown key '{key}'", hint=hint + " (keys are the flag names)"
            )
        name, converted = key, value
        if key in _UPSTREAM_NEGATIONS:
            name = _UPSTREAM_NEGATIONS[key]
            converted = (not value) if isinstance(value, bool) else value
        name = _ALIASES.get(name, name)
        if name in out and out[name] != converted:
            raise DispatchParamsError(
                f"{source}: '{origin[name]}' = {out[name]!r} and '{key}' = {value!r} set the same "
                f"parameter '{name}' to different values",
                hint=f"keep one of '{origin[name]}' and '{key}'",
            )
        out[name], origin[name] = converted, key
    return out


def _json_or_file(text: str, key: str) -> Any:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{key} is not valid JSON: {exc}") from None
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"{key}: expected a JSON object or a JSON file, found {text!r}")
    return json.loads(path.read_text(encoding="utf-8"))


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read ``--params``: a JSON file (or a JSON object given inline, as upstream allows).

    Returns the canonical keys (see :func:`canonical_keys`), not yet validated.
    """
    text = str(path)
    if text.lstrip().startswith("{"):
        source, content = "--params", text
    else:
        file = Path(path)
        if not file.is_file():
            raise DispatchParamsError(
                f"--params {file}: file not found", hint="give a JSON file of dispatch keys"
            )
        source, content = str(file), file.read_text(encoding="utf-8")
    try:
        raw = json.loads(content)
    except json.JSONDecodeError as exc:
        raise DispatchParamsError(
            f"{source}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="fix the JSON syntax (a trailing comma or a missing quote?)",
        ) from None
    if not isinstance(raw, dict):
        raise DispatchParamsError(
            f"{source}: expected a JSON object of dispatch keys, found {type(raw).__name__}"
        )
    return canonical_keys(raw, source)


@dataclass(frozen=True)
class ParamConflict:
    """A key set both by a flag and by the ``--params`` file, to different values."""

    key: str
    file_value: Any
    flag_value: Any

    def describe(self) -> str:
        return (
            f"'{self.key}': the flag gives {self.flag_value!r}, the params file "
            f"{self.file_value!r}; using the flag"
        )


@dataclass(frozen=True)
class ResolvedParams:
    """The merged parameters and the keys on which flags and file disagreed."""

    params: DispatchParams
    conflicts: tuple[ParamConflict, ...]
    sources: Mapping[str, str]


def _normalized(key: str, value: Any) -> Any:
    field = DispatchParams.model_fields.get(key)
    if field is None or field.annotation is None:
        return value
    try:
        return TypeAdapter(field.annotation).validate_python(value)
    except ValidationError:
        return value


def resolve_params(
    flags: Mapping[str, Any], params_file: str | Path | None = None
) -> ResolvedParams:
    """Merge the flags given explicitly with the ``--params`` file and validate the result.

    Parameters
    ----------
    flags
        Field name -> value, only for flags the user typed (``None`` values are ignored).
    params_file
        ``--params`` value: a JSON file or an inline JSON object.

    Returns
    -------
    ResolvedParams
        Parameters, conflicts (flag wins) and the source of every key set (``flag``/``file``).

    Raises
    ------
    DispatchParamsError
        Unknown keys, wrong types or values; the message names the key, its source, the value
        found and what was expected.
    """
    given = canonical_keys({k: v for k, v in flags.items() if v is not None}, "flags")
    from_file = load_params_file(params_file) if params_file is not None else {}
    conflicts = tuple(
        ParamConflict(key, from_file[key], value)
        for key, value in given.items()
        if key in from_file and _normalized(key, from_file[key]) != _normalized(key, value)
    )
    merged = {**from_file, **given}
    sources = {**dict.fromkeys(from_file, "file"), **dict.fromkeys(given, "flag")}
    try:
        params = DispatchParams.model_validate(merged)
    except ValidationError as exc:
        raise _params_error(exc, sources, params_file) from None
    return ResolvedParams(params, conflicts, sources)


def _params_error(
    exc: ValidationError, sources: Mapping[str, str], params_file: str | Path | None
) -> DispatchParamsError:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"]) or "(parameters)"
        top = str(error["loc"][0]) if error["loc"] else ""
        where = "--params " + str(params_file) if sources.get(top) == "file" else "flag"
        if top == "input" and error["type"] == "missing":
            where = "flags and params file"
        found = error.get("input")
        shown = (
            "" if isinstance(found, dict) or error["type"] == "missing" else f" (found {found!r})"
        )
        lines.append(f"{loc} [{where}]: {error['msg']}{shown}")
    return DispatchParamsError(
        "invalid dispatch parameters: " + "; ".join(lines),
        hint="see the accepted keys and types with: w2t-bkin ephys dispatch --help",
    )
