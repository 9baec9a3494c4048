"""The Feature protocol, a base class that implements its plumbing, and the progress protocol.

A feature declares ``name`` (a kebab-case slug, also its folder name), ``version`` (visible in
every run id), ``parallelizable``, ``scope_dependent`` (whether its fit depends on which entries
are in scope), typed frozen ``Params`` and typed ``Inputs``; it implements ``load_state``,
``fit``, ``apply`` and ``save_state``. ``apply`` takes one entry's table and returns its output
table (or ``None``/an empty table: empty by design, which counts as done). Outputs keep the key
columns of the input (``frame_idx``, ``t_s`` and, when overlap was asked for, ``segment``), which
is how overlap context is trimmed by frame, not by row position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import ValidationError

from w2t_bkin.features import identity as _identity
from w2t_bkin.features.errors import FeatureDefinitionError, FeatureInputError
from w2t_bkin.features.identity import Inputs, Params
from w2t_bkin.features.store import artifact_path, write_artifact_bytes, write_artifact_json

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KEY_COLUMNS",
    "Artifacts",
    "BaseFeature",
    "Feature",
    "InputStream",
    "NullProgress",
    "TrainingProgressCallback",
    "check_feature_class",
]

KEY_COLUMNS = ("frame_idx", "t_s", "segment")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.]{0,31}$")


class Artifacts:
    """A run's ``artifacts/`` folder: files by exact name, every write atomic."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, name: str) -> Path:
        return artifact_path(self.run_dir, name)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def write_bytes(self, name: str, data: bytes) -> Path:
        return write_artifact_bytes(self.run_dir, name, data)

    def write_json(self, name: str, obj: Any) -> Path:
        return write_artifact_json(self.run_dir, name, obj)

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()


class InputStream:
    """Fresh iterators over the entries in scope, for multi-pass fits.

    Calling the stream yields ``(group, sequence, table)`` for every entry, loading each table
    when it is reached; ``n_entries`` says how many there are.
    """

    def __init__(
        self, factory: Callable[[], Iterator[tuple[str, str, pd.DataFrame]]], n_entries: int
    ) -> None:
        self._factory = factory
        self.n_entries = n_entries

    def __call__(self) -> Iterator[tuple[str, str, pd.DataFrame]]:
        return self._factory()


@runtime_checkable
class TrainingProgressCallback(Protocol):
    """What every trainer (and ``run_feature``) reports while it works."""

    def on_phase(self, phase: str, message: str = "") -> None: ...

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None: ...

    def on_class_start(self, index: int, total: int, name: str) -> None: ...

    def on_entry_start(self, index: int, total: int, key: str) -> None: ...

    def on_entry_end(self, index: int, total: int, key: str) -> None: ...


class NullProgress:
    """A progress callback that ignores everything."""

    def on_phase(self, phase: str, message: str = "") -> None:
        return None

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        return None

    def on_class_start(self, index: int, total: int, name: str) -> None:
        return None

    def on_entry_start(self, index: int, total: int, key: str) -> None:
        return None

    def on_entry_end(self, index: int, total: int, key: str) -> None:
        return None


@runtime_checkable
class Feature(Protocol):
    """The structural protocol ``run_feature`` needs (see the module docstring)."""

    name: ClassVar[str]
    version: ClassVar[str]
    parallelizable: ClassVar[bool]
    scope_dependent: ClassVar[bool]
    params: Params
    inputs: Inputs

    def load_state(self, artifacts: Artifacts) -> bool: ...

    def fit(self, inputs: InputStream) -> None: ...

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame | None: ...

    def save_state(self, artifacts: Artifacts) -> None: ...


