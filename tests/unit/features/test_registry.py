"""The feature registry: queries, batched entries, lineage, progress, and unsafe filesystems."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from w2t_bkin.errors import RegistryError
from w2t_bkin.features.errors import RegistryUnsafeError
from w2t_bkin.features.registry import (
    EntryRow,
    FeatureRegistry,
    filesystem_type,
    journal_mode_for,
    read_progress,
)


def _mounts(tmp_path: Path, fs_type: str) -> Path:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path / 'share'} {fs_type} rw 0 0\n"
        "tmpfs /dev/shm tmpfs rw 0 0\n"
    )
    return mounts


def test_filesystem_type_uses_the_longest_mount_point(tmp_path: Path) -> None:
    mounts = _mounts(tmp_path, "nfs4")
    assert filesystem_type(tmp_path / "share" / "deep", mounts) == "nfs4"
    assert filesystem_type(tmp_path / "shared", mounts) == "ext4"  # a prefix is not a parent
    assert filesystem_type(tmp_path, tmp_path / "missing") is None


def test_mount_points_with_spaces_are_unescaped(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"d {str(tmp_path / 'my share').replace(' ', chr(92) + '040')} cifs rw 0 0\n")
    assert filesystem_type(tmp_path / "my share" / "x", mounts) == "cifs"


def test_registry_refuses_network_filesystems(tmp_path: Path) -> None:
    (tmp_path / "share").mkdir()
    with pytest.raises(RegistryUnsafeError, match="'nfs4' network filesystem") as info:
        FeatureRegistry(
            tmp_path / "share" / "registry.sqlite", mounts_file=_mounts(tmp_path, "nfs4")
        )
    assert "W2T_FEATURES_REGISTRY" in (info.value.hint or "")
    assert info.value.exit_code == 8
    assert not (tmp_path / "share" / "registry.sqlite").exists()


def test_registry_falls_back_to_rollback_journal_on_fat_disks(tmp_path: Path) -> None:
    (tmp_path / "share").mkdir()
    path = tmp_path / "share" / "registry.sqlite"
    with FeatureRegistry(path, mounts_file=_mounts(tmp_path, "exfat")) as registry:
        assert registry.journal_mode == "delete"
        registry.record_progress("job", "phase", name="fit")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert read_progress(path, "job")[0]["name"] == "fit"


def test_registry_uses_wal_on_local_disks(tmp_path: Path) -> None:
    with FeatureRegistry(tmp_path / "r.sqlite", mounts_file=_mounts(tmp_path, "ext4")) as reg:
        assert reg.journal_mode == "wal"
    assert journal_mode_for("ext4", tmp_path) == "wal" == journal_mode_for(None, tmp_path)


def test_readers_never_block_while_the_writer_holds_a_transaction(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    registry = FeatureRegistry(path)
    registry.record_progress("job", "epoch", 1, 3, metrics={"loss": 0.5})
    writer = sqlite3.connect(path, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO progress (job_id, kind, t) VALUES ('job', 'epoch', 'x')")
    got: list[list[dict]] = []
    reader = threading.Thread(target=lambda: got.append(read_progress(path, "job")))
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert [e["metrics"] for e in got[0]] == [{"loss": 0.5}]  # committed rows only
    writer.rollback()
    writer.close()
    registry.close()


def test_registry_queries(tmp_path: Path) -> None:
    reg = FeatureRegistry(tmp_path / "r.sqlite")
    reg.record_run_start("f", "0.1-a", "0.1", {"p": 1}, [("g", "s1"), ("g", "s2")], [])
    reg.record_entries(
        "f",
        "0.1-a",
        [
            EntryRow("g", "s1", "g__s1", "done", 5),
            EntryRow("g", "s2", "g__s2", "failed", 0, "", "boom"),
        ],
    )
    reg.record_run_end("f", "0.1-a", "partial")
    reg.record_run_start("f", "0.1-b", "0.1", {"p": 2}, [("g", "s1")], [("u", "1-x")])
    reg.record_entries("f", "0.1-b", [EntryRow("g", "s1", "g__s1", "empty")])
    reg.record_run_end("f", "0.1-b", "finished")
    reg.record_run_start("u", "1-x", "1", {}, [], [])
    assert reg.list_features() == ["f", "u"]
    assert reg.latest_run_id("f") == "0.1-b"  # finished wins
    assert reg.has_run("f", "0.1-a") and not reg.has_run("f", "0.1-z")
    assert reg.run_is_finished("f", "0.1-b") and not reg.run_is_finished("f", "0.1-a")
    assert reg.entry_count("f", "0.1-a") == 1
    assert reg.pending_entries("f", "0.1-a", {("g", "s1"), ("g", "s2"), ("g", "s3")}) == [
        ("g", "s2"),
        ("g", "s3"),
    ]
    assert reg.get_dependencies("f", "0.1-b") == [("u", "1-x")]
    runs = reg.list_runs("f").set_index("run_id")
    assert runs.loc["0.1-a", ["n_entries", "n_failed"]].tolist() == [1, 1]
    entries = reg.list_entries("f", "0.1-a")
    assert entries["error"].tolist() == ["", "boom"]
    assert reg.list_entries("f")["status"].tolist() == ["empty"]  # the latest run
    with pytest.raises(RegistryError, match="'nope' has no run"):
        reg.latest_run_id("nope")
    reg.close()


def test_index_appends_do_not_rewrite_earlier_rows(tmp_path: Path) -> None:
    reg = FeatureRegistry(tmp_path / "r.sqlite")
    reg.record_run_start("f", "0.1-a", "0.1", {}, [], [])
    reg.record_entries("f", "0.1-a", [EntryRow("g", f"s{i}", f"k{i}", "done") for i in range(3)])
    before = reg.list_entries("f", "0.1-a")["written_at"].tolist()
    reg.record_entries("f", "0.1-a", [EntryRow("g", "s9", "k9", "done")])
    after = reg.list_entries("f", "0.1-a")
    assert after["written_at"].tolist()[:3] == before and len(after) == 4
    reg.close()


def test_lineage_is_a_full_upstream_tree_with_a_cycle_guard(tmp_path: Path) -> None:
    reg = FeatureRegistry(tmp_path / "r.sqlite")
    reg.record_run_start("c", "1-c", "1", {}, [], [("b", "1-b"), ("a", "1-a")])
    reg.record_run_start("b", "1-b", "1", {}, [], [("a", "1-a")])
    reg.record_run_start("a", "1-a", "1", {}, [], [])
    leaf = {"feature": "a", "run_id": "1-a", "upstream": []}
    assert reg.lineage("c", "1-c") == {
        "feature": "c",
        "run_id": "1-c",
        "upstream": [leaf, {"feature": "b", "run_id": "1-b", "upstream": [leaf]}],
    }
    reg.record_run_start("a", "1-a", "1", {}, [], [("c", "1-c")])  # a hand-made cycle
    tree = reg.lineage("a", "1-a")
    assert tree["upstream"][0]["upstream"][1]["upstream"][0] == {
        "feature": "a",
        "run_id": "1-a",
        "upstream": [],
        "cycle": True,
    }
    reg.close()


def test_progress_events_are_keyed_not_overwritten(tmp_path: Path) -> None:
    reg = FeatureRegistry(tmp_path / "r.sqlite")
    reg.record_progress("job", "phase", name="load")
    reg.record_progress("job", "phase", name="train")
    reg.record_progress("other", "phase", name="x")
    events = read_progress(tmp_path / "r.sqlite", "job")
    assert [(e["kind"], e["name"]) for e in events] == [("phase", "load"), ("phase", "train")]
    reg.close()


def test_read_progress_names_a_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no feature registry at"):
        read_progress(tmp_path / "missing.sqlite", "job")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 10)
    with pytest.raises(RegistryError, match="is not a feature registry"):
        read_progress(tmp_path / "junk.sqlite", "job")
