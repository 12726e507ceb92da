"""Stop the tiny site's build again and again, in every way the interruption test does, and time each stop.

The test (``test_examplecache.py``) checks what a stopped build leaves; this loop shows that
it holds every time and how long stopping takes (signal sent to main process gone)::

    python tests/stoploop.py 30
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MLCHEATSHEET_OFFLINE", "1")

from test_examplecache import _STOPS, _held_site, _processes_with, start_held_build, stop_held_build  # noqa: E402

KEPT = "1 of the 2 examples it ran are stored in the cache (plot_good.py); the next build runs 1 again (plot_zslow.py)"


def stop_once(case: str) -> tuple[float, bool]:
    """Build until the held example runs, stop it as ``case`` says; (seconds to stop, whether all was right)."""
    tmp = Path(tempfile.mkdtemp(prefix="stoploop-"))
    marker = tmp / "held"
    process, held = start_held_build(_held_site(tmp), marker, case)
    if held is None:
        return 0.0, False
    start = time.monotonic()
    stop_held_build(process, held, case)
    out, _ = process.communicate(timeout=120)
    seconds = time.monotonic() - start
    return seconds, process.returncode != 0 and KEPT in re.sub(r"\x1b\[[0-9;]*m", "", out) and not _processes_with(str(marker))


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    cases, slowest, failed = list(_STOPS), {}, 0
    for i in range(rounds):
        case = cases[i % len(cases)]
        seconds, ok = stop_once(case)
        slowest[case] = max(slowest.get(case, 0.0), seconds)
        failed += not ok
        print(f"{i + 1:3d}  {case:30s}  stopped in {seconds:5.2f} s  {'ok' if ok else 'FAILED'}", flush=True)
    print(f"{rounds - failed} passed, {failed} failed; slowest stop: "
          + ", ".join(f"{case} {seconds:.2f} s" for case, seconds in slowest.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
