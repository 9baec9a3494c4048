"""The pose worker: run inside a backend's own Python environment, standard library only.

Usage (by :mod:`w2t_bkin.pose.worker.client`, never imported by w2t-bkin itself)::

    BACKEND_PYTHON runner.py REQUEST.json RESPONSE.json

It reads the request (protocol in :mod:`w2t_bkin.pose.worker.protocol`), runs the backend's own
video analysis (``deeplabcut.analyze_videos``; SLEAP's ``sleap_nn`` inference), which writes its
native files into ``output_dir``, and writes the response JSON atomically. It needs nothing of
w2t-bkin, so it runs under any Python >= 3.8 that has the backend installed. Exit status 0
when a response was written (even an error response), 2 when the request cannot be read.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PROTOCOL = "w2t-bkin.pose-worker"
PROTOCOL_VERSION = 1

# backend -> (import name, what to install)
_PACKAGES = {"deeplabcut": "deeplabcut", "sleap": "sleap_nn"}


class _Failure(Exception):
    def __init__(self, kind: str, message: str, package: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.package = package


def _emit(event: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed (the client reads lines as they come)."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _import_backend(backend: str) -> Any:
    package = _PACKAGES.get(backend)
    if package is None:
        raise _Failure("bad_request", f"unknown backend {backend!r}; known: {sorted(_PACKAGES)}")
    try:
        return __import__(package)
    except ImportError as exc:
        raise _Failure(
            "missing_package",
            f"cannot import {package!r} in {sys.executable}: {exc}",
            package=package,
        ) from exc


def _outputs(folder: Path, stem: str, before: set[Path]) -> list[dict[str, str]]:
    """Native files the backend wrote for video ``stem`` (new since the call began)."""
    found = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if path in before or not name.startswith(stem) or not path.is_file():
            continue
        if name.endswith(".analysis.h5"):
            found.append({"path": str(path), "format": "sleap_analysis_h5"})
        elif name.endswith(".slp"):
            found.append({"path": str(path), "format": "slp"})
        elif name.endswith(".h5"):
            found.append({"path": str(path), "format": "dlc_h5"})
        elif name.endswith(".csv"):
            found.append({"path": str(path), "format": "dlc_csv"})
    return found


def _analyze_deeplabcut(module: Any, request: dict[str, Any], out: Path) -> None:
    options = dict(request.get("options") or {})
    options.setdefault("save_as_csv", True)
    module.analyze_videos(request["model"], [request["video"]], destfolder=str(out), **options)


def _analyze_sleap(module: Any, request: dict[str, Any], out: Path) -> None:
    options = dict(request.get("options") or {})
    target = out / (Path(request["video"]).stem + ".predictions.slp")
    try:
        from sleap_nn.inference.run import predict  # sleap-nn >= 0.1 pipeline
    except ImportError:
        from sleap_nn.predict import run_inference  # older releases

        run_inference(
            data_path=request["video"],
            model_paths=[request["model"]],
            output_path=str(target),
            **options,
        )
        return
    predict(request["video"], model_paths=[request["model"]], output_path=str(target), **options)


_ANALYZE = {"deeplabcut": _analyze_deeplabcut, "sleap": _analyze_sleap}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """The response to one request (never raises for a backend failure)."""
    started = time.perf_counter()
    response: dict[str, Any] = {
        "protocol": PROTOCOL,
        "version": PROTOCOL_VERSION,
        "status": "ok",
        "python": platform.python_version(),
        "outputs": [],
        "error": None,
    }
    try:
        if request.get("protocol") != PROTOCOL or not isinstance(request.get("version"), int):
            raise _Failure("bad_request", f"not a {PROTOCOL} request")
        if request["version"] > PROTOCOL_VERSION:
            raise _Failure(
                "bad_request",
                f"request version {request['version']} is newer than this worker's "
                f"({PROTOCOL_VERSION})",
            )
        backend = str(request.get("backend"))
        module = _import_backend(backend)
        response["backend_version"] = str(getattr(module, "__version__", "unknown"))
        if request.get("action") == "analyze":
            out = Path(request["output_dir"])
            out.mkdir(parents=True, exist_ok=True)
            before = set(out.iterdir())
            _emit({"event": "log", "message": f"{backend} analysing {request['video']}"})
            _ANALYZE[backend](module, request, out)
            response["outputs"] = _outputs(out, Path(request["video"]).stem, before)
            if not response["outputs"]:
                raise _Failure("backend_failed", f"{backend} wrote no output file into {out}")
    except _Failure as failure:
        response.update(
            status="error",
            error={"kind": failure.kind, "message": str(failure), "package": failure.package},
        )
    except Exception as exc:  # the backend's own failure, reported, not crashed on
        response.update(
            status="error",
            error={
                "kind": "backend_failed",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            },
        )
    response["elapsed_s"] = time.perf_counter() - started
    return response


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """``runner.py REQUEST RESPONSE``."""
    if len(argv) != 2:
        sys.stderr.write("usage: runner.py REQUEST.json RESPONSE.json\n")
        return 2
    try:
        request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"cannot read the request {argv[0]}: {exc}\n")
        return 2
    _write_atomic(Path(argv[1]), handle(request if isinstance(request, dict) else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
