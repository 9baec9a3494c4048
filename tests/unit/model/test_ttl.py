"""``TTLChannel`` and the TTL format names shared by the metadata schema and the readers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from w2t_bkin.model.ttl import Polarity, TTLChannel, TTLFormat


def test_channel_counts_its_pulses_and_keeps_its_fields() -> None:
    times_s = np.array([0.5, 1.5, 2.5], dtype=np.float64)
    files = (Path("a.txt"), Path("b.txt"))
    channel = TTLChannel("cam0_frame", times_s, files, n_duplicates_dropped=1, description="x")
    assert channel.n_pulses == 3
    assert channel.times_s is times_s
    assert channel.source_files == files
    assert (channel.n_duplicates_dropped, channel.description) == (1, "x")


def test_channel_defaults_to_no_duplicates_and_no_description() -> None:
    channel = TTLChannel("sync", np.empty(0, dtype=np.float64), ())
    assert (channel.n_pulses, channel.n_duplicates_dropped, channel.description) == (0, 0, "")


def test_channel_is_frozen() -> None:
    channel = TTLChannel("sync", np.empty(0), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        channel.channel_id = "other"  # type: ignore[misc]


def test_format_and_polarity_values() -> None:
    assert get_args(TTLFormat)[0] == "auto"
    formats = {"auto", "text", "csv", "npy", "spikeglx", "openephys", "bonsai", "nwb"}
    assert set(get_args(TTLFormat)) == formats
    assert get_args(Polarity) == ("rising", "falling", "both")


def test_metadata_schema_uses_the_model_format_names() -> None:
    from w2t_bkin.metadata import TTLMeta

    assert TTLMeta.model_fields["format"].annotation == TTLFormat
