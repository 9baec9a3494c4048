"""Behaviour models trained on features and per-frame labels, with live training progress.

* :func:`import_labels` stores per-frame labels as a run of the ``labels`` feature, so labels
  are pinned inputs with lineage like any feature;
* :class:`BehaviorClassifier` (scikit-learn, ``multiclass`` or ``one_vs_rest``) is a
  scope-dependent, artifact-only feature: its fit is the training, its artifact the model;
* :func:`train_model` trains one and returns its run id; progress events go to the registry,
  readable while training runs with :func:`read_progress`;
* :class:`BehaviorPredict` is the prediction feature (``prob/<class>``, ``predicted_label``);
* model files are skops archives written atomically; loading one refuses types outside a
  small trusted set unless the user opts in (``trust=True`` or ``W2T_TRUST_MODEL_FILES=1``).
"""

from __future__ import annotations

from w2t_bkin.features.models.classifier import (
    BehaviorClassifier,
    BehaviorPredict,
    ClassifierParams,
    train_model,
)
from w2t_bkin.features.models.labels import LABELS_FEATURE, import_labels
from w2t_bkin.features.models.progress import (
    CompositeProgress,
    RegistryProgress,
    read_progress,
)
from w2t_bkin.features.models.serialize import (
    TRUST_ENV,
    TRUSTED_TYPES,
    dump_model,
    load_model,
)

__all__ = [
    "LABELS_FEATURE",
    "TRUSTED_TYPES",
    "TRUST_ENV",
    "BehaviorClassifier",
    "BehaviorPredict",
    "ClassifierParams",
    "CompositeProgress",
    "RegistryProgress",
    "dump_model",
    "import_labels",
    "load_model",
    "read_progress",
    "train_model",
]
