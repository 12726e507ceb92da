"""``make plan``: what a docs build would run, on which device and data, and for how long — without running it.

For each gallery script the plan names the budgets it trains with (:mod:`mlcheatsheet.site.budgets`
for the build's mode and the device), the dataset each loads and whether its files are on
disk (a missing one is downloaded, or the embedded digits stand in when that fails), whether
the run is already in the cache of finished runs (:mod:`examplecache`), and the seconds of
the last recorded run *of the same configuration* (device type, mode and dataset): a CPU
timing says nothing about a GPU, so a configuration never run here is said to be untimed
rather than guessed. ``--device cuda`` plans a GPU build on a machine without one; the
cache is then not consulted (its keys name the GPU model).

    python docs/_ext/buildplan.py [--device cpu|cuda|mps] [--mode quick|full]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import sys
from dataclasses import dataclass, fields
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(DOCS.parent))

from mlcheatsheet.site.budgets import MODE_ENV, Budget, build_dataset, build_mode, get_budget  # noqa: E402
from mlcheatsheet.data import DEFAULT_DATASET, OFFLINE_ENV, canonical_name, dataset_on_disk  # noqa: E402
from mlcheatsheet.runtime import DEVICE_ENV, get_device  # noqa: E402

import examplecache  # noqa: E402

# A script's training budgets are its own, named by ``build_data("vae", ...)``, and its variants that
# it trains with (``build_length("vae_2d", ...)``); a length read for a sentence about another example
# (``build_length("dcgan", ...)`` in the conditional DCGAN's script) is not one.
_OWN = re.compile(r'\bbuild_data\("([\w-]+)"')
_LENGTHS = re.compile(r'\bbuild_length\("([\w-]+)"')
_GENERATIVE = re.compile(r"\bfid_scorer\b|\bscore_samples\b|\bSampleQuality\b")


@dataclass(frozen=True)
class Step:
    """One gallery script in the plan."""

    script: str
    budgets: dict[str, Budget]
    datasets: list[str]
    status: str  # "cached", "run" or "skipped" (as examplecache decides), or "run" when not consulted
    recorded_seconds: float | None


def describe_budget(budget: Budget) -> str:
    """A budget in a few words: ``2500 steps of 64``, ``12 epochs of 128 on 500 images``."""
    if budget.steps is not None:
        text = f"{budget.steps:,} steps of {budget.batch_size}"
    else:
        text = f"{budget.epochs} epoch{'s' * (budget.epochs != 1)} of {budget.batch_size}"
    if budget.max_train is not None:
        text += f" on {budget.max_train:,} images"
    extras = [f"{value} {field.name.replace('_', ' ')}" for field in fields(Budget)
              if field.name in ("transfer_steps", "delay_epochs") and (value := getattr(budget, field.name)) is not None]
    return text + (f" (+ {', '.join(extras)})" if extras else "")


def describe_dataset(name: str) -> str:
    """``mnist-5k (embedded)``, ``cifar10 (on disk)`` or what happens when it is not there."""
    if name == DEFAULT_DATASET:
        return f"{name} (embedded)"
    if dataset_on_disk(name):
        return f"{name} (on disk)"
    if os.environ.get(OFFLINE_ENV, "0") == "1":
        return f"{name} (not on disk, offline: the embedded {DEFAULT_DATASET} stands in)"
    return f"{name} (not on disk: downloaded once, else the embedded {DEFAULT_DATASET} stands in)"


def script_budgets(script: Path, device: str) -> dict[str, Budget]:
    """The budgets ``script`` trains with on ``device`` in this build's mode."""
    text = script.read_text()
    own = _OWN.findall(text)
    names = dict.fromkeys(own + [name for name in _LENGTHS.findall(text) if own and name.startswith(own[0])])
    return {name: get_budget(name, device=device) for name in names}


def recorded_runs(entries: Path) -> dict[tuple[str, str, str, str], float]:
    """Seconds of the newest stored run per (script, device type, mode, dataset), from the cache's entries."""
    runs: dict[tuple[str, str, str, str], tuple[str, float]] = {}
    for manifest_path in entries.glob("*/manifest.json"):
        try:
            manifest = json.loads(manifest_path.read_text())
            record_name = next(n for n in manifest["files"] if n.startswith("results/"))
            record = json.loads((manifest_path.parent / record_name).read_text())
            key = (manifest["script"], str(record["device"]).split(":")[0], record["mode"], record["dataset"])
            stored, seconds = str(manifest["stored_at"]), float(manifest["seconds"])
        except (OSError, ValueError, KeyError, TypeError, StopIteration):
            continue  # an entry without a record (or damaged) says nothing about time
        if key not in runs or stored > runs[key][0]:
            runs[key] = (stored, seconds)
    return {key: seconds for key, (_, seconds) in runs.items()}


