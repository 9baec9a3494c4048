"""Ephys test layouts built in ``tmp_path`` from the real sample ``.meta``/``.bin`` files.

The shared sample data hold short real SpikeGLX runs and metas without binaries; these helpers
copy a real ``.meta`` and write a ``.bin`` of known size and content next to it, in the folder
layout SpikeGLX writes (``<run>_g<G>/<run>_g<G>_imec<N>/<run>_g<G>_t<T>.imec<N>.<band>.bin``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

SPIKEGLX = Path("spikeglx/ephy_testing_data_via_neuroconv/ephy_testing_data/spikeglx")
NOISE4SAM = SPIKEGLX / "Noise4Sam_g0"
NOISE4SAM_AP_META = NOISE4SAM / "Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.ap.meta"
NOISE4SAM_LF_META = NOISE4SAM / "Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.lf.meta"
NOISE4SAM_AP_BIN = NOISE4SAM / "Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.ap.bin"
NP2_4SHANK_META = Path("spikeglx/probeinterface/tests/data/spikeglx/NP2_4_shanks.imec0.ap.meta")
OPENEPHYS_MULTI = Path(
    "openephys/aind-data-transfer/tests/resources/v0.6.x_neuropixels_multiexp_multistream"
)
N_SAVED = 385  # 384 neural channels + the sync word


def write_meta(source: Path, target: Path, n_samples: int, **overrides: str) -> Path:
    """Copy a real ``.meta`` to ``target``, ``fileSizeBytes`` and ``fileName`` matching the bin."""
    text = source.read_text(encoding="utf-8")
    n_chans = int(re.search(r"^nSavedChans=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    values = {
        "fileSizeBytes": str(n_samples * n_chans * 2),
        # neo names streams and segments from fileName, not from the file on disk
        "fileName": target.with_suffix(".bin").as_posix(),
        **overrides,
    }
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        if n == 0:
            text += f"{key}={value}\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def write_bin(path: Path, data: np.ndarray) -> Path:
    """``(n_samples, n_chans) int16`` as a SpikeGLX ``.bin``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(data, dtype=np.int16).tofile(path)
    return path


def imec_file(run_dir: Path, run: str, gate: int, trigger: int, probe: int, band: str) -> Path:
    folder = run_dir / f"{run}_g{gate}" / f"{run}_g{gate}_imec{probe}"
    return folder / f"{run}_g{gate}_t{trigger}.imec{probe}.{band}.bin"


def np1_ap_lf_session(data: Path, root: Path, run: str = "np1") -> Path:
    """A real NP1.0 AP run (Noise4Sam, 1155 samples) plus an LF band of 96 samples (zeros)."""
    ap_bin = imec_file(root, run, 0, 0, 0, "ap")
    ap_bin.parent.mkdir(parents=True)
    shutil.copyfile(data / NOISE4SAM_AP_BIN, ap_bin)
    write_meta(data / NOISE4SAM_AP_META, ap_bin.with_suffix(".meta"), 1155)
    lf_bin = imec_file(root, run, 0, 0, 0, "lf")
    write_bin(lf_bin, np.zeros((96, N_SAVED), np.int16))
    write_meta(data / NOISE4SAM_LF_META, lf_bin.with_suffix(".meta"), 96)
    return root


def np2_four_shank_session(data: Path, root: Path, n_samples: int = 300) -> Path:
    """A real NP2.0 four-shank meta with a generated ``.bin``."""
    text = (data / NP2_4SHANK_META).read_text(encoding="utf-8")
    n_chans = int(re.search(r"^nSavedChans=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    ap_bin = imec_file(root, "np2", 0, 0, 0, "ap")
    rng = np.random.default_rng(7)
    write_bin(ap_bin, rng.integers(-50, 50, (n_samples, n_chans)))
    write_meta(data / NP2_4SHANK_META, ap_bin.with_suffix(".meta"), n_samples)
    return root


GATE_TRIGGER_SAMPLES = {(0, 0): 1155, (0, 1): 1000, (1, 0): 900, (1, 1): 800}
"""Samples per (gate, trigger) of :func:`multi_gate_trigger_session`: all different, so the
segment order can be checked."""


def multi_gate_trigger_session(data: Path, root: Path, run: str = "mg") -> Path:
    """Gates 0-1 x triggers 0-1 of one run, from the Noise4Sam AP file cut to known lengths."""
    source = np.fromfile(data / NOISE4SAM_AP_BIN, dtype=np.int16).reshape(-1, N_SAVED)
    for (gate, trigger), n_samples in GATE_TRIGGER_SAMPLES.items():
        ap_bin = imec_file(root, run, gate, trigger, 0, "ap")
        write_bin(ap_bin, source[:n_samples])
        write_meta(data / NOISE4SAM_AP_META, ap_bin.with_suffix(".meta"), n_samples)
    return root


OPENEPHYS_AP_ONLY = Path(
    "openephys/spikewrap/spikewrap/examples/example_tiny_data/openephys/rawdata/sub-001/ses-001/"
    "ephys"
)
"""Real Open Ephys 0.6 NP1.0 recording: ``ProbeA-AP`` (384 channels + sync), 1000 samples."""


def openephys_ap_lfp_session(data: Path, root: Path, n_lfp_samples: int = 100) -> Path:
    """The real ``ProbeA-AP`` recording plus a ``ProbeA-LFP`` stream (2.5 kHz) declared in its
    ``structure.oebin``, holding the first AP samples."""
    import json

    shutil.copytree(
        data / OPENEPHYS_AP_ONLY, root, dirs_exist_ok=True, copy_function=shutil.copyfile
    )
    recording = root / "Record Node 104" / "experiment1" / "recording1"
    oebin = json.loads((recording / "structure.oebin").read_text(encoding="utf-8"))
    ap = oebin["continuous"][0]
    oebin["continuous"].append(
        {
            **ap,
            "folder_name": "Neuropix-PXI-100.ProbeA-LFP/",
            "stream_name": "ProbeA-LFP",
            "sample_rate": 2500.0,
        }
    )
    (recording / "structure.oebin").write_text(json.dumps(oebin), encoding="utf-8")
    source = recording / "continuous" / "Neuropix-PXI-100.ProbeA-AP"
    target = recording / "continuous" / "Neuropix-PXI-100.ProbeA-LFP"
    target.mkdir()
    traces = np.fromfile(source / "continuous.dat", dtype=np.int16).reshape(-1, N_SAVED)
    traces[:n_lfp_samples].tofile(target / "continuous.dat")
    first = np.load(source / "sample_numbers.npy")[0]
    np.save(target / "sample_numbers.npy", first // 12 + np.arange(n_lfp_samples))
    start_s = float(np.load(source / "timestamps.npy")[0])
    np.save(target / "timestamps.npy", start_s + np.arange(n_lfp_samples) / 2500.0)
    return root
