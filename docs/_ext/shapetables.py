"""A Sphinx directive that tables a model's layers with the output shapes measured in this build.

``.. shape-table:: mlp``
    The output shape and parameter count of every layer of
    ``mlcheatsheet.models.build_model("mlp", ...)``, measured with forward hooks on an
    input of ``:input: 1 28 28`` (``:kwargs: hidden_dims=(1024, 512)`` passes arguments).

The shapes are measured, never typed by hand, so a page cannot disagree with its model.
The other directives that run a page's model (``diagrams``, ``summaries``) build it and its
input with :func:`parse_kwargs`, :func:`build_page_model` and :func:`example_input`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from cheatsheet import folded
from doctables import Cell, table


# -- Reading the directive's options ---------------------------------------------------
def parse_kwargs(text: str) -> dict[str, Any]:
    """``"hidden_dims=(1024, 512), dropout=0.3"`` → a dict of Python literals."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"cannot parse keyword arguments {text!r}: {exc.msg}") from None
    assert isinstance(call, ast.Call)
    if call.args or any(k.arg is None for k in call.keywords):
        raise ValueError(f"write keyword arguments as name=value, got {text!r}")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}


# -- Describing layers and their outputs -------------------------------------------------
def _format_shape(value: Any) -> str:
    """``"1 × 10"`` for a tensor; tuples, lists and dicts of tensors keep their structure."""
    import torch

    if isinstance(value, torch.Tensor):
        return " × ".join(str(d) for d in value.shape) if value.dim() else "scalar"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_format_shape(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format_shape(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "—"
    return type(value).__name__


def _split_top_level(text: str) -> list[str]:
    """Split ``"1024, eps=1e-05, kernel_size=(3, 3)"`` at the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def describe_module(module: Any) -> str:
    """``Linear(in_features=784, out_features=1024, bias=False)``, leaving out arguments at their defaults."""
    try:
        defaults = {name: param.default for name, param in inspect.signature(type(module).__init__).parameters.items()
                    if param.default is not inspect.Parameter.empty}
    except (TypeError, ValueError):
        defaults = {}
    kept = []
    for item in _split_top_level(module.extra_repr()):
        key, eq, value = item.partition("=")
        if eq and key in defaults:
            default = defaults[key]
            # An int default is shown as a tuple per spatial dimension: stride=1 → (1, 1).
            spellings = {repr(default), str(default), *(repr((default,) * n) for n in (1, 2, 3))}
            if value in spellings:
                continue
        kept.append(item)
    name = type(module).__name__.removeprefix("Parametrized") if hasattr(module, "parametrizations") else type(module).__name__
    text = f"{name}({', '.join(kept)})" if kept else name
    for tensor, chain in getattr(module, "parametrizations", {}).items():
        text += "".join(f" + {_PARAMETRIZATION_NAMES.get(type(step).__name__, type(step).__name__)} of {tensor}" for step in chain)
    return text


#: How a table names the reparametrisations torch applies to a layer's weight.
_PARAMETRIZATION_NAMES = {"_SpectralNorm": "spectral norm", "_WeightNorm": "weight norm", "_Orthogonal": "orthogonal"}


# -- Measuring a forward pass ------------------------------------------------------------
def _own_parameters(module: Any) -> Any:
    """The module's own parameters, with the original weights of its parametrisations (spectral norm)."""
    yield from module.parameters(recurse=False)
    if hasattr(module, "parametrizations"):
        yield from module.parametrizations.parameters()

@dataclass
class LayerRow:
    """One row of a shape table: a leaf module called during the forward pass."""

    name: str
    module: str
    shape: str
    parameters: int | None
    calls: int = 1


def _traced_calls(model: Any, example: Any) -> tuple[list[tuple[str, Any, str]], Any]:
    """Run ``model`` in eval mode on ``example``, hooked.

    Returns:
        The (name, module, output shape) of each hooked call, in call order, and the output.
    """
    import torch

    calls: list[tuple[str, Any, str]] = []
    handles = []
    for name, module in model.named_modules():
        if ".parametrizations." in f".{name}.":  # a weight's reparametrisation: its "output" is a weight, shown with its layer
            continue
        is_leaf = next(module.children(), None) is None
        owns_parameters = next(_own_parameters(module), None) is not None
        if (name and (is_leaf or owns_parameters)) or (not name and is_leaf):
            handles.append(module.register_forward_hook(
                lambda mod, args, out, name=name or type(model).__name__: calls.append((name, mod, _format_shape(out)))))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = call_model(model, example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return calls, output


def layer_rows(model: Any, example: Any) -> tuple[list[LayerRow], str]:
    """Run ``model`` on ``example`` and record every leaf module's output, in call order.

    A module called several times in a row with the same output shape (a recurrent cell
    unrolled over time) becomes one row with its call count; a module's parameters are
    counted at its first call only, so the column adds up to the model's total.

    Returns:
        The rows and the formatted shape of the model's output.
    """
    calls, output = _traced_calls(model, example)
    rows: list[LayerRow] = []
    seen: set[int] = set()
    for name, module, shape in calls:
        if rows and rows[-1].name == name and rows[-1].shape == shape:
            rows[-1].calls += 1
            continue
        first = id(module) not in seen
        seen.add(id(module))
        own = sum(p.numel() for p in _own_parameters(module) if p.requires_grad)
        rows.append(LayerRow(name, describe_module(module), shape, own if first else None))
    return rows, _format_shape(output)


# -- The directive -----------------------------------------------------------------------
def build_page_model(target: str, kwargs: dict[str, Any]) -> Any:
    """A registry name through ``mlcheatsheet.models.build_model``; a dotted class path by import."""
    from mlcheatsheet.models import build_model

    if "." in target:
        module_name, _, attr = target.rpartition(".")
        return getattr(importlib.import_module(module_name), attr)(**kwargs)
    return build_model(target, **kwargs)


def call_model(model: Any, example: Any) -> Any:
    """``model(example)``; a diffusion network, ``forward(x, t)``, also gets the noise level :math:`t = 0.5`."""
    import inspect

    import torch

    names = list(inspect.signature(model.forward).parameters)
    if names[1:2] == ["t"]:
        return model(example, torch.full((example.shape[0],), 0.5))
    return model(example)


def example_input(dims: tuple[int, ...], dtype: str | None) -> Any:
    """A batch of shape ``dims``: zeros for token ids (``long``), else uniform noise."""
    import torch

    torch.manual_seed(0)  # the same input in every build
    if dtype == "long":
        return torch.zeros(dims, dtype=torch.long)
    return torch.rand(dims)


def group_rows(model: Any, rows: list[LayerRow], depth: int) -> list[LayerRow]:
    """The rows summed per submodule ``depth`` names deep (``stages.0``): one row per stage.

    A group's shape is its last layer's output and its parameters the sum of its rows; its
    module column names the submodule's class and, for a container, its children's.
    """
    groups: dict[str, list[LayerRow]] = {}
    for row in rows:
        groups.setdefault(".".join(row.name.split(".")[:depth]), []).append(row)
    summary = []
    for name, members in groups.items():
        if len(members) == 1:
            summary.append(members[0])
            continue
        module = model.get_submodule(name)
        children = [type(child).__name__ for child in module.children()]
        kinds = sorted(set(children), key=children.index)
        described = type(module).__name__ + (
            f" of {len(children)} × {kinds[0]}" if len(kinds) == 1 else f" of {', '.join(kinds)}") if children else ""
        summary.append(LayerRow(name, described, members[-1].shape, sum(r.parameters or 0 for r in members)))
    return summary


def _layer_cells(row: LayerRow) -> list[Cell]:
    name = row.name + (f" ×{row.calls}" if row.calls > 1 else "")
    count = "(shared)" if row.parameters is None else f"{row.parameters:,}"
    return [nodes.literal(text=name), nodes.literal(text=row.module), row.shape, count]


class ShapeTable(SphinxDirective):
    """Layer-by-layer output shapes and parameter counts of a model, measured in this build.

    The argument is a registry name (``mlcheatsheet.models.build_model``) or the dotted
    path of a model class. Options: ``:input:`` the shape of one input without the batch
    dimension (default ``1 28 28``), ``:batch:`` (default 1), ``:kwargs:`` keyword
    arguments for the model, ``:dtype:`` ``float`` (default) or ``long``, ``:caption:``, and
    ``:summary: N`` to show one row per submodule ``N`` names deep, with every layer folded below.
    """

    required_arguments = 1
    option_spec = {
        "input": directives.positive_int_list,
        "batch": directives.positive_int,
        "kwargs": directives.unchanged,
        "dtype": lambda arg: directives.choice(arg, ("float", "long")),
        "caption": directives.unchanged,
        "summary": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        target = self.arguments[0]
        try:
            kwargs = parse_kwargs(self.options.get("kwargs", ""))
        except (ValueError, SyntaxError) as exc:
            raise self.error(f"shape-table {target}: {exc}") from None
        dims = (self.options.get("batch", 1), *self.options.get("input", (1, 28, 28)))
        try:
            model = build_page_model(target, kwargs)
            rows, output = layer_rows(model, example_input(dims, self.options.get("dtype")))
        except Exception as exc:  # noqa: BLE001 - any failure becomes a build error at this line
            raise self.error(f"shape-table {target}: {type(exc).__name__}: {exc}") from None
        source = inspect.getsourcefile(type(model))
        if source:
            self.env.note_dependency(source)  # the page is re-read when the model's code changes
        total = sum(p.numel() for p in model.parameters() if p.requires_grad)
        size = " × ".join(str(d) for d in dims)
        body: list[list[Cell]] = [
            ["input", "", size, ""],
            *(_layer_cells(row) for row in rows),
            [nodes.strong(text="total"), "", output, nodes.strong(text=f"{total:,}")],
        ]
        call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        caption = self.options.get(
            "caption", f"Layers of {target}({call}) on an input of shape {size}, measured while this page was built.")
        full = table(["Layer", "Module", "Output shape", "Parameters"], body,
                     classes=["cheatsheet-shapes"], widths=[18, 46, 20, 12], title=caption)
        if "summary" not in self.options:
            return [full]
        # A long table is summarised per submodule, the full one folded below it.
        grouped = [body[0], *(_layer_cells(row) for row in group_rows(model, rows, self.options["summary"])), body[-1]]
        short = table(["Part", "Module", "Output shape", "Parameters"], grouped, classes=["cheatsheet-shapes"],
                      widths=[18, 46, 20, 12], title=f"{caption} Summed per part; every layer is in the table below.")
        return [short, *folded(f"All {len(rows)} layers", [full])]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("shape-table", ShapeTable)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
