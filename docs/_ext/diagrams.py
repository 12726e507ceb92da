"""A Sphinx directive that draws a model's architecture as inline SVG, with shapes measured in this build.

``.. architecture-diagram:: cnn``
    One box per content line ``label | module.path``; each box shows its label and the output
    shape of ``module.path`` in ``mlcheatsheet.models.build_model("cnn", ...)``, measured with
    forward hooks on one input (``:input:``, ``:kwargs:`` as in ``.. shape-table::``).

The reference after ``|`` is a dotted submodule path, optionally followed by ``:input`` (what
the submodule received instead of what it returned) and by indices ``[i]`` into a tuple.
An empty path is the model itself, so ``input image |`` shows the model's input and
``logits | :output`` its output. A line without ``|`` opens a *section*: a framed group
of the boxes below it, titled by the line.

``:kind:`` picks the layout; each kind is a vertical flow, so it reads on a phone:

* ``stack``: boxes joined by arrows.
* ``residual``: a box whose module is a residual block (a ``shortcut`` attribute, and no
  ``residual = False``) gets a skip arc ending in ⊕; a container of such blocks is drawn as
  a stack of cards with one arc (``skip ×N``). Plain blocks get no arc: it is read off the model.
* ``recurrent``: a box whose module is an ``nn.RNN``/``nn.GRU``/``nn.LSTM`` becomes the cell
  with its loop :math:`h_{t-1} \\to h_t` and the chain unrolled over the measured steps.
* ``autoencoder``: three sections, in order encoder, code and decoder; the code section is
  one highlighted box with a row per line (for a VAE: μ, log σ² and z = μ + σ·ε).
* ``adversarial``: ``:generator:`` and ``:discriminator:`` name two models; two sections list
  their insides. The kind adds noise z → G → fake image, real image → D → score → loss, and
  the two update arrows back.

No graphviz: the geometry below is plain arithmetic, and text widths are estimated at 0.6 em
per character so that no label outgrows its box.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from shapetables import build_page_model, call_model, example_input, parse_kwargs

KINDS = ("stack", "residual", "recurrent", "autoencoder", "adversarial")


class DiagramError(ValueError):
    """Bad input to the directive; its message becomes the build error at the directive."""


# -- Reading the content -------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """Where a box's tensor is read: ``path`` ('' = the model), its input or output, indices."""

    path: str
    port: str  # "input" or "output"
    index: tuple[int, ...] = ()


@dataclass
class Line:
    label: str
    ref: Ref


@dataclass
class Section:
    title: str | None  # None: the lines before the first section header
    lines: list[Line] = field(default_factory=list)


_REF = re.compile(r"^(?P<path>[A-Za-z0-9_.]*)(?::(?P<port>input|output))?(?P<index>(?:\[\d+\])*)$")


def parse_ref(text: str) -> Ref:
    """``"encoder"``, ``"decoder:input"``, ``":output[1]"``, ``""`` (the model's input)."""
    match = _REF.match(text.strip())
    if not match:
        raise DiagramError(f"cannot read {text.strip()!r}: write a module path such as features.3, "
                           f"optionally with :input or :output and indices such as [0]")
    path = match["path"].strip(".")
    port = match["port"] or ("output" if path else "input")
    return Ref(path, port, tuple(int(i) for i in re.findall(r"\d+", match["index"])))


def parse_content(lines: Sequence[str]) -> list[Section]:
    """Boxes (``label | ref``) grouped under section headers (lines without ``|``)."""
    sections = [Section(None)]
    for raw in lines:
        if not raw.strip():
            continue
        label, bar, ref = raw.partition("|")
        if not bar:
            sections.append(Section(raw.strip()))
        elif not label.strip():
            raise DiagramError(f"the line {raw.strip()!r} has no label before '|'")
        else:
            sections[-1].lines.append(Line(label.strip(), parse_ref(ref)))
    return sections if sections[0].lines else sections[1:]


# -- Measuring the model -------------------------------------------------------------------
@dataclass
class Probe:
    """What one module received and returned at its first call."""

    module: Any
    args: tuple[Any, ...] | None = None
    output: Any = None


def resolve(model: Any, name: str, path: str) -> Any:
    """``model``'s submodule at ``path``; a missing one names the children that do exist."""
    module, walked = model, []
    for part in path.split(".") if path else []:
        children = dict(module.named_children())
        if part not in children:
            where = f"the children of '{'.'.join(walked)}'" if walked else "its children"
            listed = ", ".join(children) or "none"
            raise DiagramError(f"{name} has no submodule {path!r}; {where} are {listed}")
        module = children[part]
        walked.append(part)
    return module


