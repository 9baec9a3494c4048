"""The pose reader registry: which software wrote a file, and which reader reads it.

Each reader module registers itself with :func:`register_pose_reader` under the metadata
``source`` it reads (``"dlc"``, ``"sleap"``, ``"lightning_pose"``, the values of
``[pose.cameras.<id>].source``). :func:`~w2t_bkin.sources.pose.io.read_pose` and
:func:`~w2t_bkin.sources.pose.io.detect_pose_source` ask the registry instead of testing
formats one after the other:

1. :func:`probe_pose_file` looks at the container once (HDF5 layout, CSV header row);
2. each reader's ``claims`` says whether the file is certainly its software's output
   (readers are asked by decreasing ``priority``);
3. a declared source picks its reader directly, unless the reader that claims the file
   ``refuses`` to let another software read it (a ``.slp`` is SLEAP's, whatever is declared);
   without one, the claiming reader reads it, else the ``fallback`` reader for the suffix.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import h5py

from w2t_bkin.errors import IngestError
from w2t_bkin.model.pose import PoseData

__all__ = [
    "HDF5_SUFFIXES",
    "PoseFile",
    "PoseReader",
    "pose_reader",
    "pose_readers",
    "pose_sources",
    "pose_suffixes",
    "probe_pose_file",
    "register_pose_reader",
]

HDF5_SUFFIXES = (".h5", ".hdf5")
Hdf5Kind = Literal["sleap_analysis", "anipose_points3d", "other"]


@dataclass(frozen=True)
class PoseFile:
    """What was learnt of a pose file before a reader was chosen.

    Attributes
    ----------
    path
        The file.
    suffix
        Its extension, lower case (``".h5"``).
    hdf5_kind
        For HDF5 files: ``"sleap_analysis"`` (``tracks`` and ``node_names`` datasets),
        ``"anipose_points3d"`` or ``"other"`` (a pandas table, maybe); ``None`` otherwise.
    csv_header
        For CSV files: the cells of the first row; ``None`` otherwise.
    """

    path: Path
    suffix: str
    hdf5_kind: Hdf5Kind | None = None
    csv_header: list[str] | None = field(default=None, hash=False)


PoseReadFunction = Callable[[PoseFile, int | None], PoseData]


@dataclass(frozen=True)
class PoseReader:
    """One registered pose reader.

    Attributes
    ----------
    source
        The metadata ``source`` value (``"dlc"``); also the name :func:`detect_pose_source`
        returns.
    software
        :attr:`PoseData.source_software` of its output (``"DeepLabCut"``).
    aliases
        Other accepted spellings of ``source`` (case-insensitive).
    suffixes
        Extensions (lower case) of the files this software writes.
    names
        Endings of file names that identify this software without opening the file
        (``".analysis.h5"``); used by detection only.
    read
        ``read(file, n_video_frames) -> PoseData``.
    claims
        ``claims(file) -> bool``: the file is certainly this software's output.
    refuse
        ``refuse(file, software) -> IngestError | None``: the error for reading a file this
        reader claims as another ``software`` (``None``: any declared reader may read it).
    priority
        Readers with a higher priority are asked first whether they claim a file.
    fallback
        Reads the files of its suffixes that no reader claims, when no source is declared.
    """

    source: str
    software: str
    aliases: tuple[str, ...]
    suffixes: tuple[str, ...]
    names: tuple[str, ...]
    read: PoseReadFunction
    claims: Callable[[PoseFile], bool]
    refuse: Callable[[PoseFile, str], IngestError | None] | None = None
    priority: int = 0
    fallback: bool = False


_READERS: dict[str, PoseReader] = {}


def register_pose_reader(
    source: str,
    *,
    software: str,
    suffixes: tuple[str, ...],
    claims: Callable[[PoseFile], bool],
    aliases: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    refuse: Callable[[PoseFile, str], IngestError | None] | None = None,
    priority: int = 0,
    fallback: bool = False,
) -> Callable[[PoseReadFunction], PoseReadFunction]:
    """Register the decorated ``read(file, n_video_frames)`` as the reader of ``source``.

    See :class:`PoseReader` for the parameters. Registering a source twice replaces the
    earlier reader (so a reloaded module does not fail).
    """

    def decorate(read: PoseReadFunction) -> PoseReadFunction:
        _READERS[source] = PoseReader(
            source=source,
            software=software,
            aliases=aliases,
            suffixes=suffixes,
            names=names,
            read=read,
            claims=claims,
            refuse=refuse,
            priority=priority,
            fallback=fallback,
        )
        return read

    return decorate


def pose_readers() -> tuple[PoseReader, ...]:
    """Registered readers, highest priority first (registration order among equals)."""
    return tuple(sorted(_READERS.values(), key=lambda reader: -reader.priority))


def pose_sources() -> dict[str, str]:
    """Every accepted spelling of ``source`` and the software it means."""
    return {
        name: reader.software
        for reader in _READERS.values()
        for name in (reader.source, *reader.aliases)
    }


def pose_suffixes() -> tuple[str, ...]:
    """Extensions some reader reads, in registration order."""
    return tuple(dict.fromkeys(s for reader in _READERS.values() for s in reader.suffixes))


def pose_reader(source: str, path: Path) -> PoseReader:
    """The reader of a declared ``source`` (any accepted spelling, case-insensitive).

    Raises
    ------
    IngestError
        ``source`` names no registered reader (the message lists the accepted spellings).
    """
    wanted = source.strip().lower()
    for reader in _READERS.values():
        if wanted == reader.source or wanted in reader.aliases:
            return reader
    raise IngestError(
        f"unknown pose source '{source}'",
        path=path,
        hint=f"use one of {sorted(pose_sources())}",
    )


def probe_pose_file(path: Path) -> PoseFile:
    """Look at the container of a pose file: HDF5 layout or CSV header.

    Raises
    ------
    IngestError
        An ``.h5`` that is not HDF5, sleap-anipose 3-D output (not supported), or an
        unreadable CSV.
    """
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        if not h5py.is_hdf5(path):
            raise IngestError("not an HDF5 file", path=path, hint="the file may be truncated")
        kind = _hdf5_kind(path)
        if kind == "anipose_points3d":
            raise IngestError(
                "this is sleap-anipose 3-D triangulated output ('tracks' of shape (n_frames, "
                "n_tracks, n_nodes, 3) without node names), which is not supported",
                path=path,
                hint="ingest each camera's 2-D SLEAP file (.slp or .analysis.h5) instead",
            )
        return PoseFile(path, suffix, hdf5_kind=kind)
    if suffix == ".csv":
        return PoseFile(path, suffix, csv_header=_csv_header(path))
    return PoseFile(path, suffix)


def _hdf5_kind(path: Path) -> Hdf5Kind:
    """``"sleap_analysis"``, ``"anipose_points3d"`` or ``"other"`` (a pandas table, maybe)."""
    try:
        with h5py.File(path, "r") as h5:
            tracks = h5.get("tracks")
            if not isinstance(tracks, h5py.Dataset):
                return "other"
            if "node_names" in h5:
                return "sleap_analysis"
            if tracks.ndim == 4 and tracks.shape[-1] == 3:
                return "anipose_points3d"
    except OSError as exc:  # a truncated or damaged file: HDF5 signature, unreadable inside
        raise IngestError(
            f"cannot open the HDF5 file: {exc}",
            path=path,
            hint="the file may be truncated (an interrupted copy?); copy it again from its source",
        ) from exc
    return "other"


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read CSV: {exc}", path=path) from exc
