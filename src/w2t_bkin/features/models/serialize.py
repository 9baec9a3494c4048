"""Model files: skops archives (no pickle), written atomically, loaded only with trusted types.

A skops archive records the type of every object it holds; loading checks them against
:data:`TRUSTED_TYPES` (what our trainers produce beyond what skops trusts by default). A file
naming any other type is refused with :class:`UntrustedModelError` before anything is built,
so a model file dropped into a shared folder cannot run code. To load such a file knowingly,
pass ``trust=True`` or set ``W2T_TRUST_MODEL_FILES=1``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from w2t_bkin.features.errors import UntrustedModelError
from w2t_bkin.features.store import require_feature_extra
from w2t_bkin.io_utils import atomic_write_bytes

__all__ = ["TRUSTED_TYPES", "TRUST_ENV", "dump_model", "load_model"]

TRUST_ENV = "W2T_TRUST_MODEL_FILES"
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)
"""Types our classifiers hold that skops does not trust by default."""


def dump_model(path: Path, model: Any) -> Path:
    """Write ``model`` as a skops archive, atomically (temp file, fsync, rename)."""
    sio = require_feature_extra("skops.io", f"writing model file {path.name}")
    return atomic_write_bytes(path, sio.dumps(model))


def load_model(path: Path, *, trust: bool = False) -> Any:
    """Load a skops model file, refusing untrusted types unless the user opts in.

    Raises
    ------
    UntrustedModelError
        The file names types outside :data:`TRUSTED_TYPES` (and no opt-in), or is not a skops
        archive.
    """
    sio = require_feature_extra("skops.io", f"reading model file {path.name}")
    data = path.read_bytes()
    try:
        untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
    except Exception as exc:  # a zip that is not a skops archive, or not a zip at all
        raise UntrustedModelError(
            f"{path} is not a skops model archive ({type(exc).__name__}: {exc})",
            hint="model files are written by train_model; pickle and joblib files are refused",
            path=path,
        ) from exc
    opted_in = trust or os.environ.get(TRUST_ENV, "") == "1"
    if untrusted and not opted_in:
        raise UntrustedModelError(
            f"{path} holds types outside the trusted set: {untrusted}; loading it could run "
            "code from whoever wrote the file",
            hint=f"if you trust its author, pass trust=True or set {TRUST_ENV}=1",
            path=path,
        )
    return sio.loads(data, trusted=[*TRUSTED_TYPES, *untrusted])
