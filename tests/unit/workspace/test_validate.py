"""``validate_workspace``: every metadata file of the hierarchy is checked once, with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace
from w2t_bkin.workspace.validate import validate_workspace


def test_root_metadata_env_file_is_checked_once_for_all_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo())
    add_subject(root, "m1", {"sex": "F"})
    add_session(root, "m1", "s1")
    add_session(root, "m1", "s2")
    env_file = tmp_path / "lab.toml"
    env_file.write_text('institution = "I"\nlabb = "L"\n')
    monkeypatch.setenv("W2T_ROOT_METADATA", str(env_file))

    problems = validate_workspace(root)

    assert [(p.where, p.message) for p in problems if p.severity == "error"] == [
        (str(env_file), f"{env_file}:2: labb: unknown key (did you mean 'lab'?)")
    ]
