"""In-browser demos of the models this build trained: ``.. model-demo:: cnn``.

Each gallery example with a demo exports its trained networks as ONNX files and a
``demo.json`` that describes them (which inputs, which outputs, which run) into
``<mlcheatsheet_demos_dir>/<example>/``. The directive reads that description while the
page is read and leaves a container that ``_static/demos/demos.js`` turns into the widget:
the script loads onnxruntime-web's WebAssembly build (``_static/ort/``, which the Makefile
copies from npm) only on a page that has a demo, and only after the page has loaded.

Under the widget a stamp says which run the model came from (commit, time, device, build
mode). When this build did not run the example (``make html-noplot``, or a run that left no
export) the directive writes one sentence saying so instead: never a widget without a model,
never a model from another build. At the end of an HTML build the exports are copied to
``_demos/`` in the output.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from resultsdir import gallery_executed
from stamps import when

CONFIG_NAME = "mlcheatsheet_demos_dir"
DEMOS_OUT = "_demos"  # in the HTML output: _demos/<example>/demo.json and its .onnx files
ORT_DIR = "ort"  # under _static: the onnxruntime-web files the Makefile installs
ORT_SCRIPT = "ort.wasm.min.js"
_DEMO_CLASS = "mlcheatsheet-demo"

# What the reader can do with each kind of demo: said, not promised. ``{kind}`` is what the
# training images show (:attr:`mlcheatsheet.data.Dataset.kind`), so a page built on
# Fashion-MNIST asks for clothing, not digits.
_HINTS = {
    "classifier": "Draw something like one of the {kind} this model learned from ({examples}) in the box below; "
                  "the bars show the probability the model gives each class.",
    "vae": "Move the point over the map of the 2-D code space to decode the image at that code, "
           "or draw samples from the {model}.",
    "generator": "Draw new samples from the generator, or slide between two noise vectors.",
    "conditional-generator": "Choose a class ({examples}), draw new samples of it, or slide between two noise vectors.",
    "autoencoder": "Draw something like one of the {kind} these models learned from; its reconstruction, "
                   "a noisy copy and the denoised copy appear beside it.",
    "diffusion": "Watch sixteen images of noise become samples, one solver step at a time; choose the number of "
                 "steps, or start from new noise.",
}
# Demos that feed the reader's drawing to the model: a white-on-black sketch is an input only
# for a model of one-channel images. A model of colour photos gets a sentence instead.
_DRAWN = frozenset({"classifier", "autoencoder"})


def _hint(demo: dict[str, Any]) -> str | None:
    """The sentence above the widget, in the words of the data the model learned from."""
    kind = str(demo.get("kind", ""))
    if kind not in _HINTS:
        return None
    classes = [str(c) for c in demo.get("classes") or []]
    examples = ", ".join(classes[:4]) + (", …" if len(classes) > 4 else "")
    latent = demo.get("latent_dim")
    return _HINTS[kind].format(kind=demo.get("data_kind") or "images", examples=examples or "its classes",
                               model=f"{latent}-D model" if latent else "model with the larger code")


def drawable(demo: dict[str, Any]) -> bool:
    """Whether the page can offer ``demo``: a drawing demo only for a model of one-channel images."""
    return str(demo.get("kind", "")) not in _DRAWN or (demo.get("image") or {}).get("channels") == 1


class demo_widget(nodes.General, nodes.Element):  # noqa: N801 - docutils names nodes in lower case
    """Where the widget goes; replaced by its HTML once the page's address is known."""


def demos_dir(config: Any) -> Path | None:
    """The folder of this build's exports, or ``None`` when the build made none."""
    configured = getattr(config, CONFIG_NAME, "")
    if not configured:
        return None
    path = Path(configured)
    return path if path.is_dir() else None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stamp(demo: dict[str, Any]) -> nodes.paragraph:
    """``Model: trained while this site was built, 2026-12-01 11:20 UTC, full mode, commit eda28cd, on cpu.``"""
    line = nodes.paragraph(classes=["mlcheatsheet-demo-stamp"])
    line += nodes.strong(text="Model: ")
    parts = "trained while this site was built"
    if demo.get("run_at"):
        parts += f", {when(str(demo['run_at']))}"
    if demo.get("mode") == "quick":
        parts += ", with the quick budget, so it is barely trained"
    else:
        parts += f", {demo.get('mode') or 'full'} mode"
    line += nodes.Text(parts + ", commit ")
    line += nodes.literal(text=str(demo.get("commit") or "unknown"))
    device = demo.get("device_description") or demo.get("device")
    line += nodes.Text(f", on {device}." if device else ".")
    line += nodes.Text(" It runs in your browser with onnxruntime-web; nothing is sent anywhere.")
    return line


