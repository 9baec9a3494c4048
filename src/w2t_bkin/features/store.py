"""The only feature I/O: long-format Parquet entries and exactly named artifacts, atomically.

Layout of one run (``<dataset>/features/<feature>/<run_id>/``)::

    run.json                 the full identity payload and provenance (atomic JSON)
    entries/<entry_key>.parquet  one file per (group, sequence) entry
    artifacts/<name>         fitted state and reports, by exact name (never by glob)

Per-entry outputs and artifacts live in different folders, so a sequence named like an
artifact can never overwrite or be mistaken for one. Every file is written to a temporary name
in the same folder, flushed to disk and renamed over the target: a reader sees the old file or
the new one, never a torn one. pyarrow is imported inside the functions (extra ``features``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from w2t_bkin.errors import OutputError
from w2t_bkin.extras import require
from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.io_utils import atomic_write_bytes, atomic_write_json, fsync_dir

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ARTIFACTS_DIR",
    "ENTRIES_DIR",
    "RUN_FILE",
    "artifact_path",
    "entry_path",
    "parquet_intact",
    "read_entry",
    "require_feature_extra",
    "write_artifact_bytes",
    "write_artifact_json",
    "write_entry",
    "write_run_file",
]

ENTRIES_DIR = "entries"
ARTIFACTS_DIR = "artifacts"
RUN_FILE = "run.json"


def require_feature_extra(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (pyarrow, sklearn, skops), or say the ``features`` extra is missing."""
    return require(module, "features", purpose)


def entry_path(run_dir: Path, entry_key: str) -> Path:
    """``run_dir/entries/<entry_key>.parquet``."""
    return run_dir / ENTRIES_DIR / f"{entry_key}.parquet"


def artifact_path(run_dir: Path, name: str) -> Path:
    """``run_dir/artifacts/<name>``; ``name`` is a plain file name (no folders, no patterns).

    Raises
    ------
    FeatureInputError
        ``name`` holds a path separator, a glob character or is empty.
    """
    if not name or name in (".", "..") or any(c in name for c in "/\\*?[]\0"):
        raise FeatureInputError(
            f"artifact name {name!r} must be a plain file name",
            hint="name artifacts exactly, e.g. 'model.skops'; patterns are not looked up",
        )
    return run_dir / ARTIFACTS_DIR / name


def write_entry(path: Path, frame: pd.DataFrame) -> int:
    """Write one entry's table as Parquet, atomically; returns its row count.

    Parameters
    ----------
    frame
        Long-format table (one row per frame, or per frame and item); the index is dropped.
    """
    pa = require_feature_extra("pyarrow", f"writing feature output {path.name}")
    pq = importlib.import_module("pyarrow.parquet")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            pq.write_table(table, stream, compression="zstd")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"cannot write feature output {path}: {exc.strerror or exc}",
            hint="check free disk space and write permission; the previous file is unchanged",
            path=path,
        ) from exc
    fsync_dir(path.parent)
    return int(table.num_rows)


def read_entry(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one entry's Parquet table (optionally only ``columns``)."""
    require_feature_extra("pyarrow", f"reading feature output {path.name}")
    pq = importlib.import_module("pyarrow.parquet")
    return pq.read_table(path, columns=columns).to_pandas()


def parquet_intact(path: Path) -> bool:
    """Whether ``path`` is a complete Parquet file: both magic numbers and a footer that fits.

    Reads 12 bytes, so a cached rerun can check hundreds of outputs in milliseconds; a file
    cut short anywhere (a torn write, a partial copy) fails it.
    """
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size < 12:
                return False
            stream.seek(0)
            head = stream.read(4)
            stream.seek(size - 8)
            tail = stream.read(8)
    except OSError:
        return False
    footer_bytes = int.from_bytes(tail[:4], "little")
    return head == b"PAR1" and tail[4:] == b"PAR1" and 0 < footer_bytes <= size - 12


def write_artifact_bytes(run_dir: Path, name: str, data: bytes) -> Path:
    """Write artifact ``name`` of a run atomically (temp file, fsync, rename)."""
    return atomic_write_bytes(artifact_path(run_dir, name), data)


def write_artifact_json(run_dir: Path, name: str, obj: Any) -> Path:
    """Write a JSON artifact of a run atomically."""
    return atomic_write_json(artifact_path(run_dir, name), obj)


def write_run_file(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``run.json`` (identity payload and provenance) atomically."""
    return atomic_write_json(run_dir / RUN_FILE, record)
