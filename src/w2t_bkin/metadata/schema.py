"""The metadata schema: every table and key of metadata.toml, subject.toml and session.toml.

See :mod:`w2t_bkin.metadata` for the files and how they merge.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from w2t_bkin.layout_constants import ID_PATTERN as ID_PATTERN
from w2t_bkin.layout_constants import ROOT_METADATA_ENV as ROOT_METADATA_ENV
from w2t_bkin.model.ttl import TTLFormat

ISO_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
# A number and a unit of mass: "25 g", "0.025 kg", "25g".
WEIGHT = re.compile(r"^(\d+(\.\d*)?|\.\d+)\s*(mg|g|kg|oz|lb|lbs)$", re.IGNORECASE)
FileOrder = Literal["name_asc", "name_desc"]


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def is_iso_duration(text: str) -> bool:
    return bool(ISO_DURATION.match(text))


class SubjectMeta(_Meta):
    """NWB ``Subject``. DANDI requires subject_id, species, sex and age or date_of_birth."""

    subject_id: str | None = Field(None, pattern=ID_PATTERN)
    description: str | None = None
    species: str | None = Field(None, description="Latin binomial, e.g. 'Mus musculus'.")
    sex: Literal["F", "M", "U", "O"] | None = None
    age: str | None = Field(None, description="ISO-8601 duration, e.g. 'P90D'.")
    age__reference: Literal["birth", "gestational"] = "birth"
    genotype: str | None = None
    strain: str | None = None
    weight: str | None = Field(None, description="With unit, e.g. '0.025 kg'.")
    date_of_birth: datetime | None = None

    @field_validator("age")
    @classmethod
    def _check_age(cls, value: str | None) -> str | None:
        if value is not None and not is_iso_duration(value):
            raise ValueError(
                f"age must be an ISO-8601 duration such as 'P90D' or 'P12W', not {value!r}"
            )
        return value

    @field_validator("weight")
    @classmethod
    def _check_weight(cls, value: str | None) -> str | None:
        if value is not None and not WEIGHT.match(value.strip()):
            raise ValueError(
                f"weight must be a number and a unit of mass such as '25 g' or '0.025 kg', "
                f"not {value!r}"
            )
        return value

    @field_validator("species")
    @classmethod
    def _check_species(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$", value):
            raise ValueError(
                f"species must be a Latin binomial such as 'Mus musculus', not {value!r}"
            )
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _check_date_of_birth(cls, value: datetime | None) -> datetime | None:
        # Like session_start_time: a naive value would take the processing machine's zone
        # (pynwb's default), so the same raw data would give different files on different machines.
        if value is not None and value.utcoffset() is None:
            raise ValueError(
                f"date_of_birth {value.isoformat()} has no UTC offset; w2t-bkin does not guess "
                "the time zone (the processing machine's zone would make the file depend on "
                "where it was processed): write it with the lab's offset, e.g. "
                "date_of_birth = 2026-01-31T00:00:00+01:00"
            )
        return value


class DeviceMeta(_Meta):
    name: str
    description: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    model_number: str | None = None
    serial_number: str | None = None


class SavedFramesMeta(_Meta):
    """``[[cameras]].saved_frames``: which TTL pulses belong to saved frames.

    For a DAQ that recorded while the camera was triggered but not saving (before the video
    started or after it stopped). Pulse counts or a window on the TTL clock, never both.
    """

    skip_leading_pulses: int | None = Field(
        None, ge=0, description="Pulses on the frame grid before the first saved frame."
    )
    skip_trailing_pulses: int | None = Field(
        None, ge=0, description="Pulses on the frame grid after the last saved frame."
    )
    pulses_from_s: float | None = Field(
        None,
        allow_inf_nan=False,
        description="TTL-clock time (s) before the first saved frame's pulse, after earlier ones.",
    )
    pulses_to_s: float | None = Field(
        None,
        allow_inf_nan=False,
        description="TTL-clock time (s) after the last saved frame's pulse, before later ones.",
    )

    @model_validator(mode="after")
    def _check_form(self) -> SavedFramesMeta:
        counts = self.skip_leading_pulses is not None or self.skip_trailing_pulses is not None
        window = self.pulses_from_s is not None or self.pulses_to_s is not None
        if counts and window:
            raise ValueError(
                "saved_frames takes pulse counts (skip_leading_pulses, skip_trailing_pulses) or "
                "a time window (pulses_from_s, pulses_to_s), not both"
            )
        if not counts and not window:
            raise ValueError(
                "saved_frames needs skip_leading_pulses and/or skip_trailing_pulses, or "
                "pulses_from_s and/or pulses_to_s"
            )
        start, end = self.pulses_from_s, self.pulses_to_s
        if start is not None and end is not None and not start < end:
            raise ValueError(
                f"saved_frames: pulses_from_s ({start:g} s) must be before pulses_to_s ({end:g} s)"
            )
        return self


class CameraMeta(_Meta):
    """One camera. ``paths`` may be empty when the videos are archived elsewhere."""

    id: str = Field(pattern=ID_PATTERN)
    paths: list[str] = Field(default_factory=list, description="Globs of the video chunks.")
    fps: float | None = Field(None, gt=0, description="Nominal frame rate (Hz).")
    ttl_id: str | None = Field(None, description="TTL channel with one pulse per frame.")
    frame_clock: Literal["ttl", "video", "rate"] | None = Field(
        None,
        description=(
            "Source of frame times: 'ttl' (default when ttl_id is set), 'video' (container "
            "timestamps; no TTL exists) or 'rate' (fps from t=0; no TTL exists)."
        ),
    )
    description: str | None = None
    order: FileOrder = "name_asc"
    optional: bool = False
    device: str | None = Field(None, description="Name of a [[devices]] entry.")
    frame_counter: list[str] = Field(
        default_factory=list,
        description=(
            "Globs of the camera's embedded frame counter files (float64 per saved frame, e.g. "
            "iblrig *frame_counter.bin): one per video chunk in order, or one for the camera. "
            "Gives each frame its slot on the pulse train; needs frame_clock = 'ttl'."
        ),
    )
    saved_frames: SavedFramesMeta | None = Field(
        None,
        description=(
            "Which TTL pulses belong to saved frames when the DAQ also recorded pulses before "
            "the video started or after it stopped; needs frame_clock = 'ttl'."
        ),
    )

    _normalise_paths = field_validator("paths", "frame_counter", mode="before")(_as_list)

    @model_validator(mode="after")
    def _check_clock(self) -> CameraMeta:
        if self.frame_clock == "ttl" and self.ttl_id is None:
            raise ValueError(f"camera '{self.id}': frame_clock = 'ttl' needs a ttl_id")
        if self.frame_clock == "rate" and self.fps is None:
            raise ValueError(f"camera '{self.id}': frame_clock = 'rate' needs fps")
        return self

    @property
    def resolved_frame_clock(self) -> Literal["ttl", "video", "rate"] | None:
        if self.frame_clock is not None:
            return self.frame_clock
        return "ttl" if self.ttl_id is not None else None


class TTLMeta(_Meta):
    id: str = Field(pattern=ID_PATTERN)
    paths: list[str]
    description: str | None = None
    polarity: Literal["rising", "falling"] = "rising"
    order: FileOrder = "name_asc"
    format: TTLFormat = "auto"  # one list with the readers: sources.ttl
    column: str | None = Field(
        None, description="CSV column holding the times (seconds); NWB: the TimeSeries name/path."
    )
    line: int | None = Field(
        None, ge=0, description="Digital line (SpikeGLX bit or Open Ephys line number)."
    )
    threshold: float | None = Field(
        None,
        description="NWB TimeSeries channels only: the level separating low from high, in the "
        "series' units (default: midway between its low and high levels).",
    )
    optional: bool = False

    _normalise_paths = field_validator("paths", mode="before")(_as_list)


class TrialTypeSync(_Meta):
    trial_type: int = Field(ge=0)
    sync_signal: str = Field(description="Bpod state whose onset emits the sync pulse.")
    sync_ttl: str = Field(description="TTL channel id receiving that pulse.")


class BpodSync(_Meta):
    trial_types: list[TrialTypeSync] = Field(default_factory=list)


class OutcomeRule(_Meta):
    state: str = Field(description="If this state was visited in a trial ...")
    outcome: str = Field(description="... the trial's outcome is this label.")


class BpodMeta(_Meta):
    path: list[str] = Field(description="Globs of the Bpod session files.")
    order: FileOrder = "name_asc"
    sync: BpodSync = BpodSync()
    trial_type_names: dict[str, str] = Field(
        default_factory=dict, description="Trial type number (as a string) -> name."
    )
    outcomes: list[OutcomeRule] = Field(
        default_factory=list, description="First rule whose state was visited gives the outcome."
    )
    actions: dict[str, str] = Field(
        default_factory=dict, description="Bpod state -> action name recorded in the NWB file."
    )

    _normalise_paths = field_validator("path", mode="before")(_as_list)


PoseSource = Literal["dlc", "sleap", "lightning_pose", "mediapipe", "synthetic"]
PoseBackend = Literal["deeplabcut", "sleap", "mediapipe", "synthetic"]
# The output format (source) each estimator backend writes.
POSE_BACKEND_SOURCE: dict[str, str] = {
    "deeplabcut": "dlc",
    "sleap": "sleap",
    "mediapipe": "mediapipe",
    "synthetic": "synthetic",
}


class PoseModelMeta(_Meta):
    """A pose model whose outputs a camera's pose files are (``[pose.models.<id>]``)."""

    source: PoseSource
    backend: PoseBackend | None = Field(
        None,
        description="Estimator that generates this model's outputs for a camera that declares "
        "no paths (phase 'pose generation'): deeplabcut, sleap (their own Python environments, "
        "W2T_DEEPLABCUT_PYTHON / W2T_SLEAP_PYTHON), mediapipe (built in; path: a .task bundle, "
        "unset: the bundle `w2t-bkin pose build-model` builds) or synthetic (tests). Unset: "
        "outputs are never generated.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend options for generation, e.g. {min_pose_detection_confidence = 0.3} "
        "(mediapipe) or {backend_options = {shuffle = 2}} (deeplabcut).",
    )
    path: str | None = Field(
        None,
        description="The model, relative to the workspace models/ folder (or absolute): a "
        "DeepLabCut project config.yaml or a folder holding one (its skeleton and project are "
        "used), or any other model file or folder (recorded in the NWB file).",
    )
    artifacts: str | None = Field(
        None,
        description="Folder under data/interim/<subject>/<session>/ for this model's generated "
        "outputs (one subfolder per camera); unset: 'pose'.",
    )
    software_version: str | None = Field(
        None,
        description="Version of the pose software that produced the outputs, e.g. '2.3.9'; "
        "used when the files do not record one.",
    )

    @model_validator(mode="after")
    def _backend_writes_source(self) -> PoseModelMeta:
        if self.backend is not None and POSE_BACKEND_SOURCE[self.backend] != self.source:
            raise ValueError(
                f"backend {self.backend!r} writes source {POSE_BACKEND_SOURCE[self.backend]!r} "
                f"outputs, not {self.source!r}: set source = "
                f"{POSE_BACKEND_SOURCE[self.backend]!r}"
            )
        if self.backend is None and self.source in ("mediapipe", "synthetic"):
            raise ValueError(
                f"source {self.source!r} outputs are only generated: set backend = {self.source!r}"
            )
        return self


