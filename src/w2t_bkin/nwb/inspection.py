"""Read back an NWB file and summarise what it holds (``w2t-bkin inspect``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion, VectorIndex
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from w2t_bkin.errors import IngestError

log = logging.getLogger(__name__)

N_FIRST_ROWS = 5


def _load_extensions() -> None:
    # Importing registers the extension classes so that read objects get their Python types.
    import ndx_pose  # noqa: F401
    import ndx_structured_behavior  # noqa: F401


@contextmanager
def read_nwb(path: str | Path) -> Iterator[NWBFile]:
    """Open an NWB file read-only (with the pose and structured-behavior extensions).

    Raises
    ------
    IngestError
        The file does not exist, is not HDF5, or is not an NWB file.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"NWB file not found: {path}", hint="check the path", path=path)
    if not h5py.is_hdf5(path):
        raise IngestError(
            f"{path} is not an HDF5 file, so it cannot be an NWB file",
            hint="give the .nwb file written by w2t-bkin run",
            path=path,
        )
    _load_extensions()
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        nwbfile = io.read()
    except Exception as exc:
        raise IngestError(
            f"cannot read {path} as NWB: {type(exc).__name__}: {exc}",
            hint="the file may be truncated or not an NWB file; re-run the session to rewrite it",
            path=path,
        ) from exc
    try:
        yield nwbfile
    finally:
        io.close()