class BaseFeature:
    """Plumbing for features: params and inputs validated through the class's own types.

    Subclasses set ``name``, ``version``, ``scope_dependent`` (required, no default),
    optionally ``parallelizable`` (default True) and ``artifact_only`` (a global feature whose
    product is its fitted state: no per-entry outputs), nested ``Params``/``Inputs`` classes,
    and implement ``apply`` (and ``fit``/``load_state``/``save_state`` when stateful).

    Parameters
    ----------
    params
        A ``Params`` instance or a mapping validated into one (unknown keys refused).
    inputs
        An ``Inputs`` instance or a sequence of ``"tracks"``/``Result``; default ``("tracks",)``.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    parallelizable: ClassVar[bool] = True
    scope_dependent: ClassVar[bool]
    artifact_only: ClassVar[bool] = False

    Params: ClassVar[type[Params]] = Params
    Inputs: ClassVar[type[Inputs]] = Inputs

    progress_callback: TrainingProgressCallback | None = None

    def __init__(
        self,
        params: _identity.Params | Mapping[str, Any] | None = None,
        inputs: _identity.Inputs | Sequence[Any] | None = None,
    ) -> None:
        check_feature_class(type(self))
        cls = type(self)
        self.params = build_params(cls, params)
        self.inputs = build_inputs(cls, inputs)

    def load_state(self, artifacts: Artifacts) -> bool:
        """Stateless by default: always ready."""
        return True

    def fit(self, inputs: InputStream) -> None:
        """Nothing to fit by default."""
        return None

    def save_state(self, artifacts: Artifacts) -> None:
        """Nothing to save by default."""
        return None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        raise NotImplementedError(f"{type(self).__name__}.apply")

    @staticmethod
    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of the key columns of ``frame`` (start an output table with it)."""
        return frame[[c for c in KEY_COLUMNS if c in frame.columns]].copy()


def build_params(cls: type, params: Any) -> Params:
    """``cls.Params`` from an instance, a mapping or ``None``; errors name the bad fields."""
    params_cls: type[Params] = cls.Params  # type: ignore[attr-defined]
    if isinstance(params, params_cls):
        return params
    try:
        return params_cls.model_validate(dict(params or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors()
        )
        raise FeatureInputError(
            f"params of feature {getattr(cls, 'name', cls.__name__)!r} are invalid: {problems}",
            hint=f"valid params: {sorted(params_cls.model_fields)}",
        ) from None


def build_inputs(cls: type, inputs: Any) -> Inputs:
    """``cls.Inputs`` from an instance, a sequence or ``None`` (tracks)."""
    inputs_cls: type[Inputs] = cls.Inputs  # type: ignore[attr-defined]
    if isinstance(inputs, inputs_cls):
        return inputs
    items = (
        ("tracks",)
        if inputs is None
        else tuple(inputs.root if isinstance(inputs, Inputs) else inputs)
    )
    try:
        return inputs_cls(items)
    except ValidationError as exc:
        raise FeatureInputError(
            f"inputs of feature {getattr(cls, 'name', cls.__name__)!r} are invalid: "
            f"{exc.errors()[0]['msg']}",
            hint="inputs are 'tracks' and/or Result(feature=..., run_id=...) of other features",
        ) from None


def check_feature_class(cls: type) -> None:
    """Refuse a feature class that lacks a required declaration.

    Raises
    ------
    FeatureDefinitionError
        ``name``, ``version``, ``parallelizable`` or ``scope_dependent`` missing or malformed,
        or ``Params``/``Inputs`` not subclasses of the base types.
    """
    label = cls.__qualname__
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise FeatureDefinitionError(
            f"feature class {label} must declare name as a kebab-case slug, found {name!r}",
            hint="e.g. name = 'speed' (lowercase letters, digits and '-'; it names a folder)",
        )
    version = getattr(cls, "version", None)
    if not isinstance(version, str) or not _VERSION.match(version):
        raise FeatureDefinitionError(
            f"feature {name!r} must declare version as text like '0.1', found {version!r}",
            hint="bump the version whenever the output for the same params changes",
        )
    for flag in ("parallelizable", "scope_dependent"):
        if not isinstance(getattr(cls, flag, None), bool):
            raise FeatureDefinitionError(
                f"feature {name!r} must declare {flag} = True or False",
                hint="scope_dependent is True when a fit depends on which entries are in scope",
            )
    if not (isinstance(getattr(cls, "Params", None), type) and issubclass(cls.Params, Params)):  # type: ignore[attr-defined]
        raise FeatureDefinitionError(f"feature {name!r}: Params must subclass features.Params")
    if not (isinstance(getattr(cls, "Inputs", None), type) and issubclass(cls.Inputs, Inputs)):  # type: ignore[attr-defined]
        raise FeatureDefinitionError(f"feature {name!r}: Inputs must subclass features.Inputs")
