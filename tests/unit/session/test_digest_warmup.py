"""A session's inputs are hashed in a background thread while it ingests and synchronizes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from w2t_bkin.runtime import fingerprint as runtime_fingerprint
from w2t_bkin.runtime.fingerprint import DigestCache, stat_file
from w2t_bkin.session import fingerprint as session_fingerprint
from w2t_bkin.session import process_session
from w2t_bkin.session.fingerprint import DigestWarmup
from w2t_bkin.testing import ExperimentSpec, write_experiment


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "w2t-digests"]


def test_warmup_fills_the_cache_with_true_digests(tmp_path: Path) -> None:
    paths = []
    for k in range(5):
        path = tmp_path / f"input{k}.bin"
        path.write_bytes(bytes([k]) * (100_000 + k))
        paths.append(path)
    cache = DigestCache(tmp_path / "digests.sqlite")
    warmup = DigestWarmup(paths, cache)
    warmup.join()
    for path in paths:
        assert cache.get(stat_file(path)) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _threads() == []


def test_unreadable_input_is_left_to_the_fingerprint(tmp_path: Path) -> None:
    good = tmp_path / "good.bin"
    good.write_bytes(b"x" * 1000)
    cache = DigestCache(None)
    warmup = DigestWarmup([tmp_path / "missing.bin", good], cache)
    warmup.join()  # no exception here: the fingerprint names the missing file later
    assert cache.get(stat_file(good)) == hashlib.sha256(b"x" * 1000).hexdigest()


def test_stop_ends_before_the_next_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [tmp_path / f"f{k}" for k in range(3)]
    for path in paths:
        path.write_bytes(b"data")
    hashed: list[Path] = []
    release = threading.Event()
    real = session_fingerprint.file_digest

    def slow_digest(path: Path, cache: DigestCache | None = None) -> str:
        hashed.append(path)
        release.wait(30)
        return real(path, cache)

    monkeypatch.setattr(session_fingerprint, "file_digest", slow_digest)
    warmup = DigestWarmup(paths, DigestCache(None))
    while not hashed:
        threading.Event().wait(0.01)
    stopper = threading.Thread(target=warmup.stop)
    stopper.start()
    threading.Event().wait(0.05)
    release.set()
    stopper.join(30)
    assert hashed == paths[:1]
    assert _threads() == []


def test_a_session_hashes_its_inputs_beside_ingestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    where: dict[str, str] = {}
    real = runtime_fingerprint.sha256_file

    def recording(path: Path, *args: object) -> str:
        where[Path(path).name] = threading.current_thread().name
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime_fingerprint, "sha256_file", recording)
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    inputs = [p for p in where if not p.endswith((".nwb", ".json", ".html", ".log"))]
    assert len(inputs) >= 5
    assert {where[name] for name in inputs} == {"w2t-digests"}  # none hashed twice, none late
    assert _threads() == []


def test_a_failed_session_leaves_no_hashing_thread(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    for pose_file in (root / "data/raw/mouse01/ses01").rglob("*.h5"):
        pose_file.write_bytes(b"not hdf5")  # ingestion fails
    result = process_session(root, "mouse01", "ses01")
    assert result.failed_phase == "ingestion", result.error
    assert _threads() == []
