"""Upstream w2t-bkin TOML files, written from the facts of ../shared/reference/w2t-bkin.md.

One text per documented generation of each file kind (configuration, experiment metadata,
subject, session). Values are the documented defaults and examples.
"""

from __future__ import annotations

# configuration.toml ---------------------------------------------------------------------------

# (A) the schema 0.0.14 enforces (config.SessionConfig), every section with its defaults.
CONFIG_SESSIONCONFIG = """\
[logging]
level = "CRITICAL"
structured = false

[discovery]
discover_cameras = true
discover_ttl_signals = true
discover_bpod = true
discover_pose = true
discover_models = true

[artifacts]
mode = "auto"
save_csv = false

[ingestion.ttl_signals]
enable_loading = true

[ingestion.video]
enable_loading = true
ttl_validation = true
ttl_tolerance = 0
mismatch_warn_only = true

[ingestion.bpod]
enable_loading = true
continuous_time = true

[ingestion.pose]
enable_loading = false
file_type = "h5"

[synchronization]
strategy = "hardware_pulse"
reference_channel = "ttl_camera"
alignment_method = "nearest"
tolerance = 0.01
global_offset = 0.0
robust_min_matches = 1
robust_max_start_trial_search = 50

[assembly.ttls]
mode = "assemble"

[assembly.behavior]
mode = "skip"

[assembly.videos]
mode = "assemble"

[assembly.pose]
mode = "assemble"

[finalization]
qc_report = true
alignment_stats = true
provenance = true
skip_validation = true
"""

# (B) configuration.toml as `data init` writes it.
CONFIG_TEMPLATE = """\
[synchronization]
strategy = "hardware_pulse"
reference_channel = "ttl_camera"

[synchronization.alignment]
method = "nearest"
tolerance_s = 0.002
global_offset_s = 0.0

[verification]
enabled = true
check_frame_counts = true
check_sync_mismatch = true
mismatch_tolerance_frames = 0
warn_on_mismatch = false

[bpod]
parse = true
pattern = "Bpod/*.mat"
order = "time_asc"
continuous_time = true

[acquisition]
concat_strategy = "ffconcat"

[preprocessing]
force_rerun = false

[preprocessing.dlc]
mode = "auto"

[preprocessing.sleap]
mode = "off"

[video.analysis]
frame_count_timeout = 30

[video.transcode]
enabled = true
codec = "h264"
crf = 20
preset = "fast"
keyint = 15

[nwb]
link_external_video = true

[qc]
generate_report = true
include_verification = true

[logging]
level = "INFO"
structured = false
"""

# (C) the documented parameters: (B) plus [paths], nwb lab/institution/templates, qc.out_template
# and trial-type rules.
CONFIG_DOCUMENTED = """\
[paths]
raw_root = "data/raw"
intermediate_root = "data/interim"
output_root = "data/processed"
models_root = "models"
root_metadata = "/configs/metadata.toml"

[nwb]
link_external_video = false
lab = "Lab Name"
institution = "Institution Name"
file_name_template = "{session.id}.nwb"
session_description_template = "Session {session.id} on {session.date}"

[qc]
generate_report = false
include_verification = true
out_template = "qc/{session.id}"

[[bpod.sync.trial_types]]
trial_type = 1
sync_signal = "W2T_Audio"
sync_ttl = "ttl_cue"
"""

# configs/standard.toml of the repository.
CONFIG_STANDARD = """\
[project]
name = "w2t-bkin"

[paths]
raw_root = "data/raw"
intermediate_root = "data/interim"
output_root = "data/processed"
metadata_file = "session.toml"
models_root = "models"

[[bpod.sync.trial_types]]
trial_type = 1
sync_signal = "W2T_Audio"
sync_ttl = "ttl_cue"

[logging]
level = "DEBUG"
"""