class PoseCameraMeta(_Meta):
    source: PoseSource
    paths: list[str] = Field(
        default_factory=list,
        description="Globs of existing pose outputs; exactly one file per video chunk.",
    )
    model_id: str | None = Field(None, description="A [pose.models] id.")
    mapping_id: str | None = Field(None, description="A [pose.mappings] id.")
    skeleton_id: str | None = Field(
        None, description="A [pose.skeletons] id; replaces any skeleton of the files or model."
    )

    _normalise_paths = field_validator("paths", mode="before")(_as_list)


class SkeletonEdge(_Meta):
    source: str
    target: str


class SkeletonMeta(_Meta):
    name: str | None = None
    nodes: list[str]
    edges: list[SkeletonEdge] = Field(default_factory=list)

    @field_validator("edges", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {"source": e[0], "target": e[1]} if isinstance(e, list | tuple) else e
                for e in value
            ]
        return value

    @model_validator(mode="after")
    def _edges_use_nodes(self) -> SkeletonMeta:
        unknown = {n for e in self.edges for n in (e.source, e.target)} - set(self.nodes)
        if unknown:
            raise ValueError(f"edges name nodes that are not in 'nodes': {sorted(unknown)}")
        return self


class PoseMeta(_Meta):
    models: dict[str, PoseModelMeta] = Field(default_factory=dict)
    cameras: dict[str, PoseCameraMeta] = Field(default_factory=dict)
    mappings: dict[str, dict[str, str]] = Field(default_factory=dict)
    skeletons: dict[str, SkeletonMeta] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> PoseMeta:
        for camera_id, camera in self.cameras.items():
            for attr, table in (
                ("model_id", self.models),
                ("mapping_id", self.mappings),
                ("skeleton_id", self.skeletons),
            ):
                ref = getattr(camera, attr)
                if ref is not None and ref not in table:
                    raise ValueError(
                        f"pose.cameras.{camera_id}.{attr} = {ref!r} is not defined "
                        f"(known: {sorted(table) or 'none'})"
                    )
            model = self.models.get(camera.model_id) if camera.model_id else None
            if model is not None and model.source != camera.source:
                raise ValueError(
                    f"pose.cameras.{camera_id}.source = {camera.source!r}, but its model "
                    f"pose.models.{camera.model_id}.source = {model.source!r}"
                )
        return self


