"""The stamp of a gallery run, rendered from its result record: what a reader needs to trust it.

Every line comes from the :class:`mlcheatsheet.site.report.Result` that the example wrote while
this site was built (commit, UTC time, device, torch version, data, build mode, quality
target), so a stamp cannot be older than its run, and a page whose example recorded no
result gets none. ``gallerypages.py`` puts :func:`example_stamp` at the top of each gallery
page and :func:`build_stamp` above the landing page's results table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from docutils import nodes

from mlcheatsheet.site.budgets import TARGET_DATASET, TARGET_DEVICE, targets_enforced
from mlcheatsheet.site.report import Result


def when(run_at: str) -> str:
    """``2026-02-01T09:30:12Z`` as ``2026-02-01 09:30 UTC`` (other text unchanged)."""
    if len(run_at) >= 16 and run_at[10] == "T":
        return f"{run_at[:10]} {run_at[11:16]} UTC"
    return run_at


def _verdict(result: Result) -> list[nodes.Node]:
    """The target mark of ``result``: ``✓ met``, ``✗ missed`` (with where the target holds), or why there is none."""
    met = result.target_met()
    if met is None:
        text = "no target in quick mode" if result.mode == "quick" else "no target"
        return [nodes.inline(text=text, classes=["cheatsheet-target-none"])]
    mark = nodes.inline(text="✓ met" if met else "✗ missed",
                        classes=["cheatsheet-target", "cheatsheet-target-met" if met else "cheatsheet-target-missed"])
    if met or targets_enforced(result.device, result.dataset):
        return [mark]
    # Not a build failure: the target was measured elsewhere, and the reader should know that.
    return [mark, nodes.inline(text=f" (target set for {TARGET_DEVICE}, {TARGET_DATASET})", classes=["cheatsheet-muted"])]


def target_cell(result: Result) -> list[nodes.Node]:
    """The target and its met/missed mark, e.g. ``≥ 96% ✓ met``, for the results table."""
    target = result.quality_target()
    cell: list[nodes.Node] = []
    if target is not None:
        cell.append(nodes.inline(text=f"{target.bound()} ", classes=["cheatsheet-nowrap"]))
        if target.key:  # the compared number is not the headline one: show it
            cell.append(nodes.inline(text=f"({target.metric} {target.format_number(result.target_measured())}) ",
                                     classes=["cheatsheet-muted"]))
    return cell + _verdict(result)


def _line(label: str, *content: nodes.Node) -> nodes.list_item:
    item = nodes.list_item()
    item += nodes.paragraph("", "", nodes.strong(text=f"{label}: "), *content)
    return item


def _run_line(result: Result) -> nodes.list_item:
    content: list[nodes.Node] = []
    if result.run_at:
        content += [nodes.inline(text=when(result.run_at), classes=["cheatsheet-nowrap"]), nodes.Text(", ")]
    mode = "quick mode (tiny budgets: the numbers show that the code runs)" if result.mode == "quick" else "full mode"
    content += [nodes.Text(f"{mode}, commit "), nodes.literal(text=result.commit)]
    return _line("Trained while this site was built", *content)


def _target_line(result: Result) -> nodes.list_item:
    target = result.quality_target()
    if target is None:
        return _line("Target", *_verdict(result))
    measured = target.format_number(result.target_measured())
    return _line("Target", nodes.Text(f"{target.metric} {target.bound()}, this run {measured}: "), *_verdict(result))


def example_stamp(result: Result, architecture: nodes.Node | None = None) -> nodes.admonition:
    """The stamp at the top of a gallery page: this run's provenance, its target, and its architecture page.

    Args:
        result: The result the page's script recorded in this build.
        architecture: A link to the architecture page the example belongs to, if any.
    """
    stamp = nodes.admonition(classes=["cheatsheet-stamp"])
    stamp += nodes.title(text="Verified run")
    lines = nodes.bullet_list()
    lines += _run_line(result)
    device = result.device_description or result.device
    lines += _line("Device", nodes.Text(device + (f", torch {result.torch_version}" if result.torch_version else "")))
    lines += _line("Data", nodes.Text(f"{result.dataset} — {result.source}"))
    lines += _target_line(result)
    if architecture is not None:
        lines += _line("Architecture page", architecture)
    stamp += lines
    return stamp


def _together(values: Iterable[str]) -> str:
    """The distinct non-empty values, in order: one when the build agrees with itself, else all."""
    return ", ".join(dict.fromkeys(v for v in values if v)) or "unknown"


def _span(run_at: Sequence[str]) -> str:
    """When the results were recorded: ``2026-02-01 09:30 UTC``, ``2026-02-01 09:30–09:41 UTC``, or a range of days."""
    times = sorted(when(t) for t in run_at if t)
    if not times:
        return "at an unrecorded time"
    first, last = times[0], times[-1]
    if first == last:
        return first
    if first[:10] == last[:10]:
        return f"{first.removesuffix(' UTC')}–{last[11:]}"
    return f"{first} to {last}"


def build_stamp(results: Sequence[Result]) -> nodes.paragraph:
    """One line above the results table: the build's commit, time span, device, torch version and mode."""
    stamp = nodes.paragraph(classes=["cheatsheet-stamp-line"])
    stamp += nodes.strong(text="This build: ")
    stamp += nodes.Text("commit ")
    stamp += nodes.literal(text=_together(r.commit for r in results))
    stamp += nodes.Text(", trained ")
    stamp += nodes.inline(text=_span([r.run_at for r in results]), classes=["cheatsheet-nowrap"])
    stamp += nodes.Text(f" on {_together(r.device_description or r.device for r in results)} with torch "
                        f"{_together(r.torch_version for r in results)}, {_together(r.mode for r in results)} mode.")
    return stamp
