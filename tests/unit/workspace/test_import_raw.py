"""``plan_import``: how raw files are categorised."""

from __future__ import annotations

from pathlib import Path

from w2t_bkin.workspace.create import ExperimentInfo, add_session, add_subject, init_workspace
from w2t_bkin.workspace.import_raw import plan_import


def test_only_folders_inside_the_source_count_as_ttl_words(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    init_workspace(root, ExperimentInfo())
    add_subject(root, "m1", {})
    add_session(root, "m1", "s1")
    source = tmp_path / "sync_rig_frames"  # TTL words in the source's own path do not count
    (source / "pulses").mkdir(parents=True)
    for name in ("notes.txt", "pulses/cam.txt", "trial_frame.csv"):
        (source / name).write_text("0.1\n")

    plan = plan_import(source, root, "m1", "s1")

    assert [(i.category, i.target.as_posix()) for i in plan.items] == [
        ("ttl", "TTLs/cam.txt"),
        ("ttl", "TTLs/trial_frame.csv"),
    ]
    assert plan.skipped == (source / "notes.txt",)
