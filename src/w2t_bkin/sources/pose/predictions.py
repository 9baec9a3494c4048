"""Our ``.npz`` predictions as a pose source: ``source = "mediapipe"`` or ``"synthetic"``.

Importing this module registers a reader for each in :mod:`w2t_bkin.sources.pose.registry`, so
that generated outputs (``data/interim/<subject>/<session>/pose/<camera>/``) are ingested like
any other pose output: chunk-matched by file name (``<video stem>.<backend>.pose.npz``),
frame-checked, skeleton and mapping applied. The session's generation phase imports it.

It depends on nothing of :mod:`w2t_bkin.pose` (only NumPy, the model and the registry) so that
it can live with the other readers in :mod:`w2t_bkin.sources.pose` and register on import there;
the file layout is the one :func:`w2t_bkin.pose.results.write_predictions` writes.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pose.registry import PoseFile, register_pose_reader

__all__ = ["GENERATED_SOURCES", "predictions_backend", "read_predictions_pose"]

GENERATED_SOURCES = {"mediapipe": "MediaPipe", "synthetic": "w2t-bkin synthetic"}
"""Metadata ``source`` values whose outputs only pose generation writes, and their software."""

_FORMAT = "w2t-bkin.pose-predictions"  # == w2t_bkin.pose.results.FORMAT
_SCHEMA_VERSION = 1  # == w2t_bkin.pose.results.SCHEMA_VERSION
_HEADER = "header_json"


def _npy_payload(raw: bytes) -> bytes | None:
    """The data bytes of an ``.npy`` file: after magic (6), version (2), header length (2 bytes
    in version 1, 4 after) and the array header."""
    if not raw.startswith(b"\x93NUMPY") or len(raw) < 12:
        return None
    width = 2 if raw[6] == 1 else 4
    return raw[8 + width + int.from_bytes(raw[8 : 8 + width], "little") :]


def _header(path: Path) -> dict[str, Any] | None:
    """The JSON header of a predictions file, read alone; ``None`` when not one of ours."""
    try:
        with zipfile.ZipFile(path) as archive:
            payload = _npy_payload(archive.read(f"{_HEADER}.npy"))
        header = json.loads(payload.decode("utf-8")) if payload is not None else None
    except (OSError, KeyError, zipfile.BadZipFile, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        return None
    return header


def predictions_backend(file: PoseFile) -> str | None:
    """The ``backend`` of a predictions file; ``None`` when the file is not one of ours."""
    header = _header(file.path) if file.suffix == ".npz" else None
    backend = header.get("backend") if header is not None else None
    return backend if isinstance(backend, str) else None


def read_predictions_pose(path: str | Path) -> PoseData:
    """2-D keypoints and scores of a predictions file as :class:`PoseData`.

    Raises
    ------
    IngestError
        Not a predictions file, a newer schema version, or arrays that disagree with the names.
    """
    path = Path(path)
    header = _header(path)
    if header is None:
        raise IngestError(
            "not a w2t-bkin pose predictions file (.npz with a header)",
            path=path,
            hint="generated outputs are written by `w2t-bkin pose process` or pose generation",
        )
    version = header.get("schema_version")
    if not isinstance(version, int) or version > _SCHEMA_VERSION:
        raise IngestError(
            f"pose predictions schema version {version!r}; this w2t-bkin reads up to "
            f"{_SCHEMA_VERSION}",
            path=path,
            hint="upgrade w2t-bkin, or regenerate the file",
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            positions = np.asarray(archive["keypoints_px"], dtype=np.float32)
            confidence = np.asarray(archive["scores"], dtype=np.float32)
        names = tuple(str(n) for n in header["keypoint_names"])
        individuals = tuple(str(n) for n in header["individual_names"])
        edges = tuple((int(a), int(b)) for a, b in header["skeleton_edges"])
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise IngestError(
            f"corrupt pose predictions file: {exc}",
            path=path,
            hint="the file is corrupt: regenerate it",
        ) from exc
    if positions.ndim != 4 or positions.shape[1:3] != (len(individuals), len(names)):
        raise IngestError(
            f"keypoints_px has shape {positions.shape}, expected (frames, {len(individuals)}, "
            f"{len(names)}, 2) from the header's names",
            path=path,
            hint="the file is corrupt: regenerate it",
        )
    backend = str(header.get("backend"))
    sha = header.get("model_sha256")
    return PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=names,
        individual_names=individuals,
        source_software=GENERATED_SOURCES.get(backend, backend),
        source_file=path,
        skeleton_edges=edges,
        source_software_version=str(header.get("backend_version")),
        scorer=str(header.get("model")),
        model_description=f"{backend} model {header.get('model')}"
        + (f" (sha256 {sha})" if sha else ""),
    )


def _register(source: str, software: str) -> None:
    def claims(file: PoseFile) -> bool:
        return predictions_backend(file) == source

    @register_pose_reader(
        source, software=software, suffixes=(".npz",), names=(f".{source}.pose.npz",), claims=claims
    )
    def read(file: PoseFile, n_video_frames: int | None) -> PoseData:
        return read_predictions_pose(file.path)


for _source, _software in GENERATED_SOURCES.items():
    _register(_source, _software)
