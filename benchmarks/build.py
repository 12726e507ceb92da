"""The full docs build: wall time, peak memory, and each gallery example against its share of 15 minutes.

Sphinx-gallery writes every example's execution time to ``sg_execution_times.rst`` (in
``docs/`` for all galleries, and in ``docs/auto_examples/``). :func:`parse_execution_times`
reads it; ``make html`` runs Sphinx through :mod:`benchmarks.record`, which leaves the
build's wall time and peak memory in ``docs/_build/build-stats.json``
(:func:`load_build_stats`). So an existing build is reported without rebuilding;
:func:`run_build` times a fresh one as a child process.

Each example's share (:data:`SHARES`) is its training-plus-plotting time on an idle 2-core
machine, decided from measurements so that the whole build fits in 15 minutes with room
left for Sphinx itself.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlcheatsheet.site.budgets import Budget, budget_table
from mlcheatsheet.runtime import usable_cpus

from ._measure import Row

__all__ = [
    "BUILD_BUDGET_SECONDS",
    "MEMORY_BUDGET_GIB",
    "FID_CLASSIFIER_SHARE",
    "SHARES",
    "BuildReport",
    "budget_lines",
    "build_rows",
    "find_execution_times",
    "load_build_stats",
    "parse_execution_times",
    "report_existing_build",
    "run_build",
    "run_build_ratios",
    "shares_of",
]

ROOT = Path(__file__).resolve().parents[1]
#: The whole ``make html`` must finish within this many seconds on the 2-core CPU.
BUILD_BUDGET_SECONDS = 15 * 60
#: ... using at most this much memory.
MEMORY_BUDGET_GIB = 4.0
#: Each gallery script's share of the build, in seconds of training and plotting with one
#: torch thread, two examples side by side on an idle 2-core machine (how ``make html`` runs
#: them; the shared FID classifier is counted apart).
SHARES: dict[str, float] = {  # the fresh full build of 2026-12-01 11:20 (6 m 48 s), rounded up
    "plot_mlp.py": 12,  # 10.1 s
    "plot_cnn.py": 40,  # 35.7 s
    "plot_resnet.py": 200,  # 188.6 s: ResNet-20, plain-20, pre-training on 0-4, three transfer strategies
    "plot_rnn.py": 90,  # 85.2 s
    "plot_autoencoder.py": 40,  # 35.9 s, which trained the FID classifier (about 5 s)
    "plot_vae.py": 120,  # 113.8 s
    "plot_gan.py": 70,  # 4,800 steps since 2026-12-04 (60 s of training measured alone on one thread)
    "plot_dcgan.py": 120,  # 112.8 s
    "plot_wgan_gp.py": 200,  # 3,000 steps of 32 since 2026-12-04 (2,400 steps: 152 s in a fresh full build)
    "plot_conditional_dcgan.py": 50,  # 44.1 s
    "plot_sagan.py": 95,  # 1,000 steps since 2026-12-04: 91 s in that day's fresh full build
    # Four variants x three seeds of 2,500 steps since 2026-12-04: 686 s in that day's fresh full
    # build, the build's critical path (the whole build 815 s: past Read the Docs' limit, see
    # .readthedocs.yaml).
    "plot_gan_techniques.py": 700,
    # 48 epochs of flow matching (about 300 s, measured alone on one thread on 2026-12-04)
    # and its samples: two solvers at four step counts and three headline draws, 1,000
    # images each, at up to 19 network evaluations per image.
    "plot_diffusion.py": 480,
}
#: The classifier behind FID is trained once per build and stored (mlcheatsheet.training.scorer),
#: by the first script to ask for it; the share goes to the first of these in the gallery's order.
FID_CLASSIFIER_SHARE = 10.0
_FID_SCRIPTS = ("plot_autoencoder.py", "plot_vae.py", "plot_gan.py", "plot_dcgan.py", "plot_wgan_gp.py",
                "plot_conditional_dcgan.py", "plot_sagan.py", "plot_gan_techniques.py", "plot_diffusion.py")
#: Where ``make html`` leaves its wall time and peak memory (see :mod:`benchmarks.record`).
STATS_FILE = Path("_build") / "build-stats.json"

# One row of sphinx-gallery's table: the script's path in ``(``...``)``, then its time.
_ROW = re.compile(r"\(``(?P<path>[^`]+\.py)``\)\s*\n\s*-\s*(?P<time>[\d:.]+)")


@dataclass
class BuildReport:
    """Measurements of one docs build.

    Attributes:
        examples: Seconds each gallery script took to execute, by script name.
        wall_seconds: Wall time of the whole build (``None`` when only parsed).
        peak_rss_gib: Peak resident memory of the build process (``None`` when only parsed).
        source: Where the example times came from.
        returncode: The build's exit status (``None`` when only parsed).
        mode: The build's budgets, ``full`` or ``quick``.
        log_tail: The end of the build's error output, kept when it failed.
        examples_filter: The ``EXAMPLES`` regex of a partial build (empty: every script).
        notes: Caveats to print under the table (a times page from another build, ...).
    """

    examples: dict[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    peak_rss_gib: float | None = None
    source: str = ""
    returncode: int | None = None
    mode: str = "full"
    log_tail: str = ""
    examples_filter: str = ""
    notes: list[str] = field(default_factory=list)


def _seconds(text: str) -> float:
    seconds = 0.0
    for part in text.split(":"):  # "mm:ss.sss" (minutes may exceed 59) or "hh:mm:ss.sss"
        seconds = seconds * 60 + float(part)
    return seconds


def parse_execution_times(path: Path) -> dict[str, float]:
    """Read sphinx-gallery's ``sg_execution_times.rst``: ``{"plot_mlp.py": 27.5, ...}``.

    Raises:
        ValueError: The file has no example rows (not a sphinx-gallery times page).
    """
    text = Path(path).read_text(encoding="utf-8")
    times = {Path(m["path"]).name: _seconds(m["time"]) for m in _ROW.finditer(text)}
    if not times and "Computation times" not in text:
        raise ValueError(f"{path} is not a sphinx-gallery execution-times page")
    return times


def find_execution_times(docs: Path = ROOT / "docs") -> Path:
    """The execution-times page of a build under ``docs`` (all galleries first), or ``docs`` itself if it is one.

    Raises:
        FileNotFoundError: No build has written one; the message says how to make one.
    """
    docs = Path(docs)
    if docs.is_file():
        return docs
    for candidate in (docs / "sg_execution_times.rst", docs / "auto_examples" / "sg_execution_times.rst"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no sg_execution_times.rst under {docs}: run `make html` first")


def load_build_stats(path: Path) -> dict[str, object]:
    """The record :mod:`benchmarks.record` wrote for a build (wall time, peak memory, exit status).

    Raises:
        FileNotFoundError: No record at ``path``.
        ValueError: The file is not such a record.
    """
    try:
        stats = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a build record: {exc}") from None
    if not isinstance(stats, dict) or not {"wall_seconds", "peak_rss_gib", "returncode"} <= stats.keys():
        raise ValueError(f"{path} is not a build record (wall_seconds, peak_rss_gib, returncode)")
    return stats


def _timestamp(text: object) -> float | None:
    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def report_existing_build(docs: Path = ROOT / "docs", stats_path: Path | None = None) -> BuildReport:
    """Report the last build under ``docs`` from its times page and, when present, its record.

    Args:
        docs: The ``docs/`` directory of the build (or its ``sg_execution_times.rst``).
        stats_path: The build's record (default: ``docs/_build/build-stats.json``).

    Raises:
        FileNotFoundError: No execution-times page: there is no build to report.
    """
    page = find_execution_times(docs)
    report = BuildReport(examples=parse_execution_times(page), source=str(page))
    stats_path = Path(stats_path) if stats_path else (page.parent if page.parent.name != "auto_examples" else page.parent.parent) / STATS_FILE
    if not stats_path.exists():
        report.notes.append(f"no build record at {stats_path} (builds made by `make html` leave one): "
                            "wall time and peak memory unknown")
        return report
    stats = load_build_stats(stats_path)
    report.wall_seconds = float(stats["wall_seconds"])
    report.peak_rss_gib = float(stats["peak_rss_gib"])
    report.returncode = int(stats["returncode"])
    report.mode = str(stats.get("mode", "full"))
    report.examples_filter = str(stats.get("examples_filter", ""))
    report.source += f" and {stats_path}"
    started, finished = _timestamp(stats.get("started")), _timestamp(stats.get("finished"))
    written = page.stat().st_mtime
    if started is not None and finished is not None and not started - 5 <= written <= finished + 5:
        report.notes.append(f"the times page ({page}) was not written by the recorded build ({stats.get('started')} to "
                            f"{stats.get('finished')}): the per-example times and the wall time come from different builds")
    load = stats.get("load_average_after")
    if load:
        report.notes.append(f"load average when the recorded build finished: {' '.join(str(x) for x in load)} (1/5/15 min)")
    return report


def run_build(*, in_place: bool = False, out: Path | None = None, mode: str = "full") -> BuildReport:
    """Run a full-mode docs build as a child process and measure it.

    Args:
        in_place: Run ``make html`` itself (writes ``docs/_build`` and ``docs/auto_examples``).
            Otherwise the isolated builder ``tests/sitebuild.py`` builds a copy of ``docs/``
            and ``gallery/`` under ``out``, leaving the working tree alone (same Sphinx
            options, full budgets).
        out: Output directory of the isolated build (default: a new temporary directory).
        mode: ``full`` (the real budgets) or ``quick`` (to check this machinery in minutes;
            ``$MLCHEATSHEET_EXAMPLES`` narrows either to some scripts).
    """
    if in_place:
        command = ["make", "html" if mode == "full" else "html-quick"]
        docs = ROOT / "docs"
    else:
        out = Path(out or tempfile.mkdtemp(prefix="mlcheatsheet-bench-")) / "html"
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(ROOT / "tests" / "sitebuild.py"), "--mode", mode, "--out", str(out)]
        docs = None
    env = {**os.environ, "MLCHEATSHEET_MODE": mode}
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if docs is None:  # the isolated builder copies docs/ to out.parent/src-*/docs
        copies = sorted(out.parent.glob("src-*/docs"), key=lambda p: p.stat().st_mtime)
        docs = copies[-1] if copies else out.parent
    report = BuildReport(wall_seconds=wall, peak_rss_gib=peak_kib / 2**20, returncode=finished.returncode, mode=mode,
                         examples_filter=os.environ.get("MLCHEATSHEET_EXAMPLES", ""))
    if finished.returncode != 0:
        report.log_tail = (finished.stdout + finished.stderr)[-3000:]
    try:
        times_page = find_execution_times(docs)
        report.examples = parse_execution_times(times_page)
        report.source = str(times_page)
    except FileNotFoundError:
        report.source = "no execution times page (see the build log below)"
    return report


def _example_budgets(script: Path) -> list[str]:
    """Budget names a gallery script asks for (``get_budget("dcgan", ...)``)."""
    try:
        return sorted(set(re.findall(r"get_budget\(\s*[\"']([^\"']+)[\"']", script.read_text(encoding="utf-8"))))
    except OSError:
        return []


def _describe(budget: Budget) -> str:
    if budget.steps:
        return f"{budget.steps} steps x {budget.batch_size}"
    described = f"{budget.epochs} epochs x {budget.batch_size}"
    if budget.transfer_steps:
        described += f" + {budget.transfer_steps} transfer steps"
    if budget.delay_epochs:
        described += f" + {budget.delay_epochs} delayed-task epochs"
    return described


def shares_of(examples: list[str]) -> dict[str, float]:
    """Each script's share in seconds; the first script to score samples also trains the FID classifier."""
    shares = {name: float(SHARES.get(name, 0.0)) for name in examples}
    scorers = [name for name in _FID_SCRIPTS if name in examples]
    if scorers:
        shares[scorers[0]] += FID_CLASSIFIER_SHARE
    return shares


