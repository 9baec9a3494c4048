"""What a data folder holds to sort: sessions, blocks, streams, and each stream's LFP partner.

One discoverer per input format, registered by name (no if-chains). A discoverer returns
:class:`StreamSource` objects (a stream to dispatch, with how to open it lazily) and
:class:`Skipped` items (a stream excluded by a rule, or one that could not be read, with the
reason). Everything is sorted: sessions and files by name, Open Ephys experiments by number,
SpikeGLX runs by name, streams by name, so job names and ids do not depend on the file system.

Readers get lexically absolute paths (symlinks kept) so that
:func:`~w2t_bkin.ephys.portable.portable_dict` can relativise them against the data folder.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from w2t_bkin.ephys.errors import DispatchParamsError, NoJobsError
from w2t_bkin.ephys.params import DispatchParams, InputFormat
from w2t_bkin.ephys.portable import lexical_abspath
from w2t_bkin.sources.ttl.spikeglx_imec import IMEC_SYNC_BIT

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

log = logging.getLogger(__name__)

__all__ = [
    "Discovery",
    "Skipped",
    "StreamSource",
    "discover",
    "register_discoverer",
    "stream_rule_excluding",
]

Opener = Callable[[], "BaseRecording"]
TimestampsFile = Callable[[int], "Path | None"]


SyncFile = Callable[[int], "tuple[Path, int] | None"]


def _no_timestamps_file(segment: int) -> Path | None:
    return None


def _no_sync_file(segment: int) -> tuple[Path, int] | None:
    return None


@dataclass(frozen=True)
class StreamSource:
    """One stream of one block of one session, to be split into jobs.

    Attributes
    ----------
    session_name, session_dir
        Session name and folder (``None`` for inputs that are not a folder).
    block, block_index
        Block name (Open Ephys experiment, SpikeGLX run, ``block0``) and index in the session.
    stream
        Stream name as the reader knows it.
    name_block, name_stream
        The block and stream parts of the upstream ``recording_name``.
    open
        Opens the recording (reads metadata only).
    lfp_stream, open_lfp, lfp_missing_reason
        The paired LFP stream and its opener, or why there is none.
    timestamps_file, lfp_timestamps_file
        Side timestamps file of a segment, when the format has one (Open Ephys).
    sync_format, sync_file
        ``[[TTLs]]`` format of the stream's sync line and ``(path, line)`` per segment.
    """

    session_name: str
    session_dir: Path | None
    block: str
    block_index: int
    stream: str
    name_block: str
    name_stream: str
    open: Opener
    lfp_stream: str | None = None
    open_lfp: Opener | None = None
    lfp_missing_reason: str | None = None
    timestamps_file: TimestampsFile = _no_timestamps_file
    lfp_timestamps_file: TimestampsFile = _no_timestamps_file
    sync_format: Literal["spikeglx", "openephys"] | None = None
    sync_file: SyncFile = _no_sync_file


@dataclass(frozen=True)
class Skipped:
    """A candidate that yields no job, and why."""

    session_name: str
    block: str | None
    stream: str | None
    reason: str
    segment: int | None = None
    group: int | str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "session_name": self.session_name,
            "block": self.block,
            "stream": self.stream,
            "segment": self.segment,
            "group": self.group,
            "reason": self.reason,
        }


@dataclass
class Discovery:
    """Streams to dispatch and candidates left out."""

    sources: list[StreamSource] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


Discoverer = Callable[[Path, DispatchParams], Discovery]
_DISCOVERERS: dict[str, Discoverer] = {}


def register_discoverer(fmt: InputFormat) -> Callable[[Discoverer], Discoverer]:
    """Register the decorated ``discover(data_dir, params)`` for input format ``fmt``."""

    def decorate(function: Discoverer) -> Discoverer:
        _DISCOVERERS[fmt] = function
        return function

    return decorate


def discover(data_dir: str | Path, params: DispatchParams) -> Discovery:
    """Every stream of ``data_dir`` to dispatch under ``params``, and what was left out.

    Raises
    ------
    NoJobsError
        The data folder does not exist or holds no session of the input format.
    DispatchParamsError
        Several sessions without ``multi_session``.
    """
    root = lexical_abspath(data_dir)
    if not root.is_dir():
        raise NoJobsError(
            f"data folder {root} does not exist or is not a folder",
            path=root,
            hint="pass the folder that holds the session(s) as DATA_DIR",
        )
    return _DISCOVERERS[params.input](root, params)


def stream_rule_excluding(stream: str, params: DispatchParams) -> str | None:
    """The rule that leaves ``stream`` out (``include``/``exclude`` patterns), or ``None``."""
    if params.include_streams and not any(re.search(p, stream) for p in params.include_streams):
        return f"not matched by include_streams {list(params.include_streams)}"
    for pattern in params.exclude_streams:
        if re.search(pattern, stream):
            return f"excluded by exclude_streams rule {pattern!r}"
    return None


def _one_or_many_sessions(
    candidates: list[Path], root: Path, params: DispatchParams, what: str
) -> list[Path]:
    if not candidates:
        raise NoJobsError(
            f"no {what} found in {root}",
            path=root,
            hint=f"check --input {params.input}: is this the right format and folder?",
        )
    if len(candidates) > 1 and not params.multi_session:
        names = ", ".join(c.name for c in candidates[:5])
        raise DispatchParamsError(
            f"{root} holds {len(candidates)} sessions ({names}) but multi_session is off",
            hint="pass --multi-session to dispatch them together, or point DATA_DIR at one",
        )
    return candidates


# ---------------------------------------------------------------------------------- SpikeGLX

_SGLX_META = re.compile(r"^(?P<run>.+)_g(?P<gate>\d+)_t(?P<trigger>\d+|cat)\.(?P<stream>.+)\.meta$")
_SGLX_AP = re.compile(r"^imec(?P<probe>\d+)\.ap$")


def _spikeglx_runs(session: Path) -> dict[str, list[Path]]:
    runs: dict[str, list[Path]] = {}
    for meta in sorted(session.rglob("*.meta")):
        match = _SGLX_META.match(meta.name)
        if match:
            runs.setdefault(match["run"], []).append(lexical_abspath(meta))
    return runs


def _is_spikeglx_session(folder: Path) -> bool:
    return any(_SGLX_META.match(p.name) for p in folder.glob("*.meta")) or any(
        p.is_dir() and re.search(r"_g\d+$", p.name) for p in folder.iterdir()
    )


@register_discoverer("spikeglx")
def _discover_spikeglx(root: Path, params: DispatchParams) -> Discovery:
    import os

    if _is_spikeglx_session(root):
        sessions = [root]
    else:
        sessions = [p for p in sorted(root.iterdir()) if p.is_dir() and _spikeglx_runs(p)]
    found = Discovery()
    for session in _one_or_many_sessions(sessions, root, params, "SpikeGLX session"):
        runs = _spikeglx_runs(session)
        for block_index, (run, metas) in enumerate(sorted(runs.items())):
            folder = Path(os.path.commonpath([m.parent for m in metas]))
            others = [m for r, ms in runs.items() if r != run for m in ms]
            clash = [m for m in others if folder in m.parents]
            if clash:
                found.skipped.append(
                    Skipped(
                        session.name,
                        run,
                        None,
                        f"run folder {folder} also holds run files of another run "
                        f"({clash[0].name}); neo reads one run per folder: move each run into "
                        "its own <run>_g<N> folder",
                    )
                )
                continue
            _spikeglx_run_streams(found, session, run, block_index, folder, params)
    return found


def _spikeglx_run_streams(
    found: Discovery,
    session: Path,
    run: str,
    block_index: int,
    folder: Path,
    params: DispatchParams,
) -> None:
    import spikeinterface.extractors as se

    try:
        _, stream_ids = se.get_neo_streams("spikeglx", str(folder))
    except Exception as exc:  # a damaged run is reported, the others go on
        why = (
            f"cannot read run: {type(exc).__name__}: {exc} (neo reads a run only when every "
            "gate/trigger holds the same streams, each .bin with its .meta)"
        )
        found.skipped.append(Skipped(session.name, run, None, why))
        return
    streams = sorted(stream_ids)
    for stream in streams:
        rule = stream_rule_excluding(stream, params)
        if rule:
            found.skipped.append(Skipped(session.name, run, stream, rule))
            continue
        lfp, reason = _spikeglx_lfp_partner(stream, streams)

        def opener(stream_id: str) -> Opener:
            return lambda: se.read_spikeglx(str(folder), stream_id=stream_id)

        sync_bins = _spikeglx_segment_files(folder, run, stream)

        found.sources.append(
            StreamSource(
                session_name=session.name,
                session_dir=session,
                block=run,
                block_index=block_index,
                stream=stream,
                name_block=f"block{block_index}",
                name_stream=stream,
                open=opener(stream),
                lfp_stream=lfp,
                open_lfp=opener(lfp) if lfp else None,
                lfp_missing_reason=reason,
                sync_format="spikeglx" if sync_bins else None,
                sync_file=_indexed(sync_bins, IMEC_SYNC_BIT),
            )
        )


def _indexed(files: list[Path], line: int) -> SyncFile:
    return lambda k: (files[k], line) if k < len(files) else None


def _spikeglx_segment_files(folder: Path, run: str, stream: str) -> list[Path]:
    """The ``.bin`` of each segment (gate, trigger order) of an imec stream; [] for others."""
    if not stream.startswith("imec") or "-" in stream:
        return []
    found = []
    for meta in folder.rglob(f"{run}_g*_t*.{stream}.meta"):
        match = _SGLX_META.match(meta.name)
        if match and match["run"] == run and match["trigger"].isdigit():
            found.append(((int(match["gate"]), int(match["trigger"])), meta.with_suffix(".bin")))
    return [path for _, path in sorted(found) if path.is_file()]


def _spikeglx_lfp_partner(stream: str, streams: list[str]) -> tuple[str | None, str | None]:
    match = _SGLX_AP.match(stream)
    if match is None:
        return None, f"stream {stream!r} is not an imecN.ap stream"
    partner = f"imec{match['probe']}.lf"
    if partner in streams:
        return partner, None
    return None, (
        f"no {partner} stream in the run (NP2.0 probes record AP only, or the .lf.bin/.meta "
        "is missing)"
    )


# -------------------------------------------------------------------------------- Open Ephys

_OE_AP = re.compile(r"^(?P<base>.+)-AP$")


def _is_openephys_session(folder: Path) -> bool:
    return (
        any(p.is_dir() and p.name.startswith("Record Node") for p in folder.iterdir())
        or any(p.is_dir() and re.fullmatch(r"experiment\d+", p.name) for p in folder.iterdir())
        or (folder / "structure.oebin").is_file()
    )


def _natural_key(name: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


@register_discoverer("openephys")
def _discover_openephys(root: Path, params: DispatchParams) -> Discovery:
    if _is_openephys_session(root):
        sessions = [root]
    else:
        sessions = [p for p in sorted(root.iterdir()) if p.is_dir() and _is_openephys_session(p)]
    found = Discovery()
    for session in _one_or_many_sessions(sessions, root, params, "Open Ephys session"):
        _openephys_session(found, session, session, params)
    return found


def _openephys_session(
    found: Discovery, session: Path, folder: Path, params: DispatchParams, name: str | None = None
) -> None:
    import spikeinterface.extractors as se
    from spikeinterface.extractors.neoextractors.openephys import (
        OpenEphysBinaryRecordingExtractor,
    )

    session_name = name or session.name
    try:
        experiments = sorted(
            map(str, OpenEphysBinaryRecordingExtractor.get_available_experiments(str(folder))),
            key=_natural_key,
        )
        stream_names, _ = se.get_neo_streams("openephysbinary", str(folder))
    except Exception as exc:  # one unreadable session is reported, the others go on
        found.skipped.append(
            Skipped(session_name, None, None, f"cannot read: {type(exc).__name__}: {exc}")
        )
        return
    streams = sorted(stream_names)
    for block_index, experiment in enumerate(experiments):
        for stream in streams:
            rule = stream_rule_excluding(stream, params)
            if rule:
                found.skipped.append(Skipped(session_name, experiment, stream, rule))
                continue
            lfp, reason = _openephys_lfp_partner(stream, streams)

            def opener(stream_name: str, experiment_name: str = experiment) -> Opener:
                return lambda: se.read_openephys(
                    str(folder), stream_name=stream_name, experiment_name=experiment_name
                )

            def timestamps(stream_name: str, experiment_name: str = experiment) -> TimestampsFile:
                return lambda k: _openephys_timestamps_file(folder, stream_name, experiment_name, k)

            def sync(stream_name: str = stream, experiment_name: str = experiment) -> SyncFile:
                return lambda k: _openephys_sync_file(folder, stream_name, experiment_name, k)

            found.sources.append(
                StreamSource(
                    session_name=session_name,
                    session_dir=session,
                    block=experiment,
                    block_index=block_index,
                    stream=stream,
                    name_block=experiment,
                    name_stream=stream,
                    open=opener(stream),
                    lfp_stream=lfp,
                    open_lfp=opener(lfp) if lfp else None,
                    lfp_missing_reason=reason,
                    timestamps_file=timestamps(stream),
                    lfp_timestamps_file=timestamps(lfp) if lfp else _no_timestamps_file,
                    sync_format="openephys",
                    sync_file=sync(),
                )
            )


def _openephys_lfp_partner(stream: str, streams: list[str]) -> tuple[str | None, str | None]:
    match = _OE_AP.match(stream)
    if match is None:
        return None, (
            f"stream {stream!r} has no -AP suffix: a wideband stream (Neuropixels 2.0 or newer "
            "GUI), which has no separate LFP band"
        )
    partner = f"{match['base']}-LFP"
    if partner in streams:
        return partner, None
    return None, f"no {partner!r} stream in the recording"


def _openephys_recording_dir(
    folder: Path, stream: str, experiment: str, segment: int
) -> tuple[Path, str] | None:
    """``(<node>/<experiment>/recording<k>, stream folder name)`` of a segment."""
    node, _, device_stream = stream.partition("#")
    base = folder / node if device_stream and (folder / node).is_dir() else folder
    experiment_dir = base / experiment
    if not experiment_dir.is_dir():
        return None
    recordings = sorted(
        (p for p in experiment_dir.iterdir() if re.fullmatch(r"recording\d+", p.name)),
        key=lambda p: _natural_key(p.name),
    )
    if segment >= len(recordings):
        return None
    return recordings[segment], device_stream or stream


def _openephys_timestamps_file(
    folder: Path, stream: str, experiment: str, segment: int
) -> Path | None:
    """``<node>/<experiment>/recording<k>/continuous/<stream>/timestamps.npy`` of a segment."""
    where = _openephys_recording_dir(folder, stream, experiment, segment)
    if where is None:
        return None
    path = where[0] / "continuous" / where[1] / "timestamps.npy"
    return path if path.is_file() else None


def _openephys_sync_file(
    folder: Path, stream: str, experiment: str, segment: int
) -> tuple[Path, int] | None:
    """The stream's TTL events folder of a segment and its one line (``None`` when the folder
    is missing or holds several lines: which one is the sync is then the user's call)."""
    import numpy as np

    where = _openephys_recording_dir(folder, stream, experiment, segment)
    if where is None:
        return None
    events = where[0] / "events" / where[1] / "TTL"
    states_file = events / "states.npy"
    if not states_file.is_file():
        return None
    lines = np.unique(np.abs(np.load(states_file)))
    return (events, int(lines[0])) if lines.size == 1 else None


