"""A scikit-learn behaviour classifier trained on feature columns and per-frame labels.

Training is the fit of :class:`BehaviorClassifier`, a scope-dependent, artifact-only feature:
its run id covers the params, the pinned feature and label runs, and the entry set, and its
artifacts are the model (``model.skops``), its description (``model.json``) and the held-out
scores (``report.json``). :class:`BehaviorPredict` applies a trained model to every frame.

Estimators: ``random_forest`` (trees grown over ``n_epochs`` rounds with ``warm_start``, one
progress event per round) and ``logistic`` (logistic regression by SGD, one ``partial_fit``
pass per epoch). ``multiclass`` trains one model over every class; ``one_vs_rest`` one binary
model per class (a ``class`` event before each). Classes are weighted to balance them; the
held-out split is by sequence (never frames of one sequence on both sides).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from w2t_bkin.features.base import KEY_COLUMNS, Artifacts, BaseFeature, InputStream, NullProgress
from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.identity import HashExclude, Inputs, Params, Result
from w2t_bkin.features.keys import make_entry_key
from w2t_bkin.features.models.labels import LABELS_FEATURE
from w2t_bkin.features.models.progress import CompositeProgress, RegistryProgress
from w2t_bkin.features.models.serialize import dump_model, load_model
from w2t_bkin.features.store import require_feature_extra

if TYPE_CHECKING:
    import pandas as pd

    from w2t_bkin.features.base import TrainingProgressCallback
    from w2t_bkin.features.dataset import FeatureDataset

__all__ = ["BehaviorClassifier", "BehaviorPredict", "ClassifierParams", "train_model"]

MODEL_FILE = "model.skops"
META_FILE = "model.json"
REPORT_FILE = "report.json"
PROB_PREFIX = "prob/"


class ClassifierParams(Params):
    """How to train (all but ``n_jobs`` are part of the model's run id)."""

    strategy: Literal["multiclass", "one_vs_rest"] = "multiclass"
    estimator: Literal["random_forest", "logistic"] = "random_forest"
    columns: tuple[str, ...] | None = None
    """Feature columns to train on; ``None``: every numeric column but the keys."""
    n_estimators: int = Field(100, ge=1)
    n_epochs: int = Field(5, ge=1)
    test_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    seed: int = 0
    n_jobs: Annotated[int, HashExclude()] = 1


class _ModelInputs(Inputs):
    require: ClassVar[Literal["nonempty", "empty", "any"]] = "nonempty"


def _feature_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise FeatureInputError(
                f"feature columns {missing} are not in the inputs "
                f"(found {list(frame.columns)[:12]})",
                hint="list columns the input features produce, or leave columns unset",
            )
        return list(columns)
    skip = {*KEY_COLUMNS, "label", "item"}
    return [c for c in frame.columns if c not in skip and np.issubdtype(frame[c].dtype, np.number)]


class BehaviorClassifier(BaseFeature):
    """Train a behaviour classifier; inputs are feature runs plus one ``labels`` run."""

    name = "behavior-classifier"
    version = "0.1"
    parallelizable = False
    scope_dependent = True
    artifact_only = True
    Params: ClassVar[type[Params]] = ClassifierParams
    Inputs: ClassVar[type[Inputs]] = _ModelInputs

    def __init__(self, params: Any = None, inputs: Any = None) -> None:
        super().__init__(params, inputs)
        labels = [
            i for i in self.inputs.root if isinstance(i, Result) and i.feature == LABELS_FEATURE
        ]
        if len(labels) != 1 or len(self.inputs.root) < 2:
            raise FeatureInputError(
                "behavior-classifier needs feature inputs plus exactly one 'labels' run, found "
                f"{[i if isinstance(i, str) else i.feature for i in self.inputs.root]}",
                hint="store labels with import_labels(dataset, name, labels) and pass its Result",
            )
        self.meta: dict[str, Any] = {}
        self.estimators: list[Any] = []
        self.report: dict[str, Any] = {}

    @property
    def config(self) -> ClassifierParams:
        assert isinstance(self.params, ClassifierParams)
        return self.params

    # -- state ----------
    def load_state(self, artifacts: Artifacts) -> bool:
        if not (artifacts.exists(MODEL_FILE) and artifacts.exists(META_FILE)):
            return False
        self.meta = json.loads(artifacts.read_bytes(META_FILE))
        return True

    def save_state(self, artifacts: Artifacts) -> None:
        dump_model(artifacts.path(MODEL_FILE), {"estimators": self.estimators})
        artifacts.write_json(REPORT_FILE, self.report)
        artifacts.write_json(META_FILE, self.meta)  # written last: its presence marks completion

    # -- training ----------
    def fit(self, inputs: InputStream) -> None:
        progress = self.progress_callback or NullProgress()
        progress.on_phase("load", f"reading {inputs.n_entries} entries")
        xs, ys, groups = [], [], []
        columns: list[str] | None = None
        for i, (group, sequence, frame) in enumerate(inputs()):
            key = make_entry_key(group, sequence)
            progress.on_entry_start(i, inputs.n_entries, key)
            columns = columns or _feature_columns(frame, self.config.columns)
            x = frame[columns].to_numpy(np.float64)
            ok = np.isfinite(x).all(axis=1)
            xs.append(x[ok])
            ys.append(frame["label"].astype(str).to_numpy()[ok])
            groups += [key] * int(ok.sum())
            progress.on_entry_end(i, inputs.n_entries, key)
        if not xs or columns is None or sum(len(y) for y in ys) == 0:
            raise FeatureInputError(
                "no labelled frame with finite feature values in scope",
                hint="check that labels and features cover the same frames",
            )
        x_all, y_all, g_all = np.concatenate(xs), np.concatenate(ys), np.asarray(groups)
        train, test = self._split(g_all)
        classes = sorted(set(y_all[train].tolist()))
        if len(classes) < 2:
            raise FeatureInputError(
                f"the training split has {len(classes)} class(es) {classes}; need at least 2",
                hint="label more behaviours, or lower test_fraction",
            )
        progress.on_phase("train", f"{self.config.strategy} {self.config.estimator}")
        if self.config.strategy == "multiclass":
            self.estimators = [self._train(x_all, y_all, train, test, progress, classes)]
        else:
            self.estimators = []
            for c, name in enumerate(classes):
                progress.on_class_start(c, len(classes), name)
                y_bin = np.where(y_all == name, name, "__rest__")
                self.estimators.append(
                    self._train(x_all, y_bin, train, test, progress, ["__rest__", name])
                )
        self.meta = {
            "strategy": self.config.strategy,
            "classes": classes,
            "columns": columns,
            "n_train": int(train.sum()),
            "n_test": int(test.sum()),
        }
        self.report = self._report(x_all[test], y_all[test]) if test.any() else {}
        progress.on_phase("done", f"{len(classes)} classes, {int(train.sum())} training frames")

    def _split(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        unique = np.unique(groups)
        n_test = math.floor(self.config.test_fraction * unique.size)
        n_test = min(n_test, unique.size - 1)
        rng = np.random.default_rng(self.config.seed)
        test_keys = set(rng.permutation(unique)[:n_test].tolist())
        test = np.isin(groups, list(test_keys))
        return ~test, test

    def _make(self, epochs_done: int) -> Any:
        if self.config.estimator == "random_forest":
            ensemble = require_feature_extra("sklearn.ensemble", "training a behaviour classifier")
            return ensemble.RandomForestClassifier(
                n_estimators=1,
                warm_start=True,
                random_state=self.config.seed,
                n_jobs=self.config.n_jobs,
            )
        linear = require_feature_extra("sklearn.linear_model", "training a behaviour classifier")
        return linear.SGDClassifier(loss="log_loss", random_state=self.config.seed)

    def _train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        progress: TrainingProgressCallback,
        classes: list[str],
    ) -> Any:
        weights_mod = require_feature_extra("sklearn.utils.class_weight", "class weights")
        weight = weights_mod.compute_sample_weight("balanced", y[train])
        estimator = self._make(0)
        n_epochs = self.config.n_epochs
        for epoch in range(1, n_epochs + 1):
            if self.config.estimator == "random_forest":
                estimator.n_estimators = max(
                    1, math.ceil(self.config.n_estimators * epoch / n_epochs)
                )
                estimator.fit(x[train], y[train], sample_weight=weight)
            else:
                estimator.partial_fit(
                    x[train], y[train], classes=np.asarray(classes), sample_weight=weight
                )
            metrics = {"train_accuracy": float(np.mean(estimator.predict(x[train]) == y[train]))}
            if test.any():
                metrics["test_accuracy"] = float(np.mean(estimator.predict(x[test]) == y[test]))
            progress.on_epoch_end(epoch, n_epochs, metrics)
        return estimator

    def _report(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        metrics = require_feature_extra("sklearn.metrics", "scoring a behaviour classifier")
        predicted, _ = predict_arrays(self.meta, self.estimators, x)
        return dict(metrics.classification_report(y, predicted, output_dict=True, zero_division=0))


def predict_arrays(
    meta: Mapping[str, Any], estimators: Sequence[Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (n,) object, probabilities (n, n_classes) float64)`` for finite rows ``x``."""
    classes = list(meta["classes"])
    if meta["strategy"] == "multiclass":
        est = estimators[0]
        proba_raw = est.predict_proba(x)
        proba = np.zeros((x.shape[0], len(classes)))
        for j, cls in enumerate(est.classes_):
            proba[:, classes.index(str(cls))] = proba_raw[:, j]
    else:
        proba = np.column_stack(
            [
                est.predict_proba(x)[:, list(est.classes_).index(cls)]
                for est, cls in zip(estimators, classes, strict=True)
            ]
        )
    return np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)], proba


class PredictParams(Params):
    """Which trained model to apply."""

    model: Result
    """The trained model: ``Result(feature="behavior-classifier", run_id=...)``."""
    trust: Annotated[bool, HashExclude()] = False
    """Opt in to loading a model file with types outside the trusted set."""


class BehaviorPredict(BaseFeature):
    """Per-frame predictions of a trained classifier: ``prob/<class>`` and ``predicted_label``.

    Rows whose feature values are not all finite get NaN probabilities and an empty label.
    """

    name = "behavior-predict"
    version = "0.1"
    parallelizable = True
    scope_dependent = False
    Params: ClassVar[type[Params]] = PredictParams

    def load_state(self, artifacts: Artifacts) -> bool:
        assert isinstance(self.params, PredictParams)
        ref = self.params.model
        model = Artifacts(artifacts.run_dir.parent.parent / ref.feature / str(ref.run_id))
        if not model.exists(META_FILE):
            raise FeatureInputError(
                f"no trained model {ref.feature}/{ref.run_id} (expected {model.path(META_FILE)})",
                hint="train it with train_model and pass the run id it returns",
            )
        self.meta = json.loads(model.read_bytes(META_FILE))
        self.estimators = load_model(model.path(MODEL_FILE), trust=self.params.trust)["estimators"]
        return True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = _feature_columns(frame, self.meta["columns"])
        x = frame[columns].to_numpy(np.float64)
        ok = np.isfinite(x).all(axis=1)
        out = self.keys(frame)
        labels = np.full(len(frame), "", dtype=object)
        proba = np.full((len(frame), len(self.meta["classes"])), np.nan)
        if ok.any():
            labels[ok], proba[ok] = predict_arrays(self.meta, self.estimators, x[ok])
        for j, cls in enumerate(self.meta["classes"]):
            out[f"{PROB_PREFIX}{cls}"] = proba[:, j]
        out["predicted_label"] = labels.astype(str)
        return out


def train_model(
    dataset: FeatureDataset,
    model: type[BaseFeature] | str,
    config: Params | Mapping[str, Any] | None,
    *,
    inputs: Sequence[Result],
    labels: Result,
    progress: TrainingProgressCallback | None = None,
) -> str:
    """Train ``model`` on ``inputs`` (feature runs) and ``labels``; returns the model's run id.

    Progress events are recorded in the registry under ``job_id = run id`` while training
    runs (read them with ``read_progress(dataset.registry_path, run_id)``) and sent to
    ``progress`` too. A model already trained with the same identity is reused.
    """
    from w2t_bkin.features.run import plan_run, run_feature

    cls = BehaviorClassifier if model == BehaviorClassifier.name else model
    if not isinstance(cls, type):
        raise FeatureInputError(f"unknown model {model!r}", hint="use 'behavior-classifier'")
    feature = cls(params=config, inputs=[*inputs, labels])
    run_id = plan_run(dataset, feature).run_id
    callbacks: list[Any] = [RegistryProgress(dataset.registry, run_id)]
    if progress is not None:
        callbacks.append(progress)
    result = run_feature(dataset, feature, progress=CompositeProgress(callbacks))
    assert result.run_id == run_id
    return run_id