def measure(model: Any, name: str, example: Any, paths: set[str]) -> dict[str, Probe]:
    """Run ``model`` once in eval mode on ``example`` and record each path's first call."""
    import torch

    probes = {path: Probe(resolve(model, name, path)) for path in sorted(paths)}

    def record(probe: Probe) -> Callable[..., None]:
        def hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
            if probe.args is None:  # the first call: a shared module's later calls are not this box
                probe.args, probe.output = args, output
        return hook

    handles = [probe.module.register_forward_hook(record(probe)) for probe in probes.values()]
    was_training = model.training
    model.eval()  # the shapes do not depend on it, and BatchNorm accepts a batch of one
    try:
        with torch.no_grad():
            call_model(model, example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    for path, probe in probes.items():
        if probe.args is None:
            raise DiagramError(f"{name}.{path} was not called in the forward pass")
    return probes


def pick(probe: Probe, ref: Ref, name: str) -> Any:
    """The tensor (or tuple) a box shows: the probe's first input or its output, indexed."""
    if ref.port == "input" and not probe.args:
        raise DiagramError(f"{ref.path or name} was called without a positional input to show")
    value = probe.args[0] if ref.port == "input" else probe.output
    for i in ref.index:
        if not isinstance(value, (tuple, list)) or i >= len(value):
            what = f"{ref.path}:{ref.port}" if ref.path else f":{ref.port}"
            got = f"a tuple of {len(value)}" if isinstance(value, (tuple, list)) else "not a tuple"
            raise DiagramError(f"{what} of {name} has no element [{i}]: it is {got}")
        value = value[i]
    return value


def shape_text(value: Any) -> str:
    """``"32 × 14 × 14"``: one example's shape, the batch dimension left out; tuples keep their structure."""
    import torch

    if isinstance(value, torch.Tensor):
        return " × ".join(str(d) for d in value.shape[1:]) or "scalar"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(shape_text(v) for v in value) + ")"
    return type(value).__name__


# -- What the boxes show -------------------------------------------------------------------
@dataclass
class Box:
    """One drawn box: its label, the measured shape and the module it was measured on."""

    label: str
    shape: str
    module: Any = None  # None for the model's own input and output
    value: Any = None
    args: tuple[Any, ...] | None = None


def boxes_of(model: Any, name: str, example: Any, sections: list[Section]) -> list[list[Box]]:
    """Measure every line of ``sections`` on one forward pass of ``model``."""
    paths = {line.ref.path for section in sections for line in section.lines}
    probes = measure(model, name, example, paths | {""})
    result = []
    for section in sections:
        row = []
        for line in section.lines:
            probe = probes[line.ref.path]
            value = pick(probe, line.ref, name)
            module = probe.module if line.ref.path and line.ref.port == "output" else None
            if is_recurrent(module) and not line.ref.index:
                # An RNN returns (outputs, state) and lays its state out (layers, batch, hidden), not
                # batch first: show the outputs, one per step.
                value = value[0]
            row.append(Box(line.label, shape_text(value), module, value, probe.args))
        result.append(row)
    return result


def residual_skip(module: Any) -> tuple[str, int] | None:
    """The skip arc's label and the number of blocks, when ``module`` is a residual block or a stage of them."""
    if _is_residual_block(module):
        return _shortcut_text(module), 1
    children = list(module.children()) if module is not None else []
    if len(children) > 1 and all(_is_residual_block(child) for child in children):
        return f"skip ×{len(children)}", len(children)
    return None


def _is_residual_block(module: Any) -> bool:
    # A block says so with ``residual`` (PlainBlock: False); torchvision's blocks have ``downsample``.
    if module is None:
        return False
    return bool(getattr(module, "residual", hasattr(module, "shortcut") or hasattr(module, "downsample")))


def _shortcut_text(block: Any) -> str:
    shortcut = getattr(block, "shortcut", getattr(block, "downsample", None))
    conv = next((m for m in shortcut.modules() if hasattr(m, "kernel_size")), None) if shortcut is not None else None
    if conv is None:
        return "identity"
    (k, *_), (s, *_) = conv.kernel_size, conv.stride
    return f"{k}×{k} conv /{s}" if s > 1 else f"{k}×{k} conv"


def is_recurrent(module: Any) -> bool:
    from torch import nn

    return isinstance(module, nn.RNNBase)


# -- Text: size estimates and markup -------------------------------------------------------
LABEL, SHAPE, SMALL, SUBSCRIPT = 14.0, 13.0, 12.0, 11.5  # the viewBox is 360 wide ≈ 358 px on a phone: all ≥ 11 px
CHAR_EM = 0.6  # estimated advance per character, in em (generous for sans-serif)
_SUB = re.compile(r"_\{([^}]*)\}")


def plain(text: str) -> str:
    """The text as read aloud or measured: ``h_{t−1}`` → ``ht−1``."""
    return _SUB.sub(r"\1", text)


def text_width(text: str, size: float) -> float:
    return CHAR_EM * size * len(plain(text))


def wrap(text: str, size: float, width: float) -> list[str]:
    """Wrap to ``width`` in as few lines as greedy wrapping needs, balanced, breaking after ``·``, ``,`` or ``→`` first."""
    limit = max(1, int(width / (CHAR_EM * size)))
    lines = _greedy_wrap(text, limit)
    # Balance down to the longest phrase that fits whole: "conv 3×3 · BN ·" / "ReLU · max-pool", never "stride" / "2".
    floor = max([len(plain(p)) for p in _phrases(text) if len(plain(p)) <= limit] + [1])
    while limit > floor:
        tighter = _greedy_wrap(text, limit - 1)
        if len(tighter) > len(lines):
            break
        lines, limit = tighter, limit - 1
    return lines


def _phrases(text: str) -> list[str]:
    """``"conv 3×3 · BN · ReLU"`` → ``["conv 3×3 ·", "BN ·", "ReLU"]``: the places a label breaks best."""
    return [p for p in re.split(r"(?<=[·,→]) ", " ".join(text.split())) if p]


def _greedy_wrap(text: str, limit: int) -> list[str]:
    """Greedy wrap at ``limit`` characters, by phrases; a phrase too long goes by words, a word too long is cut."""
    pieces = [w for p in _phrases(text) for w in ([p] if len(plain(p)) <= limit else p.split())]
    lines: list[str] = []
    for piece in pieces:
        while len(plain(piece)) > limit:
            lines.append(piece[:limit])
            piece = piece[limit:]
        if lines and len(plain(lines[-1])) + 1 + len(plain(piece)) <= limit:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    return lines or [""]


def markup(text: str, size: float) -> str:
    """Escaped SVG text; ``x_{t}`` becomes a lowered, smaller tspan (unicode has no subscript ``t``)."""
    shift, small = round(size * 0.3, 1), max(SUBSCRIPT, round(size * 0.8, 1))
    parts = []
    for i, piece in enumerate(_SUB.split(text)):
        escaped = html.escape(piece, quote=False)
        # The zero-width space after the subscript carries the baseline back up for the text that follows.
        parts.append(f'<tspan dy="{shift}" font-size="{small}">{escaped}</tspan><tspan dy="-{shift}">\u200b</tspan>'
                     if i % 2 else escaped)
    return "".join(parts)


# -- The canvas ----------------------------------------------------------------------------
WIDTH = 360.0  # viewBox units: drawn 358 px wide in a phone's column, at most 480 px on a desktop
CENTER = WIDTH / 2
Point = tuple[float, float]
HUES = {"data": "#0ea5e9", "layer": "#6366f1", "code": "#f59e0b", "loss": "#ef4444",
        "generator": "#10b981", "discriminator": "#a855f7", "cell": "#14b8a6"}


class Canvas:
    """SVG elements in drawing order; colours are ``currentColor`` plus translucent hues (dark mode)."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, *, hue: str | None = None,
             dashed: bool = False, radius: float = 6, opacity: float = 0.13) -> None:
        fill = f'fill="{HUES[hue]}" fill-opacity="{opacity}"' if hue else 'fill="none"'
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius}" '
                          f'{fill} stroke="currentColor" stroke-opacity="0.55"{dash}/>')

    def text(self, x: float, y: float, text: str, *, size: float, anchor: str = "middle",
             weight: int = 400, opacity: float = 1.0, italic: bool = False, rotate: float = 0) -> None:
        style = (f' font-weight="{weight}"' if weight != 400 else "") + (' font-style="italic"' if italic else "")
        style += f' fill-opacity="{opacity}"' if opacity < 1 else ""
        style += f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'dominant-baseline="central" fill="currentColor"{style}>{markup(text, size)}</text>')

    def arrow(self, points: Sequence[Point], *, dashed: bool = False, head: bool = True) -> None:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        extra = (' stroke-dasharray="4 3"' if dashed else "") + (f' marker-end="url(#{self.uid}-head)"' if head else "")
        self.parts.append(f'<path d="{d}" fill="none" stroke="currentColor" stroke-opacity="0.8" '
                          f'stroke-width="1.3"{extra}/>')

    def plus(self, x: float, y: float, r: float = 7) -> None:
        """The ⊕ where a skip joins the main path."""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="none" stroke="currentColor" stroke-width="1.3"/>'
                          f'<path d="M{x - r + 2:.1f},{y:.1f} H{x + r - 2:.1f} M{x:.1f},{y - r + 2:.1f} V{y + r - 2:.1f}" '
                          f'stroke="currentColor" stroke-width="1.3"/>')

    def svg(self, height: float, title: str, label: str) -> str:
        marker = (f'<marker id="{self.uid}-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                  f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {height:.0f}" width="100%" '
                f'style="max-width: 480px; height: auto; display: block; margin: 0.75rem auto 0.25rem" '
                f'role="img" aria-label="{html.escape(label)}">'  # the name read aloud: every box and its shape
                f'<title>{html.escape(title)}</title><defs>{marker}</defs>'
                f'{"".join(self.parts)}</svg>')


def elbow(start: Point, end: Point) -> list[Point]:
    """A vertical arrow from ``start`` down to ``end``, with a horizontal jog halfway when they are not aligned."""
    (x1, y1), (x2, y2) = start, end
    if abs(x1 - x2) < 0.5:
        return [start, end]
    mid = (y1 + y2) / 2
    return [start, (x1, mid), (x2, mid), end]


# -- Items of a vertical flow --------------------------------------------------------------
PAD_X, PAD_Y, GAP = 10.0, 7.0, 24.0
LINE_LABEL, LINE_SHAPE = 18.0, 17.0


class Item:
    """Something in a vertical flow: it has a height and draws itself, returning where arrows attach."""

    def height(self) -> float:
        raise NotImplementedError

    def draw(self, canvas: Canvas, y: float) -> tuple[Point, Point]:
        raise NotImplementedError

    def boxes(self) -> Iterator[Box]:
        yield from ()


@dataclass
class BoxItem(Item):
    """A labelled box with its measured shape; ``skip`` adds a residual arc and ⊕ below it."""

    box: Box
    width: float
    hue: str = "layer"
    x: float = CENTER
    skip: str | None = None
    cards: int = 1  # > 1: drawn as a stack of cards (a stage of blocks)

    def lines(self) -> list[str]:
        return wrap(self.box.label, LABEL, self.width - 2 * PAD_X)

    def shape_lines(self) -> list[str]:
        return wrap(self.box.shape, SHAPE, self.width - 2 * PAD_X) if self.box.shape else []

    def box_height(self) -> float:
        return 2 * PAD_Y + LINE_LABEL * len(self.lines()) + LINE_SHAPE * len(self.shape_lines())

    def stacked(self) -> float:
        """How far the cards behind the box reach above it (they sit up and to the right)."""
        return 4.0 * (self.cards - 1)

    def height(self) -> float:
        return self.stacked() + self.box_height() + (GAP / 2 + 14 if self.skip else 0)

    def boxes(self) -> Iterator[Box]:
        yield self.box

    def draw(self, canvas: Canvas, top: float) -> tuple[Point, Point]:
        h, left, y = self.box_height(), self.x - self.width / 2, top + self.stacked()
        for card in range(self.cards - 1, 0, -1):  # the cards behind: arrows meet the top one
            canvas.rect(left + 4 * card, y - 4 * card, self.width, h, hue=self.hue, opacity=0.05)
        canvas.rect(left, y, self.width, h, hue=self.hue, radius=12 if self.hue == "data" else 6)
        row = y + PAD_Y
        for line in self.lines():
            canvas.text(self.x, row + LINE_LABEL / 2, line, size=LABEL, weight=600)
            row += LINE_LABEL
        for line in self.shape_lines():
            canvas.text(self.x, row + LINE_SHAPE / 2, line, size=SHAPE, opacity=0.8)
            row += LINE_SHAPE
        if not self.skip:
            return (self.x, top), (self.x, y + h)
        return (self.x, top), self._draw_skip(canvas, top, y + h)

    def _draw_skip(self, canvas: Canvas, top: float, bottom: float) -> Point:
        # The arc leaves the incoming arrow halfway and joins at ⊕ below the box: y = F(x) + S(x).
        join = bottom + GAP / 2 + 7
        right = self.x + self.width / 2 + self.stacked() + 16
        canvas.arrow([(self.x, bottom), (self.x, join - 7)])
        canvas.arrow([(self.x, top - GAP / 2), (right, top - GAP / 2), (right, join), (self.x + 7, join)])
        canvas.plus(self.x, join)
        canvas.text(right + 9, (top - GAP / 2 + join) / 2, self.skip or "", size=SMALL, rotate=90, italic=True)
        return self.x, join + 7


@dataclass
class CodeItem(Item):
    """The code of an autoencoder: one highlighted box, a row per line (label left, shape right)."""

    title: str
    rows: list[Box]
    width: float

    def height(self) -> float:
        return 2 * PAD_Y + LINE_LABEL + LINE_SHAPE * len(self.rows) + 4

    def boxes(self) -> Iterator[Box]:
        yield from self.rows

    def draw(self, canvas: Canvas, y: float) -> tuple[Point, Point]:
        left = CENTER - self.width / 2
        canvas.rect(left, y, self.width, self.height(), hue="code", radius=10)
        canvas.text(CENTER, y + PAD_Y + LINE_LABEL / 2, self.title, size=LABEL, weight=600)
        row = y + PAD_Y + LINE_LABEL + 4
        for box in self.rows:
            canvas.text(left + PAD_X, row + LINE_SHAPE / 2, box.label, size=SHAPE, anchor="start")
            canvas.text(left + self.width - PAD_X, row + LINE_SHAPE / 2, box.shape, size=SHAPE, anchor="end", opacity=0.8)
            row += LINE_SHAPE
        return (CENTER, y), (CENTER, y + self.height())


@dataclass
class FrameItem(Item):
    """A section: a dashed frame titled at its top left around a flow of items."""

    title: str
    items: list[Item]
    width: float

    def title_lines(self) -> list[str]:
        # Left half only: the arrow into the frame runs down its middle.
        return wrap(self.title, SMALL, self.width / 2 - 14)

    def head(self) -> float:
        return 6 + LINE_SHAPE * len(self.title_lines()) + 6

    def height(self) -> float:
        return self.head() + flow_height(self.items) + 10

    def boxes(self) -> Iterator[Box]:
        for item in self.items:
            yield from item.boxes()

    def draw(self, canvas: Canvas, y: float) -> tuple[Point, Point]:
        left = CENTER - self.width / 2
        canvas.rect(left, y, self.width, self.height(), dashed=True, radius=10)
        for i, line in enumerate(self.title_lines()):
            canvas.text(left + 8, y + 6 + LINE_SHAPE * (i + 0.5), line, size=SMALL, anchor="start", italic=True)
        first, last, _ = draw_flow(canvas, self.items, y + self.head())
        return first, last


#: The geometry of a recurrent item: the rolled cell, the gap to the chain, the x labels and the chain's cells.
CELL_H, UNROLL_GAP, STEP_W, STEP_H, STEP_SPACE = 2 * PAD_Y + LINE_LABEL + 2 * LINE_SHAPE, 30.0, 46.0, 28.0, 18.0


@dataclass
class RecurrentItem(Item):
    """A recurrent layer: the cell with its loop h_{t−1} → h_t, then the chain unrolled over the measured steps."""

    box: Box
    width: float

    def info(self) -> tuple[str, str, int]:
        """The layer's class name, ``x_t: F → h_t: H`` and the number of steps, read off its first call."""
        module, x = self.box.module, self.box.args[0]
        steps = x.shape[1] if module.batch_first else x.shape[0]
        hidden = module.hidden_size * (2 if module.bidirectional else 1)
        return type(module).__name__, f"x_{{t}}: {x.shape[-1]} → h_{{t}}: {hidden}", int(steps)

    def height(self) -> float:
        return CELL_H + UNROLL_GAP + LINE_SHAPE + 8 + STEP_H

    def boxes(self) -> Iterator[Box]:
        yield self.box

    def draw(self, canvas: Canvas, y: float) -> tuple[Point, Point]:
        name, flow, steps = self.info()
        cell_w = min(self.width, 200.0)
        left = CENTER - cell_w / 2 - 30  # off centre: the loop and its label go on the right
        middle = left + cell_w / 2
        canvas.rect(left, y, cell_w, CELL_H, hue="cell")
        lines = [(self.box.label, LABEL, 600, 1.0), (f"hidden {self.box.module.hidden_size}", SHAPE, 400, 0.8),
                 (flow, SHAPE, 400, 0.8)]
        row = y + PAD_Y
        for text, size, weight, opacity in lines:
            step = LINE_LABEL if size == LABEL else LINE_SHAPE
            canvas.text(middle, row + step / 2, text, size=size, weight=weight, opacity=opacity)
            row += step
        right = left + cell_w
        canvas.arrow([(right, y + CELL_H * 0.7), (right + 22, y + CELL_H * 0.7), (right + 22, y + CELL_H * 0.3),
                      (right + 2, y + CELL_H * 0.3)])
        canvas.text(right + 28, y + CELL_H / 2, "h_{t−1} → h_{t}", size=SMALL, anchor="start")
        chain_top = y + CELL_H + UNROLL_GAP
        canvas.arrow([(middle, y + CELL_H), (middle, chain_top - 4)], dashed=True, head=False)
        canvas.text(middle + 6, y + CELL_H + UNROLL_GAP / 2, f"unrolled over {steps} steps", size=SMALL,
                    anchor="start", italic=True)
        return (middle, y), self._draw_chain(canvas, chain_top, name, steps)

    def _draw_chain(self, canvas: Canvas, top: float, name: str, steps: int) -> Point:
        # Three cells, an ellipsis and the last: enough to show the pattern, narrow enough for a phone.
        shown = [1, 2, 3, steps] if steps > 4 else list(range(1, steps + 1))
        elided = steps > 4
        xs = [64 + i * (STEP_W + STEP_SPACE) + (2 * STEP_SPACE if i == 3 and elided else 0) for i in range(len(shown))]
        row = top + LINE_SHAPE + 8
        mid = row + STEP_H / 2
        canvas.text(40, mid, "h_{0}", size=SMALL)
        previous = 50.0
        for i, (x, t) in enumerate(zip(xs, shown)):
            canvas.text(x + STEP_W / 2, top + LINE_SHAPE / 2 - 4, f"x_{{{t}}}", size=SMALL)
            canvas.arrow([(x + STEP_W / 2, top + LINE_SHAPE), (x + STEP_W / 2, row)])
            if i == 3 and elided:  # x_4 … x_{T-1}: a line into an ellipsis, an arrow out of it
                canvas.arrow([(previous, mid), (previous + 10, mid)], head=False)
                canvas.text((previous + x) / 2, mid, "⋯", size=LABEL)
                previous = x - 12
            canvas.arrow([(previous, mid), (x, mid)])
            canvas.rect(x, row, STEP_W, STEP_H, hue="cell")
            canvas.text(x + STEP_W / 2, mid, name, size=SHAPE)
            previous = x + STEP_W
        last = xs[-1] + STEP_W / 2
        canvas.text(last + 6, row + STEP_H + GAP / 2, f"h_{{{steps}}}", size=SMALL, anchor="start")
        return last, row + STEP_H


def flow_height(items: Sequence[Item]) -> float:
    return sum(item.height() for item in items) + GAP * max(0, len(items) - 1)


def draw_flow(canvas: Canvas, items: Sequence[Item], y: float) -> tuple[Point, Point, float]:
    """Draw ``items`` top to bottom with arrows between them; returns the first entry, last exit and the bottom."""
    first: Point | None = None
    exit_: Point | None = None
    for item in items:
        entry, out = item.draw(canvas, y)
        if exit_ is not None:
            canvas.arrow(elbow(exit_, entry))
        first = first or entry
        exit_ = out
        y += item.height() + GAP
    assert first is not None and exit_ is not None
    return first, exit_, y - GAP


# -- Layouts of the kinds ------------------------------------------------------------------
BOX_MAX = 240.0  # the widest box: the column, with room on the right for skip arcs


def box_width(boxes: Sequence[Box], widest: float = BOX_MAX) -> float:
    """One width for every box of a diagram: the widest unwrapped text, capped (longer text wraps)."""
    natural = max([text_width(b.label, LABEL) for b in boxes] + [text_width(b.shape, SHAPE) for b in boxes] + [100.0])
    return min(widest, natural + 2 * PAD_X + 4)


def _box_item(box: Box, width: float, kind: str, hue: str = "layer") -> Item:
    if kind == "recurrent" and is_recurrent(box.module):
        return RecurrentItem(box, width)
    hue = hue if box.module is not None else "data"
    skip = residual_skip(box.module) if kind == "residual" else None
    if skip:
        return BoxItem(box, width, hue, skip=skip[0], cards=skip[1])
    return BoxItem(box, width, hue)


def stack_items(sections: list[Section], boxes: list[list[Box]], kind: str, width: float) -> list[Item]:
    """The flow of the stack, residual and recurrent kinds: sections become frames."""
    items: list[Item] = []
    for section, row in zip(sections, boxes):
        _check_filled(section)
        inner = [_box_item(box, width, kind) for box in row]
        items.extend(inner if section.title is None else [FrameItem(section.title, inner, width + 24)])
    return items


def _check_filled(section: Section) -> None:
    if not section.lines:
        raise DiagramError(f"the section {section.title!r} lists no boxes ('label | module.path' lines)")


def autoencoder_items(sections: list[Section], boxes: list[list[Box]], width: float) -> list[Item]:
    """Encoder frame → code box → decoder frame, after any boxes before the first section."""
    titled = [(s, b) for s, b in zip(sections, boxes) if s.title is not None]
    if len(titled) != 3:
        raise DiagramError("an autoencoder diagram has three sections in order: encoder, code, decoder "
                           f"(lines without '|'); found {len(titled)}")
    items: list[Item] = [_box_item(box, width, "stack") for s, row in zip(sections, boxes) if s.title is None for box in row]
    for section, _ in titled:
        _check_filled(section)
    (encoder, enc_boxes), (code, code_boxes), (decoder, dec_boxes) = titled
    items.append(FrameItem(encoder.title or "", [_box_item(b, width, "stack") for b in enc_boxes], width + 24))
    items.append(CodeItem(code.title or "", code_boxes, width))
    items.append(FrameItem(decoder.title or "", [_box_item(b, width, "stack") for b in dec_boxes], width + 24))
    return items


def code_width(rows: Sequence[Box]) -> float:
    return max([text_width(b.label, SHAPE) + text_width(b.shape, SHAPE) + 3 * PAD_X for b in rows] + [0.0])


# -- The adversarial kind ------------------------------------------------------------------
@dataclass
class Game:
    """The measured parts of a GAN: the generator's and discriminator's boxes and their ends."""

    generator: FrameItem
    discriminator: FrameItem
    noise: Box
    fake: Box
    real: Box
    score: Box
    loss: str
    updates: tuple[str, str]


LANE, PAIR_MARGIN = 16.0, 28.0  # the update arrows' lanes (labels outside them) and the fake/real boxes' margin


def draw_game(canvas: Canvas, game: Game, width: float) -> float:
    """z → G → fake, real → D → score → loss, and dashed update arrows back to G (left) and D (right)."""
    noise = BoxItem(game.noise, width, "data")
    _, out, y = draw_flow(canvas, [noise, game.generator], 6)
    g_top, g_bottom = 6 + noise.height() + GAP, y
    half = (WIDTH - 2 * PAIR_MARGIN - 8) / 2  # fake and real side by side, between the update lanes
    fake = BoxItem(game.fake, half, "data", x=PAIR_MARGIN + half / 2)
    real = BoxItem(game.real, half, "data", x=WIDTH - PAIR_MARGIN - half / 2)
    pair_h = max(fake.height(), real.height())
    fake.draw(canvas, y + GAP)
    real.draw(canvas, y + GAP)
    canvas.arrow(elbow(out, (fake.x, y + GAP)))
    d_top = y + GAP + pair_h + GAP
    entry, out, y = draw_flow(canvas, [game.discriminator], d_top)
    for item in (fake, real):  # both images go to D, joining above its frame (clear of its title)
        bottom, join = d_top - GAP + item.height() - pair_h, d_top - GAP / 2
        canvas.arrow([(item.x, bottom), (item.x, join), (CENTER, join), entry], head=item is real)
    score = BoxItem(game.score, width, "data")
    loss = BoxItem(Box(game.loss, ""), width, "loss")
    _, _, bottom = draw_flow(canvas, [score, loss], y + GAP)
    canvas.arrow([out, (CENTER, y + GAP)])
    loss_mid = bottom - loss.height() / 2
    _update_arrow(canvas, loss_mid, (g_top + g_bottom) / 2, width / 2, LANE, game.updates[0], -1)
    _update_arrow(canvas, loss_mid, d_top + 24, width / 2, WIDTH - LANE, game.updates[1], 1)
    return bottom


def _update_arrow(canvas: Canvas, y_from: float, y_to: float, half: float, lane: float, label: str, side: int) -> None:
    """From the loss box's side (``side`` -1 left, 1 right) along ``lane`` up to a frame's edge, 12 outside the boxes."""
    # Dashed: these carry gradients, not tensors. The label runs along the lane, outside it.
    if text_width(label, SMALL) > abs(y_from - y_to) - 8:
        raise DiagramError(f"the update label {plain(label)!r} is longer than its arrow; shorten it")
    canvas.arrow([(CENTER + side * half, y_from), (lane, y_from), (lane, y_to), (CENTER + side * (half + 12), y_to)],
                 dashed=True)
    canvas.text(lane + side * 9, (y_from + y_to) / 2, label, size=SMALL, rotate=-90, italic=True)


# -- The directive -------------------------------------------------------------------------
class ArchitectureDiagram(SphinxDirective):
    """An architecture drawn as inline SVG, each box showing a shape measured in this build.

    The argument is a registry name (or dotted class path) and the content lists the boxes,
    ``label | module.path`` (see this module's docstring). Options: ``:kind:`` (``stack``,
    ``residual``, ``recurrent``, ``autoencoder``, ``adversarial``), ``:input:`` the shape of one
    input without the batch (default ``1 28 28``; for ``adversarial`` the generator's
    ``latent_dim``), ``:kwargs:``, ``:caption:``, ``:alt:``, ``:name:``; for ``adversarial``
    ``:generator:``, ``:discriminator:``, ``:generator-kwargs:``, ``:discriminator-kwargs:``,
    ``:discriminator-input:`` (default: the generator's output shape), ``:loss:``,
    ``:generator-update:`` and ``:discriminator-update:``.
    """

    optional_arguments = 1
    has_content = True
    option_spec = {
        "kind": directives.unchanged,  # checked in run(): a one-line error rather than docutils' block
        "input": directives.positive_int_list,
        "kwargs": directives.unchanged,
        "caption": directives.unchanged,
        "alt": directives.unchanged,
        "name": directives.unchanged,
        "generator": directives.unchanged_required,
        "discriminator": directives.unchanged_required,
        "generator-kwargs": directives.unchanged,
        "discriminator-kwargs": directives.unchanged,
        "discriminator-input": directives.positive_int_list,
        "loss": directives.unchanged,
        "generator-update": directives.unchanged,
        "discriminator-update": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        kind = self.options.get("kind", "stack").strip()
        try:
            if kind not in KINDS:
                raise DiagramError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
            sections = parse_content(self.content)
            svg, default_caption = self._draw(kind, sections)
        except DiagramError as exc:
            raise self.error(f"architecture-diagram {self._target(kind)}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a model that fails to build or run is a build error here
            raise self.error(f"architecture-diagram {self._target(kind)}: {type(exc).__name__}: {exc}") from None
        return [self._figure(svg, default_caption)]

    def _target(self, kind: str) -> str:
        if kind == "adversarial":
            return f"{self.options.get('generator', '?')} + {self.options.get('discriminator', '?')}"
        return self.arguments[0] if self.arguments else "(no model)"

    def _figure(self, svg: str, default_caption: str) -> nodes.figure:
        figure = nodes.figure(classes=["cheatsheet-diagram"])
        figure += nodes.raw("", svg, format="html")
        text = self.options.get("caption", default_caption)
        inline, messages = self.state.inline_text(text, self.lineno)
        figure += nodes.caption(text, "", *inline)
        figure += messages
        self.add_name(figure)
        return figure

    def _uid(self) -> str:
        # Marker ids must be unique per page: two diagrams on one page would share arrowheads.
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.env.docname).strip("-")
        return f"archdiag-{slug}-{self.env.new_serialno('architecture-diagram')}"

    def _build(self, target: str, kwargs_option: str) -> Any:
        try:
            model = build_page_model(target, parse_kwargs(self.options.get(kwargs_option, "")))
        except (ValueError, TypeError) as exc:  # an unknown name or argument: the message says which
            raise DiagramError(str(exc)) from None
        source = inspect.getsourcefile(type(model))
        if source:
            self.env.note_dependency(source)  # the page is re-read when the model's code changes
        return model

    def _draw(self, kind: str, sections: list[Section]) -> tuple[str, str]:
        """The SVG and the default caption."""
        if kind == "adversarial":
            return self._draw_adversarial(sections)
        if not self.arguments:
            raise DiagramError("name the model: .. architecture-diagram:: <registry name>")
        if not any(s.lines for s in sections):
            raise DiagramError("list the boxes in the content, one 'label | module.path' per line")
        name = self.arguments[0]
        model = self._build(name, "kwargs")
        dims = (1, *self.options.get("input", (1, 28, 28)))
        boxes = boxes_of(model, name, example_input(dims, None), sections)
        flat = [box for row in boxes for box in row]
        width = box_width([b for b in flat if not is_recurrent(b.module)] or flat)
        if kind == "autoencoder":
            width = max(width, min(BOX_MAX, code_width([b for s, r in zip(sections, boxes) if s.title for b in r])))
            items = autoencoder_items(sections, boxes, width)
        else:
            items = stack_items(sections, boxes, kind, width)
        canvas = Canvas(self._uid())
        top = 10.0  # room for the cards of a stage and the start of a skip arc
        _, _, bottom = draw_flow(canvas, items, top)
        summary = " → ".join(f"{plain(b.label)}: {b.shape}" for b in flat)
        call = ", ".join(f"{k}={v}" for k, v in parse_kwargs(self.options.get("kwargs", "")).items())
        caption = (f"{name}{f'({call})' if call else ''} drawn from one forward pass of a "
                   f"{' × '.join(map(str, dims[1:]))} input; each box shows its output shape for one example "
                   "(batch dimension left out).")
        return self._svg(canvas, bottom + 6, name, summary), caption

    def _svg(self, canvas: Canvas, height: float, name: str, summary: str) -> str:
        title = plain(self.options.get("alt", f"Architecture of {name}"))
        label = self.options.get("alt", f"Architecture of {name}: {summary}")
        return canvas.svg(height, title, plain(label))

    def _draw_adversarial(self, sections: list[Section]) -> tuple[str, str]:
        if self.arguments:
            raise DiagramError("an adversarial diagram names its models with :generator: and :discriminator:, not an argument")
        names = self.options.get("generator"), self.options.get("discriminator")
        if not all(names):
            raise DiagramError("an adversarial diagram needs both :generator: and :discriminator:")
        titled = [s for s in sections if s.title is not None]
        if len(titled) != len(sections) or len(titled) not in (0, 2):
            raise DiagramError("an adversarial diagram has two sections, generator then discriminator "
                               f"(lines without '|'), and no boxes outside them; found {len(titled)} sections")
        game = self._measure_game(names[0] or "", names[1] or "", titled)
        canvas = Canvas(self._uid())
        bottom = draw_game(canvas, game, game.generator.width - 24)
        flat = [game.noise, *game.generator.boxes(), game.fake, game.real, *game.discriminator.boxes(), game.score]
        summary = " → ".join(f"{plain(b.label)}: {b.shape}" for b in flat)
        caption = (f"{names[0]} and {names[1]}, each drawn from one forward pass; each box shows its output shape "
                   "for one example (batch dimension left out). Dashed arrows: the updates of each network.")
        return self._svg(canvas, bottom + 6, f"{names[0]} and {names[1]}", summary), caption

    def _measure_game(self, g_name: str, d_name: str, sections: list[Section]) -> Game:
        """Run the generator on noise and the discriminator on a real-sized image, hooked."""
        generator, discriminator = self._build(g_name, "generator-kwargs"), self._build(d_name, "discriminator-kwargs")
        latent = self.options.get("input") or [getattr(generator, "latent_dim", 0)]
        if not all(latent):
            raise DiagramError(f"{g_name} has no latent_dim: give the noise shape with :input:")
        ends = Section(None, [Line("noise z ~ N(0, I)", Ref("", "input")), Line("fake image G(z)", Ref("", "output"))])
        g_section = sections[0] if sections else Section("generator G")
        g_ends, g_boxes = boxes_of(generator, g_name, example_input((1, *latent), None), [ends, g_section])
        dims = self.options.get("discriminator-input") or list(g_ends[1].value.shape[1:])
        d_ends_section = Section(None, [Line("real image x", Ref("", "input")), Line("score D(·): a logit", Ref("", "output"))])
        d_section = sections[1] if sections else Section("discriminator D")
        d_ends, d_boxes = boxes_of(discriminator, d_name, example_input((1, *dims), None), [d_ends_section, d_section])
        everything = [*g_ends, *g_boxes, *d_ends, *d_boxes]
        width = box_width(everything, widest=BOX_MAX - 12)  # lanes for the update arrows on both sides
        frames = [self._game_frame(section, row, width, hue, model)
                  for section, row, hue, model in ((g_section, g_boxes, "generator", generator),
                                                    (d_section, d_boxes, "discriminator", discriminator))]
        updates = (self.options.get("generator-update", "update G: θ_{G} ← θ_{G} − η∇L_{G}"),
                   self.options.get("discriminator-update", "update D: θ_{D} ← θ_{D} − η∇L_{D}"))
        return Game(frames[0], frames[1], g_ends[0], g_ends[1], d_ends[0], d_ends[1],
                    self.options.get("loss", "losses L_{D} and L_{G}"), updates)

    @staticmethod
    def _game_frame(section: Section, row: list[Box], width: float, hue: str, model: Any) -> FrameItem:
        # A network listed without boxes is one box named by its class.
        boxes = row or [Box(type(model).__name__, "", model)]
        return FrameItem(section.title or "", [_box_item(box, width, "stack", hue) for box in boxes], width + 24)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("architecture-diagram", ArchitectureDiagram)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
