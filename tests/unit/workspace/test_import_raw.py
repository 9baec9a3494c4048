"""``plan_import`` / ``apply_import``: categories, camera ids, frame TTLs, pose sources."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import WorkspaceError
from w2t_bkin.testing.pose import write_sleap_analysis_h5
from w2t_bkin.workspace.import_raw import (
    apply_import,
    camera_id_from_stem,
    plan_import,
    pose_source_of,
)

from ._raw_files import DLC, touch, write_dlc


def test_only_folders_inside_the_source_count_as_ttl_words(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "sync_rig_frames"  # TTL words in the source's own path do not count
    touch(source, "notes.txt", "pulses/cam.txt", "trial_frame.csv")

    plan = plan_import(source, root, "m1", "s1")

    assert [(i.category, i.target.as_posix()) for i in plan.items] == [
        ("ttl", "TTLs/cam.txt"),
        ("ttl", "TTLs/trial_frame.csv"),
    ]
    assert plan.skipped == (source / "notes.txt",)


@pytest.mark.parametrize(
    ("stem", "camera"),
    [
        ("cam0_chunk00", "cam0"),
        ("cam0_chunk01", "cam0"),
        ("top_000", "top"),
        ("side-1", "side"),
        ("top_part2", "top"),
        ("cam0_2026-11-21_13-45-00", "cam0"),
        ("cam_1", "cam_1"),  # the number of a bare "cam" is the camera's, not a chunk's
        ("camera-2_003", "camera-2"),
        ("m3v1mp4", "m3v1mp4"),
        ("0001", "0001"),
        ("top view (1)", "top_view"),
    ],
)
def test_camera_id_is_the_stem_without_chunk_suffixes(stem: str, camera: str) -> None:
    assert camera_id_from_stem(stem) == camera


def test_unrelated_videos_stay_separate_cameras(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "top.mp4", "side.mp4", "cam_1.avi", "cam_2.avi")
    source = touch(source, "front_000.mp4", "front_001.mp4", "front_010.mp4", "front_002.mp4")

    plan = plan_import(source, root, "m1", "s1")

    cameras: dict[str, list[str]] = {}
    for item in plan.items:
        cameras.setdefault(item.entry_id, []).append(item.target.as_posix())
    assert cameras == {
        "cam_1": ["Video/cam_1/cam_1.avi"],
        "cam_2": ["Video/cam_2/cam_2.avi"],
        "front": [f"Video/front/front_{k}.mp4" for k in ("000", "001", "002", "010")],
        "side": ["Video/side/side.mp4"],
        "top": ["Video/top/top.mp4"],
    }


def _pose_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    positions = np.zeros((3, 1, 2, 2), np.float32)
    confidence = np.ones((3, 1, 2), np.float32)
    write_dlc(folder / f"top_000{DLC}.h5")
    write_sleap_analysis_h5(
        folder / "side.analysis.h5", positions, confidence, ("a", "b"), ("t0",), ((0, 1),)
    )
    write_sleap_analysis_h5(
        folder / "export.h5", positions, confidence, ("a", "b"), ("t0",), ((0, 1),)
    )
    (folder / "side.mp4.predictions.slp").write_bytes(b"slp")
    header = "scorer,{0},{0},{0}\nbodyparts,a,a,a\ncoords,x,y,likelihood\n0,1,2,0.9\n"
    (folder / "top_001.csv").write_text(header.format("heatmap_tracker"))
    (folder / "front_filtered.csv").write_text(header.format("DLC_resnet50_x"))
    (folder / "frame_times.csv").write_text("0.1\n0.2\n")
    # Lightning Pose labelled data: DLC layout, but not named after its scorer
    (folder / "CollectedData.csv").write_text(header.format("rick"))
    (folder / "side.analysis.csv").write_text(
        "track,frame_idx,instance.score,a.x,a.y,a.score\n,0,0.9,1,2,0.8\n"
    )
    return folder


def test_pose_source_from_name_or_content(tmp_path: Path) -> None:
    folder = _pose_files(tmp_path / "pose")
    assert {path.name: pose_source_of(path) for path in sorted(folder.iterdir())} == {
        f"top_000{DLC}.h5": "dlc",
        "side.analysis.h5": "sleap",
        "export.h5": "sleap",  # no telling name: the SLEAP datasets say it
        "side.mp4.predictions.slp": "sleap",
        "top_001.csv": "lightning_pose",  # scorer row names a Lightning Pose model
        "front_filtered.csv": "dlc",
        "frame_times.csv": None,
        "CollectedData.csv": "lightning_pose",  # as read_pose reads it
        "side.analysis.csv": "sleap",  # SLEAP analysis CSV columns
    }


def test_pose_files_join_the_camera_whose_video_names_them(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "top_000.mp4", "top_001.mp4", "side.mp4", "cam1.mp4")
    write_dlc(source / f"top_001{DLC}.h5")  # "top_001" is a video stem: camera "top"
    write_dlc(source / f"cam10{DLC}.h5")
    (source / "side.mp4.predictions.slp").write_bytes(b"slp")

    clocks = {camera: "video" for camera in ("top", "side", "cam1", "cam10")}
    plan = plan_import(source, root, "m1", "s1", frame_clocks=clocks)

    pose = {i.source.name: (i.entry_id, i.pose_source) for i in plan.items if i.pose_source}
    assert pose == {
        f"top_001{DLC}.h5": ("top", "dlc"),
        f"cam10{DLC}.h5": ("cam10", "dlc"),  # cam1's video does not own cam10's output
        "side.mp4.predictions.slp": ("side", "sleap"),
    }
    # run reads one pose file per chunk: top_000 has none
    assert plan.conflicts == (
        "camera 'top': no pose file for video chunk(s) top_000.mp4; run needs one per chunk: "
        "add their pose outputs to the import folder, or leave the camera's pose files out "
        "with --exclude",
    )


def test_two_pose_sources_for_one_camera_conflict_until_one_is_chosen(
    root: Path, tmp_path: Path
) -> None:
    source = touch(tmp_path / "rig", "cam1.mp4")
    write_dlc(source / f"cam1{DLC}.h5")
    (source / "cam1.analysis.h5").write_bytes(b"not read: the name says SLEAP")

    plan = plan_import(source, root, "m1", "s1", frame_clocks={"cam1": "video"})
    assert plan.conflicts == (
        f"camera 'cam1' has pose files from 2 sources (dlc: cam1{DLC}.h5; sleap: "
        "cam1.analysis.h5); one camera takes one source: pass --pose-source cam1=dlc or "
        "--pose-source cam1=sleap",
    )
    toml = (root / "data/raw/m1/s1/session.toml").read_text()
    with pytest.raises(WorkspaceError, match="1 conflict\\(s\\); nothing was linked"):
        apply_import(plan)
    assert (root / "data/raw/m1/s1/session.toml").read_text() == toml
    assert not (root / "data/raw/m1/s1/Video/cam1").exists()

    chosen = plan_import(source, root, "m1", "s1", {"cam1": "dlc"}, frame_clocks={"cam1": "video"})
    assert chosen.conflicts == ()
    assert [i.source.name for i in chosen.items if i.pose_source] == [f"cam1{DLC}.h5"]
    assert chosen.skipped == (source / "cam1.analysis.h5",)
    typo = plan_import(
        source,
        root,
        "m1",
        "s1",
        {"cam1": "deeplabcut", "cam9": "dlc"},
        frame_clocks={"cam1": "video"},
    )
    assert len(typo.conflicts) == 3  # unknown source, camera without such files, still 2


def test_frame_ttls_link_to_the_camera_their_name_contains(root: Path, tmp_path: Path) -> None:
    source = touch(
        tmp_path / "rig",
        "cam0.avi",
        "cam0_top.avi",
        "ttl/cam0_frame.txt",
        "ttl/cam0_top_strobe.txt",  # names cam0 and cam0_top: the longer id is meant
        "ttl/cue.txt",
    )
    plan = plan_import(source, root, "m1", "s1")
    assert dict(plan.frame_ttls) == {"cam0": "ttl_cam0_frame", "cam0_top": "ttl_cam0_top_strobe"}
    assert sorted(i.entry_id for i in plan.items if i.category == "ttl") == [
        "ttl_cam0_frame",
        "ttl_cam0_top_strobe",
        "ttl_cue",
    ]


def test_a_frame_ttl_naming_no_camera_is_linked_only_when_unambiguous(
    root: Path, tmp_path: Path
) -> None:
    one = touch(tmp_path / "one", "top.avi", "ttl/frame.txt")
    assert dict(plan_import(one, root, "m1", "s1").frame_ttls) == {"top": "ttl_frame"}
    two = touch(tmp_path / "two", "top.avi", "side.avi", "ttl/frame.txt")
    plan = plan_import(two, root, "m1", "s1")
    assert plan.frame_ttls == ()  # which camera's pulses? not guessed
    assert (
        "TTL 'ttl_frame' names no camera and 2 camera(s) have no frame TTL: which pulses clock "
        "which camera is not guessed"
    ) in plan.notes
    assert [c.split(":")[0] for c in plan.conflicts] == [
        "camera 'side' has no frame clock",
        "camera 'top' has no frame clock",
    ]
    assert plan.conflicts[1] == (
        "camera 'top' has no frame clock: no TTL file names it and the metadata declares "
        "neither ttl_id nor frame_clock, so run would refuse it; pass --frame-clock top=TTL_ID "
        "for the channel with one pulse per frame (channels: ttl_frame), or --frame-clock "
        "top=video to time frames by the video file (not aligned to the DAQ)"
    )
    chosen = plan_import(two, root, "m1", "s1", frame_clocks={"top": "ttl_frame", "side": "video"})
    assert (chosen.conflicts, chosen.frame_ttls, chosen.video_clocks) == (
        (),
        (("top", "ttl_frame"),),
        ("side",),
    )
    wrong = plan_import(two, root, "m1", "s1", frame_clocks={"top": "rate", "cam9": "video"})
    assert wrong.conflicts[:2] == (
        "--frame-clock cam9=video: no camera 'cam9' in this import (cameras: side, top)",
        "--frame-clock top=rate: not a TTL channel id of this session nor 'video' (use one of: "
        "ttl_frame, video); 'rate' needs fps: declare frame_clock = 'rate' and fps in "
        "session.toml",
    )


def test_files_that_would_share_a_target_conflict(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "day1/ttl/cue.txt", "day2/ttl/cue.txt")
    plan = plan_import(source, root, "m1", "s1")
    assert plan.conflicts == (
        f"2 files would be linked to the same TTLs/cue.txt: {source / 'day1/ttl/cue.txt'}, "
        f"{source / 'day2/ttl/cue.txt'} (import them into separate sessions)",
    )


def test_a_failure_while_linking_removes_what_was_created(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "cam0_000.avi", "cam0_001.avi", "ttl/cam0_frame.txt")
    session = root / "data/raw/m1/s1"
    (session / "TTLs").rmdir()
    (session / "TTLs").write_text("a file where the TTLs folder should be")
    toml = (session / "session.toml").read_text()
    plan = plan_import(source, root, "m1", "s1")

    with pytest.raises(WorkspaceError, match="import failed, nothing was kept"):
        apply_import(plan)

    assert not (session / "Video/cam0").exists()  # links and the folder made for them are gone
    assert (session / "Video").is_dir()  # the folder that was there before stays
    assert (session / "session.toml").read_text() == toml


def test_existing_target_that_is_another_file_is_refused_before_linking(
    root: Path, tmp_path: Path
) -> None:
    source = touch(tmp_path / "rig", "cam0_000.avi", "ttl/cam0_frame.txt")
    session = root / "data/raw/m1/s1"
    (session / "TTLs/cam0_frame.txt").write_text("other pulses\n")

    with pytest.raises(WorkspaceError, match="targets already exist and are different files"):
        apply_import(plan_import(source, root, "m1", "s1"))
    assert not (session / "Video/cam0").exists()


def test_reimport_keeps_links_and_user_keys(root: Path, tmp_path: Path) -> None:
    source = touch(tmp_path / "rig", "cam0_1.avi", "cam0_10.avi", "cam0_2.avi")
    session = root / "data/raw/m1/s1"
    clock = {"cam0": "video"}
    assert len(apply_import(plan_import(source, root, "m1", "s1", frame_clocks=clock))) == 3
    toml = session / "session.toml"
    toml.write_text(toml.read_text().replace('id = "cam0"', 'id = "cam0"\nfps = 30.0'))
    # the declared frame_clock is enough now: no --frame-clock needed again
    assert apply_import(plan_import(source, root, "m1", "s1")) == []  # nothing new to link
    text = toml.read_text()
    assert "fps = 30.0" in text
    # declared in the order run reads the chunks: natural order
    assert text.index("cam0_2.avi") < text.index("cam0_10.avi")
    assert os.readlink(session / "Video/cam0/cam0_1.avi") == os.path.relpath(
        source / "cam0_1.avi", session / "Video/cam0"
    )
