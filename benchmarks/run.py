"""Run every benchmark and write a markdown results table.

Usage: ``python -m benchmarks.run [--scale small|full] [--only NAME ...] [--output PATH]``
(with ``--only`` the table goes to ``benchmarks/.work/RESULTS-only.md`` unless ``--output``
says otherwise).

Each ``benchmarks/bench_*.py`` module exposes ``run(scale) -> list[dict]`` whose rows carry
``name, value, unit, peer, peer_value, ratio, peak_mem_mb, note``; the peer is measured in the
same run on the same machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from w2t_bkin.io_utils import atomic_write_text

# Every benchmarks/bench_*.py module, in name order: a new benchmark is one new module.
BENCHMARKS = tuple(sorted(p.stem for p in Path(__file__).resolve().parent.glob("bench_*.py")))
COLUMNS = ("name", "value", "unit", "peer", "peer_value", "ratio", "peak_mem_mb", "note")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def render(rows: list[dict[str, Any]], scale: str, elapsed_s: float) -> str:
    lines = [
        "# w2t-bkin benchmark results",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}",
        f"- scale: {scale}; total time {elapsed_s:.0f} s",
        "- ratio = peer time / our time (higher is better) unless the note says otherwise",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=("small", "full"), default="full")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="benchmark module names")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="default: benchmarks/RESULTS.md for a full run; with --only, "
        "benchmarks/.work/RESULTS-only.md (a partial run never replaces the full table)",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        full = Path("benchmarks/RESULTS.md")
        args.output = full.parent / ".work" / "RESULTS-only.md" if args.only else full
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    failed = False
    for name in args.only or BENCHMARKS:
        print(f"== {name} ({args.scale})", flush=True)
        try:
            new_rows = importlib.import_module(f"benchmarks.{name}").run(args.scale)
        except Exception:
            traceback.print_exc()
            rows.append({"name": name, "note": "FAILED (see log)"})
            failed = True
            continue
        for row in new_rows:
            print(
                "   "
                + ", ".join(f"{k}={_cell(row.get(k))}" for k in COLUMNS if row.get(k) is not None)
            )
        rows += new_rows
    text = render(rows, args.scale, time.perf_counter() - started)
    atomic_write_text(args.output, text)  # a reader never sees half a table
    print(f"results written to {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
