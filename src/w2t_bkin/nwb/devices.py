"""Subject and devices of the NWB file, from session metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pynwb import NWBFile
from pynwb.device import Device, DeviceModel
from pynwb.file import Subject

from w2t_bkin.metadata import DeviceMeta, SubjectMeta
from w2t_bkin.nwb.names import BPOD_DEVICE, DAQ_DEVICE

log = logging.getLogger(__name__)

__all__ = [
    "BPOD_DEVICE",
    "DAQ_DEVICE",
    "add_metadata_devices",
    "build_subject",
    "ensure_device",
]


def build_subject(subject: SubjectMeta) -> Subject | None:
    """NWB ``Subject`` with the DANDI fields of ``subject``; None when no field is set."""
    fields = subject.model_dump(exclude_none=True)
    if set(fields) <= {"age__reference"}:
        return None
    if "age" not in fields:
        # pynwb rejects age__reference without an age.
        fields.pop("age__reference", None)
    return Subject(**fields)


def add_metadata_devices(nwbfile: NWBFile, devices: Iterable[DeviceMeta]) -> dict[str, Device]:
    """Add every ``[[devices]]`` entry; manufacturer and model go to a linked ``DeviceModel``.

    pynwb 4 deprecates ``manufacturer``/``model_name``/``model_number`` on ``Device``; they are
    stored on a ``DeviceModel`` named after ``model_name`` (or ``<device>_model``).
    """
    added: dict[str, Device] = {}
    for meta in devices:
        model = None
        if meta.manufacturer or meta.model_name or meta.model_number:
            model = _device_model(nwbfile, meta)
        device = Device(
            name=meta.name,
            description=meta.description or f"Device '{meta.name}'",
            serial_number=meta.serial_number,
            model=model,
        )
        nwbfile.add_device(device)
        added[meta.name] = device
    return added


def ensure_device(nwbfile: NWBFile, name: str, description: str) -> Device:
    """The device called ``name``, created with ``description`` when the file has none."""
    if name in nwbfile.devices:
        return nwbfile.devices[name]
    device = Device(name=name, description=description)
    nwbfile.add_device(device)
    return device


def _device_model(nwbfile: NWBFile, meta: DeviceMeta) -> DeviceModel:
    """A shared ``DeviceModel`` for identical models, a new uniquely named one otherwise."""
    manufacturer = meta.manufacturer or "unknown"
    base = meta.model_name or f"{meta.name}_model"
    name, k = base, 1
    while name in nwbfile.device_models:
        existing = nwbfile.device_models[name]
        if existing.manufacturer == manufacturer and existing.model_number == meta.model_number:
            return existing
        k += 1
        name = f"{base}_{k}"
    model = DeviceModel(
        name=name,
        manufacturer=manufacturer,
        model_number=meta.model_number,
        description=f"Model {base} by {manufacturer}",
    )
    nwbfile.add_device_model(model)
    return model
