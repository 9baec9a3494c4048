"""The NWB identifier comes from the session's content; sidecars land before the NWB file.

- Same data (a copied workspace) -> same identifier; other data with default settings and the
  same subject/session names -> another; status.json and provenance.json carry the digest.
- A process killed right before or right after the NWB file is renamed into place never leaves
  an NWB file without its sidecars.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2t_bkin.config import Config
from w2t_bkin.metadata import load_session_metadata
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.runtime.fingerprint import DigestCache
from w2t_bkin.session import process_session
from w2t_bkin.session.fingerprint import session_fingerprint
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.workspace.discovery import require_session_files
from w2t_bkin.workspace.layout import Workspace

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_trials=4, seed=5)
OUT = Path("data/processed/mouse01/ses01")
NWB = OUT / "sub-mouse01_ses-ses01.nwb"


def _digest(root: Path) -> str:
    raw = Workspace(root).raw
    metadata = load_session_metadata(raw, "mouse01", "ses01")
    files = require_session_files(raw / "mouse01" / "ses01", metadata)
    return session_fingerprint(Config(), metadata, files, DigestCache()).digest()


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("a") / "exp"
    write_experiment(root, SPEC)
    return root


def test_same_data_anywhere_same_fingerprint_other_data_another(
    experiment: Path, tmp_path: Path
) -> None:
    copied = tmp_path / "elsewhere" / "exp"
    shutil.copytree(experiment, copied)
    assert _digest(copied) == _digest(experiment)
    other = tmp_path / "other"
    write_experiment(other, ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_trials=4, seed=6))
    assert _digest(other) != _digest(experiment)
    # one pulse time changed by 1 ms in one input file
    ttl = copied / "data/raw/mouse01/ses01/TTLs/cue.txt"
    lines = ttl.read_text().splitlines()
    lines[0] = f"{float(lines[0]) + 0.001:.9f}"
    ttl.write_text("\n".join(lines) + "\n")
    assert _digest(copied) != _digest(experiment)


def test_the_nwb_identifier_is_the_content_digest_recorded_in_the_sidecars(
    experiment: Path, tmp_path: Path
) -> None:
    root = tmp_path / "exp"
    shutil.copytree(experiment, root)
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    status = json.loads((root / OUT / "status.json").read_text())
    provenance = json.loads((root / OUT / "provenance.json").read_text())
    digest = _digest(root)
    assert status["content_sha256"] == provenance["content_fingerprint"]["sha256"] == digest
    inputs = provenance["content_fingerprint"]["input_sha256"]
    assert inputs == {
        str(Path(entry["path"]).relative_to(root / "data/raw/mouse01/ses01")): entry["sha256"]
        for entry in provenance["inputs"]
    }
    base = load_session_metadata(Workspace(root).raw, "mouse01", "ses01").identifier
    assert base == "mouse01-ses01-synthetic"
    with read_nwb(root / NWB) as nwb:
        assert nwb.identifier == f"{base}-{digest[:16]}"
    nwb_entry = next(e for e in provenance["outputs"] if e["path"] == str(root / NWB))
    assert nwb_entry["size_bytes"] == (root / NWB).stat().st_size


def _run_killed(root: Path, when: str) -> int:
    """Process the session in a child that dies (SIGKILL-like ``os._exit``) around the rename."""
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        import w2t_bkin.nwb.io as io
        from w2t_bkin.session import process_session

        real = io.publish_file

        def dying_publish(tmp, path):
            if {when!r} == "before":
                os._exit(9)
            real(tmp, path)
            os._exit(9)

        io.publish_file = dying_publish
        process_session(Path({str(root)!r}), "mouse01", "ses01")
        """
    )
    return subprocess.run([sys.executable, "-c", code], timeout=300, check=False).returncode


def test_killed_right_after_the_rename_the_nwb_file_has_every_sidecar(
    experiment: Path, tmp_path: Path
) -> None:
    root = tmp_path / "exp"
    shutil.copytree(experiment, root)
    assert _run_killed(root, "after") == 9
    out = root / OUT
    assert (root / NWB).is_file()
    for name in ("alignment_stats.json", "validation.json", "provenance.json", "qc/report.html"):
        assert (out / name).is_file(), name
    status = json.loads((out / "status.json").read_text())
    assert (status["status"], status["outputs"]["nwb"]) == ("succeeded", str(root / NWB))
    provenance = json.loads((out / "provenance.json").read_text())
    assert str(root / NWB) in [entry["path"] for entry in provenance["outputs"]]


def test_killed_right_before_the_rename_no_nwb_file_and_the_next_run_cleans_up(
    experiment: Path, tmp_path: Path
) -> None:
    root = tmp_path / "exp"
    shutil.copytree(experiment, root)
    assert _run_killed(root, "before") == 9
    assert not (root / NWB).exists()
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    assert (root / NWB).is_file()
    assert not (root / OUT / "previous").exists()  # leftovers of a run without NWB: removed
    assert not list((root / OUT).glob(".*partial*"))
