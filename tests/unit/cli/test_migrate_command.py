"""`w2t-bkin data migrate` through the console entry point: output, exit codes, files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from w2t_bkin.cli import main

from ..workspace import _upstream_files as upstream


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich folds table cells to the console width; a wide one keeps each cell on one line.
    monkeypatch.setenv("COLUMNS", "400")


def upstream_workspace(root: Path) -> dict[Path, str]:
    files = {
        root / "configuration.toml": upstream.CONFIG_TEMPLATE,
        root / "data/raw/metadata.toml": upstream.METADATA_FULL,
        root / "data/raw/m1/subject.toml": upstream.SUBJECT_ADD_SUBJECT,
        root / "data/raw/m1/s1/session.toml": upstream.SESSION_LEGACY,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


def test_dry_run_prints_the_tables_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = upstream_workspace(tmp_path)
    assert main(["data", "migrate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'configuration.toml'} (configuration, 0.0.14 `data init` template)" in out
    assert (
        f"{tmp_path / 'data/raw/m1/subject.toml'} (subject metadata, already this tool's "
        "schema): nothing to convert"
    ) in out
    lines = out.splitlines()
    (row,) = [line for line in lines if "│ bpod.trial_types[1].description" in line]
    assert [cell.strip() for cell in row.strip("│").split("│")] == [
        "bpod.trial_types[1].description",
        "bpod.trial_type_names.3",
        '"Microstim trials"',
        '"Microstim trials"',
        "moved",
        "the description names the trial type in the NWB trials table",
    ]
    (row,) = [line for line in lines if "│ acquisition.concat_strategy" in line]
    assert [cell.strip() for cell in row.strip("│").split("│")][:5] == [
        "acquisition.concat_strategy",
        "-",
        '"ffconcat"',
        "-",
        "dropped",
    ]
    assert "note pose.cameras.camera_0 has no paths" in out
    assert lines[-1] == (
        "dry run: nothing written; pass --write to convert 3 file(s) (each original is kept as "
        "<file>.upstream.bak)"
    )
    for path, text in files.items():
        assert path.read_text() == text
        assert not path.with_name(path.name + ".upstream.bak").exists()


def test_write_converts_keeps_backups_and_refuses_a_second_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = upstream_workspace(tmp_path)
    assert main(["data", "migrate", str(tmp_path), "--write"]) == 0
    out = capsys.readouterr().out
    session = tmp_path / "data/raw/m1/s1/session.toml"
    backup = session.with_name("session.toml.upstream.bak")
    assert f"written {session} (backup: {backup})" in out
    assert backup.read_text() == files[session]
    assert tomllib.loads(session.read_text())["bpod"]["trial_type_names"] == {
        "1": "Active whisker touch trials",
        "3": "Microstim trials",
    }
    # the migrated workspace passes our loaders through the real commands
    assert main(["data", "migrate", str(tmp_path)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    # an upstream file again, its backup still there: refused without a traceback
    session.write_text(files[session])
    assert main(["data", "migrate", str(session), "--write"]) == 3
    err = capsys.readouterr().err
    assert f"backup {backup} exists already" in err and "Traceback" not in err
    assert session.read_text() == files[session]


def test_a_file_that_cannot_be_migrated_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "session.toml"
    path.write_text(upstream.SESSION_LEGACY + '\n[subject]\nspcies = "Mus musculus"\n')
    assert main(["data", "migrate", str(path), "--write"]) == 2
    captured = capsys.readouterr()
    assert "error: cannot migrate 1 file(s); nothing was written:" in captured.err
    line = len(upstream.SESSION_LEGACY.splitlines()) + 3
    assert f"{path}:{line}: subject.spcies: unknown key (did you mean 'species'?)" in captured.err
    assert "Traceback" not in captured.err
    assert path.read_text().startswith(upstream.SESSION_LEGACY)
    assert not path.with_name("session.toml.upstream.bak").exists()


def test_missing_target_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "migrate", str(tmp_path / "nowhere")]) == 3
    assert f"error: not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err
