"""The result of one gallery run: what trained, on what, for how long, and how well.

Every gallery script ends by calling :func:`report_result`. It prints one line for the
reader and, when the docs build asks for it by setting ``$MLCHEATSHEET_RESULTS`` to a
directory, writes the result there as JSON. The build turns those files into the site's
results table and refuses examples that did not really train, so no number on the site is
typed by hand.

Each result also carries its *stamp*, what a reader needs to trust the run: the commit of
the code that ran (:func:`source_commit`), when it ran (UTC), the device as
:func:`~mlcheatsheet.runtime.describe_device` names it, the torch version, the dataset and its
source, the build mode, and the quality target of the example's budget
(:func:`mlcheatsheet.site.budgets.get_target`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from ..cache import write_atomically
from ..data import Dataset
from ..findings import Claim, Finding, Interval
from ..runtime import describe_device
from ..training.adversarial import GanHistory
from ..training.engine import History, count_parameters, training_steps_taken
from .budgets import Target, build_mode, get_target
from .pretrained import save_pretrained

__all__ = ["RESULTS_ENV", "RUN_KEY_ENV", "UNKNOWN_COMMIT", "Result", "load_result", "load_results", "report_result", "run_stamp",
           "source_commit"]

#: Environment variable naming the directory where the docs build collects results.
RESULTS_ENV = "MLCHEATSHEET_RESULTS"
#: Environment variable with the content key of the run a docs build started (recorded as ``run_key``).
RUN_KEY_ENV = "MLCHEATSHEET_RUN_KEY"
#: The commit of a run outside a git checkout (or without git).
UNKNOWN_COMMIT = "unknown"

# training_steps_taken() when report_result was last called in this process.
_STEPS_AT_LAST_REPORT = [0]


@dataclass(frozen=True)
class Result:
    """The headline outcome of one gallery example.

    Attributes:
        example: Gallery script stem without ``plot_``, e.g. ``"mlp"``.
        title: What trained, e.g. ``"MLP"`` or ``"DCGAN"``.
        dataset: Dataset name actually used, e.g. ``"mnist-5k"``.
        source: The dataset's source line.
        device: Device the model trained on.
        parameters: Trainable parameters of the headline model.
        train_seconds: Wall-clock seconds of training (evaluation included).
        steps: Optimiser steps taken.
        metric: Name of the headline metric, e.g. ``"test accuracy"``.
        value: Its value.
        unit: How to print it: ``"%"`` (value is a fraction), or a unit such as ``"nats"``.
        higher_is_better: Whether larger values are better.
        mode: Build mode the example ran in (``quick`` or ``full``).
        extra: Other numbers worth recording (e.g. an FID floor), by name.
        trained_steps: Optimiser steps that the package's training loops really took since
            the previous report in this process (``-1``: not recorded). The docs build
            refuses an example that reports more ``steps`` than this.
        interval: The 95% confidence interval of ``value`` (:class:`~mlcheatsheet.findings.Interval`
            as a dict), or ``None``.
        claims: The outcomes the example's pages depend on, each with whether this run
            supports it (:class:`~mlcheatsheet.findings.Claim` as a dict). A full build fails
            on one that does not hold.
        target: The quality target of the example's budget (:class:`~mlcheatsheet.site.budgets.Target`
            as a dict), or ``None`` (quick mode, or an example without a budget).
        commit: Short hash of the code that ran, with ``+changes`` when the working tree had
            uncommitted changes; ``"unknown"`` outside a git checkout.
        run_at: When the result was recorded, UTC, ISO 8601 (``""`` in older records).
        device_description: The device in a few words, e.g. ``"cpu (2 threads)"``.
        torch_version: ``torch.__version__`` of the run.
        run_key: The content key the docs build gave this run (``$MLCHEATSHEET_RUN_KEY``): a
            hash of everything the example depends on, so the build can tell that a stored
            record belongs to the inputs of the page that shows it; ``""`` outside a build.
        recipe: The headline model's training configuration as a sentence
            (``TrainConfig.recipe()`` or ``GanConfig.recipe()``), for the page's summary to quote.
        findings: The outcomes the pages quote by name
            (:class:`~mlcheatsheet.findings.Finding` as dicts).
    """

    example: str
    title: str
    dataset: str
    source: str
    device: str
    parameters: int
    train_seconds: float
    steps: int
    metric: str
    value: float
    unit: str = ""
    higher_is_better: bool = True
    mode: str = "full"
    extra: dict[str, float] = field(default_factory=dict)
    trained_steps: int = -1
    interval: dict[str, float | str | int] | None = None
    claims: list[dict[str, str | bool]] = field(default_factory=list)
    # The stamp; the defaults keep records written before it loadable.
    target: dict[str, float | str | bool] | None = None
    commit: str = UNKNOWN_COMMIT
    run_at: str = ""
    device_description: str = ""
    torch_version: str = ""
    run_key: str = ""
    recipe: str = ""
    findings: list[dict[str, str]] = field(default_factory=list)

    def formatted_value(self) -> str:
        """The metric with its unit and interval, e.g. ``97.5% [96.4, 98.3]``, else ``97.50%`` or ``98.4 nats``."""
        if self.interval is not None:
            return Interval(**self.interval).format(self.unit)  # type: ignore[arg-type]
        if self.unit == "%":
            return f"{100 * self.value:.2f}%"
        return f"{self.value:.4g}{(' ' + self.unit) if self.unit else ''}"

    def summary(self) -> str:
        """One line for the reader."""
        return (
            f"Result — {self.title}: {self.metric} {self.formatted_value()} | {self.parameters:,} parameters | "
            f"{self.steps:,} steps in {self.train_seconds:.1f} s on {self.device} | data: {self.dataset}"
        )

    def variants(self) -> dict[str, dict[str, float]]:
        """An ablation's variants and their numbers, from the ``extra`` keys ``"<variant>: <number>"`` (empty otherwise)."""
        found: dict[str, dict[str, float]] = {}
        for key, value in self.extra.items():
            if ": " in key:
                variant, number = key.split(": ", 1)
                found.setdefault(variant, {})[number] = value
        return found

    def quality_target(self) -> Target | None:
        """The recorded target as a :class:`~mlcheatsheet.site.budgets.Target`, or ``None``."""
        return Target(**self.target) if self.target else None  # type: ignore[arg-type]

    def target_measured(self) -> float:
        """The number the target compares: the headline value, or the named ``extra`` (NaN when absent)."""
        target = self.quality_target()
        if target is None or not target.key:
            return self.value
        return self.extra.get(target.key, math.nan)

    def target_met(self) -> bool | None:
        """Whether the run reached its target; ``None`` when it has none."""
        target = self.quality_target()
        return None if target is None else target.met(self.target_measured())

    def target_summary(self) -> str:
        """One line, e.g. ``Target: test accuracy ≥ 96% — met (97.50%)``; ``""`` without a target."""
        target = self.quality_target()
        if target is None:
            return ""
        verdict = "met" if self.target_met() else "MISSED"
        return f"Target: {target.metric} {target.bound()} — {verdict} ({target.format_number(self.target_measured())})"


