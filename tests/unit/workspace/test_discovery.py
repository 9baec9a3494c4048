"""Discovery lists only sessions whose folder names are valid IDs; it refuses a broken
experiment-wide metadata file."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.errors import MetadataError
from w2t_bkin.workspace.discovery import (
    check_experiment_metadata,
    discover_sessions,
    invalid_session_folders,
    suggest_id,
)
from w2t_bkin.workspace.layout import open_workspace


def _session_folder(root: Path, subject: str, session: str) -> Path:
    folder = root / "data/raw" / subject / session
    folder.mkdir(parents=True)
    (folder / "session.toml").write_text("")
    return folder


def test_folders_with_invalid_names_are_not_sessions_but_are_listed_as_errors(root: Path) -> None:
    day2 = _session_folder(root, "m1", "day 2")
    dia3 = _session_folder(root, "m1", "día3")
    other = _session_folder(root, "m 2", "s1")
    (root / "data/raw/m1/notes").mkdir()  # no session.toml: not a session, not a problem
    workspace = open_workspace(root)

    assert [(r.subject, r.session) for r in discover_sessions(workspace)] == [("m1", "s1")]
    errors = invalid_session_folders(workspace)
    assert [(e.path, e.message.split(" is not")[0]) for e in errors] == [
        (other, "subject folder name 'm 2'"),
        (day2, "session folder name 'day 2'"),
        (dia3, "session folder name 'día3'"),
    ]
    assert all(e.exit_code == 2 for e in errors)
    assert errors[1].hint == (
        f"rename the folder {day2} to e.g. 'day-2' (the ID becomes part of the NWB file name)"
    )
    # the globs select among them as among sessions
    assert [e.path for e in invalid_session_folders(workspace, "m1", "da*")] == [day2]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("day 2", "day-2"),
        ("día3", "dia3"),
        ("ses 01 (redo)", "ses-01-redo"),
        ("ü", "u"),
        ("?", "S1"),
    ],
)
def test_suggest_id(name: str, suggestion: str) -> None:
    assert suggest_id(name) == suggestion


def test_a_broken_metadata_toml_is_an_error_naming_file_and_line(root: Path) -> None:
    metadata = root / "data/raw/metadata.toml"
    metadata.write_text(metadata.read_text() + "lab = Larkum\n")
    line = len(metadata.read_text().splitlines())
    with pytest.raises(MetadataError) as caught:
        check_experiment_metadata(open_workspace(root))
    assert caught.value.message == f"invalid TOML: Invalid value (at line {line}, column 7)"
    assert caught.value.path == metadata


def test_the_root_metadata_of_the_environment_is_checked_too(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('institution = "I"\n')
    monkeypatch.setenv("W2T_ROOT_METADATA", str(lab))
    check_experiment_metadata(open_workspace(root))  # valid: nothing raised
    lab.write_bytes(b"institution = '\xff'\n")
    with pytest.raises(MetadataError, match="not UTF-8 text") as caught:
        check_experiment_metadata(open_workspace(root))
    assert caught.value.path == lab