class FaceMotionROIMeta(_Meta):
    """``[[facemotion.cameras.<camera>.rois]]``: one rectangle of the camera's frame.

    Declare the ROIs once per camera view in ``data/raw/metadata.toml`` (or ``subject.toml``
    when the framing differs per animal); a ``session.toml`` that repeats an ``id`` overrides
    only the keys it gives (e.g. ``x`` and ``y`` after the camera was nudged).
    """

    id: str = Field(pattern=ID_PATTERN, description="ROI name, e.g. 'whisker' or 'nose'.")
    x: int = Field(0, ge=0, description="Left edge in pixels of the full frame (0 = left).")
    y: int = Field(0, ge=0, description="Top edge in pixels of the full frame (0 = top).")
    width: int | None = Field(None, gt=0, description="Width in pixels (unset: to the edge).")
    height: int | None = Field(None, gt=0, description="Height in pixels (unset: to the edge).")
    bin: int = Field(
        4, ge=1, le=64, description="Average bin x bin pixel blocks first (Facemap's sbin)."
    )
    n_components: int = Field(
        100, ge=0, le=2000, description="Motion SVD components kept (0: motion energy only)."
    )
    description: str | None = None


class FaceMotionCameraMeta(_Meta):
    """``[facemotion.cameras.<camera>]``: facial motion (Facemap method) of one camera."""

    rois: list[FaceMotionROIMeta] = Field(default_factory=list)
    enabled: bool = Field(True, description="false skips this camera (e.g. in one session).")
    fit_frames: int = Field(
        4000, ge=2, description="Motion frames the SVD is fitted on, spread over the video."
    )
    segment_frames: int = Field(
        500, ge=2, description="Longest run of consecutive frames per fit segment (memory bound)."
    )


