"""Names of the on-disk contract that commands need before any schema is loaded.

``w2t-bkin status`` finds sessions and checks recorded stat snapshots without importing the
configuration or metadata schemas (pydantic, NumPy): the few names it shares with them live
here, in the bottom import layer, with nothing but literals.
"""

from __future__ import annotations

from typing import Final

CONFIG_FILENAME: Final = "configuration.toml"
"""The workspace's configuration file, ``ROOT/configuration.toml``."""

ID_PATTERN: Final = r"^[A-Za-z0-9_-]+$"
"""Subject, session, camera and TTL IDs (they become folder and NWB file names)."""

ROOT_METADATA_ENV: Final = "W2T_ROOT_METADATA"
"""Environment variable naming a metadata file merged before ``data/raw/metadata.toml``."""

FINGERPRINT_VERSION: Final = 1
"""Scheme of a session's content fingerprint (recorded with each run): bumped when what enters
the fingerprint changes, so old identifiers then differ on purpose."""