def report_result(
    example: str,
    *,
    title: str,
    data: Dataset,
    device: torch.device | str,
    model: nn.Module,
    metric: str,
    value: float,
    histories: Iterable[History | GanHistory] = (),
    interval: Interval | None = None,
    claims: Iterable[Claim] = (),
    train_seconds: float | None = None,
    steps: int | None = None,
    unit: str = "",
    higher_is_better: bool = True,
    extra: dict[str, float] | None = None,
    target: Target | None = None,
    recipe: str = "",
    findings: Iterable[Finding] = (),
) -> Result:
    """Print the headline result of a gallery example and record it for the site.

    Args:
        example: Gallery script stem without ``plot_``.
        title: What trained.
        data: The dataset used (its name and source are recorded).
        device: The training device.
        model: The headline model (its trainable parameters are counted; it is published for download).
        metric: Name of the headline metric.
        value: Its value.
        histories: The training runs behind the result: their steps and seconds are added up.
        interval: The 95% interval of ``value`` (:mod:`mlcheatsheet.findings`).
        claims: Outcomes the example's pages depend on, judged by this run; each is printed.
        train_seconds: Wall-clock training seconds, instead of the histories' sum.
        steps: Optimiser steps, instead of the histories' sum.
        unit: ``"%"`` for a fraction shown as a percentage, else a unit name or ``""``.
        higher_is_better: Direction of the metric.
        extra: Other numbers to record.
        target: The quality target; by default the example's budget's
            (:func:`~mlcheatsheet.site.budgets.get_target`).
        recipe: The headline model's training configuration as a sentence (its config's ``recipe()``).
        findings: Outcomes the architecture page quotes by name (already printed by the script).

    Returns:
        The :class:`Result`, also written to ``$MLCHEATSHEET_RESULTS/<example>.json`` when set,
        with ``model`` beside it as ``<example>.pt`` (:func:`~mlcheatsheet.site.pretrained.save_pretrained`).

    Raises:
        ValueError: Neither ``histories`` nor both ``train_seconds`` and ``steps`` were given.
    """
    histories, claims = list(histories), list(claims)
    if not histories and (train_seconds is None or steps is None):
        raise ValueError(f"report_result({example!r}) needs the histories of its runs, or train_seconds and steps")
    taken, stamp = training_steps_taken(), run_stamp(device)
    trained_steps, _STEPS_AT_LAST_REPORT[0] = taken - _STEPS_AT_LAST_REPORT[0], taken
    result = Result(
        example=example,
        title=title,
        dataset=data.name,
        source=data.source,
        device=str(device),
        parameters=count_parameters(model),
        train_seconds=float(train_seconds if train_seconds is not None else sum(h.total_seconds for h in histories)),
        steps=int(steps if steps is not None else sum(h.steps for h in histories)),
        metric=metric,
        value=float(value),
        unit=unit,
        higher_is_better=higher_is_better,
        mode=build_mode(),
        extra={k: float(v) for k, v in (extra or {}).items()},
        trained_steps=trained_steps,
        interval=interval.record() if interval is not None else None,
        claims=[claim.record() for claim in claims],
        recipe=recipe,
        findings=[finding.record() for finding in findings],
        **_stamp(example, device, target, stamp),
    )
    _publish(result, claims, model, data, stamp)
    return result