class ModelDemo(SphinxDirective):
    """``.. model-demo:: <example>``: the interactive demo of one gallery example's trained model.

    The directive's content describes the demo; it is shown only with the widget, so a page
    whose model cannot take the demo's input says that instead of describing a missing demo.
    """

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        example = self.arguments[0]
        folder = demos_dir(self.config)
        demo = None
        if folder is not None and gallery_executed(self.config):
            path = folder / example / "demo.json"
            # A missing file counts as changed, so the page is re-read until the export appears.
            self.env.note_dependency(str(path))
            demo = _load(path)
        ort_script = Path(self.env.srcdir) / "_static" / ORT_DIR / ORT_SCRIPT
        self.env.note_dependency(str(ort_script))  # re-read once `make` has installed it
        ort_present = ort_script.is_file()
        if demo is None:
            script = f"plot_{example}.py"
            return [nodes.paragraph(
                "", "", nodes.Text("This build did not run the example "), nodes.literal(text=script),
                nodes.Text(", so this page has no interactive demo."), classes=["mlcheatsheet-demo-missing"])]
        if not ort_present:
            return [nodes.paragraph(text="This build has no copy of onnxruntime-web (make installs it), "
                                         "so this page has no interactive demo.",
                                    classes=["mlcheatsheet-demo-missing"])]
        if not drawable(demo):
            image = demo.get("image") or {}
            shape = "×".join(str(image.get(k, "?")) for k in ("channels", "height", "width"))
            return [nodes.paragraph(
                text=f"This build trained the model on {demo.get('data_kind') or 'images'} ({demo.get('dataset')}, "
                     f"{shape}); a drawing in one colour is not such an image, so this page offers no drawing demo. "
                     "The example's page shows what the model does with the held-out images.",
                classes=["mlcheatsheet-demo-missing"])]
        block = nodes.container(classes=["mlcheatsheet-demo-block"])
        block += self.parse_content_to_nodes()
        kind = str(demo.get("kind", ""))
        hint = _hint(demo)
        if hint:
            block += nodes.paragraph(text=hint, classes=["mlcheatsheet-demo-hint"])
        block += demo_widget(example=example, title=str(demo.get("title") or example), kind=kind)
        block += _stamp(demo)
        return [block]


def _widget_html(node: demo_widget, page_uri: str) -> str:
    demo_url = relative_uri(page_uri, f"{DEMOS_OUT}/{node['example']}/demo.json")
    ort_url = relative_uri(page_uri, f"_static/{ORT_DIR}/")
    title = html.escape(node["title"])
    return (
        f'<div class="{_DEMO_CLASS}" data-demo="{html.escape(demo_url)}" data-ort="{html.escape(ort_url)}" '
        f'data-kind="{html.escape(node["kind"])}" role="group" aria-label="Interactive demo: {title}">'
        f'<noscript><p>The interactive demo of the {title} model needs JavaScript.</p></noscript>'
        "</div>"
    )


def _resolve_widgets(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Turn each placeholder into its HTML, with addresses relative to this page; other builders drop it."""
    for node in list(doctree.findall(demo_widget)):
        if app.builder.format == "html":
            page_uri = app.builder.get_target_uri(docname)
            # No classes: the HTML writer would wrap the widget in a div of its own.
            node.replace_self(nodes.raw("", _widget_html(node, page_uri), format="html", mlcheatsheet_demo=True))
        else:
            node.replace_self(nodes.paragraph(text="The interactive demo is part of the HTML version of this page."))


def _add_assets(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                doctree: nodes.document | None) -> None:
    """Load the demo script and style only on pages that have a demo."""
    if doctree is None:
        return
    if any(node.get("mlcheatsheet_demo") for node in doctree.findall(nodes.raw)):
        app.add_css_file("demos/demos.css")
        app.add_js_file("demos/demos.js", loading_method="defer")


def _copy_exports(app: Sphinx, exception: Exception | None) -> None:
    """Copy this build's exports (the examples with a ``demo.json``) to ``_demos/`` in the HTML output."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / DEMOS_OUT
    shutil.rmtree(target, ignore_errors=True)  # an export from an earlier build is not this build's
    folder = demos_dir(app.config)
    if folder is None or not gallery_executed(app.config):
        return
    for demo_json in sorted(folder.glob("*/demo.json")):
        demo = _load(demo_json)
        if demo is not None and drawable(demo):  # a demo no page offers is not published
            shutil.copytree(demo_json.parent, target / demo_json.parent.name)


def setup(app: Sphinx) -> dict[str, object]:
    # conf.py sets it to the absolute path of the gallery's exports; "" means no demos.
    app.add_config_value(CONFIG_NAME, "", "env", types=frozenset({str}))
    app.add_node(demo_widget)
    app.add_directive("model-demo", ModelDemo)
    app.connect("doctree-resolved", _resolve_widgets)
    app.connect("html-page-context", _add_assets)
    app.connect("build-finished", _copy_exports)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