def build_rows(report: BuildReport) -> list[Row]:
    """Table rows: the whole build against 15 minutes and 4 GiB, then each example against its share.

    The wall-time row's ratio is budget / measured (``>= 1`` fits). Each example's ratio is
    share / measured; its note gives the full-mode budget it trained with and its
    percentage of the 15 minutes.
    """
    rows = []
    total = sum(report.examples.values())
    failed = report.returncode not in (None, 0)
    partial = f", only scripts matching {report.examples_filter!r}" if report.examples_filter else ""
    if report.wall_seconds is not None:
        status = f"FAILED with exit status {report.returncode}" if failed else "succeeded"
        rows.append(Row(f"make html wall time ({report.mode}{partial})", f"{report.wall_seconds:.0f} s", f"{BUILD_BUDGET_SECONDS} s",
                        BUILD_BUDGET_SECONDS / report.wall_seconds, 1.0,
                        f"budget / measured; gallery {total:.0f} s of it, Sphinx the rest; the build {status}", failed=failed))
    if report.peak_rss_gib is not None:
        rows.append(Row("build peak memory", f"{report.peak_rss_gib:.2f} GiB", f"{MEMORY_BUDGET_GIB:g} GiB",
                        MEMORY_BUDGET_GIB / report.peak_rss_gib, 1.0, "budget / measured (largest resident set of the build)"))
    shares = shares_of(list(report.examples))
    share_total = sum(SHARES.values()) + FID_CLASSIFIER_SHARE
    rows.append(Row("gallery execution, all scripts", f"{total:.0f} s", f"{sum(shares.values()):.0f} s",
                    sum(shares.values()) / max(total, 1e-9) if shares else None, 1.0 if report.examples else None,
                    f"sum of shares / measured; all {len(SHARES)} shares: {share_total:.0f} s, leaving "
                    f"{BUILD_BUDGET_SECONDS - share_total:.0f} s of the 15 min to Sphinx"))
    table = budget_table()
    for name, seconds in sorted(report.examples.items(), key=lambda item: -item[1]):
        budgets = _example_budgets(ROOT / "gallery" / name)
        full = "; ".join(f"{b}: {_describe(table[b]['full'])}" for b in budgets if b in table and "full" in table[b])
        share = shares[name]
        extra = f", incl. {FID_CLASSIFIER_SHARE:.0f} s FID classifier" if name in _FID_SCRIPTS and share > SHARES[name] else ""
        note = f"{100 * seconds / BUILD_BUDGET_SECONDS:.1f}% of 15 min{extra}; " + (full or "no budget entry found in the script")
        if share:
            rows.append(Row(f"  {name}", f"{seconds:.1f} s", f"share {share:.0f} s", share / max(seconds, 1e-9), 1.0, note))
        else:
            rows.append(Row(f"  {name}", f"{seconds:.1f} s", "no share", None, None, note))
    return rows


