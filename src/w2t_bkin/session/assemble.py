"""Assembly phase: the NWB hand-off built from the phases' results, written under a temporary name.

Finalization validates the temporary file and only then renames it to the output path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2t_bkin.metadata import BpodMeta
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.session.context import SessionContext, session_start_time
from w2t_bkin.session.facemotion import camera_facemotion_series
from w2t_bkin.session.fingerprint import (
    SessionFingerprint,
    session_fingerprint,
    workspace_digest_cache,
)
from w2t_bkin.session.ingest import IngestedInputs
from w2t_bkin.session.synchronize import SyncedSession

if TYPE_CHECKING:
    from w2t_bkin.facemotion.result import CameraMotion
    from w2t_bkin.nwb.assembly import SessionAssembly

log = logging.getLogger(__name__)


def trial_outcomes(bpod: BpodSession, meta: BpodMeta) -> np.ndarray:
    """``(n_trials,) str``: the first outcome rule whose state the trial visited, else 'unknown'."""
    outcome = np.full(bpod.n_trials, "unknown", dtype=object)
    decided = np.zeros(bpod.n_trials, dtype=bool)
    for rule in meta.outcomes:
        visited = np.isfinite(bpod.first_state_onset_s(rule.state)) & ~decided
        outcome[visited] = rule.outcome
        decided |= visited
    return outcome.astype(str)


def session_identifier(ctx: SessionContext, fingerprint: SessionFingerprint) -> str:
    """``<identifier>-<16 hex>``: readable, and unique to the session's content.

    ``<identifier>`` is the metadata ``identifier`` (``<subject>-<session>`` when unset); the hex
    digits start the :class:`~w2t_bkin.session.fingerprint.SessionFingerprint` digest: inputs by
    content, merged metadata and the configuration's content sections. The same data give the
    same identifier wherever the workspace lives and whatever the log level or validation
    settings; other data, metadata, or synchronization / assembly settings give another, so two
    experiments with default settings and the same subject and session names never share one.
    """
    base = ctx.metadata.identifier or f"{ctx.subject}-{ctx.session}"
    return f"{base}-{fingerprint.digest()[:16]}"


def build_assembly(
    ctx: SessionContext,
    inputs: IngestedInputs,
    synced: SyncedSession,
    fingerprint: SessionFingerprint,
    facemotion: Mapping[str, CameraMotion] | None = None,
) -> SessionAssembly:
    """Everything the NWB writer needs, on the reference clock."""
    from w2t_bkin.nwb.assembly import CameraAssembly, SessionAssembly, TrialsAssembly

    cameras = []
    clock = synced.reference_clock_description
    untimed = [f"{k} ({t.frame_clock})" for k, t in synced.cameras.items() if t.alignment is None]
    if inputs.verified.ttl and untimed:
        # The reference clock is the DAQ, but these cameras have no frame TTL: say so wherever
        # the clock is described, so no reader assumes their times are on it.
        clock += (
            f" Exception: camera(s) {', '.join(untimed)} have no frame TTL; their frame times "
            "are on their own clock from 0 s at their first frame, NOT aligned to this "
            "reference clock."
        )
    for camera_id, timing in synced.cameras.items():
        meta = ctx.metadata.camera(camera_id)
        cameras.append(
            CameraAssembly(
                camera_id=camera_id,
                frame_times_s=timing.frame_times_s,
                frame_clock=timing.frame_clock,
                videos=inputs.verified.videos.get(camera_id),
                pose=inputs.pose.get(camera_id),
                description=meta.description or f"camera {camera_id}",
                device_name=meta.device,
                frame_has_pulse=(
                    timing.alignment.frame_has_pulse if timing.alignment is not None else None
                ),
                facemotion=camera_facemotion_series(facemotion, camera_id),
            )
        )
    trials = None
    bpod_meta = ctx.metadata.bpod
    if inputs.bpod is not None and synced.trials is not None and bpod_meta is not None:
        trials = TrialsAssembly(
            bpod=inputs.bpod,
            to_reference=synced.trials.to_reference,
            alignment_label=synced.trials.alignment_label,
            trial_type_names={int(k): v for k, v in bpod_meta.trial_type_names.items()},
            outcome=trial_outcomes(inputs.bpod, bpod_meta),
            actions=dict(bpod_meta.actions),
        )
    return SessionAssembly(
        metadata=ctx.metadata,
        session_start_time=session_start_time(ctx),
        reference_clock_description=clock,
        identifier=session_identifier(ctx, fingerprint),
        # probe-clock channels as mapped onto the reference clock by synchronization
        ttl_channels=tuple((synced.ttl or inputs.verified.ttl).values()),
        cameras=tuple(cameras),
        trials=trials,
        alignment_stats=tuple(synced.stats),
    )


def fingerprint_inputs(ctx: SessionContext, inputs: IngestedInputs) -> SessionFingerprint:
    """The session's content fingerprint (input digests cached in the workspace)."""
    cache = workspace_digest_cache(ctx.workspace.cache)
    return session_fingerprint(ctx.config, ctx.metadata, inputs.verified.files, cache)


def assemble(
    ctx: SessionContext,
    inputs: IngestedInputs,
    synced: SyncedSession,
    fingerprint: SessionFingerprint,
    facemotion: Mapping[str, CameraMotion] | None = None,
) -> Path:
    """Assembly: build the NWB file and write it completely under a temporary name.

    Finalization validates the temporary file and only then renames it to the output path.
    """
    from w2t_bkin.nwb.assembly import stage_nwb  # pynwb is loaded only when writing

    assembly = build_assembly(ctx, inputs, synced, fingerprint, facemotion)
    return stage_nwb(assembly, ctx.nwb_path, ctx.config.assembly)
