"""Build MediaPipe's Pose Landmarker ``.task`` bundle offline, from the mediapipe 0.10.21 wheel.

Why this exists: ``mediapipe`` 1.2.x (the version that installs next to numpy 2) ships no model
and only the Tasks API, which needs a ``.task`` bundle; the bundle is otherwise downloaded from a
model hub. ``mediapipe`` 0.10.21 ships the two models inside its wheel under the Apache-2.0
licence (``modules/pose_detection/pose_detection.tflite`` and
``modules/pose_landmark/pose_landmark_full.tflite``) but pins numpy<2, so it cannot be installed
here. We only *read* its wheel (a zip file, fetched from the package registry by
``pip download``): the two models get the TFLite metadata the Tasks API reads (input image
normalisation: detector mean/std 127.5/127.5, i.e. [-1, 1]; landmark model 0/255, i.e.
[0, 1]) and are zipped, uncompressed and 4-byte aligned, as ``pose_detector.tflite`` and
``pose_landmarks_detector.tflite``, the names the Pose Landmarker graph looks up.

Private APIs used, pinned by ``mediapipe==1.2.3`` in ``pyproject.toml``:
``mediapipe.tasks.metadata.metadata_schema_py_generated`` (the metadata flatbuffer schema);
from the 0.10.21 wheel, ``mediapipe/tasks/metadata/schema_py_generated.py`` (the TFLite model
flatbuffer schema; 1.2.3 does not ship it; loaded from a temporary copy, never installed).
``flatbuffers`` (a mediapipe dependency) packs both.

Users may pass any other Pose Landmarker ``.task`` file instead (``--model``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from w2t_bkin.extras import require
from w2t_bkin.io_utils import atomic_write_bytes
from w2t_bkin.pose.errors import PoseModelError

log = logging.getLogger(__name__)

__all__ = [
    "BUNDLE_NAME",
    "SOURCE_WHEEL",
    "build_pose_landmarker_bundle",
    "default_bundle_path",
    "find_source_wheel",
    "models_cache_dir",
    "wheels_cache_dir",
]

BUNDLE_NAME = "pose_landmarker_full.task"
"""File name of the built bundle in the models cache."""

SOURCE_WHEEL = "mediapipe==0.10.21"
"""The registry release whose wheel holds the models (any platform's wheel holds the same)."""

_DETECTOR_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
_LANDMARK_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
_SCHEMA_MEMBER = "mediapipe/tasks/metadata/schema_py_generated.py"
_LICENSE_PATTERN = re.compile(r"mediapipe-[^/]+\.dist-info/LICENSE$")
_TFLITE_IDENTIFIER = b"TFL3"
_METADATA_IDENTIFIER = b"M001"
_METADATA_NAME = "TFLITE_METADATA"
# Oldest metadata parser that understands what we write (normalisation, image properties).
_MIN_PARSER_VERSION = "1.0.0"

# (bundle member, model name, mean, std): the normalisation each network was trained with.
_MODELS = (
    ("pose_detector.tflite", "BlazePose detector", 127.5, 127.5, _DETECTOR_MEMBER),
    ("pose_landmarks_detector.tflite", "BlazePose GHUM 3D full", 0.0, 255.0, _LANDMARK_MEMBER),
)


def models_cache_dir() -> Path:
    """Where built models live: ``$W2T_MODELS_DIR``, else ``$XDG_CACHE_HOME/w2t-bkin/models``
    (``~/.cache/w2t-bkin/models``)."""
    explicit = os.environ.get("W2T_MODELS_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "w2t-bkin" / "models"


def wheels_cache_dir() -> Path:
    """Where ``make mediapipe-model`` downloads the source wheel: ``<models cache>/../wheels``."""
    return models_cache_dir().parent / "wheels"


def find_source_wheel() -> Path | None:
    """The mediapipe 0.10.x wheel to build from: ``$W2T_MEDIAPIPE_WHEEL``, else the newest
    ``mediapipe-0.10.*.whl`` in :func:`wheels_cache_dir`; ``None`` when there is none."""
    explicit = os.environ.get("W2T_MEDIAPIPE_WHEEL")
    if explicit:
        return Path(explicit)
    found = sorted(wheels_cache_dir().glob("mediapipe-0.10.*.whl"))
    return found[-1] if found else None


def default_bundle_path() -> Path:
    """The MediaPipe bundle used when no model is given: ``$W2T_MEDIAPIPE_MODEL``, else
    ``<models cache>/mediapipe/pose_landmarker_full.task``."""
    explicit = os.environ.get("W2T_MEDIAPIPE_MODEL")
    if explicit:
        return Path(explicit)
    return models_cache_dir() / "mediapipe" / BUNDLE_NAME


def cached_or_built_bundle(scratch: str | Path) -> Path | None:
    """The cached bundle (:func:`default_bundle_path`), else one built from the wheel into
    ``scratch`` (a ``.task`` path); ``None`` when neither the bundle nor the wheel is there."""
    default = default_bundle_path()
    if default.is_file():
        return default
    wheel = find_source_wheel()
    if wheel is None or not wheel.is_file():
        return None
    return build_pose_landmarker_bundle(wheel, scratch)


def build_pose_landmarker_bundle(wheel: str | Path, output: str | Path | None = None) -> Path:
    """Build the Pose Landmarker ``.task`` bundle from a mediapipe 0.10.x wheel.

    Parameters
    ----------
    wheel
        The ``mediapipe-0.10.21-*.whl`` file (``pip download mediapipe==0.10.21 --no-deps``).
    output
        Destination; default :func:`default_bundle_path`. The wheel's licence is written next
        to it as ``<name>.LICENSE``.

    Returns
    -------
    Path
        The written bundle (written atomically; rebuilding gives identical bytes).

    Raises
    ------
    PoseModelError
        The wheel is missing, not a zip, or lacks the models or the schema.
    MissingExtraError
        ``mediapipe`` (the ``pose`` extra) is not installed.
    """
    wheel = Path(wheel)
    target = Path(output) if output is not None else default_bundle_path()
    members = _read_wheel(wheel)
    metadata_fb = require(
        "mediapipe.tasks.metadata.metadata_schema_py_generated",
        "pose",
        "building the MediaPipe pose bundle",
    )
    with tempfile.TemporaryDirectory(prefix="w2t-mp-schema-") as folder:
        schema = _load_schema(Path(folder), members[_SCHEMA_MEMBER])
        models = {
            name: _with_metadata(schema, metadata_fb, members[member], title, mean, std)
            for name, title, mean, std, member in _MODELS
        }
    atomic_write_bytes(target, _aligned_zip(models))
    licence = members.get("LICENSE")
    if licence is not None:
        atomic_write_bytes(target.with_name(target.name + ".LICENSE"), licence)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    log.info("built %s from %s (sha256 %s)", target, wheel.name, digest)
    return target


def _read_wheel(wheel: Path) -> dict[str, bytes]:
    """The wheel members the bundle needs (and its licence under ``"LICENSE"``)."""
    hint = (
        "download it with: pip download mediapipe==0.10.21 --no-deps --only-binary=:all: "
        "--python-version 3.11 --platform manylinux_2_28_x86_64 -d DIR"
    )
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            missing = [
                m for m in (_DETECTOR_MEMBER, _LANDMARK_MEMBER, _SCHEMA_MEMBER) if m not in names
            ]
            if missing:
                raise PoseModelError(
                    f"the wheel lacks {', '.join(missing)} (expected a mediapipe 0.10.x wheel, "
                    "which ships the pose models)",
                    path=wheel,
                    hint=hint,
                )
            members = {
                m: archive.read(m) for m in (_DETECTOR_MEMBER, _LANDMARK_MEMBER, _SCHEMA_MEMBER)
            }
            licences = sorted(n for n in names if _LICENSE_PATTERN.search(n))
            if licences:
                members["LICENSE"] = archive.read(licences[0])
            return members
    except FileNotFoundError as exc:
        raise PoseModelError("mediapipe wheel not found", path=wheel, hint=hint) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise PoseModelError(
            f"cannot read the wheel as a zip file: {exc}", path=wheel, hint=hint
        ) from exc


def _load_schema(folder: Path, source: bytes) -> ModuleType:
    """Import the wheel's TFLite schema module from a private copy (never put on sys.path)."""
    path = folder / "w2t_tflite_schema.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("_w2t_tflite_schema", path)
    if spec is None or spec.loader is None:
        raise PoseModelError("cannot load the TFLite schema from the wheel", path=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(spec.name, None)
    spec.loader.exec_module(module)
    return module


def _with_metadata(
    schema: ModuleType, metadata_fb: ModuleType, model: bytes, title: str, mean: float, std: float
) -> bytes:
    """``model`` with TFLite metadata declaring its RGB image input and its normalisation."""
    import flatbuffers

    tflite = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    graph = tflite.subgraphs[0]
    tensor_names = [t.name.decode() if isinstance(t.name, bytes) else t.name for t in graph.tensors]

    metadata = metadata_fb.ModelMetadataT()
    metadata.name = title
    metadata.description = "MediaPipe BlazePose model from the mediapipe 0.10.21 wheel (Apache-2.0)"
    metadata.minParserVersion = _MIN_PARSER_VERSION
    subgraph = metadata_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_image_input(metadata_fb, mean, std)]
    subgraph.outputTensorMetadata = [_feature(metadata_fb, tensor_names[i]) for i in graph.outputs]
    metadata.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), _METADATA_IDENTIFIER)
    metadata_bytes = bytes(builder.Output())

    buffer = schema.BufferT()
    buffer.data = list(metadata_bytes)
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = _METADATA_NAME
    entry.buffer = len(tflite.buffers) - 1
    tflite.metadata = [m for m in (tflite.metadata or []) if _name(m) != _METADATA_NAME] + [entry]
    builder = flatbuffers.Builder(len(model) + len(metadata_bytes) + 1024)
    builder.Finish(tflite.Pack(builder), _TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else str(name)


def _image_input(metadata_fb: ModuleType, mean: float, std: float) -> Any:
    properties = metadata_fb.ImagePropertiesT()
    properties.colorSpace = metadata_fb.ColorSpaceType.RGB
    content = metadata_fb.ContentT()
    content.contentPropertiesType = metadata_fb.ContentProperties.ImageProperties
    content.contentProperties = properties
    normalization = metadata_fb.NormalizationOptionsT()
    normalization.mean = [mean]
    normalization.std = [std]
    unit = metadata_fb.ProcessUnitT()
    unit.optionsType = metadata_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    stats = metadata_fb.StatsT()
    stats.max = [(255.0 - mean) / std]
    stats.min = [(0.0 - mean) / std]
    tensor = metadata_fb.TensorMetadataT()
    tensor.name = "image"
    tensor.description = "RGB image, normalised as (pixel - mean) / std"
    tensor.content = content
    tensor.processUnits = [unit]
    tensor.stats = stats
    return tensor


def _feature(metadata_fb: ModuleType, name: str) -> Any:
    tensor = metadata_fb.TensorMetadataT()
    tensor.name = name
    content = metadata_fb.ContentT()
    content.contentPropertiesType = metadata_fb.ContentProperties.FeatureProperties
    content.contentProperties = metadata_fb.FeaturePropertiesT()
    tensor.content = content
    return tensor


def _aligned_zip(models: dict[str, bytes]) -> bytes:
    """A zip of ``models`` stored uncompressed with each file 4-byte aligned (MediaPipe maps
    the files in place), with fixed timestamps so the bytes are reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(models):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            # Pad with an extra field so that the data after the local header starts aligned.
            header_len = 30 + len(name.encode())
            offset = buffer.tell()
            pad = (-(offset + header_len + 4)) % 4
            info.extra = b"\xff\xff" + pad.to_bytes(2, "little") + b"\x00" * pad
            archive.writestr(info, models[name])
    return buffer.getvalue()
