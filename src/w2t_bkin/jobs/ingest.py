"""``jobs ingest ARCHIVE.zip``: turn a zip of videos into job folders, safely and atomically.

Everything is checked before anything is written, and every problem is reported at once:

- the archive is a readable zip with at least one video;
- no member is absolute (``/x``, ``C:x``, ``\\\\server``), climbs out (``..``), is a symbolic
  link or another special file, is encrypted, or has a name with control characters;
- every member is a video (``__MACOSX/`` and ``.DS_Store``/``Thumbs.db`` are skipped as the
  operating systems' own litter, and reported);
- zip bombs: no member expands more than ``max_ratio`` times, the archive's declared total
  stays under ``max_total_bytes`` and under the free space of the data folder, and a member
  whose content disagrees with its declared size or CRC stops the ingest before placing;
- no two members land on the same video, and no job exists already in ``in/``, ``failed/``,
  ``out/`` or the status file (all collisions in one error; ``--force`` replaces them).

Jobs: a member ``a/b/video.mp4`` belongs to job ``a_b``; a video at the archive's top level is
a job of its own, named after the file; ``job=`` puts every video in one job. Extraction goes
to ``DIR/.staging/ingest-<id>/`` (same filesystem), each job folder gets a ``.ready`` marker, and
each is renamed into ``in/`` in one step, so the daemon never sees half a job. With ``force``
the jobs replaced are moved aside first and put back if anything fails.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from w2t_bkin.io_utils import fsync_dir
from w2t_bkin.jobs.errors import ArchiveError, JobCollisionError, JobStateError
from w2t_bkin.jobs.layout import (
    JOB_NAME_RE,
    READY_MARKER,
    VIDEO_SUFFIXES,
    JobsLayout,
    is_video,
)
from w2t_bkin.jobs.status import StatusUnreadable, load_status_file

log = logging.getLogger(__name__)

MAX_RATIO = 100.0
"""Largest accepted expansion of one member (videos barely compress: ~1.0-1.1)."""
RATIO_MIN_BYTES = 1 << 20
"""Members smaller than this are exempt from the ratio check (tiny files compress well)."""
MAX_TOTAL_BYTES = 64 << 30
"""Largest accepted total declared size of an archive (64 GiB)."""
_COPY_CHUNK = 1 << 20
_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)", re.I)


@dataclass(frozen=True)
class IngestLimits:
    """Zip-bomb guards (see the module docstring)."""

    max_ratio: float = MAX_RATIO
    ratio_min_bytes: int = RATIO_MIN_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES


@dataclass(frozen=True)
class IngestedJob:
    job: str
    folder: Path
    videos: tuple[str, ...]
    size_bytes: int
    replaced: bool


@dataclass(frozen=True)
class IngestResult:
    archive: Path
    jobs: tuple[IngestedJob, ...]
    skipped: tuple[str, ...] = ()
    """Members skipped as operating-system litter (``__MACOSX/``, ``.DS_Store``)."""

    @property
    def size_bytes(self) -> int:
        return sum(job.size_bytes for job in self.jobs)


@dataclass
class _Plan:
    jobs: dict[str, dict[str, zipfile.ZipInfo]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def sanitize_job_name(text: str) -> str:
    """A job name from free text: runs of other characters become ``_``; ``video`` if empty."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    name = re.sub(r"_+", "_", name)[:200]
    return name or "video"


