"""Run identity: typed params and inputs, and the one pure function that names a run.

``run_id = f"{version}-{digest}"`` where ``digest`` is the first 16 hex digits (64 bits) of
the SHA-256 of the canonical JSON of the identity payload: the feature name, its params without
throughput knobs (at any depth), its pinned inputs, the frame or time range, and, for
scope-dependent features only, the entry set with each entry's input digest. Absent terms are
left out, never written empty, so a new term does not move old identifiers. The full payload
is stored with the run and compared on reuse, so a digest collision is detected, never served.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import PurePath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, RootModel, model_validator

from w2t_bkin.features.errors import FeatureDefinitionError, FeatureInputError

__all__ = [
    "DIGEST_HEX_DIGITS",
    "TRACKS",
    "HashExclude",
    "InputItem",
    "Inputs",
    "Params",
    "Result",
    "compute_run_id",
    "identity_dump",
    "identity_payload",
]

DIGEST_HEX_DIGITS = 16
TRACKS = "tracks"


class HashExclude:
    """Marker for ``Annotated[T, HashExclude()]``: a throughput knob, not part of the cache key.

    Worker counts, batch sizes and similar settings change how fast a result is made, never
    what it is; marking them keeps a rerun with more workers cached.
    """

    def __repr__(self) -> str:
        return "HashExclude()"


class Params(BaseModel):
    """Base of every feature's params: frozen, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Result(BaseModel):
    """A reference to one run of a feature; ``run_id=None`` means "pin the latest run".

    ``failed_entries`` and ``cache_hit`` describe how the run went and never enter identity.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str
    run_id: str | None = None
    failed_entries: tuple[str, ...] = ()
    cache_hit: bool = False

    def ref(self) -> dict[str, Any]:
        """The identity of the reference: ``{"feature", "run_id"}``."""
        return {"feature": self.feature, "run_id": self.run_id}


InputItem = Literal["tracks"] | Result


class Inputs(RootModel[tuple[InputItem, ...]]):
    """What a feature reads, in order: ``"tracks"`` and/or :class:`Result` references.

    Subclasses narrow it with class variables: ``require`` (``"nonempty"``, ``"empty"`` or
    ``"any"``), ``max_items`` and ``accepts`` (the allowed upstream feature names, ``"tracks"``
    included). Duplicates are refused.
    """

    model_config = ConfigDict(frozen=True)

    require: ClassVar[Literal["nonempty", "empty", "any"]] = "nonempty"
    max_items: ClassVar[int | None] = None
    accepts: ClassVar[tuple[str, ...] | None] = None

    @model_validator(mode="after")
    def _check_items(self) -> Inputs:
        items = self.root
        name = type(self).__qualname__
        if self.require == "nonempty" and not items:
            raise ValueError(f"{name} needs at least one input ('tracks' or a feature Result)")
        if self.require == "empty" and items:
            raise ValueError(f"{name} takes no inputs, found {len(items)}")
        if self.max_items is not None and len(items) > self.max_items:
            raise ValueError(f"{name} takes at most {self.max_items} input(s), found {len(items)}")
        names = [item if isinstance(item, str) else item.feature for item in items]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: duplicate inputs {names}")
        if self.accepts is not None:
            wrong = [n for n in names if n not in self.accepts]
            if wrong:
                raise ValueError(f"{name} accepts {list(self.accepts)}, found {wrong}")
        return self

    def identity(self) -> list[Any]:
        """``["tracks", {"feature", "run_id"}, ...]``; every Result must be pinned."""
        out: list[Any] = []
        for item in self.root:
            if isinstance(item, str):
                out.append(item)
                continue
            if item.run_id is None:
                raise FeatureInputError(
                    f"input {item.feature!r} is not pinned to a run",
                    hint="pass Result(feature=..., run_id=...) or let run_feature pin it",
                )
            out.append(item.ref())
        return out


def identity_dump(value: Any, where: str = "params") -> Any:
    """JSON-ready, canonical form of ``value`` for hashing; throughput knobs left out.

    Pydantic models are walked field by field at every depth (a nested model's
    :class:`HashExclude` fields are dropped too); tuples and lists keep their order, sets are
    sorted; ``Result`` references keep only ``feature`` and ``run_id``. Any other type raises,
    so no value is ever hashed through a lossy ``str()``.

    Raises
    ------
    FeatureDefinitionError
        A value of a type with no canonical form (an array, an object), or a non-finite float.
    """
    if isinstance(value, Result):
        return value.ref()
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for field_name, field in type(value).model_fields.items():
            if any(isinstance(m, HashExclude) for m in field.metadata):
                continue
            out[field_name] = identity_dump(getattr(value, field_name), f"{where}.{field_name}")
        if isinstance(value, RootModel):
            return identity_dump(value.root, where)
        return out
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FeatureDefinitionError(f"{where} is {value}; a cache key needs finite numbers")
        return value
    if isinstance(value, Enum):
        return identity_dump(value.value, where)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): identity_dump(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(identity_dump(v, where) for v in value)
    if isinstance(value, Sequence):
        return [identity_dump(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return identity_dump(value.item(), where)
    raise FeatureDefinitionError(
        f"{where} has type {type(value).__name__}, which has no canonical form for a cache key",
        hint="declare params as numbers, strings, booleans, lists or pydantic models",
    )


def identity_payload(
    *,
    feature: str,
    version: str,
    params: BaseModel,
    inputs: Inputs,
    frame_range: tuple[int | None, int | None] | None = None,
    time_range_s: tuple[float | None, float | None] | None = None,
    scope: Sequence[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """The identity payload of one run (absent terms omitted).

    Parameters
    ----------
    frame_range, time_range_s
        ``(start, end)`` filters, end exclusive; ``None`` (or both ends ``None``) when unfiltered.
    scope
        Scope-dependent features only: ``(group, sequence, input_digest)`` of every entry.
    """
    payload: dict[str, Any] = {
        "feature": feature,
        "version": version,
        "params": identity_dump(params),
        "inputs": inputs.identity(),
    }
    if frame_range is not None and frame_range != (None, None):
        payload["frame_range"] = list(frame_range)
    if time_range_s is not None and time_range_s != (None, None):
        payload["time_range_s"] = [identity_dump(t, "time_range_s") for t in time_range_s]
    if scope is not None:
        payload["scope"] = sorted([list(item) for item in scope])
    return payload


def compute_run_id(version: str, payload: Mapping[str, Any]) -> str:
    """``f"{version}-{digest}"`` with a 64-bit SHA-256 digest of the canonical payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_HEX_DIGITS]
    return f"{version}-{digest}"