def _publish(result: Result, claims: list[Claim], model: nn.Module, data: Dataset, stamp: dict[str, object]) -> None:
    """Print the result for the reader (with its target and claims); record it and its model for the site."""
    print(result.summary())
    if result.target:
        print(result.target_summary())
    for claim in claims:
        print(claim)
    directory = os.environ.get(RESULTS_ENV)
    if directory:
        record = json.dumps(asdict(result), indent=2).encode()
        write_atomically(Path(directory) / f"{result.example}.json", lambda fh: fh.write(record))
        # The model itself, for the reader to download from the example's page.
        save_pretrained(Path(directory) / f"{result.example}.pt", model, example=result.example, data=data, stamp=stamp)


def _stamp(example: str, device: torch.device | str, target: Target | None, stamp: dict[str, object]) -> dict[str, object]:
    """The fields of a :class:`Result` that say where, when (``stamp``) and against what it ran."""
    target = target or get_target(example, device=device)
    return {"target": asdict(target) if target is not None else None, **stamp}


def run_stamp(device: torch.device | str) -> dict[str, object]:
    """Where, when and from which code a run ran: commit, UTC time, device, torch version and content key.

    One stamp for every file a run publishes (its result record, its demo's ``demo.json``),
    so the page's verification box and the demo's line cannot disagree.
    """
    return {
        "commit": source_commit(),
        "run_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device_description": describe_device(device),
        "torch_version": torch.__version__,
        "run_key": os.environ.get(RUN_KEY_ENV, ""),
    }


def source_commit() -> str:
    """The commit of the package's source: ``"1a2b3c4"``, ``"1a2b3c4+changes"`` or ``"unknown"``.

    Asked of git in the package's own folder (symlinks resolved), so a build from a copy
    of the docs still names the code that ran. Never raises: without git or outside a
    checkout the commit is unknown, and a result is still recorded.
    """
    folder = str(Path(__file__).resolve().parent)
    try:
        # An installed copy (site-packages) can sit inside some other repository: only a
        # checkout that tracks this very file describes the code that ran.
        tracked = subprocess.run(["git", "-C", folder, "ls-files", "--error-unmatch", Path(__file__).name],
                                 capture_output=True, text=True, timeout=20)
        head = subprocess.run(["git", "-C", folder, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        if tracked.returncode != 0 or head.returncode != 0 or not head.stdout.strip():
            return UNKNOWN_COMMIT
        status = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    # A status that cannot be read may hide changes: say so rather than vouch for a clean tree.
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return head.stdout.strip() + ("+changes" if dirty else "")


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read one result file (one written before a field existed gets that field's default)."""
    return Result(**json.loads(Path(path).read_text()))


def load_results(directory: str | os.PathLike[str]) -> list[Result]:
    """Read every result recorded in ``directory``, sorted by example name."""
    return [load_result(path) for path in sorted(Path(directory).glob("*.json"))]
