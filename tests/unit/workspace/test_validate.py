"""``validate_workspace``: every metadata file of the hierarchy is checked once, with its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from w2t_bkin.errors import IngestError, MetadataError
from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace
from w2t_bkin.workspace.validate import Problem, check_workspace, validate_workspace


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


def test_session_checks_are_the_preflights_not_the_workspace_checks(tmp_path: Path) -> None:
    # DANDI fields, frame clocks and globs are checked by session.preflight with run's texts
    # (tests/integration/test_preflight.py); the workspace part checks the metadata files.
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F"})  # no age, no birth date
    toml = root / "data/raw/m1/s1/session.toml"
    toml.write_text(toml.read_text() + '[[cameras]]\nid = "top"\npaths = ["Video/*.avi"]\n')
    check = check_workspace(root)
    assert check.problems == []
    assert [(r.subject, r.session) for r in check.sessions] == [("m1", "s1")]


def test_a_session_whose_metadata_file_is_broken_is_selected_but_not_checked_further(
    tmp_path: Path,
) -> None:
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F", "age": "P90D"})
    add_session(root, "m1", "s2")
    toml = root / "data/raw/m1/s1/session.toml"
    toml.write_text(toml.read_text() + "fps = 3\n")
    line = len(toml.read_text().splitlines())
    check = check_workspace(root)
    assert [(p.where, p.message, p.exit_code) for p in check.problems] == [
        (str(toml), f"{toml}:{line}: fps: unknown key (did you mean 'pose'?)", 2)
    ]
    assert [r.session for r in check.selected] == ["s1", "s2"]
    assert [r.session for r in check.sessions] == ["s2"]


def test_invalid_session_folder_names_are_errors_naming_the_folder_and_a_valid_name(
    tmp_path: Path,
) -> None:
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F", "age": "P90D"})
    subject = root / "data/raw/m1"
    shutil.copytree(subject / "s1", subject / "día3")
    shutil.copytree(subject, root / "data/raw/m 2")  # the subject's name is the problem here
    problems = check_workspace(root).problems
    assert [(p.where, p.message, p.hint, p.exit_code) for p in problems] == [
        (
            str(root / "data/raw/m 2/día3"),
            "subject folder name 'm 2' is not a valid subject ID (only ASCII letters, digits, "
            "'_' and '-' are allowed), so this session is not discovered or processed",
            f"rename the folder {root / 'data/raw/m 2'} to e.g. 'm-2' (the ID becomes part of "
            "the NWB file name)",
            2,
        ),
        (
            str(root / "data/raw/m 2/s1"),
            "subject folder name 'm 2' is not a valid subject ID (only ASCII letters, digits, "
            "'_' and '-' are allowed), so this session is not discovered or processed",
            f"rename the folder {root / 'data/raw/m 2'} to e.g. 'm-2' (the ID becomes part of "
            "the NWB file name)",
            2,
        ),
        (
            str(subject / "día3"),
            "session folder name 'día3' is not a valid session ID (only ASCII letters, digits, "
            "'_' and '-' are allowed), so this session is not discovered or processed",
            f"rename the folder {subject / 'día3'} to e.g. 'dia3' (the ID becomes part of the "
            "NWB file name)",
            2,
        ),
    ]


def test_a_config_file_given_is_checked_instead_of_the_workspaces(tmp_path: Path) -> None:
    root = _session(tmp_path, {"species": "Mus musculus", "sex": "F", "age": "P90D"})
    missing = tmp_path / "strict.toml"
    [problem] = check_workspace(root, config_path=missing).problems
    assert (problem.where, problem.message, problem.hint, problem.exit_code) == (
        str(missing),
        f"configuration file not found: {missing}",
        "check --config",
        2,
    )


def test_problem_from_error_shows_the_path_once() -> None:
    error = IngestError("no timestamps found", hint="re-export", path="/d/cue.txt")
    assert Problem.from_error("m1/s1", error) == Problem(
        "m1/s1", "/d/cue.txt: no timestamps found", "error", "re-export", 4
    )
    assert Problem.from_error("/d/cue.txt", error).message == "no timestamps found"
    named = MetadataError("/d/session.toml: key 'x' is missing", path="/d/session.toml")
    assert Problem.from_error("m1/s1", named).message == "/d/session.toml: key 'x' is missing"
    assert Problem.from_error("m1/s1", error).render() == (
        "error m1/s1: /d/cue.txt: no timestamps found\n  hint: re-export"
    )


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
