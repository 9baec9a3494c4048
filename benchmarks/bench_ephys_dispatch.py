"""``ephys dispatch`` per sample session, next to SpikeInterface's bare reads of the same streams.

What each side does
-------------------
- **ours**: :func:`w2t_bkin.ephys.dispatch.dispatch` on the session folder: discovery (neo
  stream listing), opening every stream, streamed timestamp checks, segment/group split,
  serialisation with portable paths, the reload of every job from a relocated data folder,
  and the job and manifest writes. Measured twice: as shipped (``verify_reload`` on) and with
  the reload check off, to show what the check costs.
- **peer**: the least any dispatcher must do: one SpikeInterface reader instantiation per
  stream that becomes a job (``read_openephys(folder, stream_name, experiment_name)`` /
  ``read_spikeglx(folder, stream_id)``), i.e. the metadata reads alone; no serialisation.

Both run in this process, alternately, best of ``repeat``; ``ratio`` is peer / ours (below 1:
we take longer than the bare reads; the gap is the checks and the writes). Real sample
sessions from ``W2T_TEST_DATA`` (default ``../shared/data``); a session that is absent is
reported as skipped. Run ``python -m benchmarks.bench_ephys_dispatch``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import _memory

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("W2T_TEST_DATA", REPO.parent / "shared" / "data"))
SPIKEGLX = DATA / "spikeglx/ephy_testing_data_via_neuroconv/ephy_testing_data/spikeglx"
SESSIONS: dict[str, tuple[str, Path]] = {
    "Open Ephys 0.6, 3 experiments x 2 probes": (
        "openephys",
        DATA / "openephys/aind-data-transfer/tests/resources/"
        "v0.6.x_neuropixels_multiexp_multistream",
    ),
    "SpikeGLX NP1.0 (Noise4Sam)": ("spikeglx", SPIKEGLX / "Noise4Sam_g0"),
    "SpikeGLX NP2.0 4-shank (NP2_with_sync)": ("spikeglx", SPIKEGLX / "NP2_with_sync"),
}


def _interleaved(funcs: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best wall time of each function, run in turn ``repeat`` times (fair on a busy machine)."""
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for k, func in enumerate(funcs):
            started = time.perf_counter()
            func()
            best[k] = min(best[k], time.perf_counter() - started)
    return best


def _bare_reads(fmt: str, folder: Path, streams: list[tuple[str, str]]) -> int:
    import spikeinterface.extractors as se

    n_channels = 0
    for block, stream in streams:
        if fmt == "openephys":
            recording = se.read_openephys(str(folder), stream_name=stream, experiment_name=block)
        else:
            recording = se.read_spikeglx(str(folder), stream_id=stream)
        n_channels += recording.get_num_channels()
    return n_channels


def run(scale: str = "small") -> list[dict[str, Any]]:
    from w2t_bkin.ephys.dispatch import dispatch
    from w2t_bkin.ephys.params import resolve_params

    repeat = 5 if scale == "full" else 3
    rows: list[dict[str, Any]] = []
    for name, (fmt, folder) in SESSIONS.items():
        if not folder.is_dir():
            rows.append({"name": f"dispatch: {name}", "note": f"skipped: {folder} not found"})
            continue
        with tempfile.TemporaryDirectory(prefix="bench-ephys-") as tmp:
            checked = resolve_params({"input": fmt}).params
            unchecked = resolve_params({"input": fmt, "verify_reload": False}).params
            result = dispatch(folder, Path(tmp) / "warm", checked)  # imports, caches
            streams = sorted({(job.block, job.stream) for job in result.jobs})
            peer_s, ours_s, fast_s = _interleaved(
                [
                    partial(_bare_reads, fmt, folder, streams),
                    partial(dispatch, folder, Path(tmp) / "a", checked),
                    partial(dispatch, folder, Path(tmp) / "b", unchecked),
                ],
                repeat,
            )
        note = (
            f"{len(result.jobs)} job(s) from {len(streams)} stream(s); ours without the "
            f"relocated reload check: {fast_s:.3f} s (ratio {peer_s / fast_s:.2f})"
        )
        rows.append(
            {
                "name": f"dispatch: {name}",
                "value": ours_s,
                "unit": "s",
                "peer": "SpikeInterface bare reads of the same streams",
                "peer_value": peer_s,
                "ratio": peer_s / ours_s,
                "peak_mem_mb": _memory.peak_rss_mib(),
                "note": note,
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
