"""One fingerprint scheme for files, configurations and metadata.

- A file's **stat identity** (:class:`FileStat`: resolved path, size, mtime in ns, device and
  inode) says cheaply whether it may have changed; caches of derived facts (video probes) are
  keyed by it.
- A file's **content digest** (:func:`file_digest`, SHA-256) says whether it did change. Hashing
  is streamed (flat memory) and cached by stat identity in a small SQLite table
  (:class:`DigestCache`), so a file is read once per change, not once per run.
- Settings (configuration sections, merged metadata) are digested as canonical JSON
  (:func:`json_digest`): sorted keys, so equal settings give equal digests in any process.

A cache that cannot be read or written is a lost shortcut, never an error: the digest is then
computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.io_utils import sha256_file

log = logging.getLogger(__name__)

DIGEST_CACHE_NAME = "fingerprints.sqlite"
"""File name of the digest cache inside a cache folder (``ROOT/.w2t/cache``)."""


@dataclass(frozen=True)
class FileStat:
    """What the file system says about a file, without reading it.

    Attributes
    ----------
    path
        The resolved path (symlinks followed), as text.
    size_bytes, mtime_ns, device, inode
        From ``os.stat`` of the resolved path. A file replaced by another (same name, new
        inode) or rewritten in place (new size or mtime) gets a new identity.
    """

    path: str
    size_bytes: int
    mtime_ns: int
    device: int
    inode: int

    def key(self) -> str:
        """``path|size|mtime_ns|device:inode``: the cache key of facts about this file."""
        return f"{self.path}|{self.size_bytes}|{self.mtime_ns}|{self.device}:{self.inode}"


def stat_file(path: str | os.PathLike[str]) -> FileStat:
    """The :class:`FileStat` of ``path`` (symlinks followed); raises ``OSError`` as ``os.stat``."""
    resolved = Path(path).resolve()
    st = resolved.stat()
    return FileStat(str(resolved), st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


class DigestCache:
    """Content digests keyed by :meth:`FileStat.key`, shared by threads and processes.

    Parameters
    ----------
    db_path
        The SQLite file (created with its folder on first write); ``None`` keeps the cache in
        this object only. SQLite's own locking makes concurrent writers safe; each call opens
        its own connection, so one object may be used from several threads.

    The first lookup reads every known digest in one query (a session has dozens of inputs, and
    a connection per file costs more than the lookups); a key missing from that snapshot is
    looked up once more on its own, since another process may have added it since.
    """

    def __init__(self, db_path: Path | None = None) -> None:
        self.db_path = db_path
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self._preloaded = False

    def get(self, stat: FileStat) -> str | None:
        key = stat.key()
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self.db_path is None or not self.db_path.is_file():
            return None
        if not self._preloaded:
            self._preload()
            with self._lock:
                if key in self._memory:
                    return self._memory[key]
        try:
            with self._connect() as db:
                row = db.execute("SELECT sha256 FROM digests WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("ignoring unreadable digest cache %s: %s", self.db_path, exc)
            return None
        if row is None:
            return None
        with self._lock:
            self._memory[key] = row[0]
        return str(row[0])

    def _preload(self) -> None:
        self._preloaded = True
        try:
            with self._connect() as db:
                rows = db.execute("SELECT key, sha256 FROM digests").fetchall()
        except sqlite3.Error as exc:
            log.warning("ignoring unreadable digest cache %s: %s", self.db_path, exc)
            return
        with self._lock:
            for key, sha256 in rows:
                self._memory.setdefault(str(key), str(sha256))

    def put(self, stat: FileStat, sha256: str) -> None:
        with self._lock:
            self._memory[stat.key()] = sha256
        if self.db_path is None:
            return
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO digests (key, sha256) VALUES (?, ?)",
                    (stat.key(), sha256),
                )
        except (OSError, sqlite3.Error) as exc:
            log.warning("could not record a digest in %s: %s", self.db_path, exc)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        assert self.db_path is not None
        db = sqlite3.connect(self.db_path, timeout=30.0)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS digests (key TEXT PRIMARY KEY, sha256 TEXT)")
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()


def file_digest(path: str | os.PathLike[str], cache: DigestCache | None = None) -> str:
    """SHA-256 of the content of ``path`` (symlinks followed), from ``cache`` when it knows it.

    Raises
    ------
    IngestError
        The file is missing or unreadable; the message names it.
    """
    path = Path(path)
    if cache is None:
        return sha256_file(path)
    try:
        stat = stat_file(path)
    except OSError:
        return sha256_file(path)  # raises the error that names the file
    known = cache.get(stat)
    if known is not None:
        return known
    digest = sha256_file(Path(stat.path))
    # Written while the file was read? Then its identity changed: do not cache a torn digest.
    with contextlib.suppress(OSError):
        if stat_file(path) == stat:
            cache.put(stat, digest)
    return digest


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, ``json.dumps`` default separators."""
    return json.dumps(value, sort_keys=True)


def json_digest(value: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``value`` (JSON-able: dicts, lists, scalars)."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()
