"""Generic machinery the domain code runs on: fingerprints, locks, per-run log capture.

Nothing here knows about sessions, cameras or NWB files (the import contracts in
``pyproject.toml`` forbid imports of domain code): callers pass paths, names and callables.
Everything is safe when several runs share one process (threads) or one workspace (processes).

- :mod:`w2t_bkin.runtime.fingerprint`: one scheme for identifying inputs -- the stat identity of
  a file (path, size, mtime, inode), its content digest cached by that identity, and the digest
  of JSON-able settings (configuration sections, merged metadata).
- :mod:`w2t_bkin.runtime.locks`: advisory ``flock`` locks that the kernel releases when the
  holder exits.
- :mod:`w2t_bkin.runtime.capture`: each run's log records and warnings, routed by a context
  variable, never by mutating shared logger state per run.
"""
