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
import threading
import time
from pathlib import Path

__all__ = ["main", "record"]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _tree_rss_kib(root: int) -> int:
    """Resident memory of process ``root`` and all its descendants, in KiB (Linux ``/proc``; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            statm = (entry / "statm").read_text().split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(statm[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def _sample_peak(process: subprocess.Popen[bytes], peak: list[int], every: float = 0.5) -> None:
    while process.poll() is None:
        peak[0] = max(peak[0], _tree_rss_kib(process.pid))
        time.sleep(every)


def record(command: list[str], out: Path) -> int:
    """Run ``command``, then write its wall time, peak memory and exit status to ``out`` (JSON).

    Peak memory is the largest *sum* of the resident sets of the command and all its
    descendants, sampled every half second (the gallery runs in parallel worker processes),
    and never less than the largest single finished child (:func:`resource.getrusage`).

    Returns:
        The command's exit status.
    """
    started = _now()
    start = time.perf_counter()
    peak = [0]
    try:
        process = subprocess.Popen(command)
    except FileNotFoundError:
        print(f"benchmarks.record: command not found: {command[0]}", file=sys.stderr)
        return 127
    sampler = threading.Thread(target=_sample_peak, args=(process, peak), daemon=True)
    sampler.start()
    try:
        returncode = process.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the build too; let it finish stopping
        returncode = process.wait()
    wall = time.perf_counter() - start
    largest_child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    stats = {
        "wall_seconds": round(wall, 2),
        "peak_rss_gib": round(max(peak[0], largest_child_kib) / 2**20, 3),
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
