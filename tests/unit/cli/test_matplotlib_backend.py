"""A command's figures are drawn to files: the CLI names matplotlib's backend (agg) unless the user
did, so a run on a workstation with a display never resolves the default one (which imports
pyplot and tries the GUI toolkits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2t_bkin.testing import ExperimentSpec, write_experiment

_SCRIPT = """
import json, sys
from w2t_bkin.cli import main
code = main(["run", sys.argv[1], "--jobs", "1"])
import matplotlib
print(json.dumps({"code": code, "pyplot": "matplotlib.pyplot" in sys.modules,
                  "backend": matplotlib.get_backend()}))
"""


@pytest.mark.parametrize(("chosen", "expected"), [(None, "agg"), ("pdf", "pdf")])
def test_run_draws_its_qc_figures_without_resolving_a_gui_backend(
    tmp_path: Path, chosen: str | None, expected: str
) -> None:
    write_experiment(tmp_path, ExperimentSpec(duration_s=2.0))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DISPLAY"] = ":99"  # as on a workstation
    if chosen is not None:
        env["MPLBACKEND"] = chosen  # the user's choice is kept
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout
    assert report["backend"] == expected
    assert report["pyplot"] is False
