"""The names `status` needs before any schema loads are the schemas' own names."""

from __future__ import annotations

import subprocess
import sys

import w2t_bkin.config
import w2t_bkin.metadata
import w2t_bkin.session.cache
import w2t_bkin.session.fingerprint
import w2t_bkin.workspace.discovery
import w2t_bkin.workspace.layout
from w2t_bkin import layout_constants


def test_names_stay_importable_where_they_were() -> None:
    layout, discovery = w2t_bkin.workspace.layout, w2t_bkin.workspace.discovery
    assert layout.CONFIG_FILENAME == "configuration.toml"
    assert layout.ID_PATTERN == w2t_bkin.metadata.ID_PATTERN
    assert discovery.ROOT_METADATA_ENV == "W2T_ROOT_METADATA"
    assert discovery.SessionMetadata is w2t_bkin.metadata.SessionMetadata
    assert discovery.check_metadata_file is w2t_bkin.metadata.check_metadata_file
    # defined once (layout_constants), still importable from the schemas' modules
    assert w2t_bkin.config.CONFIG_FILENAME is layout_constants.CONFIG_FILENAME
    assert w2t_bkin.metadata.ROOT_METADATA_ENV is layout_constants.ROOT_METADATA_ENV
    assert w2t_bkin.session.fingerprint.FINGERPRINT_VERSION == 1
    assert w2t_bkin.session.cache.FINGERPRINT_VERSION is layout_constants.FINGERPRINT_VERSION


def test_finding_sessions_loads_no_schema() -> None:
    code = (
        "import sys\n"
        "import w2t_bkin.workspace.discovery, w2t_bkin.workspace.layout, w2t_bkin.session.cache\n"
        "heavy = ('numpy', 'pydantic', 'w2t_bkin.metadata', 'w2t_bkin.config')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
