"""The worker preload: a process that imported it runs a session without importing anything more
(what a session imports lazily, to keep ``w2t-bkin --help`` fast, a worker has before its
first task)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from w2t_bkin.testing import ExperimentSpec, write_experiment

_SCRIPT = """
import json, sys
from pathlib import Path
import gc
import w2t_bkin.session.preload
loaded = set(sys.modules)
frozen = gc.get_freeze_count()
from w2t_bkin.session import process_session
result = process_session(Path(sys.argv[1]), "mouse01", "ses01")
new = sorted(set(sys.modules) - loaded)
import matplotlib
backend = matplotlib.get_backend()
print(json.dumps({"ok": result.ok, "error": result.error, "new": new, "backend": backend,
                  "frozen": frozen, "frozen_after": gc.get_freeze_count()}))
"""


def test_a_session_after_the_preload_imports_no_module(tmp_path: Path) -> None:
    write_experiment(tmp_path, ExperimentSpec(duration_s=4.0, jitter_s=1e-4))
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        # as on a workstation: a display set (matplotlib would probe the GUI toolkits)
        env={**{k: v for k, v in os.environ.items() if k != "MPLBACKEND"}, "DISPLAY": ":99"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"], report["error"]
    # a module listed here is missing from w2t_bkin.session.preload.MODULES
    assert report["new"] == [], report["new"]
    assert report["backend"] == "agg"
    # the loaded modules' objects are left out of the garbage collector's full passes, and
    # stay so after a session (whose validation ran in a forked helper, which froze its own)
    assert report["frozen"] > 100_000
    assert report["frozen_after"] > 0.9 * report["frozen"]


def test_the_preload_keeps_the_backend_a_user_named() -> None:
    script = "import w2t_bkin.session.preload, matplotlib; print(matplotlib.get_backend())"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "MPLBACKEND": "pdf"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "pdf"


def test_the_preload_imports_without_the_optional_extras() -> None:
    # pyarrow comes with the `features` extra: a Dask worker whose preload raised would not start
    script = """
import sys
class NoPyarrow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pyarrow":
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NoPyarrow())
import w2t_bkin.session.preload
print("nwbinspector" in sys.modules, "w2t_bkin.session.driver" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["True", "True"]
