"""Run the benchmarks and print one table: ``python -m benchmarks [--quick] [--docs DOCS] [--build]``.

It measures training throughput (MLP, CNN, DCGAN step) against the classic reference loop,
the CNN's time to the classic recipe's accuracy, the DCGAN's time to the classic recipe's FID
(``quality``), and the CNN step's share of the machine's matmul speed (about 5 minutes on 2
idle cores without ``quality``, which trains two DCGANs for 2,500 steps each and adds about
4), then reports the last docs build found under ``docs/`` (its record from ``make html`` and
sphinx-gallery's per-example times) against the 15-minute budget and each example's share.
``--build`` times a fresh build of a copy of ``docs/`` instead (about 15 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch

from mlcheatsheet.site.budgets import get_budget
from mlcheatsheet.data import Dataset, load_dataset
from mlcheatsheet.runtime import THREADS_ENV, configure_threads, get_device
from mlcheatsheet.training import GanCollapseWarning, TrainConfig, fid_scorer

from ._measure import Row, environment_lines, format_table
from .build import ROOT, BuildReport, budget_lines, build_rows, report_existing_build, run_build, run_build_ratios
from .flops import run_flops
from .throughput import REFERENCE_BATCH, Sizes, run_throughput
from .time_to_accuracy import run_time_to_accuracy
from .time_to_quality import gallery_config, run_time_to_quality

PARTS = ("throughput", "accuracy", "quality", "flops")

# --quick: the same code on tiny models and subsets, for the test suite (numbers meaningless).
QUICK_SIZES = Sizes(mlp_images=512, cnn_images=256, gan_steps=2, repeats=1, cnn_channels=(8, 16), mlp_hidden=(64,), gan_channels=8,
                    matmul_size=256)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this training part (repeatable)")
    parser.add_argument("--skip-training", action="store_true", help="run no training benchmark, only report a build")
    parser.add_argument("--docs", "--parse", dest="docs", type=Path, default=ROOT / "docs", metavar="DOCS",
                        help="report the last build under DOCS, or the sg_execution_times.rst given (default: %(default)s)")
    parser.add_argument("--build-stats", type=Path, metavar="JSON",
                        help="the build's record from `make html` (default: DOCS/_build/build-stats.json)")
    parser.add_argument("--no-build-report", action="store_true", help="do not report an existing build")
    parser.add_argument("--build", action="store_true", help="time a full build of a copy of docs/ (~15 min) and report it")
    parser.add_argument("--build-in-place", action="store_true", help="time `make html` itself (writes docs/_build) and report it")
    parser.add_argument("--build-ratios", action="store_true",
                        help="four builds of a copy of docs/ (~20 min in full mode): side by side vs one at a time, "
                             "a rebuild with nothing changed and one after a reST edit")
    parser.add_argument("--build-mode", choices=("full", "quick"), default="full",
                        help="budgets of the timed build; quick only checks the machinery (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=Sizes().repeats, help="timed repeats per side (default: %(default)s)")
    parser.add_argument("--threads", type=int, help=f"intra-op threads for both sides (sets ${THREADS_ENV})")
    parser.add_argument("--device", help="cpu, cuda or mps (default: the package's choice)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code runs, the numbers mean nothing")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def _training_rows(args: argparse.Namespace, device: torch.device) -> list[Row]:
    parts = args.only or PARTS
    data = load_dataset("mnist-5k", verbose=False)
    sizes = QUICK_SIZES if args.quick else Sizes(repeats=args.repeats)
    mlp_batch, cnn_batch, gan_batch = (get_budget(name, mode="full").batch_size for name in ("mlp", "cnn", "dcgan"))
    rows: list[Row] = []
    for part in PARTS:
        if part not in parts:
            continue
        start = time.perf_counter()
        if part == "throughput":
            rows.append(Row.section(f"[training samples/s: ours vs the reference loop, DataLoader batch {REFERENCE_BATCH}, "
                                    ".item() every step, same model and optimiser]"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GanCollapseWarning)  # a few steps are no GAN run
                rows += run_throughput(data, device=device, sizes=sizes, mlp_batch_size=mlp_batch, cnn_batch_size=cnn_batch,
                                       gan_batch_size=gan_batch)
        elif part == "accuracy":
            rows.append(Row.section("[time to accuracy: the classic recipe's best held-out accuracy A, reached by our CNN]"))
            if args.quick:
                small = data.subset(max_train=256)
                _, tta = run_time_to_accuracy(small, device=device, reference_epochs=1,
                                              recipe=TrainConfig(epochs=2, batch_size=64), channels=(8, 16))
            else:
                _, tta = run_time_to_accuracy(data, device=device)
            rows += tta
        elif part == "quality":
            rows.append(Row.section("[time to quality: the classic DCGAN recipe's final FID F, reached by the gallery's "
                                    "DCGAN recipe; same networks, data and fit_gan]"))
            rows += _quality_rows(data, device, quick=args.quick)
        else:
            rows.append(Row.section("[the machine's limit: a CNN training step against large matrix products]"))
            if args.quick:
                rows += run_flops(data, device=device, batch_size=32, steps=2, repeats=1, channels=(8, 16), matmul_size=256)
            else:
                rows += run_flops(data, device=device, batch_size=cnn_batch)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"  {part}: {time.perf_counter() - start:.0f} s (load average {load})", flush=True)
    return rows


def _quality_rows(data: Dataset, device: torch.device, *, quick: bool) -> list[Row]:
    """The time-to-quality rows; ``quick`` keeps the gallery's networks and batch (so the
    step time means something) but trains a few steps on a subset, with a one-epoch scorer."""
    if not quick:
        return run_time_to_quality(data, device=device)[1]
    small = data.subset(max_train=512)
    recipe = gallery_config(get_budget("dcgan", mode="quick"))
    scorer = fid_scorer(small, device=device, epochs=1)
    return run_time_to_quality(small, device=device, scorer=scorer, recipe=recipe, classic_steps=recipe.steps,
                               probe_every=10, draws=2)[1]


def _build_reports(args: argparse.Namespace) -> tuple[list[BuildReport], list[str]]:
    reports: list[BuildReport] = []
    missing: list[str] = []
    if args.build or args.build_in_place:
        print(f"building the site in {args.build_mode} mode (full: about 15 minutes)...", flush=True)
        reports.append(run_build(in_place=args.build_in_place, mode=args.build_mode))
    elif not args.no_build_report:
        try:
            reports.append(report_existing_build(args.docs, args.build_stats))
        except (FileNotFoundError, ValueError) as exc:
            missing.append(str(exc))
    return reports, missing


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print the table; returns the exit status."""
    args = _parse_args(argv)
    if args.threads is not None:
        os.environ[THREADS_ENV] = str(args.threads)
    device = get_device(args.device)
    configure_threads(device)  # the reference runs with the same threads as ours
    start = time.perf_counter()
    for line in environment_lines():
        print(line)
    print(f"device: {device}" + (" (--quick: tiny sizes, the numbers mean nothing)" if args.quick else ""), flush=True)
    rows = [] if args.skip_training else _training_rows(args, device)
    reports, missing = _build_reports(args)
    notes: list[str] = [f"no docs build reported: {text}" for text in missing]
    if args.build_ratios:
        print(f"building a copy of the site four times in {args.build_mode} mode (full: about 20 minutes)...", flush=True)
        ratio_rows, ratio_notes = run_build_ratios(mode=args.build_mode)
        rows += [Row.section("[the build itself: four builds of one copy, back to back]"), *ratio_rows]
        notes += ratio_notes
    for report in reports:
        rows.append(Row.section(f"[docs build: {report.source}]"))
        rows += build_rows(report)
        notes += report.notes
        if report.log_tail:
            notes.append(f"the build failed; the end of its log:\n{report.log_tail}")
    print()
    print(format_table(rows, title="mlcheatsheet benchmarks (every ratio measured in this run or build)", headers=("measured", "against")))
    for note in notes:
        print(f"note: {note}")
    if reports:
        print("\nfull-mode CPU budgets (mlcheatsheet.site.budgets):")
        print("\n".join(budget_lines()))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nbenchmarks took {time.perf_counter() - start:.0f} s; load average now {load} (1/5/15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
