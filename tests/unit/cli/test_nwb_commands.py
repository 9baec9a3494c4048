"""``w2t-bkin validate`` on several files and ``--output``; real NWB files written by assembly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.nwb.assembly import write_nwb

from ..nwb import _builders as b


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("validate")
    return write_nwb(b.session(root, videos=False), root / "good.nwb")


def test_every_file_is_checked_and_reported(
    nwb_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.nwb"
    not_nwb = tmp_path / "notes.nwb"
    not_nwb.write_text("not HDF5")
    output = tmp_path / "findings.json"

    code = main(["validate", str(missing), str(nwb_file), str(not_nwb), "--output", str(output)])

    assert code == 4  # a file could not be read; the others were still validated
    err = capsys.readouterr().err
    assert f"NWB file not found: {missing}" in err
    assert f"{not_nwb} is not an HDF5 file" in err
    entries = json.loads(output.read_text())
    assert [e["path"] for e in entries] == [str(missing), str(nwb_file), str(not_nwb)]
    assert entries[0] == {
        "path": str(missing),
        "error": f"NWB file not found: {missing}",
        "is_clean": False,
    }
    assert entries[1]["is_clean"] and entries[1]["config"] == "dandi"
    assert "is not an HDF5 file" in entries[2]["error"]


def test_output_into_a_missing_folder_is_refused(
    nwb_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "no_such_folder" / "findings.json"
    assert main(["validate", str(nwb_file), "--output", str(output)]) == 6
    err = capsys.readouterr().err
    assert f"--output {output}: folder {output.parent} does not exist" in err
    assert "create the folder first" in err
    assert not output.parent.exists()


def test_clean_file_exits_zero(nwb_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "findings.json"
    assert main(["validate", str(nwb_file), "--output", str(output)]) == 0
    assert json.loads(output.read_text())[0]["exit_code"] == 0
