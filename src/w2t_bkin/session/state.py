"""What the phases of one run have produced so far (a failed run's QC and provenance use it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.fingerprint import SessionFingerprint
from w2t_bkin.session.ingest import IngestedInputs
from w2t_bkin.session.synchronize import SyncedSession
from w2t_bkin.session.verify import VerifiedInputs
from w2t_bkin.workspace.discovery import SessionFiles

log = logging.getLogger(__name__)


@dataclass
class SessionRun:
    """What the phases of one run have produced so far; a failed run's QC and provenance use it."""

    started_at: datetime
    folder: Path
    #: what the user asked for (provenance ``command_line``), not a worker's ``sys.argv``
    invocation: tuple[str, ...] = ()
    ctx: SessionContext | None = None
    files: SessionFiles | None = None
    verified: VerifiedInputs | None = None
    inputs: IngestedInputs | None = None
    synced: SyncedSession | None = None
    staged_nwb: Path | None = None
    fingerprint: SessionFingerprint | None = None
    findings: list[dict[str, Any]] | None = None
