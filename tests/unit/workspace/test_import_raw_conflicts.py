"""import-raw never writes what ``run`` refuses, and keeps the user's ``session.toml``.

Conflicts mirror run's refusals (one pose file per video, pose files named after their video,
a frame clock per camera, Bpod state names); the Bpod sync rule is proposed with the real names
as comments; session.toml edits keep comments and layout byte for byte; a copied workspace's
dangling links are reported once, with the fix.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import WorkspaceError
from w2t_bkin.session.preflight import preflight_workspace
from w2t_bkin.testing.bpod import simulate_bpod_trials, write_bpod_mat
from w2t_bkin.testing.pose import write_sleap_analysis_h5
from w2t_bkin.workspace.import_raw import apply_import, check_import, plan_import
from w2t_bkin.workspace.validate import validate_workspace

from ._raw_files import DLC, touch, write_dlc

BPOD_STATES = (
    "A2L_Audio, Grace, ITI, Microstim, Punish, Reward, W2T_Audio, WaitForCue, WaitForResponse"
)


def _sleap(path: Path) -> None:
    positions = np.zeros((3, 1, 2, 2), np.float32)
    confidence = np.ones((3, 1, 2), np.float32)
    write_sleap_analysis_h5(path, positions, confidence, ("a", "b"), ("t0",), ((0, 1),))


def _bpod(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # trial types 1 and 2; the simulated protocol also defines type 3's state (Microstim)
    return write_bpod_mat(path, simulate_bpod_trials(6, trial_types=(1, 2), seed=1))


# --------------------------------------------------------------------------------------------
# pose files run would refuse


def test_slp_and_its_analysis_h5_for_one_video_conflict_until_one_is_excluded(
    root: Path, tmp_path: Path
) -> None:
    source = touch(tmp_path / "rig", "cam1.mp4", "ttl/cam1_frame.txt")
    (source / "cam1.slp").write_bytes(b"slp")
    _sleap(source / "cam1.analysis.h5")
    session_toml = root / "data/raw/m1/s1/session.toml"
    before = session_toml.read_bytes()

    plan = plan_import(source, root, "m1", "s1")

    assert plan.conflicts == (
        "camera 'cam1': several pose files for one video (cam1.mp4: cam1.analysis.h5, "
        "cam1.slp); run takes exactly one per video and does not guess which: keep one kind, "
        "e.g. pass --exclude '*.analysis.h5' or --exclude '*.slp'",
    )
    with pytest.raises(WorkspaceError, match=r"1 conflict\(s\); nothing was linked"):
        apply_import(plan)
    assert session_toml.read_bytes() == before
    assert not (root / "data/raw/m1/s1/Video/cam1").exists()

    kept = plan_import(source, root, "m1", "s1", exclude=["*.slp"])
    assert kept.conflicts == ()
    assert [i.source.name for i in kept.items if i.category == "pose"] == ["cam1.analysis.h5"]
    assert kept.skipped == (source / "cam1.slp",)
    assert "--exclude '*.slp': 1 file(s) left out" in kept.notes


def test_raw_and_filtered_dlc_outputs_of_each_chunk_conflict(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "top_000.mp4", "top_001.mp4", "ttl/top_frame.txt")
    for chunk in ("top_000", "top_001"):
        write_dlc(source / f"{chunk}{DLC}.h5")
        write_dlc(source / f"{chunk}{DLC}_filtered.h5")

    plan = plan_import(source, root, "m1", "s1")

    assert plan.conflicts == (
        f"camera 'top': several pose files for one video (top_000.mp4: top_000{DLC}.h5, "
        f"top_000{DLC}_filtered.h5; top_001.mp4: top_001{DLC}.h5, top_001{DLC}_filtered.h5); "
        "run takes exactly one per video and does not guess which: keep one kind, e.g. pass "
        f"--exclude '*{DLC}.h5' or --exclude '*{DLC}_filtered.h5'",
    )
    filtered = plan_import(source, root, "m1", "s1", exclude=[f"*{DLC}.h5"])
    assert filtered.conflicts == ()
    assert [i.source.name for i in filtered.items if i.category == "pose"] == [
        f"top_000{DLC}_filtered.h5",
        f"top_001{DLC}_filtered.h5",
    ]


def test_a_pose_file_named_after_no_video_conflicts(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "cam1.mp4", "ttl/cam1_frame.txt")
    write_dlc(source / f"cam1{DLC}.h5")
    write_dlc(source / f"cam1old{DLC}.h5")  # joins cam1 by name, but run pairs it with no video

    plan = plan_import(source, root, "m1", "s1")

    assert plan.conflicts == (
        f"camera 'cam1': pose file(s) cam1old{DLC}.h5 match none of its videos (cam1.mp4); run "
        "pairs each pose file with the video whose stem starts its name: rename them after "
        f"their video, or pass --exclude 'cam1old{DLC}.h5'",
    )


# --------------------------------------------------------------------------------------------
# Bpod: state names, unreadable files, the sync rule proposed with the real names


def test_missing_sync_rule_is_proposed_with_the_real_names_and_written_as_comments(
    root: Path, tmp_path: Path
) -> None:
    source = touch(tmp_path / "rig", "cam0.avi", "ttl/cam0_frame.txt", "ttl/cue.txt")
    _bpod(source / "bpod/m1_task.mat")
    session_toml = root / "data/raw/m1/s1/session.toml"

    plan = plan_import(source, root, "m1", "s1")

    assert plan.conflicts == ()
    assert plan.todo == (
        "Bpod files are imported but no [[bpod.sync.trial_types]] rule says which Bpod state "
        "emits the sync pulse on which TTL channel, so run would refuse the session (trial "
        "types in the Bpod files: 1, 2); fill in the rules below and uncomment them (--confirm "
        "adds them to session.toml as comments only)",
    )
    # ttl_cam0_frame clocks cam0's frames: only the other channel is offered as sync_ttl
    rule = (
        "# [[bpod.sync.trial_types]]   # which Bpod state emits the sync pulse, per trial type\n"
        "# trial_type = {}\n"
        f'# sync_signal = "<one of: {BPOD_STATES}>"\n'
        '# sync_ttl = "<one of: ttl_cue>"\n'
    )
    assert plan.snippet == rule.format(1) + "#\n" + rule.format(2)

    before = session_toml.read_text()
    apply_import(plan)
    after = session_toml.read_text()
    assert after.endswith(
        "\n# Proposed by `w2t-bkin data import-raw`: run needs one rule per Bpod trial type.\n"
        "# Replace each <...> by one of the names listed, then uncomment the rules.\n"
        + plan.snippet
    )
    assert after.startswith(before)  # appended: nothing the user wrote moved
    data = tomllib.loads(after)
    assert data["bpod"] == {"path": ["Bpod/m1_task.mat"]}  # the rules are comments only

    # proposed once: a re-import links nothing and leaves the file byte-identical
    again = plan_import(source, root, "m1", "s1")
    assert again.snippet == plan.snippet
    unchanged = session_toml.read_bytes()
    assert apply_import(again) == []
    assert session_toml.read_bytes() == unchanged


def test_declared_sync_rules_are_checked_against_the_bpod_state_names(
    root: Path, tmp_path: Path
) -> None:
    source = touch(tmp_path / "rig", "ttl/cue.txt")
    _bpod(source / "m1_task.mat")
    metadata = root / "data/raw/metadata.toml"
    metadata.write_text(
        metadata.read_text()
        + '[bpod]\npath = []\nactions = { reward = "valve" }\n'
        + '[[bpod.sync.trial_types]]\ntrial_type = 1\nsync_signal = "W2T_audio"\n'
        + 'sync_ttl = "ttl_cue"\n'
    )

    plan = plan_import(source, root, "m1", "s1")

    assert (plan.todo, plan.snippet) == ((), "")  # a rule exists
    assert plan.conflicts == (
        "the metadata names Bpod state(s) that the Bpod file(s) m1_task.mat do not have, so run "
        "would refuse them: bpod.sync.trial_types (trial_type 1) sync_signal = 'W2T_audio'; "
        "did you mean 'W2T_Audio'?; bpod.actions key = 'reward'; did you mean 'Reward'?; use "
        f"the exact state names (states: {BPOD_STATES})",
    )


def test_an_unreadable_bpod_file_conflicts(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "ttl/cue.txt")
    (source / "session1.mat").write_bytes(b"not a MATLAB file")

    plan = plan_import(source, root, "m1", "s1")

    assert len(plan.conflicts) == 1
    assert plan.conflicts[0].startswith(
        "Bpod file(s) session1.mat cannot be read, so run would fail on them: "
    )
    assert plan.conflicts[0].endswith("; leave them out with --exclude")
    assert plan_import(source, root, "m1", "s1", exclude=["*.mat"]).conflicts == ()


# --------------------------------------------------------------------------------------------
# session.toml: the user's text survives


def test_session_toml_edits_keep_the_users_comments_and_layout(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "cam0_000.avi", "ttl/cam0_frame.txt")
    session_toml = root / "data/raw/m1/s1/session.toml"
    apply_import(plan_import(source, root, "m1", "s1"))
    # the user rewrites the file in their own style, comments and all
    header = session_toml.read_text().split("[[cameras]]")[0]
    annotated = (
        "# Session of 2 Jan, rig B  \n"
        + header
        + "[[cameras]]\n"
        + 'id = "cam0"   # the top camera\n'
        + "fps = 30.0  # nominal\n"
        + "paths = [\n"
        + '    "Video/cam0/cam0_000.avi", # first chunk\n'
        + "]\n"
        + "ttl_id = 'ttl_cam0_frame'\n\n"
        + "[[TTLs]]\n"
        + 'id = "ttl_cam0_frame"\n'
        + 'paths = [ "TTLs/cam0_frame.txt" ]  # DAQ line 0\n'
        + "# end of my notes\n"
    )
    session_toml.write_text(annotated)

    # nothing new: byte-identical, as often as it is run
    for _ in range(2):
        plan = plan_import(source, root, "m1", "s1")
        assert check_import(plan)[0] == annotated
        assert apply_import(plan) == []
        assert session_toml.read_text() == annotated

    # a new chunk and a new channel: the chunk joins its array in place, every comment stays
    touch(source, "cam0_001.avi", "ttl/cue.txt")
    apply_import(plan_import(source, root, "m1", "s1"))
    expected = annotated.replace(
        '    "Video/cam0/cam0_000.avi", # first chunk\n',
        '    "Video/cam0/cam0_000.avi", # first chunk\n    "Video/cam0/cam0_001.avi",\n',
    )
    expected += '[[TTLs]]\nid = "ttl_cue"\npaths = ["TTLs/cue.txt"]\n'
    assert session_toml.read_text() == expected


def test_a_crlf_session_toml_is_left_byte_identical(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "cam0.avi", "ttl/cam0_frame.txt")
    session_toml = root / "data/raw/m1/s1/session.toml"
    apply_import(plan_import(source, root, "m1", "s1"))
    crlf = session_toml.read_bytes().replace(b"\n", b"\r\n")
    session_toml.write_bytes(crlf)
    assert apply_import(plan_import(source, root, "m1", "s1")) == []
    assert session_toml.read_bytes() == crlf


# --------------------------------------------------------------------------------------------
# a workspace copied elsewhere: dangling relative links


def _copied_workspace(root: Path, tmp_path: Path) -> tuple[Path, Path]:
    source = touch(tmp_path / "rig", "cam0.avi", "ttl/cam0_frame.txt")
    apply_import(plan_import(source, root, "m1", "s1"))
    copy = tmp_path / "elsewhere/deeper/exp"
    shutil.copytree(root, copy, symlinks=True)  # relative links now point nowhere
    assert not (copy / "data/raw/m1/s1/Video/cam0/cam0.avi").exists()
    return source, copy


def test_reimport_into_a_copied_workspace_reports_dangling_links_once_and_relinks(
    root: Path, tmp_path: Path
) -> None:
    source, copy = _copied_workspace(root, tmp_path)
    session = copy / "data/raw/m1/s1"
    link = os.readlink(session / "Video/cam0/cam0.avi")

    plan = plan_import(source, copy, "m1", "s1")

    assert plan.conflicts == ()
    dangling = [note for note in plan.notes if "do not exist" in note]
    assert dangling == [
        f"2 link(s) in {session} point to files that do not exist (TTLs/cam0_frame.txt -> "
        f"{os.readlink(session / 'TTLs/cam0_frame.txt')}, Video/cam0/cam0.avi -> {link}); the "
        "workspace was probably copied or moved without the raw files its relative links point "
        "to; --confirm links them again to this import's files"
    ]
    toml = (session / "session.toml").read_bytes()
    assert sorted(p.name for p in apply_import(plan)) == ["cam0.avi", "cam0_frame.txt"]
    assert (session / "Video/cam0/cam0.avi").read_text() == "0.1\n"
    assert (session / "session.toml").read_bytes() == toml
    assert [p for p in validate_workspace(copy) if p.severity == "error"] == []


def test_dangling_links_this_import_does_not_provide_name_the_fix(
    root: Path, tmp_path: Path
) -> None:
    _, copy = _copied_workspace(root, tmp_path)
    other = touch(tmp_path / "other", "ttl/cue.txt")
    session = copy / "data/raw/m1/s1"

    plan = plan_import(other, copy, "m1", "s1")

    assert [note for note in plan.notes if "do not exist" in note] == [
        f"2 link(s) in {session} point to files that do not exist (TTLs/cam0_frame.txt -> "
        f"{os.readlink(session / 'TTLs/cam0_frame.txt')}, Video/cam0/cam0.avi -> "
        f"{os.readlink(session / 'Video/cam0/cam0.avi')}); the workspace was probably copied "
        "or moved without the raw files its relative links point to; this import does not "
        "provide them: import their raw folder again (w2t-bkin data import-raw SOURCE ... "
        "--confirm), or import with --copy so the workspace holds the files"
    ]


def test_validate_reports_each_dangling_link_of_a_copied_workspace_once(
    root: Path, tmp_path: Path
) -> None:
    _, copy = _copied_workspace(root, tmp_path)
    messages = [p.message for p in preflight_workspace(copy) if p.severity == "error"]
    for name in ("cam0.avi", "cam0_frame.txt"):
        about = [m for m in messages if name in m]
        assert len(about) == 1, about
        assert "import-raw" in about[0] and "--copy" in about[0]
