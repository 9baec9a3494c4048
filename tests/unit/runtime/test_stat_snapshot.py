"""Stat snapshots: equal exactly while nothing recorded was rewritten, added, removed or moved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from w2t_bkin.runtime.stat_snapshot import (
    SNAPSHOT_VERSION,
    StatSnapshot,
    file_stat,
    snapshot_matches,
    take_snapshot,
    walk_dirs,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``base/session/{a.txt, sub/b.txt, sub/deeper/}`` and ``base/absent.toml`` (missing)."""
    base = tmp_path / "base"
    (base / "session/sub/deeper").mkdir(parents=True)
    (base / "session/a.txt").write_text("0123456789")
    (base / "session/sub/b.txt").write_text("abc")
    return base


def _snapshot(base: Path) -> StatSnapshot:
    return take_snapshot(
        base,
        [base / "session/a.txt", base / "session/sub/b.txt", base / "absent.toml"],
        [base / "session"],
        {"config": "c.toml"},
    )


def _later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_records_files_absent_ones_and_every_folder_relative_to_the_base(tree: Path) -> None:
    snapshot = _snapshot(tree)
    a = os.stat(tree / "session/a.txt")
    assert snapshot.files == {
        "session/a.txt": (10, a.st_mtime_ns, a.st_dev, a.st_ino),
        "session/sub/b.txt": file_stat(tree / "session/sub/b.txt"),
        "absent.toml": None,
    }
    assert sorted(snapshot.dirs) == ["session", "session/sub", "session/sub/deeper"]
    assert snapshot.walk_roots == ("session",)
    assert snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_json_round_trip_and_anything_else_is_no_snapshot(tree: Path) -> None:
    snapshot = _snapshot(tree)
    text = json.dumps(snapshot.to_dict())
    assert StatSnapshot.from_dict(json.loads(text)) == snapshot
    assert json.loads(text)["version"] == SNAPSHOT_VERSION
    broken = {**json.loads(text), "files": {"a": [1, 2]}}
    for value in (None, {}, {**json.loads(text), "version": SNAPSHOT_VERSION + 1}, broken, "x"):
        assert StatSnapshot.from_dict(value) is None


def test_a_rewrite_at_the_same_size_mismatches(tree: Path) -> None:
    snapshot = _snapshot(tree)
    (tree / "session/a.txt").write_text("9876543210")
    _later(tree / "session/a.txt")
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_a_file_replaced_by_a_copy_with_the_same_mtime_mismatches(tree: Path) -> None:
    snapshot = _snapshot(tree)
    b = tree / "session/sub/b.txt"
    st = b.stat()
    b.unlink()
    b.write_text("abc")
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    # size and mtime equal; the inode (and the folder's mtime) differ
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_a_file_added_deep_down_or_an_absent_file_appearing_mismatches(tree: Path) -> None:
    snapshot = _snapshot(tree)
    (tree / "session/sub/deeper/new.txt").write_text("")
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})
    snapshot = _snapshot(tree)
    (tree / "absent.toml").write_text("")
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_a_new_folder_and_another_context_mismatch(tree: Path) -> None:
    snapshot = _snapshot(tree)
    assert not snapshot_matches(snapshot, tree, {"config": "other.toml"})
    assert not snapshot_matches(snapshot, tree, {})
    sub = tree / "session/sub"
    st = sub.stat()
    (sub / "new").mkdir()
    os.utime(sub, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the parent's mtime put back
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_symlinked_folders_are_followed_and_loops_walked_once(tree: Path) -> None:
    outside = tree.parent / "rig"
    (outside / "cam").mkdir(parents=True)
    (tree / "session/video").symlink_to(outside, target_is_directory=True)
    (tree / "session/sub/loop").symlink_to("..", target_is_directory=True)
    (tree / "session/dangling").symlink_to(tree / "nowhere")
    dirs = walk_dirs([tree / "session"], tree)
    assert sorted(dirs) == [
        "session",
        "session/sub",
        "session/sub/deeper",
        "session/video",
        "session/video/cam",
    ]
    assert dirs["session/video/cam"] == file_stat(outside / "cam")
    snapshot = _snapshot(tree)
    assert snapshot_matches(snapshot, tree, {"config": "c.toml"})
    (outside / "cam/new.mp4").write_text("")  # inside the link's target
    assert not snapshot_matches(snapshot, tree, {"config": "c.toml"})


def test_a_moved_base_keeps_its_snapshot(tree: Path) -> None:
    snapshot = _snapshot(tree)
    moved = tree.parent / "moved"
    tree.rename(moved)  # same file system: same inodes and mtimes
    assert snapshot_matches(snapshot, moved, {"config": "c.toml"})


def test_file_stat_follows_links_and_is_none_when_missing(tree: Path) -> None:
    link = tree / "link.txt"
    link.symlink_to(tree / "session/a.txt")
    assert file_stat(link) == file_stat(tree / "session/a.txt")
    assert file_stat(tree / "missing") is None
    assert file_stat(tree / "session/a.txt/below") is None
    (tree / "session/a.txt").unlink()
    assert file_stat(link) is None  # dangling
