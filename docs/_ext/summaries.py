"""What a page states about a run, generated from the run's record: recipes, costs, findings, the decision table.

``.. recipe-card:: cnn``
    The summary box of an architecture page: the recipe the example trained with (its
    config's own sentence), what it cost (parameters, FLOPs per image counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` on the model given by ``:model:``,
    ``:input:`` and ``:kwargs:``, seconds on this build's device) and its headline result.
``.. finding:: rnn initialisation``
    One outcome an example recorded (:class:`mlcheatsheet.findings.Finding`): its sentence
    and the noise it covers, so a page states an outcome only as the run worded it.
``.. decision-table::``
    The landing page's "which architecture, which settings, what to expect": one row per
    example (content lines ``example | when to reach for it``), the recipe and the result
    from the example's record.

Nothing here is typed by hand: a number, a learning rate or a loss on these lines comes
from the record the example wrote in this build. A page whose example did not run says so.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from cheatsheet import LIVE, doc_link, gallery_dir, label_link, note
from doctables import table
from mlcheatsheet.site.report import Result, load_result
from resultsdir import gallery_executed, results_dir
from shapetables import build_page_model, call_model, example_input, parse_kwargs
from sitemap import SHORT_NAMES, architecture_of, example_label


def _record(directive: SphinxDirective, example: str) -> Result | None:
    """This build's record of ``example``, a dependency of the page (None when it did not run)."""
    directive.env.metadata[directive.env.docname][LIVE] = True
    path = results_dir(directive.config) / f"{example}.json"
    if not gallery_executed(directive.config) or not path.is_file():
        return None
    directive.env.note_dependency(str(path))
    return load_result(path)


def _not_run(example: str) -> nodes.note:
    return note(f"This part comes from the run of plot_{example}.py, which this build did not execute (make html runs it).")


def forward_flops(model: Any, example: Any) -> int:
    """FLOPs of one forward pass (a multiply-add counts two), by torch's own counter.

    torch's counter sees the matrix products of ``nn.Linear``, the convolutions, and those of
    ``nn.RNN`` and ``nn.GRU`` on the CPU, but not those inside the fused kernel of
    ``nn.LSTM``; each recurrent layer is therefore counted from its shapes instead: per step
    and layer, each of its G gate blocks multiplies the input (D) and the state (H) by its
    weights, :math:`2 G (D H + H^2)`.
    """
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    analytic: dict[str, int] = {}

    def count(name: str) -> Any:
        def hook(module: nn.RNNBase, args: tuple[Any, ...], output: Any) -> None:
            steps = args[0].shape[1 if module.batch_first else 0]
            gates, directions = {"LSTM": 4, "GRU": 3}.get(module.mode, 1), 2 if module.bidirectional else 1
            widths = [module.input_size] + [module.hidden_size * directions] * (module.num_layers - 1)
            analytic[name] = sum(directions * steps * 2 * gates * (w + module.hidden_size) * module.hidden_size for w in widths)
        return hook

    hooks = [m.register_forward_hook(count(name)) for name, m in model.named_modules() if isinstance(m, nn.RNNBase)]
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            call_model(model, example)
    finally:
        for hook in hooks:
            hook.remove()
    counted = counter.get_flop_counts()
    inside = sum(sum(counted.get(f"{type(model).__name__}.{name}", {}).values()) for name in analytic)
    return int(counter.get_total_flops()) - inside + sum(analytic.values())


def interval_note(result: Result) -> str:
    """What the headline's interval covers, e.g. ``" (95% interval over 10 draws of samples ...)"``; ``""`` without one."""
    if not result.interval:
        return ""
    n = int(result.interval.get("n", 0))  # type: ignore[arg-type]
    if "FID" in result.metric:
        return (f" (95% interval over {n} draws of samples from one trained generator: another training seed "
                "moves it more)")
    return f" (95% interval over the {n:,} test images; one training run)"


def format_count(value: float) -> str:
    """``2_710_000`` → ``2.7 M``; ``41_000_000_000`` → ``41 G``."""
    for size, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.2g} {prefix}" if value < 10 * size else f"{value / size:.0f} {prefix}"
    return f"{value:.0f} "


def _paragraph(*parts: nodes.Node | str) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    for part in parts:
        paragraph += nodes.Text(part) if isinstance(part, str) else part
    return paragraph


