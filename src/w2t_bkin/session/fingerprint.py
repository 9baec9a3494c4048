"""What a session's outputs are made of: the fingerprint behind its NWB identifier.

A session's content is its inputs (every raw file the metadata declares, by content), its merged
metadata, and the configuration sections that change the NWB file
(:data:`~w2t_bkin.config.CONTENT_SECTIONS`). The same data give the same fingerprint wherever
the workspace lives (input paths count relative to the session folder, never absolute);
different data, metadata or content settings give another. The NWB identifier is built on it, so
DANDI sees distinct identifiers for distinct sessions even when two labs keep default settings
and the same subject and session names; batches will key their cache on it.

Content digests come from :func:`w2t_bkin.runtime.fingerprint.file_digest`, cached by file
identity in ``.w2t/cache/fingerprints.sqlite``: an input is read once per change, and
``provenance.json`` reuses the same digests.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.config import CONTENT_SECTIONS, Config
from w2t_bkin.layout_constants import FINGERPRINT_VERSION as FINGERPRINT_VERSION
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.runtime.fingerprint import DIGEST_CACHE_NAME, DigestCache, file_digest, json_digest
from w2t_bkin.workspace.discovery import SessionFiles


@dataclass(frozen=True)
class SessionFingerprint:
    """Digests of everything a session's outputs are made of.

    Attributes
    ----------
    config_sha256
        Of the configuration's content sections (canonical JSON).
    metadata_sha256
        Of the merged, validated metadata (canonical JSON).
    input_sha256
        Input path, relative to the session folder (POSIX form), to the SHA-256 of its content.
    """

    config_sha256: str
    metadata_sha256: str
    input_sha256: dict[str, str]

    def digest(self) -> str:
        """SHA-256 (hex) of the whole fingerprint: equal exactly when every part is equal."""
        return json_digest(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint_version": FINGERPRINT_VERSION,
            "config_sha256": self.config_sha256,
            "metadata_sha256": self.metadata_sha256,
            "input_sha256": dict(sorted(self.input_sha256.items())),
        }


def session_fingerprint(
    config: Config,
    metadata: SessionMetadata,
    files: SessionFiles,
    cache: DigestCache | None = None,
) -> SessionFingerprint:
    """The fingerprint of one session's content.

    Raises
    ------
    IngestError
        An input cannot be read; the message names it.
    """
    inputs = {
        _relative_name(path, files.session_dir): file_digest(path, cache)
        for path in files.all_inputs()
    }
    return SessionFingerprint(
        config_sha256=json_digest(config.model_dump(mode="json", include=set(CONTENT_SECTIONS))),
        metadata_sha256=json_digest(metadata.model_dump(mode="json")),
        input_sha256=inputs,
    )


def workspace_digest_cache(cache_dir: Path) -> DigestCache:
    """The digest cache of a workspace (``ROOT/.w2t/cache/fingerprints.sqlite``).

    One object per folder and process, so that a batch reads the cache once, not per session
    (entries are keyed by file identity, so a long-lived object never serves a stale digest).
    """
    return _digest_cache(str(Path(cache_dir).absolute()))


@functools.lru_cache(maxsize=16)
def _digest_cache(cache_dir: str) -> DigestCache:
    return DigestCache(Path(cache_dir) / DIGEST_CACHE_NAME)


def _relative_name(path: Path, session_dir: Path) -> str:
    # Relative to the session folder, so the same data keep their fingerprint when the workspace
    # is copied or moved; a path outside it (never produced by discovery) stays absolute.
    try:
        return Path(os.path.relpath(path, session_dir)).as_posix()
    except ValueError:
        return path.as_posix()


class DigestWarmup:
    """Hashes a session's inputs into the digest cache in a background thread.

    Started once the inputs are known (after pose generation), it reads and hashes while
    ingestion and synchronization compute (``hashlib`` and file reads release the GIL), so the
    fingerprint of assembly finds every digest cached. Errors are left to the fingerprint, which
    hashes what is missing itself and names the file it cannot read.
    """

    def __init__(self, paths: Sequence[Path], cache: DigestCache) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._hash, args=(list(paths), cache), name="w2t-digests", daemon=True
        )
        self._thread.start()

    def _hash(self, paths: list[Path], cache: DigestCache) -> None:
        for path in paths:
            if self._stop.is_set():
                return
            with contextlib.suppress(Exception):
                file_digest(path, cache)

    def join(self) -> None:
        """Wait for the digests (assembly needs them)."""
        self._thread.join()

    def stop(self) -> None:
        """Stop after the file being hashed (the session failed) and wait for that."""
        self._stop.set()
        self._thread.join()