# -------------------------------------------------------------------------------------- AIND


def _aind_session_name(session: Path) -> str:
    description = session / "data_description.json"
    if description.is_file():
        try:
            name = json.loads(description.read_text(encoding="utf-8")).get("name")
        except (ValueError, AttributeError):
            name = None
        if isinstance(name, str) and name:
            return name
    return session.name  # never null: consumers group and prefix by it


def _aind_layout(session: Path) -> tuple[Path | None, Path | None]:
    """(Open Ephys folder, compressed zarr folder) of an AIND session."""
    for ecephys in (session / "ecephys", session):
        clipped = ecephys / "ecephys_clipped"
        compressed = ecephys / "ecephys_compressed"
        if clipped.is_dir() or compressed.is_dir():
            return (clipped if clipped.is_dir() else None), (
                compressed if compressed.is_dir() else None
            )
    if (session / "ecephys").is_dir() and _is_openephys_session(session / "ecephys"):
        return session / "ecephys", None
    return None, None


@register_discoverer("aind")
def _discover_aind(root: Path, params: DispatchParams) -> Discovery:
    if any(_aind_layout(root)):
        sessions = [root]
    else:
        sessions = [p for p in sorted(root.iterdir()) if p.is_dir() and any(_aind_layout(p))]
    found = Discovery()
    for session in _one_or_many_sessions(sessions, root, params, "AIND ecephys session"):
        oe_folder, compressed = _aind_layout(session)
        name = _aind_session_name(session)
        if oe_folder is None:
            found.skipped.append(
                Skipped(name, None, None, "no ecephys_clipped Open Ephys folder to enumerate")
            )
            continue
        before = len(found.sources)
        _openephys_session(found, session, oe_folder, params, name=name)
        if oe_folder.name != "ecephys_clipped":
            continue  # legacy layout: an uncompressed Open Ephys folder, read as it is
        streams, found.sources[before:] = found.sources[before:], []
        for source in streams:
            outcome = _aind_zarr_source(source, compressed)
            if isinstance(outcome, Skipped):
                found.skipped.append(outcome)
            else:
                found.sources.append(outcome)
    return found


