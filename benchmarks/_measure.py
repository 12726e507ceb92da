"""Timing that survives a busy machine, and the table every benchmark reports into.

Two runs that are compared are interleaved (reference, ours, ours, reference, ...) after a
warm-up of each, so a change in background load hits both sides alike; each side's figure
is the median of its repeats and the ratio is the median of the per-pair ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Comparison", "Row", "compare", "environment_lines", "format_table", "timed"]


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    """Run ``fn`` (which returns how many samples it processed); return ``(seconds, samples)``."""
    start = time.perf_counter()
    samples = fn()
    return time.perf_counter() - start, samples


@dataclass
class Comparison:
    """Samples per second of two interleaved runs.

    Attributes:
        ours: Samples/s of each repeat of our run.
        reference: Samples/s of each repeat of the reference, paired with ``ours``.
    """

    ours: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median of the per-pair speed-ups, ours / reference."""
        return statistics.median(o / r for o, r in zip(self.ours, self.reference))

    @property
    def spread(self) -> tuple[float, float]:
        """Smallest and largest per-pair speed-up."""
        ratios = [o / r for o, r in zip(self.ours, self.reference)]
        return min(ratios), max(ratios)


def compare(ours: Callable[[], int], reference: Callable[[], int], *, repeats: int = 3, warmup: int = 1) -> Comparison:
    """Time ``ours`` against ``reference``, interleaved, after ``warmup`` untimed calls of each.

    The order alternates between repeats (R, O, then O, R, ...) so a slow drift in the
    machine's load does not favour either side.
    """
    for _ in range(warmup):
        reference()
        ours()
    result = Comparison()
    for i in range(repeats):
        pair: dict[str, float] = {}
        order = (("reference", reference), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("reference", reference))
        for name, fn in order:
            seconds, samples = timed(fn)
            pair[name] = samples / seconds
        result.ours.append(pair["ours"])
        result.reference.append(pair["reference"])
    return result


@dataclass
class Row:
    """One line of the benchmark table.

    Attributes:
        name: What was measured.
        ours: Our figure, formatted.
        reference: The figure it is compared with, formatted.
        ratio: The headline ratio (``None`` when the row is informational).
        target: The ratio the row must reach (``None``: no target).
        note: Batch sizes, spreads, epochs: whatever calibrates the figure.
        percent: Show the ratio and target as percentages (a share rather than a speed-up).
        failed: The measured thing failed (a build that exited with an error): ``FAILED``.
        heading: A section heading: only ``name`` is printed, above the rows that follow.
    """

    name: str
    ours: str
    reference: str
    ratio: float | None = None
    target: float | None = None
    note: str = ""
    percent: bool = False
    failed: bool = False
    heading: bool = False

    @classmethod
    def section(cls, name: str) -> Row:
        """A heading row that opens a section of the table."""
        return cls(name, "", "", heading=True)

    @property
    def verdict(self) -> str:
        """``ok``, ``MISS``, ``FAILED``, or empty when there is no target."""
        if self.failed:
            return "FAILED"
        if self.ratio is None or self.target is None:
            return ""
        return "ok" if self.ratio >= self.target else "MISS"


def _fmt_ratio(value: float | None, percent: bool) -> str:
    if value is None:
        return ""
    return f"{100 * value:.0f}%" if percent else f"{value:.2f}x"


def format_table(rows: list[Row], *, title: str, headers: tuple[str, str] = ("ours", "reference")) -> str:
    """Render ``rows`` as one fixed-width text table under ``title``; headings open sections."""
    table = [("benchmark", *headers, "ratio", "target", "", "notes")]
    for row in rows:
        if row.heading:
            continue
        target = "" if row.target is None else f">= {_fmt_ratio(row.target, row.percent)}"
        table.append((row.name, row.ours, row.reference, _fmt_ratio(row.ratio, row.percent), target, row.verdict, row.note))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    rule = "  ".join("-" * w for w in widths) + "  -----"

    def render(line: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) if i in (0, 5) else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths))]
        return "  ".join([*cells, line[-1]]).rstrip()

    lines = [title, "=" * len(title), render(table[0]), rule]
    body = iter(table[1:])
    for row in rows:
        lines.append(row.name if row.heading else render(next(body)))
    return "\n".join(lines)


def environment_lines() -> list[str]:
    """Machine, library and load lines printed above every table."""
    one, five, fifteen = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {platform.machine()} {cores} usable cores, torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op threads",
        f"load average at start: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min). Above {cores} other work "
        "shared the CPU: absolute numbers are inflated, the interleaved ratios less so.",
    ]
