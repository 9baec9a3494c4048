"""Errors of the feature pipeline: each names the dataset path, feature or entry and the fix."""

from __future__ import annotations

from w2t_bkin.errors import MissingExtraError, RegistryError, W2TError

__all__ = [
    "FeatureDefinitionError",
    "FeatureError",
    "FeatureInputError",
    "FeatureRunError",
    "IdentityCollisionError",
    "MissingExtraError",
    "PipelineError",
    "RegistryUnsafeError",
    "UntrustedModelError",
]


class FeatureError(W2TError, ValueError):
    """Bad input to the feature pipeline: a dataset, a feature, its params or a run option."""

    exit_code = 9


class FeatureDefinitionError(FeatureError, TypeError):  # type: ignore[misc]
    """A feature class does not declare what the protocol requires (name, version, ...)."""


class FeatureInputError(FeatureError):
    """Inputs of a run do not fit: unknown entry, empty selector, missing upstream run."""


class PipelineError(FeatureError):
    """A pipeline (Python or TOML) is malformed: duplicate step, unknown input, cycle."""


class FeatureRunError(FeatureError):
    """Every entry of a run failed; ``failed`` maps entry keys to the error text."""

    def __init__(
        self, message: str, *, failed: dict[str, str] | None = None, hint: str | None = None
    ) -> None:
        self.failed = dict(failed or {})
        super().__init__(message, hint=hint)


class IdentityCollisionError(FeatureError):
    """A run folder holds a different identity payload than the one that hashes to its id."""


class RegistryUnsafeError(RegistryError):
    """The feature registry would sit on a filesystem where SQLite locking is not reliable."""


class UntrustedModelError(FeatureError):
    """A model file holds types outside the trusted set; loading it could run foreign code."""

    exit_code = 10
