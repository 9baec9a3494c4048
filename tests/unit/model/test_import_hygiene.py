"""The model and the NWB writer load no reader and no heavy file-format package.

Checked in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_loaded_by(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _matching(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(f"{r}.") for r in roots)]


def test_nwb_assembly_loads_no_reader_and_no_pyav() -> None:
    loaded = _modules_loaded_by("import w2t_bkin.nwb.assembly")
    assert "w2t_bkin.nwb.assembly" in loaded
    assert _matching(loaded, ("w2t_bkin.sources", "av")) == []


def test_model_loads_only_stdlib_numpy_and_errors() -> None:
    loaded = _modules_loaded_by(
        "import w2t_bkin.model.pose, w2t_bkin.model.ttl, w2t_bkin.model.bpod, w2t_bkin.model.video"
    )
    assert "w2t_bkin.model.bpod" in loaded
    heavy = ("pynwb", "h5py", "av", "scipy", "pandas", "w2t_bkin.sources")
    assert _matching(loaded, heavy) == []