def budget_lines() -> list[str]:
    """Every example's full-mode CPU budget from :mod:`mlcheatsheet.site.budgets`, one line each."""
    return [f"  {name:<20} {_describe(modes['full'])}" for name, modes in budget_table().items() if "full" in modes]


def _sitebuild():  # tests/sitebuild.py builds from a copy of the sources; it is not a package module
    import importlib.util

    spec = importlib.util.spec_from_file_location("sitebuild", ROOT / "tests" / "sitebuild.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run_build_ratios(*, mode: str = "full", parent: Path | None = None) -> tuple[list[Row], list[str]]:
    """Four builds of one copy of the sources, back to back, as ratios measured in this run.

    1. fresh (the cache ignored), the examples side by side: one worker per core, one
       torch thread each (the default);
    2. again with nothing changed: every example restored from the cache;
    3. after appending a sentence to one reST page;
    4. fresh, one example at a time with every core's threads (how the build ran before
       the cache and the workers).

    Returns:
        The table rows and notes (a failed build's log tail).
    """
    sitebuild = _sitebuild()
    docs = sitebuild.copy_sources(Path(parent or tempfile.mkdtemp(prefix="mlcheatsheet-ratios-")))
    out = docs.parent / "html"
    cores = usable_cpus()
    runs: dict[str, float] = {}
    notes: list[str] = []

    def timed(name: str, env: dict[str, str]) -> None:
        print(f"  build: {name}...", flush=True)
        start = time.perf_counter()
        done = sitebuild.run_sphinx(docs, out, mode=mode, env=env, timeout=3 * 3600)
        runs[name] = time.perf_counter() - start
        if done.returncode != 0:
            notes.append(f"the {name} build failed; the end of its log:\n{(done.stdout + done.stderr)[-2000:]}")

    timed("fresh, side by side", {"MLCHEATSHEET_FRESH": "1"})
    timed("nothing changed", {})
    page = docs / "architectures" / "mlp.rst"
    page.write_text(page.read_text() + "\n\nA sentence added by the benchmark.\n")
    timed("one reST page edited", {})
    timed("fresh, one at a time", {"MLCHEATSHEET_FRESH": "1", "MLCHEATSHEET_WORKERS": "1", "MLCHEATSHEET_THREADS": str(cores)})
    parallel, serial = runs["fresh, side by side"], runs["fresh, one at a time"]
    rows = [
        Row(f"fresh build, {cores} examples at a time x 1 thread", f"{parallel:.0f} s", f"{serial:.0f} s one at a time",
            serial / parallel, None, f"one-at-a-time / side-by-side, {cores} threads per example there; {mode} mode"),
        Row("rebuild, nothing changed", f"{runs['nothing changed']:.1f} s", "30 s", 30 / runs["nothing changed"], 1.0,
            f"target / measured; the fresh build took {parallel:.0f} s ({parallel / runs['nothing changed']:.0f}x longer)"),
        Row("rebuild after editing one reST page", f"{runs['one reST page edited']:.1f} s", "60 s",
            60 / runs["one reST page edited"], 1.0, "target / measured; no example re-runs"),
    ]
    return rows, notes
