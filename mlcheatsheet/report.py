"""The result of one gallery run: what trained, on what, for how long, and how well.

Every gallery script ends by calling :func:`report_result`. It prints one line for the
reader and, when the docs build asks for it by setting ``$MLCHEATSHEET_RESULTS`` to a
directory, writes the result there as JSON. The build turns those files into the site's
results table and refuses examples that did not really train, so no number on the site is
typed by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .budgets import build_mode
from .data import Dataset
from .findings import Claim, Interval
from .training.adversarial import GanHistory
from .training.engine import History, training_steps_taken

__all__ = ["RESULTS_ENV", "Result", "load_results", "report_result"]

#: Environment variable naming the directory where the docs build collects results.
RESULTS_ENV = "MLCHEATSHEET_RESULTS"

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
) -> Result:
    """Print the headline result of a gallery example and record it for the site.

    Args:
        example: Gallery script stem without ``plot_``.
        title: What trained.
        data: The dataset used (its name and source are recorded).
        device: The training device.
        model: The headline model (its trainable parameters are counted).
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

    Returns:
        The :class:`Result`, also written to ``$MLCHEATSHEET_RESULTS/<example>.json`` when
        that variable is set.

    Raises:
        ValueError: Neither ``histories`` nor both ``train_seconds`` and ``steps`` were given.
    """
    histories, claims = list(histories), list(claims)
    if not histories and (train_seconds is None or steps is None):
        raise ValueError(f"report_result({example!r}) needs the histories of its runs, or train_seconds and steps")
    taken = training_steps_taken()
    trained_steps, _STEPS_AT_LAST_REPORT[0] = taken - _STEPS_AT_LAST_REPORT[0], taken
    result = Result(
        example=example,
        title=title,
        dataset=data.name,
        source=data.source,
        device=str(device),
        parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
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
    )
    print(result.summary())
    for claim in claims:
        print(claim)
    directory = os.environ.get(RESULTS_ENV)
    if directory:
        _write_json_atomically(Path(directory) / f"{example}.json", asdict(result))
    return result


def _write_json_atomically(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_results(directory: str | os.PathLike[str]) -> list[Result]:
    """Read every result recorded in ``directory``, sorted by example name."""
    results = []
    for path in sorted(Path(directory).glob("*.json")):
        results.append(Result(**json.loads(path.read_text())))
    return results