# The 0.0.2 schema (domain/config.py).
CONFIG_002 = """\
[project]
name = "w2t"

[paths]
raw_root = "data/raw"
intermediate_root = "data/interim"
output_root = "data/processed"
metadata_file = "session.toml"
models_root = "models"

[timebase]
source = "ttl"
mapping = "nearest"
jitter_budget_s = 0.01
offset_s = 0.0
ttl_id = "ttl_camera"
neuropixels_stream = "imec0"

[acquisition]
concat_strategy = "ffconcat"

[verification]
mismatch_tolerance_frames = 2
warn_on_mismatch = true

[bpod]
parse = false

[video.transcode]
enabled = false
codec = "h264"
crf = 20
preset = "fast"
keyint = 15

[nwb]
link_external_video = true
lab = "Larkum"
institution = "HU Berlin"
file_name_template = "{session.id}.nwb"
session_description_template = "Session {session.id}"

[qc]
generate_report = true
out_template = "qc/{session.id}"
include_verification = true

[logging]
level = "WARNING"
structured = false

[labels.dlc]
run_inference = false
model = "models/dlc/config.yaml"

[labels.sleap]
run_inference = false
model = ""

[facemap]
run_inference = false
ROIs = ["whisker_pad"]
"""

# metadata --------------------------------------------------------------------------------------

# data/raw/metadata.toml as `data init` writes it.
METADATA_DATA_INIT = """\
experiment_description = "Multi-subject behavioral experiment"
experimenter = ["Esteban, B"]
lab = "Larkum"
institution = "HU Berlin"
protocol = ""
keywords = ["behavior", "pose tracking", "synchronization"]

[[devices]]
name = "bpod"
description = "Bpod State Machine for behavioral control"
manufacturer = "Sanworks"

[[processing_modules]]
name = "behavior"
description = "Behavioral data"

[[processing_modules]]
name = "sync"
description = "Synchronization data"
"""

# The full 0.0.14 metadata schema: NWB fields, devices with the builder's model sub-table,
# cameras and TTLs with one glob each, the dict form of the documented trial types, and a pose
# camera in generate mode (no paths).
METADATA_FULL = """\
session_description = "Whisker touch"
timestamps_reference_time = "2025-08-16T17:46:54+02:00"
slices = "none"

[[devices]]
name = "camera_0"
serial_number = "19283746"
model = { model_name = "Blackfly S", manufacturer = "FLIR" }

[[cameras]]
id = "camera_0"
paths = "Video/cam0_*.avi"
fps = 150.0
ttl_id = "ttl_camera"
order = "time_desc"
manufacturer = "FLIR"

[[TTLs]]
id = "ttl_camera"
paths = "TTLs/*_frame.txt"

[[TTLs]]
id = "ttl_cue"
paths = ["TTLs/*_cue.txt"]

[bpod]
path = "Bpod/*.mat"
order = "time_asc"
continuous_time = false

[bpod.sync.trial_types."1"]
sync_signal = "W2T_Audio"
sync_ttl = "ttl_cue"

[bpod.sync.trial_types."2"]
sync_signal = "A2L_Audio"
sync_ttl = "ttl_cue"

[pose.models.dlc_top]
source = "dlc"
path = "dlc/config.yaml"
artifacts = "dlc-pose"

[pose.cameras.camera_0]
source = "dlc"
model_id = "dlc_top"
artifacts = "dlc-pose"
"""

# subject.toml as `data add-subject` writes it.
SUBJECT_ADD_SUBJECT = """\
[subject]
subject_id = "SNA-144233"
species = "Mus musculus"
sex = "U"
age = "P84D"
weight = "0.025 kg"
"""

# session.toml as `data add-session` writes it.
SESSION_ADD_SESSION = """\
session_description = "Behavioral session"
identifier = "SNA-144233-day1"
session_start_time = "2025-08-16T00:00:00Z"
session_id = "day1"
experimenter = ["Esteban, B"]
"""

# The legacy fixture session.toml: a [session] table and [[bpod.trial_types]] with descriptions.
SESSION_LEGACY = """\
session_description = "Test session for integration tests"
identifier = "Session-000001"
session_start_time = "2025-01-01T00:00:00+01:00"

[session]
id = "Session-000001"
subject_id = "mouse_001"
date = "2025-01-01"
experimenter = "Borja Esteban"
description = "Test session"
sex = "M"
age = "P60"
genotype = "WT"

[bpod]
path = "Bpod/*.mat"
order = "name_asc"
continuous_time = false

[[bpod.trial_types]]
description = "Active whisker touch trials"
trial_type = 1
sync_signal = "W2T_Audio"
sync_ttl = "ttl_cue"

[[bpod.trial_types]]
description = "Microstim trials"
trial_type = 3
sync_signal = "Microstim"
sync_ttl = "ttl_cue"

[[TTLs]]
id = "ttl_cue"
paths = "TTLs/*nidq.xia_3_0*.txt"
"""
