"""A session whose metadata declares no data fails at once instead of 'succeeding' empty."""

from __future__ import annotations

import json
from pathlib import Path

from w2t_bkin.cli import main
from w2t_bkin.workspace.create import ExperimentInfo, init_workspace


def test_a_session_with_nothing_declared_fails_in_configuration(
    tmp_path: Path, capsys: object
) -> None:
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo("Lab", "Inst", ("Doe, Jane",), "P1", "an experiment"))
    session_dir = root / "data/raw/mouse01/day1"
    session_dir.mkdir(parents=True)
    (root / "data/raw/mouse01/subject.toml").write_text(
        '[subject]\nsubject_id = "mouse01"\nspecies = "Mus musculus"\nsex = "F"\nage = "P90D"\n'
    )
    (session_dir / "session.toml").write_text(
        'session_id = "day1"\nsession_description = "a session"\n'
        "session_start_time = 2026-11-21T13:45:00+01:00\n"
    )

    code = main(["run", str(root)])

    assert code == 2
    out = capsys.readouterr()  # type: ignore[attr-defined]
    session_toml = root / "data/raw/mouse01/day1/session.toml"
    assert (
        "failed mouse01/day1 in phase configuration: configuration failed: session mouse01/day1 "
        "declares no data: no [[cameras]], [[TTLs]], [bpod] or [pose.cameras.<id>] in "
    ) in out.err.replace("\n", " ")
    assert str(session_toml) in out.err.replace("\n", "")
    assert "w2t-bkin data import-raw RIG_FOLDER --experiment" in out.err.replace("\n", " ")
    assert "Traceback" not in out.err + out.out
    processed = root / "data/processed/mouse01/day1"
    assert not (processed / "sub-mouse01_ses-day1.nwb").exists()
    status = json.loads((processed / "status.json").read_text())
    assert (status["status"], status["failed_phase"], status["exit_code"]) == (
        "failed",
        "configuration",
        2,
    )
