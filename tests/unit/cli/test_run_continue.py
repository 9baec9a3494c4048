"""``w2t-bkin run`` and ``execution.continue_on_error``, on a real two-session synthetic workspace.

ses01 is made to fail in discovery (its Bpod folder is moved away); ses02 is intact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.cli.run_cmd import run_sessions
from w2t_bkin.errors import ConfigError
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(n_sessions=2, duration_s=2.0, rate_hz=20.0, n_keypoints=2)
PROCESSED = Path("data/processed/mouse01")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two sessions; the first cannot be processed (exit code 4, discovery phase)."""
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    bpod = root / "data/raw/mouse01/ses01/Bpod"
    bpod.rename(bpod.with_name("Bpod_moved"))
    return root


def _set_continue(config: Path, value: bool) -> None:
    text = config.read_text()
    assert text.count("continue_on_error = true") == 1  # the template's default
    config.write_text(
        text.replace("continue_on_error = true", f"continue_on_error = {str(value).lower()}")
    )


def _nwb(root: Path, session: str) -> Path:
    return root / PROCESSED / session / f"sub-mouse01_ses-{session}.nwb"


def _row(stdout: str, session: str) -> str:
    # The summary table comes last; a row's first line holds its session and status (the NWB
    # path folds onto the lines below, which may contain the session's name too).
    rows = [line for line in stdout.splitlines() if line.startswith(f"│ mouse01/{session} ")]
    assert rows, stdout
    return rows[-1]


def test_continue_on_error_true_processes_the_rest_and_exits_non_zero(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(root)]) == 4

    out = capsys.readouterr()
    assert "failed mouse01/ses01 in phase discovery" in out.err
    assert "skipped" not in out.out + out.err
    assert "succeeded" in _row(out.out, "ses02")
    assert "failed" in _row(out.out, "ses01")
    assert _nwb(root, "ses02").is_file()
    assert not _nwb(root, "ses01").exists()


def test_continue_on_error_false_skips_the_remaining_sessions(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_continue(root / "configuration.toml", False)

    assert main(["run", str(root)]) == 4

    out = capsys.readouterr()
    assert "failed mouse01/ses01 in phase discovery" in out.err
    config = root / "configuration.toml"
    assert (
        "stopping after mouse01/ses01 failed: execution.continue_on_error is false in "
        f"{config}; 1 remaining session(s) skipped"
    ) in out.err
    assert "skipped mouse01/ses02" in out.err
    assert "processing mouse01/ses02" not in out.out
    assert "skipped" in _row(out.out, "ses02")
    # not processed at all: no NWB, not even a processed folder or pipeline.log
    assert not (root / PROCESSED / "ses02").exists()


def test_skipped_results_say_why(root: Path) -> None:
    _set_continue(root / "configuration.toml", False)

    results = run_sessions(root, "*", "*", None)

    assert [(r.session, r.status, r.ok) for r in results] == [
        ("ses01", "failed", False),
        ("ses02", "skipped", False),
    ]
    skipped = results[1]
    assert skipped.error == (
        "not processed: mouse01/ses01 failed and execution.continue_on_error is false in "
        f"{root / 'configuration.toml'}"
    )
    assert skipped.outputs == {} and skipped.failed_phase is None


def test_config_option_overrides_the_workspace_policy(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the workspace says continue (default); --config says stop, and wins
    override = tmp_path / "strict.toml"
    override.write_text("schema_version = 1\n[execution]\ncontinue_on_error = false\n")

    assert main(["run", str(root), "--config", str(override)]) == 4

    out = capsys.readouterr()
    assert f"execution.continue_on_error is false in {override}" in out.err
    assert "skipped" in _row(out.out, "ses02")
    assert not _nwb(root, "ses02").exists()


def test_a_failure_of_the_last_session_skips_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_continue(root / "configuration.toml", False)

    assert main(["run", str(root), "--session", "ses01"]) == 4

    out = capsys.readouterr()
    assert "skipped" not in out.out + out.err
    assert "stopping" not in out.err


def test_invalid_configuration_stops_before_any_session(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = root / "configuration.toml"
    config.write_text(config.read_text().replace("continue_on_error = true", "continue_on = 1"))

    with pytest.raises(ConfigError, match="continue_on"):
        run_sessions(root, "*", "*", None)
    assert main(["run", str(root)]) == 2

    out = capsys.readouterr()
    assert "continue_on" in out.err
    assert "processing" not in out.out
    assert not (root / PROCESSED).exists()
