"""Hierarchical session metadata: what exists in a session and how to describe it in NWB.

Files merge in this order, later files winning::

    $W2T_ROOT_METADATA -> data/raw/metadata.toml -> <subject>/subject.toml -> <session>/session.toml

Merge rules: tables merge recursively; arrays of tables whose items carry an ``id`` (``name``
for ``[[devices]]``) merge item by item on that key (a session can override one camera's ``fps``
without repeating the others); every other array replaces the earlier one. Paths inside
metadata are globs relative to the session folder.
"""

from __future__ import annotations

from w2t_bkin.metadata.files import (
    DANDI_SUBJECT_FIELDS as DANDI_SUBJECT_FIELDS,
)
from w2t_bkin.metadata.files import (
    MetadataSource as MetadataSource,
)
from w2t_bkin.metadata.files import (
    check_metadata_file as check_metadata_file,
)
from w2t_bkin.metadata.files import (
    defining_file as defining_file,
)
from w2t_bkin.metadata.files import (
    load_session_metadata as load_session_metadata,
)
from w2t_bkin.metadata.files import (
    load_session_metadata_sources as load_session_metadata_sources,
)
from w2t_bkin.metadata.files import (
    merge_metadata as merge_metadata,
)
from w2t_bkin.metadata.files import (
    metadata_files as metadata_files,
)
from w2t_bkin.metadata.files import (
    missing_dandi_fields as missing_dandi_fields,
)
from w2t_bkin.metadata.schema import (
    ID_PATTERN as ID_PATTERN,
)
from w2t_bkin.metadata.schema import (
    ISO_DURATION as ISO_DURATION,
)
from w2t_bkin.metadata.schema import (
    ROOT_METADATA_ENV as ROOT_METADATA_ENV,
)
from w2t_bkin.metadata.schema import (
    WEIGHT as WEIGHT,
)
from w2t_bkin.metadata.schema import (
    BpodMeta as BpodMeta,
)
from w2t_bkin.metadata.schema import (
    BpodSync as BpodSync,
)
from w2t_bkin.metadata.schema import (
    CameraMeta as CameraMeta,
)
from w2t_bkin.metadata.schema import (
    DeviceMeta as DeviceMeta,
)
from w2t_bkin.metadata.schema import (
    FileOrder as FileOrder,
)
from w2t_bkin.metadata.schema import (
    OutcomeRule as OutcomeRule,
)
from w2t_bkin.metadata.schema import (
    PoseCameraMeta as PoseCameraMeta,
)
from w2t_bkin.metadata.schema import (
    PoseMeta as PoseMeta,
)
from w2t_bkin.metadata.schema import (
    PoseModelMeta as PoseModelMeta,
)
from w2t_bkin.metadata.schema import (
    SavedFramesMeta as SavedFramesMeta,
)
from w2t_bkin.metadata.schema import (
    SessionMetadata as SessionMetadata,
)
from w2t_bkin.metadata.schema import (
    SkeletonEdge as SkeletonEdge,
)
from w2t_bkin.metadata.schema import (
    SkeletonMeta as SkeletonMeta,
)
from w2t_bkin.metadata.schema import (
    SubjectMeta as SubjectMeta,
)
from w2t_bkin.metadata.schema import (
    TrialTypeSync as TrialTypeSync,
)
from w2t_bkin.metadata.schema import (
    TTLMeta as TTLMeta,
)
from w2t_bkin.metadata.schema import (
    is_iso_duration as is_iso_duration,
)
