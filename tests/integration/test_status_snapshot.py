"""`w2t-bkin status` from the recorded stat snapshot: the same answer as reading everything.

One synthetic session is processed once; every test changes a copy of it in one way (an input's
content at the same size, a file added to a globbed or symlinked folder, metadata at each level,
the configuration, an output, the recorded package version) and checks that the snapshot path
either stands aside (the content decides, with its reasons) or gives exactly the full decision.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.batch import run_batch
from w2t_bkin.cli import main
from w2t_bkin.cli.status_cmd import session_state
from w2t_bkin.runtime.fingerprint import file_digest
from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path
from w2t_bkin.session.cache import (
    CacheDecision,
    cache_key,
    recorded_decision,
    session_cache_state,
)
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(n_sessions=1, duration_s=1.0, rate_hz=20.0, n_trials=4, seed=5)
KEY = "mouse01/ses01"
SESSION = Path("data/raw/mouse01/ses01")
NWB = "sub-mouse01_ses-ses01.nwb"
JSON = ("--format", "json")
CACHED = CacheDecision("cached", ())


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("status") / "exp"
    write_experiment(root, SPEC)
    batch = run_batch(root, invocation=["test"])
    assert [r.status for r in batch.results] == ["succeeded"]
    return root


@pytest.fixture
def root(processed: Path, workspace_copy: Callable[[Path], Path]) -> Path:
    """A copy whose snapshot is current: a copy has new inodes, so a cached rerun records a
    fresh snapshot (and must find the copy unchanged)."""
    copy = workspace_copy(processed)
    _rerun_cached(copy)
    return copy


def _rerun_cached(root: Path) -> None:
    batch = run_batch(root, invocation=["again"])
    assert [r.status for r in batch.results] == ["cached"]


def _latest(root: Path) -> TaskRecord:
    latest = Registry(registry_path(root)).latest_task(KEY)
    assert latest is not None
    return latest


def _fast(root: Path, config: Path | None = None) -> CacheDecision | None:
    return recorded_decision(root, "mouse01", "ses01", config, _latest(root))


def _states(root: Path, config: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``status`` of the session with the snapshot path, and from the content alone."""
    fast = session_state(root, "mouse01", "ses01", config)
    full = session_state(root, "mouse01", "ses01", config, fast=False)
    return fast, full


def _expect(root: Path, state: str, reasons: list[str], config: Path | None = None) -> None:
    fast, full = _states(root, config)
    assert fast == full
    assert (full["state"], full["reasons"]) == (state, reasons)