def ingest_zip(
    archive: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    job: str | None = None,
    limits: IngestLimits | None = None,
) -> IngestResult:
    """Validate ``archive`` completely, then place its jobs in ``DIR/in/`` atomically.

    Parameters
    ----------
    archive
        A ``.zip`` file.
    data_dir
        The daemon's data folder.
    force
        Replace jobs of the same name (their inputs, results and failed copies), all or none.
    job
        Put every video in this one job instead of deriving jobs from the folders.
    limits
        Zip-bomb guards; the defaults suit video archives.

    Raises
    ------
    ArchiveError
        The archive is unreadable, empty, unsafe or holds non-videos (every bad member listed).
    JobCollisionError
        Jobs or videos collide (every collision listed); nothing was written.
    JobStateError
        ``force`` would replace a job the daemon is processing right now.
    """
    archive = Path(archive)
    layout = JobsLayout(Path(data_dir).resolve())
    limits = limits or IngestLimits()
    if job is not None and not JOB_NAME_RE.match(job):
        raise ArchiveError(
            f"job name {job!r} is not allowed",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    try:
        with zipfile.ZipFile(archive) as zf:
            plan = _plan(archive, zf, job)
            _check_sizes(archive, layout, plan, limits)
            _check_collisions(archive, layout, plan, force)
            layout.ensure()
            staging = layout.staging_dir / f"ingest-{uuid.uuid4().hex}"
            try:
                staged = _extract(zf, plan, staging)
                return IngestResult(
                    archive, tuple(_place(layout, staged, staging, force)), tuple(plan.skipped)
                )
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except FileNotFoundError:
        raise ArchiveError(
            f"archive {archive} does not exist", hint="check the path", path=archive
        ) from None
    except zipfile.BadZipFile as exc:
        raise ArchiveError(
            f"{archive} is not a readable zip archive or is corrupt ({exc}); nothing was placed",
            hint="recreate the archive with `zip -r` or your file manager's compress command",
            path=archive,
        ) from None


# -------------------------------------------------------------------------------------------- plan


def _unsafe(name: str) -> str | None:
    """Why a member name is unsafe, or ``None``."""
    if not name:
        return "has an empty name"
    if any(ord(c) < 32 for c in name):
        return "has control characters in its name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "is an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "climbs out of the archive ('..')"
    return None


def _member_kind(info: zipfile.ZipInfo) -> str | None:
    """``"symbolic link"`` or another special file type from the Unix mode bits, else ``None``."""
    mode = info.external_attr >> 16
    if info.create_system != 3 or stat.S_IFMT(mode) == 0:
        return None  # no file type stored (not made on Unix, or by Python's writestr)
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "special file (device, pipe or socket)"
    return None


def _plan(archive: Path, zf: zipfile.ZipFile, job: str | None) -> _Plan:
    plan = _Plan()
    problems: list[str] = []
    collisions: list[str] = []
    not_videos: list[str] = []
    owner: dict[tuple[str, str], str] = {}
    for info in zf.infolist():
        name = info.filename
        reason = _unsafe(name) or _member_kind(info)
        if reason is not None:
            problems.append(f"{name!r} {reason}" if _unsafe(name) else f"{name!r} is a {reason}")
            continue
        if info.flag_bits & 0x1:
            problems.append(f"{name!r} is encrypted")
            continue
        if info.is_dir():
            continue
        if _JUNK.search(name):
            plan.skipped.append(name)
            continue
        if not is_video(name):
            not_videos.append(name)
            continue
        path = PurePosixPath(name.replace("\\", "/"))
        folder = "_".join(path.parts[:-1])
        job_name = job or sanitize_job_name(folder or path.stem)
        video = path.name
        key = (job_name, video.lower())
        if key in owner:
            collisions.append(f"{name!r} and {owner[key]!r} both become {job_name}/{video}")
            continue
        owner[key] = name
        plan.jobs.setdefault(job_name, {})[video] = info
    if not_videos:
        suffixes = ", ".join(sorted(VIDEO_SUFFIXES))
        problems.append(
            f"{len(not_videos)} member(s) are not videos ({', '.join(map(repr, not_videos[:20]))}"
            f"{', ...' if len(not_videos) > 20 else ''}); expected suffixes: {suffixes}"
        )
    if problems:
        raise ArchiveError(
            f"{archive} is refused, nothing was written: " + "; ".join(problems),
            hint="rebuild the archive with only the videos, as plain files in relative folders",
            path=archive,
        )
    if collisions:
        raise JobCollisionError(
            f"{archive}: {len(collisions)} video name collision(s) inside the archive: "
            + "; ".join(collisions),
            collisions=collisions,
            hint="rename the videos so that each job folder holds distinct names",
        )
    if not plan.jobs:
        raise ArchiveError(
            f"{archive} holds no videos"
            + (f" (only {len(plan.skipped)} system file(s))" if plan.skipped else " (it is empty)"),
            hint="add the videos to the archive",
            path=archive,
        )
    return plan


def _check_sizes(archive: Path, layout: JobsLayout, plan: _Plan, limits: IngestLimits) -> None:
    problems = []
    total = 0
    for members in plan.jobs.values():
        for info in members.values():
            total += info.file_size
            if info.file_size >= limits.ratio_min_bytes:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    problems.append(
                        f"{info.filename!r} expands {ratio:.0f}x ({info.compress_size} -> "
                        f"{info.file_size} bytes; at most {limits.max_ratio:.0f}x is accepted)"
                    )
    if total > limits.max_total_bytes:
        problems.append(
            f"the videos total {total} bytes uncompressed, over the limit of "
            f"{limits.max_total_bytes} bytes"
        )
    free = shutil.disk_usage(_existing_parent(layout.data_dir)).free
    if total > free:
        problems.append(f"the videos total {total} bytes but only {free} bytes are free")
    if problems:
        raise ArchiveError(
            f"{archive} looks like a zip bomb or is too large, nothing was written: "
            + "; ".join(problems),
            hint="split the archive, or store the videos without compression (zip -0)",
            path=archive,
        )


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _check_collisions(archive: Path, layout: JobsLayout, plan: _Plan, force: bool) -> None:
    try:
        known = load_status_file(layout.status_path).jobs
    except StatusUnreadable:
        known = {}
    collisions, busy = [], []
    for job in sorted(plan.jobs):
        places = [
            label
            for label, path in (
                ("in/", layout.job_in(job)),
                ("failed/", layout.job_failed(job)),
                ("out/", layout.job_out(job)),
            )
            if path.exists()
        ]
        entry = known.get(job)
        if entry is not None:
            places.append(f"status.json ({entry.state})")
            if entry.state == "processing":
                busy.append(job)
        if places:
            collisions.append(f"{job} (exists in {', '.join(places)})")
    if busy and force:
        raise JobStateError(
            f"cannot replace job(s) {', '.join(busy)}: the daemon is processing them",
            hint="wait until they finish (w2t-bkin jobs status), or ingest under another name",
        )
    if collisions and not force:
        raise JobCollisionError(
            f"{archive}: {len(collisions)} job(s) exist already, nothing was written: "
            + "; ".join(collisions),
            collisions=collisions,
            hint="pass --force to replace them (their results are discarded), or rename the "
            "folders in the archive",
        )


# -------------------------------------------------------------------------------------- write


def _extract(zf: zipfile.ZipFile, plan: _Plan, staging: Path) -> dict[str, Path]:
    staged: dict[str, Path] = {}
    for job, members in plan.jobs.items():
        folder = staging / job
        folder.mkdir(parents=True)
        for video, info in members.items():
            _copy_member(zf, info, folder / video)
        (folder / READY_MARKER).write_bytes(b"")
        fsync_dir(folder)
        staged[job] = folder
    return staged


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    # zipfile reads no more than the declared size and then checks the CRC: a header that
    # lies about the size ends in BadZipFile before anything is placed.
    with zf.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(_COPY_CHUNK):
            sink.write(chunk)
        sink.flush()
        os.fsync(sink.fileno())


def _place(
    layout: JobsLayout, staged: dict[str, Path], staging: Path, force: bool
) -> list[IngestedJob]:
    """Rename each staged job into ``in/``; with ``force`` move replaced jobs aside first.

    All or nothing: on any error the placed jobs are removed and the replaced ones restored.
    """
    aside = staging / "replaced"
    moved: list[tuple[Path, Path]] = []  # (original, where it was moved) to undo
    placed: list[Path] = []
    done: list[IngestedJob] = []
    try:
        for job, folder in sorted(staged.items()):
            replaced = False
            if force:
                for original in (layout.job_in(job), layout.job_failed(job), layout.job_out(job)):
                    if original.exists():
                        keep = aside / original.parent.name / job
                        keep.parent.mkdir(parents=True, exist_ok=True)
                        os.rename(original, keep)
                        moved.append((original, keep))
                        replaced = True
            target = layout.job_in(job)
            os.rename(folder, target)  # fails if a folder appeared meanwhile: never merged
            placed.append(target)
            videos = tuple(sorted(p.name for p in target.iterdir() if is_video(p.name)))
            size = sum((target / v).stat().st_size for v in videos)
            done.append(IngestedJob(job, target, videos, size, replaced))
    except OSError as exc:
        for target in placed:
            shutil.rmtree(target, ignore_errors=True)
        for original, keep in reversed(moved):
            os.rename(keep, original)
        raise ArchiveError(
            f"cannot place the jobs in {layout.in_dir}: {exc.strerror or exc}; nothing changed",
            hint="check permissions and that no other tool writes to in/ at the same time",
            path=layout.in_dir,
        ) from exc
    fsync_dir(layout.in_dir)
    for item in done:
        # The status file is the daemon's: it sees the new inputs (their completion records
        # are gone) and queues the job again.
        log.info(
            "job %s %s (%d videos)",
            item.job,
            "replaced" if item.replaced else "added",
            len(item.videos),
        )
    return done
