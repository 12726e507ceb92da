"""Build the site from a copy of ``docs/`` and ``gallery/``, so the working tree stays clean.

Used by the test suite, and by contributors who want a build that does not disturb
``docs/auto_examples``::

    python tests/sitebuild.py --mode quick --out /tmp/site --examples plot_cnn
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_sources(parent: Path) -> Path:
    """Copy ``docs/`` and ``gallery/`` into a new folder under ``parent`` (the package is
    linked); return the copy's ``docs`` folder. Its cache of runs is its own (``.cache/``)."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="src-", dir=parent))
    ignore = shutil.ignore_patterns("_build", "auto_examples", "sg_execution_times.rst", "__pycache__")
    shutil.copytree(ROOT / "docs", work / "docs", ignore=ignore)
    shutil.copytree(ROOT / "gallery", work / "gallery", ignore=ignore)
    (work / "mlcheatsheet").symlink_to(ROOT / "mlcheatsheet")
    return work / "docs"


def start_sphinx(docs: Path, out: Path, *, mode: str = "quick", examples: str | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``sphinx-build -W --keep-going -n`` of ``docs`` into ``out`` with the given budgets and extra environment."""
    full_env = {**os.environ, "MLCHEATSHEET_MODE": mode, **(env or {})}
    full_env.pop("MLCHEATSHEET_NOPLOT", None)
    full_env.pop("MLCHEATSHEET_CACHE", None)  # each copy keeps its own cache
    if examples:
        full_env["MLCHEATSHEET_EXAMPLES"] = examples
    return subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q", str(docs), str(out)],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run_sphinx(docs: Path, out: Path, *, mode: str = "quick", examples: str | None = None, timeout: float = 1800,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``sphinx-build -W --keep-going -n`` of ``docs`` into ``out``, to its end (see :func:`start_sphinx`)."""
    process = start_sphinx(docs, out, mode=mode, examples=examples, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def build_site(out: Path, *, mode: str = "quick", examples: str | None = None, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Copy the sources next to ``out`` and run ``sphinx-build -W --keep-going -n`` on them.

    Args:
        out: Where the HTML goes; the copied sources go to ``out.parent / "src-*"``.
        mode: ``quick`` or ``full`` training budgets.
        examples: A regular expression selecting gallery scripts (default: all).
        timeout: Seconds before the build is abandoned.

    Returns:
        The finished process (check ``returncode``; output is captured).
    """
    return run_sphinx(copy_sources(out.parent), out, mode=mode, examples=examples, timeout=timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory for the HTML")
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--examples", help="regular expression selecting gallery scripts, e.g. plot_cnn")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = build_site(args.out.resolve(), mode=args.mode, examples=args.examples)
    sys.stdout.write(result.stdout[-5000:])
    sys.stderr.write(result.stderr[-20000:])
    print(f"build {'succeeded' if result.returncode == 0 else 'FAILED'}: {args.out}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
