"""The landing page's architecture cards: one per architecture page, with this build's thumbnail.

The text of each card is written in ``index.rst``::

    .. architecture-cards::

       .. architecture-card:: cnn

          Small filters shared across the image: a pattern is recognised wherever it appears.

A card links its architecture page under that page's own title and shows the thumbnail of
the page's gallery example when this build ran it; a card whose page does not exist is
left out.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from cheatsheet import LIVE, gallery_dir
from resultsdir import gallery_executed
from sitemap import architecture_page_exists


class ArchitectureCards(SphinxDirective):
    """The grid of cards (its content: ``architecture-card`` directives)."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        grid = nodes.container(classes=["cheatsheet-cards"])
        self.state.nested_parse(self.content, self.content_offset, grid)
        return [grid]


class ArchitectureCard(SphinxDirective):
    """One card: the thumbnail of this build's run, the page's title as a link, the text given."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        key = self.arguments[0]
        if not architecture_page_exists(self.env.srcdir, key):
            return []
        self.env.metadata[self.env.docname][LIVE] = True
        card = nodes.container(classes=["cheatsheet-card"])
        thumb = Path(self.env.srcdir) / gallery_dir(self) / "images" / "thumb" / f"sphx_glr_plot_{key}_thumb.png"
        if thumb.exists() and gallery_executed(self.config):
            self.env.note_dependency(str(thumb))
            card += nodes.image(uri="/" + thumb.relative_to(self.env.srcdir).as_posix(),
                                alt=f"A figure from this build's plot_{key}.py example", classes=["cheatsheet-card-image"])
        title = nodes.paragraph(classes=["cheatsheet-card-title"])
        title += addnodes.pending_xref("", nodes.inline(text=key), refdomain="std", reftype="doc",
                                       reftarget=f"/architectures/{key}", refexplicit=False, refwarn=True,
                                       refdoc=self.env.docname)
        card += title
        text = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, text)
        for paragraph in text.children:
            paragraph["classes"].append("cheatsheet-card-text")
        card += text.children
        return [card]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("architecture-cards", ArchitectureCards)
    app.add_directive("architecture-card", ArchitectureCard)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