def make_plan(device: str, consult_cache: bool) -> list[Step]:
    """Every gallery script with what this build would do with it."""
    conf = runpy.run_path(str(DOCS / "conf.py"))["sphinx_gallery_conf"]
    statuses = {p.script: p.status for p in examplecache.dry_plan(conf, DOCS)} if consult_cache else {}
    runs = recorded_runs(examplecache.entries_dir())
    mode = build_mode()
    selected = re.compile(conf["filename_pattern"])
    steps = []
    for script in sorted(Path(conf["examples_dirs"]).glob("plot_*.py")):
        budgets = script_budgets(script, device)
        datasets = sorted({canonical_name(b.dataset or build_dataset()) for b in budgets.values()})
        # what the records will name: the dataset itself when it is on disk, else the stand-in
        loaded = datasets[0] if len(datasets) == 1 and dataset_on_disk(datasets[0]) else DEFAULT_DATASET
        status = statuses.get(script.name) or ("run" if selected.search(os.path.normpath(script)) else "skipped")
        steps.append(Step(script.name, budgets, datasets, status,
                          runs.get((script.name, device.split(":")[0], mode, loaded))))
    return steps


def describe_compute(device: str, present: bool) -> str:
    """How the examples compute on ``device``: threads, or the GPU's name and its precision."""
    import torch

    from mlcheatsheet.runtime import describe_device, mixed_precision_dtype

    if device.startswith("cuda") and present:
        dtype = mixed_precision_dtype(torch.device(device))
        return f"{describe_device(device)}, autocast to {str(dtype).removeprefix('torch.')}, channels-last convolutions"
    if device.startswith("cuda"):
        return ("autocast to bfloat16 on GPUs that compute it natively (Ampere and newer), else float16 with a "
                "gradient scaler; channels-last convolutions")
    if device == "cpu":
        threads = examplecache.example_threads()
        return f"float32, {threads} torch thread{'s' * (threads != 1)} per example"
    return "float32"


def render(steps: list[Step], device: str, workers: int, compute: str) -> str:
    from examplecache import _duration, _expected_makespan  # the build's own wording of times

    mode = build_mode()
    lines = [f"plan of a {mode} build on {device} ({workers} example{'s' * (workers > 1)} at a time; {compute})", ""]
    width = max(len(s.script) for s in steps)
    for step in steps:
        budgets = "; ".join(f"{name}: {describe_budget(b)}" for name, b in step.budgets.items())
        when = {"cached": "from the cache", "skipped": "not selected (code only)"}.get(
            step.status, f"runs, last run here {_duration(step.recorded_seconds)}" if step.recorded_seconds
            else "runs, never timed on this configuration")
        lines.append(f"{step.script:<{width}}  {when}")
        lines.append(f"{'':<{width}}  {budgets} — {', '.join(describe_dataset(d) for d in step.datasets)}")
    to_run = [s for s in steps if s.status == "run"]
    if any(b.steps for s in to_run for b in s.budgets.values()):
        scorer = get_budget("fid-classifier", device=device)
        lines += ["", f"The generative examples share one FID classifier ({describe_budget(scorer)}), trained by the "
                      "first that asks for it unless a build with the same data and package stored it."]
    timed = [s.recorded_seconds for s in to_run if s.recorded_seconds is not None]
    summary = f"{len(to_run)} of {len(steps)} examples to run"
    if to_run and len(timed) == len(to_run):
        summary += f", expected {_duration(_expected_makespan(timed, workers))} for the examples, from their recorded runs"
    elif to_run:
        summary += (f"; {len(to_run) - len(timed)} never timed on this configuration, so no total is expected"
                    + (f" (the {len(timed)} timed ones: {_duration(_expected_makespan(timed, workers))})" if timed else ""))
    lines += ["", summary]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="plan for this device type instead of the detected one (cpu, cuda, mps)")
    parser.add_argument("--mode", choices=("quick", "full"), help="build mode (default: $MLCHEATSHEET_MODE, else full)")
    args = parser.parse_args(argv)
    if args.mode:
        os.environ[MODE_ENV] = args.mode
    forced = (args.device or "").strip()
    if forced and forced.split(":")[0] not in ("cpu", "cuda", "mps"):
        parser.error(f"--device {forced!r} is not a device; use cpu, cuda or mps")
    here = get_device().type if not forced else None
    device = forced or here or "cpu"
    # The cache's keys name this machine's device: consulted only when the plan is for it.
    consult = not forced or _available(forced)
    if consult and forced:
        os.environ[DEVICE_ENV] = forced
    try:
        steps = make_plan(device, consult)
        workers = examplecache.worker_count(sum(s.status == "run" for s in steps), device.split(":")[0])
    except ValueError as exc:  # an unknown dataset, mode or worker count in the environment
        print(f"make plan: {exc}", file=sys.stderr)
        return 2
    print(render(steps, device, workers, describe_compute(device, consult)))
    if not consult:
        print(f"(no {device} on this machine: the cache of finished runs was not consulted)")
    return 0


def _available(device: str) -> bool:
    try:
        get_device(device)
    except (RuntimeError, ValueError):
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
