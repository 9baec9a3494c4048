"""Training progress: callbacks that record into the feature registry, and the reader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from w2t_bkin.features.base import TrainingProgressCallback
from w2t_bkin.features.registry import FeatureRegistry, read_progress

__all__ = ["CompositeProgress", "RegistryProgress", "read_progress"]


class RegistryProgress:
    """Appends every event to the registry's ``progress`` table under ``job_id``.

    Events are keyed by a sequence number, so a phase never overwrites the previous one.
    """

    def __init__(self, registry: FeatureRegistry, job_id: str) -> None:
        self.registry = registry
        self.job_id = job_id

    def on_phase(self, phase: str, message: str = "") -> None:
        self.registry.record_progress(self.job_id, "phase", name=phase, message=message)

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        self.registry.record_progress(
            self.job_id, "epoch", epoch, total, metrics={k: float(v) for k, v in metrics.items()}
        )

    def on_class_start(self, index: int, total: int, name: str) -> None:
        self.registry.record_progress(self.job_id, "class", index, total, name=name)

    def on_entry_start(self, index: int, total: int, key: str) -> None:
        self.registry.record_progress(self.job_id, "entry_start", index, total, name=key)

    def on_entry_end(self, index: int, total: int, key: str) -> None:
        self.registry.record_progress(self.job_id, "entry_end", index, total, name=key)


class CompositeProgress:
    """Sends every event to each of ``callbacks``."""

    def __init__(self, callbacks: Sequence[TrainingProgressCallback]) -> None:
        self.callbacks = tuple(callbacks)

    def on_phase(self, phase: str, message: str = "") -> None:
        for cb in self.callbacks:
            cb.on_phase(phase, message)

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, total, metrics)

    def on_class_start(self, index: int, total: int, name: str) -> None:
        for cb in self.callbacks:
            cb.on_class_start(index, total, name)

    def on_entry_start(self, index: int, total: int, key: str) -> None:
        for cb in self.callbacks:
            cb.on_entry_start(index, total, key)

    def on_entry_end(self, index: int, total: int, key: str) -> None:
        for cb in self.callbacks:
            cb.on_entry_end(index, total, key)
