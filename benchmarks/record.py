"""Run a command and record its wall time and peak memory: ``python -m benchmarks.record OUT.json -- CMD ...``.

``make html`` runs Sphinx through this, so every build leaves ``docs/_build/build-stats.json``
next to sphinx-gallery's per-example times, and ``make bench`` can report the whole build
without rebuilding. Standard library only; the command's exit status is passed on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main", "record"]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def record(command: list[str], out: Path) -> int:
    """Run ``command``, then write its wall time, peak memory and exit status to ``out`` (JSON).

    Peak memory is the largest resident set of any finished child process
    (:func:`resource.getrusage` with ``RUSAGE_CHILDREN``): Sphinx executes the gallery in
    its own process, so this is the build's peak.

    Returns:
        The command's exit status.
    """
    started = _now()
    start = time.perf_counter()
    try:
        returncode = subprocess.run(command, check=False).returncode
    except FileNotFoundError:
        print(f"benchmarks.record: command not found: {command[0]}", file=sys.stderr)
        return 127
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    stats = {
        "wall_seconds": round(wall, 2),
        "peak_rss_gib": round(peak_kib / 2**20, 3),
        "returncode": returncode,
        "mode": os.environ.get("MLCHEATSHEET_MODE", "full") or "full",
        "examples_filter": os.environ.get("MLCHEATSHEET_EXAMPLES", ""),
        "started": started,
        "finished": _now(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "command": command,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return returncode


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the recorded command's exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.record", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the JSON record")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (usage: python -m benchmarks.record OUT.json -- CMD ...)")
    return record(command, args.out)


if __name__ == "__main__":
    sys.exit(main())
