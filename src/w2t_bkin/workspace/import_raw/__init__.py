"""``w2t-bkin data import-raw``: link (or copy) raw files into a session and declare them.

The plan is computed first (dry run by default); it says what goes where, which TTL channel is
each camera's frame clock, and lists as conflicts everything ``run`` would refuse that can be
known from the files and the metadata already declared: two pose outputs for one video (a SLEAP
``.slp`` and its ``.analysis.h5``, raw and ``_filtered`` DeepLabCut outputs), pose files that
match no video, video chunks without a pose file, cameras without a frame clock, unreadable
Bpod files and Bpod state names the metadata uses but the files lack. What ``run`` needs but
import-raw cannot decide (a ``[[bpod.sync.trial_types]]`` rule) is proposed as a commented TOML
snippet built from the names found (Bpod trial types and states, TTL ids).

Applying the plan first checks everything (conflicts, ``session.toml`` syntax and schema,
existing targets), then creates relative symlinks (or atomic copies) by category and declares
``[[cameras]]``, ``[[TTLs]]``, ``[bpod]`` and ``[pose.cameras]`` entries whose paths are
exactly the linked files, editing ``session.toml`` with tomlkit so the user's comments and
layout survive (the snippet is added as comments only). When a step fails, what was already
created is removed again. Source files are never modified.

Naming rules
------------
- A camera id is the video's file stem without chunk suffixes (``_chunk00``, ``_000``,
  ``-1``, ``_part2``): ``cam0_chunk00.mp4`` and ``cam0_chunk01.mp4`` are one camera ``cam0``;
  ``top.mp4`` and ``side.mp4`` are two. A number after a bare ``cam``/``camera`` is a camera
  number, not a chunk (``cam_1.avi`` is camera ``cam_1``).
- A pose file belongs to the camera whose video stem starts its name (DeepLabCut, SLEAP and
  Lightning Pose all name outputs ``<video stem><suffix>``); otherwise its own stem without the
  tool's suffix names the camera. Its source is read from the name or content: a DeepLabCut
  scorer (``DLC_``) in the name, ``.slp``/``.analysis.h5`` (SLEAP), a CSV whose scorer row names
  a Lightning Pose model.
- Each TTL file is its own channel, ``ttl_<stem>``. A TTL file whose name contains a camera id
  is that camera's frame clock (``ttl_id``).

Modules: :mod:`.names` (categories and ids), :mod:`.rules` (what ``run`` would refuse),
:mod:`.plan`, :mod:`.session_toml` (tomlkit edits) and :mod:`.apply`.
"""

from w2t_bkin.workspace.import_raw.apply import apply_import, check_import
from w2t_bkin.workspace.import_raw.names import (
    ImportItem,
    camera_id_from_stem,
    pose_source_of,
    ttl_id_from_stem,
)
from w2t_bkin.workspace.import_raw.plan import ImportPlan, plan_import

__all__ = [
    "ImportItem",
    "ImportPlan",
    "apply_import",
    "camera_id_from_stem",
    "check_import",
    "plan_import",
    "pose_source_of",
    "ttl_id_from_stem",
]
