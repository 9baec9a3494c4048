"""The TTL and pose reader registries cover every format the metadata schema allows."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.metadata import PoseCameraMeta, PoseModelMeta
from w2t_bkin.model.ttl import TTLFormat
from w2t_bkin.sources.pose import read_pose
from w2t_bkin.sources.pose.io import SOURCES, SUFFIXES, detect_pose_source
from w2t_bkin.sources.pose.registry import pose_readers
from w2t_bkin.sources.ttl import load_ttl_channel, ttl_format_of, ttl_readers


def test_ttl_registry_reads_every_format_of_the_schema() -> None:
    schema_formats = set(get_args(TTLFormat)) - {"auto"}
    assert {reader.fmt for reader in ttl_readers()} == schema_formats


@pytest.mark.parametrize("model", [PoseCameraMeta, PoseModelMeta])
def test_pose_registry_reads_every_source_of_the_schema(model: type) -> None:
    schema_sources = set(get_args(model.model_fields["source"].annotation))
    assert {reader.source for reader in pose_readers()} == schema_sources


def test_pose_spellings_and_suffixes_are_those_read_pose_always_accepted() -> None:
    assert SOURCES == {
        "dlc": "DeepLabCut",
        "deeplabcut": "DeepLabCut",
        "sleap": "SLEAP",
        "lightning": "Lightning Pose",
        "lightning_pose": "Lightning Pose",
        "lightning pose": "Lightning Pose",
        "lp": "Lightning Pose",
        "mediapipe": "MediaPipe",
        "synthetic": "w2t-bkin synthetic",
    }
    assert SUFFIXES == (".h5", ".hdf5", ".csv", ".npz", ".slp")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.txt", "text"),
        ("a", "text"),
        ("a.TSV", "text"),
        ("a.csv", "csv"),
        ("a.npy", "npy"),
        ("a.nidq.bin", "spikeglx"),
        ("a.ssv", "bonsai"),
        ("a.nwb", "nwb"),
    ],
)
def test_auto_format_follows_the_extension(name: str, fmt: str) -> None:
    assert ttl_format_of(Path(name)) == fmt
    assert ttl_format_of(Path(name), "csv") == "csv"


def test_a_folder_is_open_ephys(tmp_path: Path) -> None:
    assert ttl_format_of(tmp_path) == "openephys"


def test_unknown_ttl_extension_gives_the_same_error_as_before(tmp_path: Path) -> None:
    path = tmp_path / "pulses.h5"
    path.write_bytes(b"")
    with pytest.raises(IngestError) as info:
        load_ttl_channel("sync", path)
    assert info.value.message == f"{path}: cannot tell the TTL format from the extension '.h5'"
    assert info.value.hint == (
        "set the channel's 'format' to text, csv, npy, spikeglx, openephys or nwb"
    )


def test_threshold_is_refused_for_formats_without_levels(tmp_path: Path) -> None:
    path = tmp_path / "pulses.txt"
    path.write_text("0.5\n1.5\n")
    refusal = "a threshold applies only to NWB TimeSeries channels, not to text files"
    with pytest.raises(IngestError, match=refusal):
        load_ttl_channel("sync", path, threshold=0.5)
    np.testing.assert_array_equal(load_ttl_channel("sync", path).times_s, [0.5, 1.5])


def test_unknown_pose_source_gives_the_same_error_as_before(tmp_path: Path) -> None:
    path = tmp_path / "cam0.csv"
    path.write_text("scorer,a\n")
    with pytest.raises(IngestError) as info:
        read_pose(path, source="OpenPose")
    assert info.value.message == "unknown pose source 'OpenPose'"
    assert info.value.hint == (
        "use one of ['deeplabcut', 'dlc', 'lightning', 'lightning pose', 'lightning_pose', "
        "'lp', 'mediapipe', 'sleap', 'synthetic']"
    )


def test_unsupported_pose_extension_lists_the_registered_suffixes(tmp_path: Path) -> None:
    path = tmp_path / "cam0.json"
    path.write_text("{}")
    with pytest.raises(IngestError) as info:
        read_pose(path)
    assert info.value.hint == "supported: .h5, .hdf5, .csv, .npz, .slp"
    assert detect_pose_source(path) is None


@pytest.mark.parametrize("source", ["dlc", "lightning"])
def test_a_sleap_file_declared_as_another_software_is_refused(tmp_path: Path, source: str) -> None:
    slp = tmp_path / "labels.slp"
    slp.write_bytes(b"not read")
    software = "DeepLabCut" if source == "dlc" else "Lightning Pose"
    with pytest.raises(IngestError, match=rf"\.slp files are SLEAP files, not {software}$"):
        read_pose(slp, source=source)
    assert detect_pose_source(slp) == "sleap"