def _aind_zarr_source(source: StreamSource, compressed: Path | None) -> StreamSource | Skipped:
    """The stream read from its compressed zarr ``{experiment}_{stream}.zarr``.

    The clipped Open Ephys folder keeps only the first samples of each stream (for its
    metadata), so a stream without zarr is skipped with the reason, never sorted from there.
    """
    import dataclasses

    import spikeinterface as si

    def zarr_of(stream: str) -> Path | None:
        return compressed / f"{source.block}_{stream}.zarr" if compressed else None

    ap = zarr_of(source.stream)
    if ap is None or not ap.is_dir():
        return Skipped(
            source.session_name,
            source.block,
            source.stream,
            f"no compressed recording {source.block}_{source.stream}.zarr in ecephys_compressed "
            "(ecephys_clipped holds only the first samples of each stream)",
        )
    lfp = zarr_of(source.lfp_stream) if source.lfp_stream else None
    has_lfp = lfp is not None and lfp.is_dir()
    return dataclasses.replace(
        source,
        open=lambda: si.read_zarr(str(ap)),
        open_lfp=(lambda: si.read_zarr(str(lfp))) if has_lfp else None,
        lfp_stream=source.lfp_stream if has_lfp else None,
        lfp_missing_reason=source.lfp_missing_reason
        if not source.lfp_stream or has_lfp
        else f"no compressed LFP zarr {lfp.name if lfp else ''}",
        # the zarr keeps its own times; the clipped folder's timestamps are 100 samples only
        timestamps_file=_no_timestamps_file,
        lfp_timestamps_file=_no_timestamps_file,
    )


