"""A feature dataset over one experiment: pose tracks with real timestamps, feature runs, labels.

Groups are subjects; a sequence is one (session, camera, individual) track, named
``"<session>/<camera>/<individual>"``. Every track carries the per-frame times that
synchronization produced (``t_s``), so filters and derivatives use real time even when frames
were dropped or cameras ran at different rates.

Layout (``root``)::

    dataset.json                      format marker
    registry.sqlite                   tracks index, runs, entries, lineage, progress
    tracks/<entry_key>.parquet        one long-format table per track (one row per frame)
    features/<feature>/<run_id>/      run.json, entries/, artifacts/  (see store)

Track table columns: ``frame_idx`` int64, ``t_s`` float64, then per keypoint ``x/<kp>``,
``y/<kp>`` (``z/<kp>`` for 3-D) and ``confidence/<kp>`` float32.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.keys import make_entry_key, natural_key
from w2t_bkin.features.registry import FeatureRegistry
from w2t_bkin.features.store import read_entry, write_entry
from w2t_bkin.io_utils import atomic_write_json

if TYPE_CHECKING:
    import pandas as pd

    from w2t_bkin.features.identity import Result
    from w2t_bkin.model.pose import PoseData

__all__ = [
    "REGISTRY_ENV",
    "FeatureDataset",
    "TrackArrays",
    "TrackEntry",
    "track_arrays",
    "track_frame",
]

REGISTRY_ENV = "W2T_FEATURES_REGISTRY"
"""Environment variable: the registry file to use instead of ``<dataset>/registry.sqlite``."""
FORMAT = "w2t-bkin feature dataset"
COORDS = ("x", "y", "z")


@dataclass(frozen=True)
class TrackEntry:
    """One track of the dataset (one row of its index)."""

    group: str
    sequence: str
    entry_key: str
    subject: str
    session: str
    camera: str
    individual: str
    digest: str
    n_frames: int
    keypoints: tuple[str, ...]
    n_space: int
    source: str = ""


@dataclass(frozen=True)
class TrackArrays:
    """A track as arrays, in the shapes the kinematics library takes.

    Attributes
    ----------
    frame_idx
        ``(n_frames,) int64`` video frame indices.
    t_s
        ``(n_frames,) float64`` frame times in seconds.
    positions
        ``(n_frames, 1, n_keypoints, n_space) float32`` pixels.
    confidence
        ``(n_frames, 1, n_keypoints) float32``.
    keypoints
        ``n_keypoints`` names.
    """

    frame_idx: np.ndarray
    t_s: np.ndarray
    positions: np.ndarray
    confidence: np.ndarray
    keypoints: tuple[str, ...]


def track_frame(
    frame_idx: np.ndarray,
    t_s: np.ndarray,
    positions: np.ndarray,
    confidence: np.ndarray,
    keypoints: Sequence[str],
) -> pd.DataFrame:
    """The long-format table of one individual's track.

    Parameters
    ----------
    frame_idx
        ``(n_frames,)`` integer frame indices.
    t_s
        ``(n_frames,) float64`` times, strictly increasing.
    positions
        ``(n_frames, n_keypoints, n_space)`` pixels.
    confidence
        ``(n_frames, n_keypoints)``.
    """
    import pandas as pd

    columns: dict[str, np.ndarray] = {
        "frame_idx": np.asarray(frame_idx, dtype=np.int64),
        "t_s": np.asarray(t_s, dtype=np.float64),
    }
    n_space = positions.shape[-1]
    for k, name in enumerate(keypoints):
        for d in range(n_space):
            columns[f"{COORDS[d]}/{name}"] = np.asarray(positions[:, k, d], dtype=np.float32)
        columns[f"confidence/{name}"] = np.asarray(confidence[:, k], dtype=np.float32)
    return pd.DataFrame(columns)


def track_arrays(frame: pd.DataFrame) -> TrackArrays:
    """Arrays of a long-format track table (the inverse of :func:`track_frame`).

    Raises
    ------
    FeatureInputError
        The table has no ``frame_idx``/``t_s`` or no ``x/<kp>`` columns.
    """
    if "frame_idx" not in frame or "t_s" not in frame:
        raise FeatureInputError(
            f"a track table needs 'frame_idx' and 't_s' columns, found {list(frame.columns)[:8]}",
            hint="features that read tracks take the dataset's track tables as they are",
        )
    keypoints = tuple(c[2:] for c in frame.columns if c.startswith("x/"))
    if not keypoints:
        raise FeatureInputError("a track table needs 'x/<keypoint>' columns, found none")
    n_space = 3 if f"z/{keypoints[0]}" in frame else 2
    positions = np.stack(
        [
            np.stack([frame[f"{COORDS[d]}/{k}"].to_numpy(np.float32) for d in range(n_space)], -1)
            for k in keypoints
        ],
        axis=1,
    )[:, None]
    confidence = np.stack(
        [
            frame[f"confidence/{k}"].to_numpy(np.float32)
            if f"confidence/{k}" in frame
            else np.full(len(frame), np.nan, np.float32)
            for k in keypoints
        ],
        axis=1,
    )[:, None]
    return TrackArrays(
        frame["frame_idx"].to_numpy(np.int64),
        frame["t_s"].to_numpy(np.float64),
        positions,
        confidence,
        keypoints,
    )


def _track_digest(
    frame_idx: np.ndarray,
    t_s: np.ndarray,
    positions: np.ndarray,
    confidence: np.ndarray,
    keypoints: Sequence[str],
) -> str:
    h = hashlib.sha256(json.dumps(list(keypoints)).encode())
    for array, dtype in (
        (frame_idx, np.int64),
        (t_s, np.float64),
        (positions, np.float32),
        (confidence, np.float32),
    ):
        h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return h.hexdigest()


class FeatureDataset:
    """A folder of tracks, labels and feature runs (see the module docstring for the layout).

    Parameters
    ----------
    root
        Dataset folder; created (with ``dataset.json``) when missing.
    registry_path
        SQLite registry file; default ``$W2T_FEATURES_REGISTRY`` or ``root/registry.sqlite``.
    mounts_file
        Mount table used to check the registry's filesystem (tests point it elsewhere).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        registry_path: str | Path | None = None,
        mounts_file: Path = Path("/proc/mounts"),
    ) -> None:
        self.root = Path(root)
        marker = self.root / "dataset.json"
        if not marker.is_file():
            if self.root.exists() and any(self.root.iterdir()):
                raise FeatureInputError(
                    f"{self.root} is not empty and is not a feature dataset (no dataset.json)",
                    hint="give a new or empty folder, or an existing feature dataset",
                    path=self.root,
                )
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_json(marker, {"format": FORMAT, "format_version": 1})
        env = os.environ.get(REGISTRY_ENV)
        default = Path(env) if env else self.root / "registry.sqlite"
        self.registry_path = Path(registry_path) if registry_path is not None else default
        self._mounts_file = mounts_file
        self._registry: FeatureRegistry | None = None

    @property
    def registry(self) -> FeatureRegistry:
        """The registry (opened on first use)."""
        if self._registry is None:
            self._registry = FeatureRegistry(self.registry_path, mounts_file=self._mounts_file)
        return self._registry

    def close(self) -> None:
        """Close the registry connection."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def __enter__(self) -> FeatureDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths ----------
    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    def run_dir(self, feature: str, run_id: str) -> Path:
        """Folder of one feature run."""
        return self.features_dir / feature / run_id

    def track_path(self, entry_key: str) -> Path:
        return self.root / "tracks" / f"{entry_key}.parquet"

    # -- tracks ----------
    def add_track(
        self,
        *,
        subject: str,
        session: str,
        camera: str,
        individual: str,
        t_s: np.ndarray,
        positions: np.ndarray,
        confidence: np.ndarray | None,
        keypoints: Sequence[str],
        frame_idx: np.ndarray | None = None,
        source: str = "",
    ) -> TrackEntry:
        """Add (or replace) one individual's track.

        Parameters
        ----------
        t_s
            ``(n_frames,) float64`` synchronized frame times, strictly increasing.
        positions
            ``(n_frames, n_keypoints, n_space) float32`` pixels, ``n_space`` 2 or 3.
        confidence
            ``(n_frames, n_keypoints)`` or ``None`` (stored as NaN).
        frame_idx
            ``(n_frames,)`` video frame indices; default ``0..n_frames-1``.

        Raises
        ------
        FeatureInputError
            Shapes disagree, times are not strictly increasing or not finite, or a name holds
            ``/``.
        """
        where = f"track {subject}/{session}/{camera}/{individual}"
        for label, name in (("session", session), ("camera", camera), ("individual", individual)):
            if "/" in name or not name:
                raise FeatureInputError(
                    f"{where}: the {label} name {name!r} must be non-empty and hold no '/'",
                    hint="'/' separates session, camera and individual in sequence names",
                )
        positions = np.asarray(positions, dtype=np.float32)
        t_s = np.asarray(t_s, dtype=np.float64)
        if positions.ndim != 3 or positions.shape[-1] not in (2, 3):
            raise FeatureInputError(
                f"{where}: positions must be (n_frames, n_keypoints, 2 or 3), found "
                f"{positions.shape}",
            )
        n_frames, n_keypoints = positions.shape[:2]
        if len(keypoints) != n_keypoints:
            raise FeatureInputError(
                f"{where}: {len(keypoints)} keypoint names for {n_keypoints} keypoints"
            )
        if t_s.shape != (n_frames,):
            raise FeatureInputError(
                f"{where}: {t_s.shape[0] if t_s.ndim else 0} timestamps for {n_frames} frames; "
                "expected one synchronized time per frame",
                hint="pass the frame times from synchronization (NWB pose timestamps)",
            )
        if not np.all(np.isfinite(t_s)) or np.any(np.diff(t_s) <= 0):
            raise FeatureInputError(
                f"{where}: timestamps must be finite and strictly increasing",
                hint="drop duplicated frames before adding the track",
            )
        if confidence is None:
            confidence = np.full((n_frames, n_keypoints), np.nan, dtype=np.float32)
        frames = np.arange(n_frames) if frame_idx is None else np.asarray(frame_idx)
        group, sequence = subject, f"{session}/{camera}/{individual}"
        key = make_entry_key(group, sequence)
        write_entry(
            self.track_path(key), track_frame(frames, t_s, positions, confidence, keypoints)
        )
        entry = TrackEntry(
            group,
            sequence,
            key,
            subject,
            session,
            camera,
            individual,
            _track_digest(frames, t_s, positions, confidence, keypoints),
            n_frames,
            tuple(keypoints),
            int(positions.shape[-1]),
            source,
        )
        self.registry.upsert_tracks([_track_row(entry)])
        return entry

    def add_pose(
        self, pose: PoseData, *, subject: str, session: str, camera: str, t_s: np.ndarray
    ) -> list[TrackEntry]:
        """Add every individual of a :class:`PoseData` as its own track (sequence)."""
        return [
            self.add_track(
                subject=subject,
                session=session,
                camera=camera,
                individual=name,
                t_s=t_s,
                positions=pose.positions[:, i],
                confidence=pose.confidence[:, i],
                keypoints=pose.keypoint_names,
                source=str(pose.source_file),
            )
            for i, name in enumerate(pose.individual_names)
        ]

    def import_pose_file(
        self,
        path: str | Path,
        *,
        subject: str,
        session: str,
        camera: str,
        t_s: np.ndarray,
        source: str | None = None,
    ) -> list[TrackEntry]:
        """Read a DeepLabCut / SLEAP / Lightning Pose file and add its tracks with ``t_s``."""
        from w2t_bkin.sources.pose import read_pose

        pose = read_pose(path, source, n_video_frames=len(t_s))
        return self.add_pose(pose, subject=subject, session=session, camera=camera, t_s=t_s)

    def import_nwb(
        self, path: str | Path, *, subject: str | None = None, session: str | None = None
    ) -> list[TrackEntry]:
        """Add every pose track of a processed NWB file, with the file's frame times.

        ``subject``/``session`` default to the file's ``subject_id`` and ``session_id``.

        Raises
        ------
        FeatureInputError
            The file names no subject or session and none is given.
        """
        from w2t_bkin.nwb.read_pose import read_nwb_pose

        added: list[TrackEntry] = []
        for track in read_nwb_pose(path):
            subj, sess = subject or track.subject, session or track.session
            if not subj or not sess:
                raise FeatureInputError(
                    f"{path} names no subject or session (subject={subj!r}, session={sess!r})",
                    hint="pass subject= and session= to import_nwb",
                    path=path,
                )
            added += self.add_pose(
                track.pose, subject=subj, session=sess, camera=track.camera, t_s=track.t_s
            )
        return added

    def import_processed(self, experiment_root: str | Path) -> list[TrackEntry]:
        """Add the pose of every ``data/processed/<subject>/<session>/*.nwb`` of a workspace."""
        processed = Path(experiment_root) / "data" / "processed"
        files = sorted(processed.glob("*/*/*.nwb"))
        if not files:
            raise FeatureInputError(
                f"no processed NWB files under {processed}",
                hint="run 'w2t-bkin run' on the workspace first",
                path=processed,
            )
        added: list[TrackEntry] = []
        for nwb in files:
            added += self.import_nwb(nwb, subject=nwb.parent.parent.name, session=nwb.parent.name)
        return added

    def tracks(self) -> list[TrackEntry]:
        """Every track, sorted by group then natural sequence order."""
        entries = [_track_entry(row) for row in self.registry.track_rows()]
        return sorted(entries, key=lambda e: (natural_key(e.group), natural_key(e.sequence)))

    def track(self, group: str, sequence: str) -> TrackEntry:
        """One track's index entry.

        Raises
        ------
        FeatureInputError
            No such track.
        """
        for entry in self.tracks():
            if (entry.group, entry.sequence) == (group, sequence):
                return entry
        raise FeatureInputError(
            f"no track ({group!r}, {sequence!r}) in {self.root}",
            hint="list the tracks with FeatureDataset.tracks()",
        )

    def list_groups(self) -> list[str]:
        return sorted({e.group for e in self.tracks()}, key=natural_key)

    def list_sequences(self, group: str | None = None) -> list[str]:
        return [e.sequence for e in self.tracks() if group is None or e.group == group]

    def load_track(self, group: str, sequence: str) -> pd.DataFrame:
        """The long-format table of one track."""
        return read_entry(self.track_path(make_entry_key(group, sequence)))

    # -- features ----------
    def load_feature(self, result: Result, group: str, sequence: str) -> pd.DataFrame | None:
        """One entry's output of a run, or ``None`` when the entry is empty by design.

        Raises
        ------
        FeatureInputError
            The run has no such entry, or it failed.
        """
        from w2t_bkin.features.store import entry_path

        run_id = result.run_id or self.registry.latest_run_id(result.feature)
        status = self.registry.entry_states(result.feature, run_id).get((group, sequence))
        if status is None or status[0] == "failed":
            raise FeatureInputError(
                f"run {result.feature}/{run_id} has no output for ({group!r}, {sequence!r})"
                f"{' (the entry failed)' if status else ''}",
                hint="run the feature on this entry first",
            )
        if status[0] == "empty":
            return None
        return read_entry(
            entry_path(self.run_dir(result.feature, run_id), make_entry_key(group, sequence))
        )


def _track_row(e: TrackEntry) -> tuple[Any, ...]:
    return (
        e.group,
        e.sequence,
        e.entry_key,
        e.subject,
        e.session,
        e.camera,
        e.individual,
        e.digest,
        e.n_frames,
        json.dumps(list(e.keypoints)),
        e.n_space,
        e.source,
    )


def _track_entry(row: Sequence[Any]) -> TrackEntry:
    g, s, key, subject, session, camera, individual, digest, n, kps, n_space, source = row
    return TrackEntry(
        g,
        s,
        key,
        subject,
        session,
        camera,
        individual,
        digest,
        int(n),
        tuple(json.loads(kps)),
        int(n_space),
        source,
    )