def summarize_nwb(path: str | Path) -> dict[str, Any]:
    """What an NWB file holds, as plain JSON-compatible values.

    Returns
    -------
    dict
        ``identifier``, ``session_description``, ``session_start_time``,
        ``timestamps_reference_time`` (ISO text), ``subject`` (dict or None), ``devices``,
        ``acquisition`` and ``processing`` (name, type, shape), ``lab_meta_data``, ``pose``
        (series with shapes and the object holding their timestamps) and ``trials`` (columns,
        number of rows and the first rows) or None.
    """
    with read_nwb(path) as nwbfile:
        return {
            "path": str(path),
            "identifier": nwbfile.identifier,
            "session_description": nwbfile.session_description,
            "session_start_time": nwbfile.session_start_time.isoformat(),
            "timestamps_reference_time": nwbfile.timestamps_reference_time.isoformat(),
            "subject": _subject(nwbfile),
            "devices": [_device(d) for d in nwbfile.devices.values()],
            "acquisition": [_describe(obj) for obj in nwbfile.acquisition.values()],
            "processing": {
                name: [_describe(obj) for obj in module.data_interfaces.values()]
                for name, module in nwbfile.processing.items()
            },
            "lab_meta_data": sorted(nwbfile.lab_meta_data),
            "pose": _pose(nwbfile),
            "trials": _trials(nwbfile),
        }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize_nwb`'s result."""
    lines = [
        f"NWB file         {summary['path']}",
        f"identifier       {summary['identifier']}",
        f"session start    {summary['session_start_time']}",
        f"timestamps ref.  {summary['timestamps_reference_time']}",
        "description      " + _indented(str(summary["session_description"]), 17),
    ]
    subject = summary["subject"]
    if subject:
        lines.append("subject          " + ", ".join(f"{k}={v}" for k, v in subject.items()))
    else:
        lines.append("subject          (none)")
    lines.append("devices" + ("" if summary["devices"] else "          (none)"))
    lines += [f"  {_device_line(device)}" for device in summary["devices"]]
    lines.append("acquisition")
    lines += [line for obj in summary["acquisition"] for line in _object_lines(obj)] or ["  (none)"]
    for module, objects in summary["processing"].items():
        lines.append(f"processing/{module}")
        lines += [line for obj in objects for line in _object_lines(obj)]
    if summary["pose"]:
        lines.append("pose")
        for item in summary["pose"]:
            lines.append(
                f"  {item['estimation']}/{item['series']}  {_shape(item['shape'])}  "
                f"timestamps: {item['timestamps_from']}"
            )
    trials = summary["trials"]
    if trials:
        lines.append(
            f"trials           {trials['n_rows']} rows; columns {', '.join(trials['columns'])}"
        )
        for row in trials["first_rows"]:
            lines.append("  " + ", ".join(f"{k}={_short(v)}" for k, v in row.items()))
    return "\n".join(lines)


def _subject(nwbfile: NWBFile) -> dict[str, Any] | None:
    subject = nwbfile.subject
    if subject is None:
        return None
    fields = (
        *("subject_id", "species", "sex", "age", "age__reference", "date_of_birth"),
        *("genotype", "strain", "weight", "description"),
    )
    out = {}
    for name in fields:
        value = getattr(subject, name, None)
        if value is not None:
            out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def _device(device: Any) -> dict[str, Any]:
    out = {"name": device.name, "description": device.description}
    if device.serial_number:
        out["serial_number"] = device.serial_number
    model = getattr(device, "model", None)
    if model is not None:
        out["model"] = {
            "name": model.name,
            "manufacturer": model.manufacturer,
            "model_number": model.model_number,
        }
    return out


def _describe(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": obj.name, "type": type(obj).__name__}
    if isinstance(obj, DynamicTable):
        out["shape"] = [len(obj), len(obj.colnames)]
        out["columns"] = list(obj.colnames)
    elif isinstance(obj, TimeSeries):
        out["shape"] = _series_shape(obj)
    elif hasattr(obj, "children"):
        # Containers (TaskRecording, PoseEstimation, Skeletons): what they hold, one level down.
        out["children"] = [_describe(child) for child in sorted(obj.children, key=_name)]
    return out


def _name(obj: Any) -> str:
    return str(obj.name)


def _series_shape(series: TimeSeries) -> list[int]:
    external = getattr(series, "external_file", None)
    if external is not None:
        return [int(series.num_samples or 0)]
    return [int(n) for n in np.shape(series.data)]


def _pose(nwbfile: NWBFile) -> list[dict[str, Any]]:
    items = []
    for module in nwbfile.processing.values():
        for obj in module.data_interfaces.values():
            if type(obj).__name__ != "PoseEstimation":
                continue
            for series in obj.pose_estimation_series.values():
                source = series.fields.get("timestamps")
                if isinstance(source, TimeSeries):
                    owner = source.name
                elif source is None:
                    owner = f"rate {series.rate} Hz"
                else:
                    owner = series.name
                items.append(
                    {
                        "estimation": obj.name,
                        "series": series.name,
                        "shape": [int(n) for n in series.data.shape],
                        "timestamps_from": owner,
                    }
                )
    return items


def _trials(nwbfile: NWBFile) -> dict[str, Any] | None:
    trials = nwbfile.trials
    if trials is None:
        return None
    n_first = min(N_FIRST_ROWS, len(trials))
    rows: list[dict[str, Any]] = [{} for _ in range(n_first)]
    for name in trials.colnames:
        column = trials[name]
        if isinstance(column, VectorIndex):
            # Ragged references: report how many rows each trial points to.
            ends = np.asarray(column.data[: n_first + 1], dtype=np.int64)
            starts = np.concatenate([[0], ends[:-1]])
            for k in range(n_first):
                rows[k][f"n_{name}"] = int(ends[k] - starts[k])
            continue
        if isinstance(column, DynamicTableRegion):
            continue
        values = column.data[:n_first]
        for k in range(n_first):
            rows[k][name] = _plain(values[k])
    return {"n_rows": len(trials), "columns": list(trials.colnames), "first_rows": rows}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _shape(shape: list[int] | None) -> str:
    return "x".join(str(n) for n in shape) if shape else "-"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def _object_line(obj: dict[str, Any]) -> str:
    text = f"{obj['name']:<28} {obj['type']:<22} {_shape(obj.get('shape'))}"
    if obj.get("columns"):
        text += f"  [{', '.join(obj['columns'])}]"
    return text


def _object_lines(obj: dict[str, Any], depth: int = 1) -> list[str]:
    """The object and, for containers of tables (TaskRecording), each table it holds."""
    lines = [f"{'  ' * depth}{_object_line(obj)}"]
    children = obj.get("children") or []
    if any("columns" in child for child in children):  # tables; pose series have their section
        lines += [line for child in children for line in _object_lines(child, depth + 1)]
    return lines


def _device_line(device: dict[str, Any]) -> str:
    parts = [device["description"]]
    model = device.get("model")
    if model:
        number = f" ({model['model_number']})" if model.get("model_number") else ""
        parts.append(f"model {model['manufacturer']} {model['name']}{number}")
    if device.get("serial_number"):
        parts.append(f"serial {device['serial_number']}")
    return f"{device['name']:<20} " + "; ".join(str(p) for p in parts if p)


def _indented(text: str, width: int) -> str:
    return "\n".join(
        (" " * width + line if k and line else line) for k, line in enumerate(text.splitlines())
    )