# --------------------------------------------------------------------------------------- NWB

_NWB_LFP = re.compile(r"(^|/)LFP(/|$)|lfp|LFP")


@register_discoverer("nwb")
def _discover_nwb(root: Path, params: DispatchParams) -> Discovery:
    if params.nwb_files:
        files = [lexical_abspath(root / f) for f in params.nwb_files]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise NoJobsError(
                f"NWB file {missing[0]} not found (nwb_files are relative to {root})",
                path=missing[0],
                hint="list files that exist under DATA_DIR",
            )
    else:
        files = sorted(lexical_abspath(f) for f in root.rglob("*.nwb"))
    found = Discovery()
    files = _one_or_many_sessions(files, root, params, "NWB file")
    for file, name in zip(files, _nwb_session_names(files, root), strict=True):
        _nwb_file_streams(found, file, name, params)
    return found


def _nwb_session_names(files: list[Path], root: Path) -> list[str]:
    """File stems; stems shared by several files become their paths (``a-sess``, ``b-sess``)."""
    stems = [f.stem for f in files]
    names = []
    for file, stem in zip(files, stems, strict=True):
        if stems.count(stem) > 1 and file.is_relative_to(root):
            stem = file.relative_to(root).with_suffix("").as_posix().replace("/", "-")
        names.append(stem)
    return names


