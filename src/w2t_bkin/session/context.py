"""Configuration phase: the session's workspace, configuration and merged metadata.

:class:`SessionContext` is what every later phase reads; the helpers here answer questions about
the metadata that error messages need (which file defines a key, the session start time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from w2t_bkin.config import Config, load_workspace_config
from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata import (
    MetadataSource,
    SessionMetadata,
    defining_file,
    load_session_metadata_sources,
)
from w2t_bkin.workspace.layout import Workspace, open_workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionContext:
    """What every phase reads: where the session is, how to process it, and its metadata.

    ``metadata_sources`` are the metadata files merged into ``metadata`` (parsed, lowest
    precedence first): error messages name the file that defines a key from them, without
    reading the files again.
    """

    workspace: Workspace
    subject: str
    session: str
    config: Config
    metadata: SessionMetadata
    metadata_sources: tuple[MetadataSource, ...] = ()

    @property
    def raw_dir(self) -> Path:
        return self.workspace.session_dir(self.subject, self.session)

    @property
    def processed_dir(self) -> Path:
        return self.workspace.processed_dir(self.subject, self.session)

    @property
    def nwb_path(self) -> Path:
        return self.processed_dir / nwb_file_name(self.subject, self.session)


def nwb_file_name(subject: str, session: str) -> str:
    return f"sub-{subject}_ses-{session}.nwb"


def invalid_nwb_path(nwb_path: Path) -> Path:
    """Where a file with blocking validation findings is kept: ``<stem>.invalid.nwb``."""
    return nwb_path.with_name(f"{nwb_path.stem}.invalid.nwb")


def load_context(
    root: Path, subject: str, session: str, config_path: Path | None
) -> SessionContext:
    """Configuration: read configuration.toml and the merged, validated session metadata."""
    workspace = open_workspace(root)
    config = load_workspace_config(root, config_path)
    metadata, sources = load_session_metadata_sources(workspace.raw, subject, session)
    ctx = SessionContext(workspace, subject, session, config, metadata, sources)
    check_something_declared(ctx)
    return ctx


def check_something_declared(ctx: SessionContext) -> None:
    """A session must declare data: an NWB file of metadata alone is not a processed session.

    Raises
    ------
    MetadataError
        No ``[[cameras]]``, ``[[TTLs]]``, ``[bpod]`` or ``[pose.cameras.<id>]`` in any of the
        session's metadata files; the message lists the files read.
    """
    meta = ctx.metadata
    if meta.cameras or meta.TTLs or meta.bpod is not None or meta.pose.cameras:
        return
    read = ", ".join(str(source.path) for source in ctx.metadata_sources) or "no metadata file"
    raise MetadataError(
        f"session {ctx.subject}/{ctx.session} declares no data: no [[cameras]], [[TTLs]], "
        f"[bpod] or [pose.cameras.<id>] in {read}",
        hint=f"link and declare its raw files with: w2t-bkin data import-raw RIG_FOLDER "
        f"--experiment {ctx.workspace.root} --subject {ctx.subject} --session {ctx.session}",
        path=ctx.raw_dir / "session.toml",
    )


def metadata_file_defining(ctx: SessionContext, *keys: str) -> Path:
    """The metadata file whose value of ``keys`` (a TOML key path) the merged metadata holds.

    Files merge with later ones winning, so this is the last file of the hierarchy that sets the
    key; ``session.toml`` when none does (that is where a missing session key belongs).
    """
    found = defining_file(ctx.metadata_sources, keys)
    return found if found is not None else ctx.raw_dir / "session.toml"


def session_start_time(ctx: SessionContext) -> datetime:
    """Wall-clock time of reference t=0, with the UTC offset the metadata gives.

    Raises
    ------
    MetadataError
        ``session_start_time`` is missing, or has no UTC offset: a naive time would take the
        processing machine's time zone, so the same raw data would give different files on
        different machines. The message names the metadata file and the key.
    """
    start = ctx.metadata.session_start_time
    source = metadata_file_defining(ctx, "session_start_time")
    example = "session_start_time = 2026-05-01T10:00:00+02:00 (the wall-clock time of DAQ t=0)"
    if start is None:
        raise MetadataError(
            f"{source}: key 'session_start_time' is missing; the NWB file needs the wall-clock "
            "time of reference t=0",
            hint=f"add it to {source.name}, with the UTC offset of the lab: {example}",
            path=source,
        )
    if start.tzinfo is None or start.utcoffset() is None:
        raise MetadataError(
            f"{source}: key 'session_start_time' = {start.isoformat()} has no UTC offset; "
            "w2t-bkin does not guess the time zone (the processing machine's zone would make "
            "the file depend on where it was processed)",
            hint=f"give the lab's offset, e.g. {example}, or a UTC time ending in Z",
            path=source,
        )
    return start
