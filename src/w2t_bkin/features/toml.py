"""Pipelines from TOML files, for ``w2t-bkin features run|status|clean PIPELINE.toml``.

Example::

    dataset = "features-dataset"     # relative to this file
    max_parallel_steps = 2           # independent branches at once

    [defaults]                       # run_feature options of every feature step
    parallel_workers = 2

    [[steps]]
    name = "clean"
    feature = "clean-track"          # a built-in name, or "package.module:Class"
    params = { min_confidence = 0.6, max_gap_s = 0.1, smoothing = "savgol" }

    [[steps]]
    name = "kin"
    feature = "kinematics"
    inputs = ["clean"]
    run = { parallel_mode = "process" }

    [[steps]]
    name = "export"
    callback = "mylab.exports:write_summary"   # fn(dataset, results)
    depends_on = ["kin"]
    key = "summary-v1"

Unknown keys are refused with the file, line and closest valid key.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from w2t_bkin.features.errors import PipelineError
from w2t_bkin.features.pipeline import CallbackStep, FeatureStep, Pipeline
from w2t_bkin.tomlerrors import format_validation_error, read_toml

__all__ = ["PipelineFile", "load_pipeline"]


class StepConfig(BaseModel):
    """One ``[[steps]]`` table: a feature step (``feature``) or a callback step (``callback``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    feature: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    run: dict[str, Any] = Field(default_factory=dict)
    callback: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    key: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StepConfig:
        if (self.feature is None) == (self.callback is None):
            raise ValueError("a step sets exactly one of 'feature' or 'callback'")
        if self.callback is not None and not self.key:
            raise ValueError("a callback step needs 'key' (its identity; change it to rerun)")
        return self


class PipelineFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    max_parallel_steps: int = Field(1, ge=1)
    defaults: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepConfig] = Field(min_length=1)


def _import(path: str, where: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not attr:
        raise PipelineError(f"{where}: {path!r} is not 'package.module:Name'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PipelineError(
            f"{where}: cannot import {path!r}: {exc}",
            hint="check the module is installed and the name is spelled as in the code",
        ) from exc
    return obj


def load_pipeline(path: str | Path) -> tuple[Pipeline, PipelineFile, Path]:
    """Read a pipeline TOML file.

    Returns
    -------
    pipeline, config, dataset_root
        The built :class:`Pipeline`, the parsed file and the dataset folder (resolved against
        the file's folder).

    Raises
    ------
    PipelineError
        Syntax or schema errors (with file and line), unknown features, bad step wiring.
    """
    from w2t_bkin.features.builtin import FEATURES

    path = Path(path)
    data, text = read_toml(path, PipelineError)
    try:
        config = PipelineFile.model_validate(data)
    except ValidationError as exc:
        raise PipelineError(
            format_validation_error(exc, PipelineFile, source=path, text=text),
            hint="see 'w2t-bkin features run --help' for the file format",
            path=path,
        ) from None
    pipeline = Pipeline(config.defaults)
    for i, step in enumerate(config.steps):
        where = f"{path}: steps[{i}] ({step.name})"
        if step.feature is not None:
            if ":" in step.feature:
                cls = _import(step.feature, where)
            elif step.feature in FEATURES:
                cls = FEATURES[step.feature]
            else:
                raise PipelineError(
                    f"{where}: unknown feature {step.feature!r}",
                    hint=f"built-in features: {sorted(FEATURES)}; or 'package.module:Class'",
                    path=path,
                )
            pipeline.add(FeatureStep(step.name, cls, step.params, step.inputs, step.run))
        else:
            assert step.callback is not None and step.key is not None
            fn = _import(step.callback, where)
            pipeline.add(CallbackStep(step.name, fn, step.depends_on, key=step.key))
    return pipeline, config, (path.parent / config.dataset).resolve()
