"""``ephys sort`` wall time per recording-second next to SpikeInterface's ``run_sorter``, and
2 jobs on 2 workers vs 1.

What each side does
-------------------
- **ours**: :func:`w2t_bkin.ephys.sort.sort_results` on a dispatched results folder with
  ``force=True`` (``ephys sort --force --jobs 1``, in this process): plan (job digests), the
  registry run, reload of the recording from the job, preprocessing chain, ``run_sorter``,
  saving the sorting folder, unit statistics, summary, staging rename, registry records.
- **peer**: the same preprocessing chain (bandpass 300-6000 Hz + global median reference)
  built on the already-open recording and ``spikeinterface.sorters.run_sorter`` with the same
  effective sorter parameters and ``n_jobs``: the sorting alone, nothing saved beyond what
  the sorter writes itself.

After one untimed warm-up run (imports, numba compilation), alternating, best of ``repeat``;
``ratio`` is peer / ours (1.0: no overhead; >= 0.91 meets the <= 10 % overhead goal).

Scaling: one results folder with two jobs, sorted by a whole ``w2t-bkin ephys sort --force``
process, ``--jobs 1`` (in that process, one job after the other, ``n_jobs`` = all CPUs) vs
``--jobs 2`` (two worker processes, ``n_jobs`` = CPUs / 2 each: the defaults); ratio =
time(--jobs 1) / time(--jobs 2). Each worker process pays the SpikeInterface import and
numba's compilation of the sorter's kernels once (seconds): with few, short jobs that cost
is not amortised.

Data: ``generate_ground_truth_recording`` (seed 2205): ``small`` 20 s, 16 channels, 5 units,
sorter ``simple``; ``full`` 60 s, 32 channels, 10 units, ``spykingcircus2`` (the recording
the issue measured). Run ``python -m benchmarks.bench_ephys_sort [small|full]``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import _memory

SCALES: dict[str, dict[str, Any]] = {
    "small": {"duration_s": 20.0, "channels": 16, "units": 5, "sorter": "simple", "repeat": 5},
    "full": {
        "duration_s": 60.0,
        "channels": 32,
        "units": 10,
        "sorter": "spykingcircus2",
        "repeat": 2,
    },
}


def _write_recordings(single: Path, pair: Path, setting: dict[str, Any]) -> None:
    """``single/a_rec`` and ``pair/{a_rec,b_rec}``: the same generated recording three times."""
    from spikeinterface.generation import generate_ground_truth_recording

    recording, _ = generate_ground_truth_recording(
        durations=[setting["duration_s"]],
        sampling_frequency=30_000.0,
        num_channels=setting["channels"],
        num_units=setting["units"],
        seed=2205,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The extractor is not serializable", UserWarning)
        recording.save(folder=single / "a_rec", verbose=False, progress_bar=False)
    for name in ("a_rec", "b_rec"):
        shutil.copytree(single / "a_rec", pair / name)


def _dispatch(data_dir: Path, results: Path, n_jobs: int) -> None:
    from w2t_bkin.ephys.dispatch import dispatch
    from w2t_bkin.ephys.params import resolve_params

    flags: dict[str, Any] = {
        "input": "spikeinterface",
        "spikeinterface_info": json.dumps({"reader_type": "spikeinterface"}),
    }
    result = dispatch(data_dir, results, resolve_params(flags).params)
    assert len(result.jobs) == n_jobs, [job.recording_name for job in result.jobs]


def _best(funcs: list[Callable[[], Any]], repeat: int) -> list[float]:
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for k, func in enumerate(funcs):
            started = time.perf_counter()
            func()
            best[k] = min(best[k], time.perf_counter() - started)
    return best


def run(scale: str = "small") -> list[dict[str, Any]]:
    import spikeinterface as si
    import spikeinterface.sorters as ss

    from w2t_bkin.ephys.sort import (
        SortParams,
        _effective_sorter_params,
        default_n_jobs,
        preprocess,
        sort_results,
    )

    setting = SCALES[scale]
    duration_s = float(setting["duration_s"])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ephys-sort-") as tmp:
        root = Path(tmp)
        single, pair = root / "single", root / "pair"
        _write_recordings(single, pair, setting)
        one, two = root / "one", root / "two"
        _dispatch(single, one, 1)
        _dispatch(pair, two, 2)

        params = SortParams(sorter=setting["sorter"], n_jobs=default_n_jobs(1))
        sorter_params = _effective_sorter_params(params)
        recording = si.load(single / "a_rec")

        def peer() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ss.run_sorter(
                    params.sorter,
                    preprocess(recording, params),
                    folder=root / "peer",
                    remove_existing_folder=True,
                    verbose=False,
                    **sorter_params,
                )

        def ours() -> None:
            report = sort_results(one, params, force=True)
            assert report.n_failed == 0, report.rows

        peer()  # first calls pay imports and numba compilation: not what is compared
        peer_s, ours_s = _best([peer, ours], setting["repeat"])
        rows.append(
            {
                "name": f"ephys sort ({params.sorter}, {setting['channels']} ch, "
                f"{duration_s:g} s): wall time per recording-second",
                "value": ours_s / duration_s,
                "unit": "s/s",
                "peer": "run_sorter on the same preprocessed recording",
                "peer_value": peer_s / duration_s,
                "ratio": peer_s / ours_s,
                "peak_mem_mb": _memory.peak_rss_mib(),
                "note": f"overhead {100 * (ours_s / peer_s - 1):+.1f} %; "
                f"n_jobs {params.n_jobs}; best of {setting['repeat']}",
            }
        )

        def cli(jobs: int) -> None:
            # a fresh `w2t-bkin ephys sort` process per side: both pay imports and numba JIT
            # in each worker, as a user's command does
            command = [sys.executable, "-m", "w2t_bkin", "ephys", "sort", str(two)]
            command += ["--sorter", params.sorter, "--force", "--jobs", str(jobs)]
            subprocess.run(command, check=True, capture_output=True)

        one_s, two_s = _best([partial(cli, 1), partial(cli, 2)], 1)
        rows.append(
            {
                "name": f"ephys sort: 2 jobs on 2 workers ({params.sorter}, {duration_s:g} s each)",
                "value": two_s,
                "unit": "s",
                "peer": "the same 2 jobs on 1 worker (--jobs 1)",
                "peer_value": one_s,
                "ratio": one_s / two_s,
                "peak_mem_mb": _memory.peak_rss_mib(),
                "note": f"whole CLI processes; n_jobs per job {default_n_jobs(1)} (--jobs 1) vs "
                f"{default_n_jobs(2)} (--jobs 2); ratio = speed-up",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