# -- recipe-card -----------------------------------------------------------------------
class RecipeCard(SphinxDirective):
    """The recipe, cost and result of one example, from its record and its model."""

    required_arguments = 1
    option_spec = {"model": directives.unchanged_required, "input": directives.positive_int_list,
                   "kwargs": directives.unchanged, "per": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        example = self.arguments[0]
        result = _record(self, example)
        if result is None:
            return [_not_run(example)]
        flops = self._flops()
        size = f"{result.parameters:,} trainable parameters"
        if flops is not None:
            size += f"; {format_count(flops)}FLOPs per forward pass of one {self.options.get('per', 'image')}"
        quick = " — a quick build: shortened, its numbers show that the example runs, not what it reaches" \
            if result.mode == "quick" else ""
        link = label_link(example_label(gallery_dir(self), example), f"plot_{example}.py", self.env.docname)
        rows = [
            ["Recipe", _paragraph(result.recipe or "not recorded")],
            ["Cost", _paragraph(f"{size}; the example trained {result.steps:,} optimiser steps, every model it trains, "
                                f"in {result.train_seconds:.0f} s on {result.device_description or result.device}{quick}")],
            ["Result", _paragraph(f"{result.metric}: {result.formatted_value()} on {result.dataset}{interval_note(result)} (",
                                  link, ")")],
        ]
        return [table(["", "This build"], rows, classes=["cheatsheet-recipe"], widths=[14, 86])]

    def _flops(self) -> int | None:
        if "model" not in self.options:
            return None
        try:
            model = build_page_model(self.options["model"], parse_kwargs(self.options.get("kwargs", "")))
            return forward_flops(model, example_input((1, *self.options.get("input", (1, 28, 28))), None))
        except Exception as exc:  # noqa: BLE001 - any failure becomes a build error at this line
            raise self.error(f"recipe-card {self.arguments[0]}: {type(exc).__name__}: {exc}") from None


# -- finding ---------------------------------------------------------------------------
class FindingDirective(SphinxDirective):
    """``.. finding:: <example> <name>``: a recorded finding with the noise it covers."""

    required_arguments = 2
    final_argument_whitespace = True  # a finding's name may have spaces: "training fit"

    def run(self) -> list[nodes.Node]:
        example, name = self.arguments
        result = _record(self, example)
        if result is None:
            return [_not_run(example)]
        found = {finding["name"]: finding for finding in result.findings}
        if name not in found:
            raise self.error(f"plot_{example}.py recorded no finding {name!r}; it recorded: {', '.join(found) or 'none'}")
        finding = found[name]
        prefix = "Quick build, not a result: " if result.mode == "quick" else "In this build: "
        block = nodes.container(classes=["cheatsheet-finding"])
        block += _paragraph(nodes.strong(text=prefix), finding["sentence"], " ",
                            nodes.emphasis(text=f"Noise covered: {finding['covers']}."))
        return [block]


# -- decision-table --------------------------------------------------------------------
class DecisionTable(SphinxDirective):
    """Which architecture, which settings, what to expect: one row per ``example | use`` line."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        rows = []
        for line in self.content:
            example, _, use = (part.strip() for part in line.partition("|"))
            if not use:
                raise self.error(f"decision-table: write each row as 'example | when to reach for it', got {line!r}")
            rows.append(self._row(example, use))
        return [table(["Architecture", "Reach for it when", "Recipe in this build", "This build got"], rows,
                      classes=["cheatsheet-decisions"], widths=[16, 28, 32, 24])]

    def _row(self, example: str, use: str) -> list[Any]:
        page = architecture_of(example)
        if page is None:
            raise self.error(f"decision-table: {example!r} is not a gallery example of an architecture page")
        result = _record(self, example)
        short = SHORT_NAMES.get(page, page)
        first = _paragraph(doc_link(f"/architectures/{page}", nodes.inline(text=short), self.env.docname))
        title = (result.title if result else example).split(" (")[0]
        if title.lower() != short.lower():
            first += nodes.Text(": ")
            link = label_link(example_label(gallery_dir(self), example), title, self.env.docname)
            first += link
        if result is None:
            return [first, _paragraph(use), _paragraph("not run in this build"), _paragraph("—")]
        got = f"{result.metric}: {result.formatted_value()}; {result.train_seconds:.0f} s on {result.device_description or result.device}"
        return [first, _paragraph(use), _paragraph(short_recipe(result.recipe)), _paragraph(got)]


def short_recipe(recipe: str) -> str:
    """The first three parts of a recipe (length, loss or optimiser, rates), without their explanations."""
    if not recipe:
        return "not recorded"
    return "; ".join(part.split(": ")[0] for part in recipe.split("; ")[:3])


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("recipe-card", RecipeCard)
    app.add_directive("finding", FindingDirective)
    app.add_directive("decision-table", DecisionTable)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