def _nwb_file_streams(
    found: Discovery, file: Path, session_name: str, params: DispatchParams
) -> None:
    import spikeinterface.extractors as se

    try:
        paths = sorted(se.read_nwb_recording.fetch_available_electrical_series_paths(str(file)))
    except Exception as exc:  # one unreadable file is reported, the others go on
        found.skipped.append(
            Skipped(session_name, None, None, f"cannot read: {type(exc).__name__}: {exc}")
        )
        return
    lfp_paths = [p for p in paths if _NWB_LFP.search(p)]
    for path in paths:
        rule = stream_rule_excluding(path, params)
        if rule:
            found.skipped.append(Skipped(session_name, "block0", path, rule))
            continue
        lfp, reason = _nwb_lfp_partner(file, path, lfp_paths)

        def opener(series: str) -> Opener:
            return lambda: se.read_nwb_recording(file_path=str(file), electrical_series_path=series)

        found.sources.append(
            StreamSource(
                session_name=session_name,
                session_dir=None,
                block="block0",
                block_index=0,
                stream=path,
                name_block="block0",
                name_stream=path.replace("/", "-"),
                open=opener(path),
                lfp_stream=lfp,
                open_lfp=opener(lfp) if lfp else None,
                lfp_missing_reason=reason,
            )
        )


