"""Session-level glue: trial outcomes, the NWB identifier, start time and metadata sources."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import DataQualityWarning, MetadataError
from w2t_bkin.metadata import (
    BpodMeta,
    OutcomeRule,
    SessionMetadata,
    check_metadata_file,
    metadata_files,
)
from w2t_bkin.model.results import SessionResult
from w2t_bkin.session.assemble import session_identifier, trial_outcomes
from w2t_bkin.session.context import SessionContext, metadata_file_defining, session_start_time
from w2t_bkin.session.driver import collect_warnings
from w2t_bkin.session.fingerprint import session_fingerprint
from w2t_bkin.sources.bpod import BpodSession
from w2t_bkin.workspace.discovery import SessionFiles
from w2t_bkin.workspace.layout import Workspace


def _bpod(visits: list[tuple[int, str, float]], n_trials: int) -> BpodSession:
    """A session whose trials visit the given ``(trial, state, entry_s)`` states, 1 s each."""
    names = tuple(sorted({"ITI", "Punish", "Reward", *(v[1] for v in visits)}))
    trial = np.array([v[0] for v in visits], dtype=np.int64)
    start = np.array([v[2] for v in visits], dtype=np.float64)
    empty = np.zeros(0)
    return BpodSession(
        source_files=(Path("s1.mat"),),
        trial_start_s=np.arange(n_trials) * 10.0,
        trial_end_s=np.arange(n_trials) * 10.0 + 9.0,
        trial_types=np.ones(n_trials, dtype=np.int64),
        state_names=names,
        state_trial_idx=trial,
        state_name_idx=np.array([names.index(v[1]) for v in visits], dtype=np.int64),
        state_start_s=start,
        state_stop_s=start + 1.0,
        event_names=(),
        event_trial_idx=empty.astype(np.int64),
        event_name_idx=empty.astype(np.int64),
        event_time_s=empty,
    )


def test_trial_outcomes_take_the_first_rule_whose_state_was_visited() -> None:
    bpod = _bpod(
        [
            (0, "ITI", 0.0),
            (0, "Reward", 2.0),
            (1, "Punish", 12.0),
            (2, "Punish", 21.0),  # both visited: the first *rule* (Reward) wins, not time order
            (2, "Reward", 25.0),
            (3, "ITI", 30.0),  # neither: unknown
        ],
        n_trials=4,
    )
    meta = BpodMeta(
        path=["Bpod/*.mat"],
        outcomes=[
            OutcomeRule(state="Reward", outcome="hit"),
            OutcomeRule(state="Punish", outcome="miss"),
        ],
    )
    outcome = trial_outcomes(bpod, meta)
    assert outcome.dtype.kind == "U"
    assert outcome.tolist() == ["hit", "miss", "hit", "unknown"]
    assert trial_outcomes(bpod, BpodMeta(path=["x"])).tolist() == ["unknown"] * 4


def _context(tmp_path: Path, config: Config | None = None, **metadata: object) -> SessionContext:
    workspace = Workspace(tmp_path)
    return SessionContext(
        workspace,
        "m1",
        "s1",
        config or Config(),
        SessionMetadata.model_validate(metadata),
        tuple(check_metadata_file(path)[0] for path in metadata_files(workspace.raw, "m1", "s1")),
    )


def _config(**sections: dict[str, object]) -> Config:
    return Config.model_validate(sections)


def _identifier(ctx: SessionContext) -> str:
    files = SessionFiles(ctx.raw_dir)
    return session_identifier(ctx, session_fingerprint(ctx.config, ctx.metadata, files))


def test_identifier_depends_only_on_settings_that_change_the_file(tmp_path: Path) -> None:
    base = _identifier(_context(tmp_path, identifier="m1-s1-rig2"))
    assert base.startswith("m1-s1-rig2-")
    assert len(base.rsplit("-", 1)[1]) == 16 and int(base.rsplit("-", 1)[1], 16) >= 0
    same = [
        _config(execution={"log_level": "DEBUG", "continue_on_error": False}),
        _config(finalization={"validate_nwb": False, "qc_report": False}),
        _config(ingestion={"video_decode_timeout_s": 10.0, "cache_video_probes": False}),
    ]
    for config in same:
        assert _identifier(_context(tmp_path, config, identifier="m1-s1-rig2")) == base
    different = [
        _config(synchronization={"trial_match_tolerance_s": 0.002}),
        _config(verification={"frame_pulse_policy": "repair"}),
        _config(assembly={"compression": "none"}),
    ]
    identifiers = {_identifier(_context(tmp_path, c, identifier="m1-s1-rig2")) for c in different}
    assert len(identifiers) == 3 and base not in identifiers
    # without a metadata identifier: subject-session
    assert _identifier(_context(tmp_path)).startswith("m1-s1-")
    # other metadata, other content
    assert _identifier(_context(tmp_path, identifier="m1-s1-rig2", lab="Other Lab")) != base


def _workspace_files(tmp_path: Path, root_toml: str, session_toml: str) -> Path:
    raw = tmp_path / "data/raw"
    (raw / "m1/s1").mkdir(parents=True)
    (raw / "metadata.toml").write_text(root_toml)
    (raw / "m1/subject.toml").write_text('[subject]\nspecies = "Mus musculus"\n')
    (raw / "m1/s1/session.toml").write_text(session_toml)
    return raw


def test_metadata_file_defining_names_the_file_whose_value_wins(tmp_path: Path) -> None:
    raw = _workspace_files(
        tmp_path,
        'lab = "L"\n[bpod]\npath = ["Bpod/*.mat"]\n[bpod.actions]\nReward = "valve"\n',
        'lab = "L2"\n',
    )
    ctx = _context(tmp_path)
    assert metadata_file_defining(ctx, "lab") == raw / "m1/s1/session.toml"
    assert metadata_file_defining(ctx, "bpod", "actions", "Reward") == raw / "metadata.toml"
    assert metadata_file_defining(ctx, "subject", "species") == raw / "m1/subject.toml"
    assert metadata_file_defining(ctx, "session_start_time") == raw / "m1/s1/session.toml"


def test_session_start_time_needs_a_utc_offset(tmp_path: Path) -> None:
    raw = _workspace_files(tmp_path, "session_start_time = 2026-05-01T10:00:00\n", "")
    aware = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert session_start_time(_context(tmp_path, session_start_time=aware)) == aware
    naive = _context(tmp_path, session_start_time=datetime(2026, 5, 1, 10, 0))
    with pytest.raises(MetadataError, match="has no UTC offset") as info:
        session_start_time(naive)
    assert info.value.path == raw / "metadata.toml"  # the file that sets it
    assert "2026-05-01T10:00:00+02:00" in (info.value.hint or "")
    with pytest.raises(MetadataError, match="key 'session_start_time' is missing") as info:
        session_start_time(_context(tmp_path))


def test_warnings_are_split_into_data_quality_and_other() -> None:
    result = SessionResult("m1", "s1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # repeated warnings are listed once
            warnings.warn("cam0: 3 frames dropped", DataQualityWarning, stacklevel=1)
            warnings.warn("a library changed its default", FutureWarning, stacklevel=1)
    collect_warnings(result, caught)
    assert result.warnings == ["cam0: 3 frames dropped"]
    assert len(result.other_warnings) == 1
    assert result.other_warnings[0].startswith(
        "FutureWarning: a library changed its default (test_context_and_assemble.py:"
    )
