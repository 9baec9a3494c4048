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


def _session(tmp_path: Path, subject_fields: dict[str, str]) -> Path:
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo())
    add_subject(root, "m1", subject_fields)
    add_session(root, "m1", "s1")
    return root


def test_dandi_required_fields_and_frame_clocks_are_checked_like_run(tmp_path: Path) -> None:
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F"})  # no age, no birth date
    session = root / "data/raw/m1/s1"
    (session / "Video/top.avi").write_bytes(b"x")
    toml = session / "session.toml"
    toml.write_text(toml.read_text() + '[[cameras]]\nid = "top"\npaths = ["Video/*.avi"]\n')

    problems = validate_workspace(root)

    assert [(p.where, p.message) for p in problems if p.severity == "error"] == [
        (
            "m1/s1",
            "metadata lacks fields DANDI requires: subject.age (or subject.date_of_birth) (add "
            'them to subject.toml / session.toml, e.g. sex = "F", age = "P90D"; `run` stops '
            "here)",
        ),
        (
            "m1/s1",
            "camera 'top' has no ttl_id and no frame_clock (set ttl_id to its frame TTL "
            "channel, or declare frame_clock = 'video' or 'rate' (with fps) when no TTL exists)",
        ),
    ]


def test_empty_selection_is_an_error_naming_what_exists(tmp_path: Path) -> None:
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F", "age": "P90D"})
    assert validate_workspace(root) == []
    [problem] = validate_workspace(root, "nobody")
    assert (problem.severity, problem.message) == (
        "error",
        "no session matches --subject 'nobody' --session '*' (existing: m1/s1)",
    )


def test_empty_workspace_is_only_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo())
    assert [(p.severity, p.message) for p in validate_workspace(root)] == [
        ("warning", "no sessions yet (add one with `w2t-bkin data add-session`)")
    ]