def _nwb_lfp_partner(file: Path, path: str, lfp_paths: list[str]) -> tuple[str | None, str | None]:
    """The one LFP series recorded on the same electrodes as ``path``, or why there is none."""
    if not lfp_paths:
        return None, "the file has no LFP ElectricalSeries"
    electrodes = _nwb_series_electrodes(file, [path, *lfp_paths])
    if electrodes.get(path) is None:
        return None, f"cannot read the electrodes of {path} (not an HDF5 NWB file?)"
    same = [p for p in lfp_paths if electrodes.get(p) == electrodes[path]]
    if len(same) == 1:
        return same[0], None
    if not same:
        return None, f"no LFP series uses the electrodes of {path} ({len(lfp_paths)} LFP series)"
    return None, f"several LFP series use the electrodes of {path}: {same}"


def _nwb_series_electrodes(file: Path, paths: list[str]) -> dict[str, tuple[int, ...] | None]:
    """Electrode-table rows of each ElectricalSeries (HDF5 files; ``None`` when unreadable)."""
    import h5py

    out: dict[str, tuple[int, ...] | None] = dict.fromkeys(paths)
    try:
        with h5py.File(file, "r") as handle:
            for path in paths:
                dataset = handle.get(f"{path}/electrodes")
                if isinstance(dataset, h5py.Dataset):
                    out[path] = tuple(int(i) for i in dataset[()])
    except OSError:
        pass  # Zarr-backed NWB: no pairing, the reason says why
    return out


# ----------------------------------------------------------------------------- SpikeInterface


@register_discoverer("spikeinterface")
def _discover_spikeinterface(root: Path, params: DispatchParams) -> Discovery:
    info = params.spikeinterface_info
    assert info is not None  # DispatchParams validates it for this input
    kwargs_list = info.kwargs_list()
    if len(kwargs_list) > 1 and not params.multi_session:
        raise DispatchParamsError(
            f"spikeinterface_info.reader_kwargs lists {len(kwargs_list)} sessions but "
            "multi_session is off",
            hint="pass --multi-session, or give one reader_kwargs object",
        )
    names = list(info.session_names) or [f"session{i}" for i in range(len(kwargs_list))]
    if len(names) != len(kwargs_list) or len(set(names)) != len(names):
        raise DispatchParamsError(
            f"spikeinterface_info.session_names {names} must be {len(kwargs_list)} distinct "
            "names, one per reader_kwargs entry",
        )
    found = Discovery()
    if info.reader_type == "spikeinterface":
        for name, kwargs in zip(names, kwargs_list, strict=True):
            _si_universal(found, root, name, kwargs, params)
        return found
    for name, kwargs in zip(names, kwargs_list, strict=True):
        _si_reader(found, root, name, kwargs, params)
    return found


