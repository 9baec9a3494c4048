"""``ingest_zip``: validate everything before writing, report every problem, place atomically."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from w2t_bkin.jobs.errors import ArchiveError, JobCollisionError
from w2t_bkin.jobs.ingest import IngestLimits, ingest_zip, sanitize_job_name
from w2t_bkin.testing.video import write_video

from .conftest import drain, status_of


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    return write_video(path, 4, 30.0).read_bytes()


def _zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            zf.writestr(info, data)
    return path


def _nothing_written(data_dir: Path) -> bool:
    in_dir = data_dir / "in"
    return not (in_dir.exists() and any(in_dir.iterdir()))


def test_folders_become_jobs_and_each_gets_a_ready_marker(
    tmp_path: Path, video_bytes: bytes
) -> None:
    archive = _zip(
        tmp_path / "a.zip",
        {
            "mouse 1/trial1.mp4": video_bytes,
            "mouse 1/trial2.MP4": video_bytes,
            "solo.mp4": video_bytes,
            "__MACOSX/mouse 1/._trial1.mp4": b"\x00\x05",
            "mouse 1/.DS_Store": b"x",
        },
    )
    data_dir = tmp_path / "d"

    result = ingest_zip(archive, data_dir)

    assert [(j.job, j.videos) for j in result.jobs] == [
        ("mouse_1", ("trial1.mp4", "trial2.MP4")),
        ("solo", ("solo.mp4",)),
    ]
    assert result.skipped == ("__MACOSX/mouse 1/._trial1.mp4", "mouse 1/.DS_Store")
    assert (data_dir / "in" / "mouse_1" / ".ready").is_file()
    assert (data_dir / "in" / "mouse_1" / "trial1.mp4").read_bytes() == video_bytes
    assert not any((data_dir / ".staging").iterdir())  # staging is cleaned up
    assert sorted(drain(data_dir).completed) == ["mouse_1", "solo"]


def test_job_option_puts_every_video_in_one_job(tmp_path: Path, video_bytes: bytes) -> None:
    archive = _zip(tmp_path / "a.zip", {"x/a.mp4": video_bytes, "y/b.avi": video_bytes})
    result = ingest_zip(archive, tmp_path / "d", job="all-in-one")
    assert [(j.job, j.videos) for j in result.jobs] == [("all-in-one", ("a.mp4", "b.avi"))]


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("../escape.mp4", "climbs out of the archive"),
        ("jobs/../../escape.mp4", "climbs out of the archive"),
        ("..\\escape.mp4", "climbs out of the archive"),
        ("/etc/cron.d/evil.mp4", "is an absolute path"),
        ("C:/Windows/evil.mp4", "is an absolute path"),
    ],
)
def test_path_traversal_and_absolute_paths_are_refused_before_writing(
    tmp_path: Path, video_bytes: bytes, member: str, why: str
) -> None:
    archive = _zip(tmp_path / "a.zip", {"ok/v.mp4": video_bytes, member: video_bytes})
    with pytest.raises(ArchiveError, match=why) as info:
        ingest_zip(archive, tmp_path / "d")
    assert info.value.exit_code == 4 and repr(member) in info.value.message
    assert _nothing_written(tmp_path / "d") and not (tmp_path / "escape.mp4").exists()


def test_symlink_members_are_refused(tmp_path: Path, video_bytes: bytes) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("job/v.mp4", video_bytes)
        link = zipfile.ZipInfo("job/link.mp4")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(ArchiveError, match=r"'job/link\.mp4' is a symbolic link"):
        ingest_zip(archive, tmp_path / "d")
    assert _nothing_written(tmp_path / "d")


def test_zip_bomb_is_refused_by_its_expansion_ratio(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "bomb.zip", {"job/v.mp4": bytes(20 << 20)}, compression=zipfile.ZIP_DEFLATED
    )
    assert archive.stat().st_size < 100_000  # 20 MiB of zeros in a few KiB
    with pytest.raises(ArchiveError, match=r"zip bomb.*'job/v.mp4' expands \d+x") as info:
        ingest_zip(archive, tmp_path / "d")
    assert "at most 100x" in info.value.message
    assert _nothing_written(tmp_path / "d")


def test_archive_over_the_total_size_limit_is_refused(tmp_path: Path, video_bytes: bytes) -> None:
    archive = _zip(tmp_path / "a.zip", {"a/v.mp4": video_bytes, "b/v.mp4": video_bytes})
    limit = len(video_bytes) + 1
    with pytest.raises(ArchiveError, match=f"over the limit of {limit} bytes"):
        ingest_zip(archive, tmp_path / "d", limits=IngestLimits(max_total_bytes=limit))
    assert _nothing_written(tmp_path / "d")


def test_member_whose_header_lies_about_its_size_is_refused(
    tmp_path: Path, video_bytes: bytes
) -> None:
    archive = _zip(tmp_path / "a.zip", {"job/v.mp4": video_bytes})
    raw = bytearray(archive.read_bytes())
    # Shrink the declared size in the central directory: the header lies about the content.
    declared = len(video_bytes).to_bytes(4, "little")
    at = raw.rindex(b"PK\x01\x02")
    field = raw.index(declared, at)
    raw[field : field + 4] = (len(video_bytes) // 2).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match=r"corrupt \(Bad CRC-32 for file 'job/v\.mp4'\)"):
        ingest_zip(archive, tmp_path / "d")
    assert _nothing_written(tmp_path / "d")
    assert not any((tmp_path / "d" / ".staging").iterdir())


def test_empty_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="holds no videos \\(it is empty\\)"):
        ingest_zip(_zip(tmp_path / "a.zip", {}), tmp_path / "d")
    only_litter = _zip(tmp_path / "b.zip", {"__MACOSX/x": b"", "dir/": b""})
    with pytest.raises(ArchiveError, match="only 1 system file"):
        ingest_zip(only_litter, tmp_path / "d")


def test_members_that_are_not_videos_are_all_listed(tmp_path: Path, video_bytes: bytes) -> None:
    archive = _zip(
        tmp_path / "a.zip",
        {"j/v.mp4": video_bytes, "j/notes.txt": b"x", "j/run.sh": b"rm -rf /", "README": b""},
    )
    with pytest.raises(ArchiveError, match="3 member\\(s\\) are not videos") as info:
        ingest_zip(archive, tmp_path / "d")
    for name in ("'j/notes.txt'", "'j/run.sh'", "'README'"):
        assert name in info.value.message
    assert _nothing_written(tmp_path / "d")


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ArchiveError, match="is not a readable zip archive or is corrupt"):
        ingest_zip(tmp_path / "a.zip", tmp_path / "d")
    with pytest.raises(ArchiveError, match="does not exist"):
        ingest_zip(tmp_path / "missing.zip", tmp_path / "d")


def test_every_collision_is_reported_at_once(tmp_path: Path, video_bytes: bytes) -> None:
    data_dir = tmp_path / "d"
    ingest_zip(
        _zip(tmp_path / "first.zip", {"a/v.mp4": video_bytes, "b/v.mp4": video_bytes}), data_dir
    )
    drain(data_dir)
    (data_dir / "failed" / "c").mkdir(parents=True)
    second = _zip(
        tmp_path / "second.zip",
        {
            "a/v.mp4": video_bytes,
            "b/v.mp4": video_bytes,
            "c/v.mp4": video_bytes,
            "new/v.mp4": video_bytes,
        },
    )
    with pytest.raises(JobCollisionError, match="3 job\\(s\\) exist already") as info:
        ingest_zip(second, data_dir)
    assert info.value.collisions == [
        "a (exists in in/, out/, status.json (completed))",
        "b (exists in in/, out/, status.json (completed))",
        "c (exists in failed/)",
    ]
    assert not (data_dir / "in" / "new").exists()  # all or nothing

    inside = _zip(
        tmp_path / "inside.zip",
        {"x y/v.mp4": video_bytes, "x_y/v.mp4": video_bytes, "x_y/V.MP4": video_bytes},
    )
    with pytest.raises(JobCollisionError, match="2 video name collision") as info:
        ingest_zip(inside, data_dir)
    assert info.value.collisions == [
        "'x_y/v.mp4' and 'x y/v.mp4' both become x_y/v.mp4",
        "'x_y/V.MP4' and 'x y/v.mp4' both become x_y/V.MP4",
    ]


def test_force_replaces_jobs_and_their_results_and_the_daemon_reruns_them(
    tmp_path: Path, video_bytes: bytes
) -> None:
    data_dir = tmp_path / "d"
    ingest_zip(_zip(tmp_path / "first.zip", {"a/v.mp4": video_bytes}), data_dir)
    drain(data_dir)
    longer = write_video(tmp_path / "long.mp4", 9, 30.0).read_bytes()

    result = ingest_zip(_zip(tmp_path / "second.zip", {"a/v.mp4": longer}), data_dir, force=True)

    assert [(j.job, j.replaced) for j in result.jobs] == [("a", True)]
    assert (data_dir / "in" / "a" / "v.mp4").read_bytes() == longer
    assert not (data_dir / "out" / "a").exists()  # the old results went with the old inputs
    report = drain(data_dir)
    assert report.completed == ["a"] and report.videos_done == 1
    assert status_of(data_dir).jobs["a"].videos["v.mp4"].frames_done == 9


def test_job_names_are_sanitized() -> None:
    assert sanitize_job_name("patient 001/trial#1") == "patient_001_trial_1"
    assert sanitize_job_name("...") == "video"