def _rewrite_same_size(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same length) and move the mtime on by a second, as a later
    write would (a write within the same clock tick is the digest cache's blind spot too)."""
    assert len(old) == len(new)
    st = path.stat()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_an_unchanged_session_is_decided_from_its_snapshot(root: Path) -> None:
    assert _fast(root) == CACHED
    _expect(root, "cached", [])


def test_status_after_a_run_loads_no_schema_pydantic_or_numpy(root: Path) -> None:
    code = (
        "import json, sys; from pathlib import Path\n"
        "from w2t_bkin.cli.status_cmd import session_state\n"
        f"row = session_state(Path({str(root)!r}), 'mouse01', 'ses01', None)\n"
        "heavy = ('numpy', 'pydantic', 'w2t_bkin.metadata', 'w2t_bkin.config', 'pandas')\n"
        "print(json.dumps([row['state'], sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["cached", []]


def test_the_status_command_imports_no_schema_or_numpy(root: Path) -> None:
    # Typer (>= 0.20) coerces every command's parameters with pydantic, so the command process
    # imports pydantic itself; what this project loads must add neither schemas nor NumPy.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "w2t_bkin", "status", str(root), *JSON],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [(r["session"], r["state"]) for r in json.loads(done.stdout)] == [(KEY, "cached")]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    loaded = {"numpy", "w2t_bkin.metadata", "w2t_bkin.config", "w2t_bkin.session.context"}
    assert imported & loaded == set()
    assert "w2t_bkin.session.cache" in imported


def test_an_input_rewritten_at_the_same_size_is_decided_from_its_content(root: Path) -> None:
    cue = root / SESSION / "TTLs/cue.txt"
    first = cue.read_text().splitlines()[0]
    digit = first[-1]
    _rewrite_same_size(cue, first, first[:-1] + ("1" if digit != "1" else "2"))
    assert _fast(root) is None
    _expect(root, "stale", ["input changed: TTLs/cue.txt"])


def test_a_touched_input_is_read_again_and_then_trusted_again(root: Path) -> None:
    cue = root / SESSION / "TTLs/cue.txt"
    st = cue.stat()
    os.utime(cue, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert _fast(root) is None
    _expect(root, "cached", [])
    _rerun_cached(root)  # records a snapshot of the touched file
    assert _fast(root) == CACHED


def test_a_new_file_matching_a_glob_is_an_added_input(root: Path) -> None:
    video = root / SESSION / "Video/cam0"
    shutil.copy(video / "cam0_chunk00.mp4", video / "cam0_chunk01.mp4")
    assert _fast(root) is None
    _expect(root, "stale", ["input added: Video/cam0/cam0_chunk01.mp4"])


@pytest.mark.parametrize(
    ("path", "old", "new", "reason"),
    [
        (
            "data/raw/metadata.toml",
            '"Synthetic Lab"',
            '"Synthetic Lbb"',
            "metadata lab: 'Synthetic Lab' → 'Synthetic Lbb'",
        ),
        (
            "data/raw/mouse01/subject.toml",
            'sex = "F"',
            'sex = "M"',
            "metadata subject.sex: 'F' → 'M'",
        ),
        (
            "data/raw/mouse01/ses01/session.toml",
            "ses01-synthetic",
            "ses01-synthetiK",
            "metadata identifier: 'mouse01-ses01-synthetic' → 'mouse01-ses01-synthetiK'",
        ),
    ],
    ids=["experiment", "subject", "session"],
)
def test_metadata_changed_at_each_level_names_the_key(
    root: Path, path: str, old: str, new: str, reason: str
) -> None:
    _rewrite_same_size(root / path, old, new)
    assert _fast(root) is None
    _expect(root, "stale", [reason])


def test_a_metadata_file_that_appears_is_noticed(root: Path) -> None:
    subject = root / "data/raw/mouse01/subject.toml"
    text = subject.read_text()
    subject.unlink()
    assert _fast(root) is None
    fast, full = _states(root)
    assert fast == full and full["state"] == "stale"
    subject.write_text(text)
    assert _fast(root) is None  # a new file (new inode) where the old one was
    _expect(root, "cached", [])


def test_a_changed_content_setting_and_another_config_file(root: Path, tmp_path: Path) -> None:
    config = root / "configuration.toml"
    other = tmp_path / "other.toml"
    shutil.copy(config, other)
    # The same settings from another file: not the recorded file, so decided from content.
    assert _fast(root, other) is None
    _expect(root, "cached", [], config=other)
    _rewrite_same_size(config, "trial_match_tolerance_s = 0.005", "trial_match_tolerance_s = 0.006")
    assert _fast(root) is None
    _expect(root, "stale", ["config synchronization.trial_match_tolerance_s: 0.005 → 0.006"])


def test_a_symlinked_input_and_a_symlinked_folder_are_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "rig"
    outside.mkdir()
    cue = root / SESSION / "TTLs/cue.txt"
    shutil.move(cue, outside / "cue.txt")
    cue.symlink_to(outside / "cue.txt")
    shutil.move(root / SESSION / "Video/cam1", outside / "cam1")
    (root / SESSION / "Video/cam1").symlink_to(outside / "cam1", target_is_directory=True)
    _rerun_cached(root)  # same content through links: cached, with a snapshot of the targets
    assert _fast(root) == CACHED

    first = (outside / "cue.txt").read_text().splitlines()[0]
    _rewrite_same_size(outside / "cue.txt", first, first[:-1] + ("1" if first[-1] != "1" else "2"))
    assert _fast(root) is None
    _expect(root, "stale", ["input changed: TTLs/cue.txt"])

    shutil.copy(outside / "cam1/cam1_chunk00.mp4", outside / "cam1/cam1_chunk01.mp4")
    assert _fast(root) is None
    _expect(
        root,
        "stale",
        ["input changed: TTLs/cue.txt", "input added: Video/cam1/cam1_chunk01.mp4"],
    )


def test_a_symlink_loop_in_the_session_folder_is_walked_once(root: Path) -> None:
    (root / SESSION / "Video/loop").symlink_to("..", target_is_directory=True)
    _rerun_cached(root)
    snapshot = _latest(root).fingerprint["stat_snapshot"]
    folders = (".", "Bpod", "Pose", "Pose/cam0", "Pose/cam1", "TTLs", "Video", "Video/cam0")
    assert sorted(snapshot["dirs"]) == sorted(
        (SESSION / d).as_posix() for d in (*folders, "Video/cam1")
    )
    assert _fast(root) == CACHED


def test_a_deleted_or_altered_output_is_decided_from_the_snapshot(root: Path) -> None:
    processed = root / "data/processed/mouse01/ses01"
    (processed / NWB).unlink()
    provenance = processed / "provenance.json"
    provenance.write_text(provenance.read_text() + " ")
    expected = ["output missing: " + NWB, "output changed: provenance.json (checksum differs)"]
    fast = _fast(root)
    assert fast is not None and fast.state == "stale"
    assert sorted(fast.reasons) == sorted(expected)
    fast_row, full_row = _states(root)
    assert fast_row == full_row and sorted(full_row["reasons"]) == sorted(expected)


def test_a_run_of_another_package_version_is_decided_from_content(root: Path) -> None:
    latest = _latest(root)
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["old"], {})
    registry.record_task(
        run_id,
        dataclasses.replace(
            latest, run_id="", fingerprint={**latest.fingerprint, "w2t_bkin_version": "0.0.9"}
        ),
    )
    registry.finish_run(run_id, "succeeded")
    from w2t_bkin import __version__

    assert _fast(root) is None
    _expect(root, "stale", [f"package version changed: 0.0.9 → {__version__}"])


def test_a_snapshot_taken_before_a_concurrent_write_never_vouches_for_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input is rewritten after the snapshot and after its digest was taken (a writer racing
    the decision): the recorded digest is of the old content, the snapshot of the old file."""
    import w2t_bkin.session.fingerprint as fingerprint_module

    cue = root / SESSION / "TTLs/cue.txt"
    first = cue.read_text().splitlines()[0]

    def digest_then_write(path: Any, cache: Any = None) -> str:
        digest = file_digest(path, cache)
        if Path(path).name == "cue.txt":
            _rewrite_same_size(cue, first, first[:-1] + ("1" if first[-1] != "1" else "2"))
        return digest

    monkeypatch.setattr(fingerprint_module, "file_digest", digest_then_write)
    state = session_cache_state(root, "mouse01", "ses01")
    monkeypatch.undo()
    latest = _latest(root)
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["racing"], {})
    registry.record_task(
        run_id,
        dataclasses.replace(
            latest,
            status="done",
            run_id="",
            cache_key=cache_key(state.fingerprint),
            fingerprint=state.record(),
        ),
    )
    registry.finish_run(run_id, "succeeded")
    assert _fast(root) is None
    _expect(root, "stale", ["input changed: TTLs/cue.txt"])


def test_the_command_gives_the_same_rows_with_and_without_the_snapshot(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rows(*options: str) -> list[dict[str, Any]]:
        assert main(["status", str(root), *JSON, *options]) == 0
        return list(json.loads(capsys.readouterr().out))

    assert rows() == rows("--no-snapshot")
    assert [(r["state"], r["reasons"]) for r in rows()] == [("cached", [])]
    (root / "data/processed/mouse01/ses01" / NWB).unlink()
    (root / SESSION / "TTLs/outcome.txt").write_text("")
    assert rows() == rows("--no-snapshot")
    assert [(r["state"], r["reasons"]) for r in rows()] == [
        ("stale", ["input changed: TTLs/outcome.txt", "output missing: " + NWB])
    ]


def test_another_root_metadata_file_in_the_environment_is_decided_from_content(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('lab = "Synthetic Lab"\n')  # what metadata.toml says: merged, nothing changes
    monkeypatch.setenv("W2T_ROOT_METADATA", str(lab))
    assert _fast(root) is None
    _expect(root, "cached", [])
    _rerun_cached(root)
    assert _fast(root) == CACHED
    lab.write_text('lab = "Another Lab"\n')
    assert _fast(root) is None
    monkeypatch.delenv("W2T_ROOT_METADATA")
    assert _fast(root) is None
    _expect(root, "cached", [])