def _absolute_kwargs(root: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Reader kwargs with file paths (relative to the data folder) made lexically absolute."""
    out = dict(kwargs)
    for key, value in kwargs.items():
        if key.endswith(("folder_path", "file_path")) and isinstance(value, str):
            out[key] = str(lexical_abspath(root / value))
        elif key.endswith(("folder_paths", "file_paths")) and isinstance(value, list):
            out[key] = [str(lexical_abspath(root / v)) for v in value]
    return out


def _si_reader(
    found: Discovery, root: Path, name: str, kwargs: dict[str, Any], params: DispatchParams
) -> None:
    import spikeinterface.extractors as se
    from spikeinterface.extractors.neoextractors import neo_recording_class_dict

    info = params.spikeinterface_info
    assert info is not None
    reader_type = info.reader_type
    if reader_type not in se.recording_extractor_full_dict:
        raise DispatchParamsError(
            f"spikeinterface_info.reader_type {reader_type!r} is not a SpikeInterface reader",
            hint=f"use one of: {', '.join(sorted(se.recording_extractor_full_dict))}, or "
            "'spikeinterface' for si.load",
        )
    reader = se.recording_extractor_full_dict[reader_type]
    kwargs = _absolute_kwargs(root, kwargs)
    streams: list[str | None] = [None]
    if reader_type in neo_recording_class_dict and "stream_name" not in kwargs:
        source_kwargs = {k: v for k, v in kwargs.items() if k.endswith("_path")}
        try:
            stream_names, _ = se.get_neo_streams(reader_type, *source_kwargs.values())
        except Exception as exc:
            found.skipped.append(
                Skipped(name, None, None, f"cannot list streams: {type(exc).__name__}: {exc}")
            )
            return
        streams = [s for s in sorted(stream_names) if _keep_by_substrings(s, info, found, name)]
    for stream in streams:
        stream_kwargs = dict(kwargs) if stream is None else {**kwargs, "stream_name": stream}
        label = stream or str(kwargs.get("stream_name", "stream0"))
        rule = stream_rule_excluding(label, params)
        if rule is not None:
            found.skipped.append(Skipped(name, "block0", label, rule))
            continue

        def opener(k: dict[str, Any] = stream_kwargs, stream_label: str = label) -> BaseRecording:
            recording = reader(**k)
            _attach_probe(recording, root, info.probe_paths, stream_label)
            return recording

        found.sources.append(
            StreamSource(
                session_name=name,
                session_dir=None,
                block="block0",
                block_index=0,
                stream=label,
                name_block="block0",
                name_stream=label,
                open=opener,
                lfp_missing_reason="LFP pairing is not defined for --input spikeinterface",
            )
        )


def _keep_by_substrings(stream: str, info: Any, found: Discovery, session: str) -> bool:
    if info.keep_stream_substrings and not any(s in stream for s in info.keep_stream_substrings):
        found.skipped.append(Skipped(session, "block0", stream, "not in keep_stream_substrings"))
        return False
    if any(s in stream for s in info.skip_stream_substrings):
        found.skipped.append(Skipped(session, "block0", stream, "in skip_stream_substrings"))
        return False
    return True


def _attach_probe(
    recording: BaseRecording, root: Path, probe_paths: str | dict[str, str] | None, stream: str
) -> None:
    if probe_paths is None:
        return
    path = probe_paths if isinstance(probe_paths, str) else probe_paths.get(stream)
    if path is None:
        return
    from probeinterface import read_probeinterface

    # set_probegroup works in place and returns None in SpikeInterface 0.105; "auto" groups
    # by shank when the probe has shanks, else by probe
    recording.set_probegroup(read_probeinterface(str(root / path)), group_mode="auto")


def _si_universal(
    found: Discovery, root: Path, name: str, kwargs: dict[str, Any], params: DispatchParams
) -> None:
    """``si.load`` every dataset named in ``kwargs['paths']`` (default: every child of DATA).

    Each dataset is a stream named by its folder: the include/exclude stream rules apply.
    """
    import spikeinterface as si

    listed = kwargs.get("paths")
    if listed is None:
        candidates = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    else:
        candidates = [lexical_abspath(root / p) for p in listed]
    for index, path in enumerate(candidates):
        stream = path.name
        rule = stream_rule_excluding(stream, params)
        if rule is not None:
            found.skipped.append(Skipped(name, f"block{index}", stream, rule))
            continue

        def opener(p: Path = path) -> BaseRecording:
            return si.load(str(p))

        found.sources.append(
            StreamSource(
                session_name=name,
                session_dir=None,
                block=f"block{index}",
                block_index=index,
                stream=stream,
                name_block=f"block{index}",
                name_stream=stream,
                open=opener,
                lfp_missing_reason="LFP pairing is not defined for --input spikeinterface",
            )
        )
