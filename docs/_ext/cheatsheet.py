"""Sphinx directives that put the figures of this build's gallery runs into the cheatsheet pages.

``.. gallery-figures:: plot_mlp`` embeds the images that sphinx-gallery saved while it
executed ``gallery/plot_mlp.py`` in this very build (``:select: 1 3`` keeps some of them).
When the gallery was not executed (``make html-noplot``) it says so instead of showing
stale or borrowed pictures.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class GalleryFigures(SphinxDirective):
    """Embed the figures that one gallery script produced in this build."""

    required_arguments = 1
    option_spec = {"select": directives.positive_int_list, "width": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        stem = self.arguments[0]
        gallery_dir = self.config.sphinx_gallery_conf["gallery_dirs"]
        image_dir = Path(self.env.srcdir) / gallery_dir / "images"
        found = sorted(image_dir.glob(f"sphx_glr_{stem}_[0-9][0-9][0-9].png"))
        if "select" in self.options:
            wanted = {f"sphx_glr_{stem}_{k:03d}.png" for k in self.options["select"]}
            found = [p for p in found if p.name in wanted]
        if not found:
            note = nodes.note()
            note += nodes.paragraph(
                text=f"The figures of {stem}.py appear here when the gallery is executed "
                "(make html); this build did not execute it."
            )
            return [note]
        result: list[nodes.Node] = []
        for path in found:
            rel = "/" + path.relative_to(self.env.srcdir).as_posix()
            self.env.note_dependency(str(path))
            image = nodes.image(uri=rel, alt=f"figure from {stem}.py")
            if "width" in self.options:
                image["width"] = self.options["width"]
            result.append(image)
        return result


def _dataclass_factories(app: Sphinx, what: str, name: str, obj: object, options: object,
                         signature: str | None, return_annotation: str | None) -> tuple[str | None, str | None]:
    """Show a dataclass field built by ``default_factory`` as ``= ...``.

    Python renders such defaults as ``<factory>``, which is not an expression: Sphinx's
    signature parser then splits ``dict[str, list[float]]`` at its comma.
    """
    if signature and "<factory>" in signature:
        signature = signature.replace("<factory>", "...")
    return signature, return_annotation


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("gallery-figures", GalleryFigures)
    app.connect("autodoc-process-signature", _dataclass_factories)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