class FaceMotionMeta(_Meta):
    cameras: dict[str, FaceMotionCameraMeta] = Field(default_factory=dict)


class SessionMetadata(_Meta):
    """The merged metadata of one session."""

    session_description: str | None = None
    identifier: str | None = None
    session_start_time: datetime | None = None
    session_id: str | None = None
    experimenter: list[str] = Field(default_factory=list)
    experiment_description: str | None = None
    institution: str | None = None
    lab: str | None = None
    protocol: str | None = None
    keywords: list[str] = Field(default_factory=list)
    notes: str | None = None
    related_publications: list[str] = Field(default_factory=list)
    pharmacology: str | None = None
    surgery: str | None = None
    virus: str | None = None
    stimulus_notes: str | None = None
    data_collection: str | None = None
    subject: SubjectMeta = SubjectMeta()
    devices: list[DeviceMeta] = Field(default_factory=list)
    cameras: list[CameraMeta] = Field(default_factory=list)
    TTLs: list[TTLMeta] = Field(default_factory=list)
    bpod: BpodMeta | None = None
    pose: PoseMeta = PoseMeta()
    facemotion: FaceMotionMeta = FaceMotionMeta()

    _normalise_experimenter = field_validator("experimenter", mode="before")(_as_list)

    @model_validator(mode="after")
    def _cross_references(self) -> SessionMetadata:
        problems: list[str] = []
        for kind, items, key in (
            ("cameras", self.cameras, "id"),
            ("TTLs", self.TTLs, "id"),
            ("devices", self.devices, "name"),
        ):
            seen: set[str] = set()
            for item in items:
                value = getattr(item, key)
                if value in seen:
                    problems.append(f"duplicate {kind} {key} {value!r}")
                seen.add(value)
        ttl_ids = {ttl.id for ttl in self.TTLs}
        camera_ids = {camera.id for camera in self.cameras}
        device_names = {device.name for device in self.devices}
        for camera in self.cameras:
            if camera.ttl_id is not None and camera.ttl_id not in ttl_ids:
                problems.append(
                    f"camera {camera.id!r}: ttl_id {camera.ttl_id!r} is not a [[TTLs]] id "
                    f"(known: {sorted(ttl_ids) or 'none'})"
                )
            if camera.device is not None and camera.device not in device_names:
                problems.append(f"camera {camera.id!r}: device {camera.device!r} is not a device")
        if self.bpod is not None:
            for rule in self.bpod.sync.trial_types:
                if rule.sync_ttl not in ttl_ids:
                    problems.append(
                        f"bpod.sync.trial_types: sync_ttl {rule.sync_ttl!r} (trial type "
                        f"{rule.trial_type}) is not a [[TTLs]] id "
                        f"(known: {sorted(ttl_ids) or 'none'})"
                    )
        for camera_id in self.pose.cameras:
            if camera_id not in camera_ids:
                problems.append(
                    f"pose.cameras.{camera_id}: no [[cameras]] entry with id {camera_id!r}"
                )
        for camera_id, motion in self.facemotion.cameras.items():
            if camera_id not in camera_ids:
                problems.append(
                    f"facemotion.cameras.{camera_id}: no [[cameras]] entry with id {camera_id!r}"
                )
            roi_ids = [roi.id for roi in motion.rois]
            for roi_id in sorted({r for r in roi_ids if roi_ids.count(r) > 1}):
                problems.append(f"facemotion.cameras.{camera_id}: duplicate ROI id {roi_id!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def camera(self, camera_id: str) -> CameraMeta:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def ttl(self, ttl_id: str) -> TTLMeta:
        for ttl in self.TTLs:
            if ttl.id == ttl_id:
                return ttl
        raise KeyError(ttl_id)
