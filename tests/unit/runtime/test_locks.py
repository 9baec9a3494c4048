"""Exclusive locks: refused while held (threads and processes alike), released on exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2t_bkin.runtime.locks import LockHeldError, exclusive_lock


def test_a_held_lock_is_refused_with_its_holder_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "x.lock"
    with exclusive_lock(path):
        with pytest.raises(LockHeldError) as refused, exclusive_lock(path):
            pass
        assert refused.value.holder.startswith(f"pid {os.getpid()} since ")
        assert str(path) in str(refused.value)
    with exclusive_lock(path):  # free again
        pass


def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    code = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from w2t_bkin.runtime.locks import exclusive_lock
        with exclusive_lock(Path({str(path)!r})):
            print("held", flush=True)
            sys.stdin.readline()
            os._exit(9)  # dies holding it: no unlock, no cleanup
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "held"
    with pytest.raises(LockHeldError, match=f"pid {child.pid} since"), exclusive_lock(path):
        pass
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.wait(timeout=30) == 9
    with exclusive_lock(path):
        pass
