"""Every raster figure of a page loads lazily and opens full size when tapped.

The figures are drawn for a desktop column (1,000–1,500 pixels wide, text of 9–12 points);
on a phone's 358-pixel column their text shrinks to a few pixels. A tap on a figure opens
the image itself, where the reader zooms in. Figures below the first screen load only when
the reader scrolls near them (``loading="lazy"``): the DCGAN page alone has 2 MB of them.

Done on the rendered body (``html-page-context``), where both Sphinx's images and
sphinx-gallery's (raw HTML from its ``image-sg`` directive) are ``<img>`` tags. An image
that is already a link's only content (a card, a thumbnail, a scaled image) keeps its link.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

# An <img>, with the opening tag of the link it sits directly inside, if any.
_IMAGE = re.compile(r"(<a\b[^>]*>\s*)?(<img\b[^>]*>)")
_SOURCE = re.compile(r'\bsrc="([^"]+)"')
_RASTER = re.compile(r"\.(png|jpe?g|gif|webp)$", re.I)
# Images that are part of something clickable already: the landing page's cards, the gallery's thumbnails.
_NOT_FIGURES = ("cheatsheet-card-image", "_thumb.")


def figure_links(body: str) -> str:
    """``body`` with every ``<img>`` lazy, and each raster figure not already in a link inside one to itself."""
    def rewrite(match: re.Match[str]) -> str:
        anchor, image = match.group(1), match.group(2)
        if "loading=" not in image:
            image = image.replace("<img", '<img loading="lazy" decoding="async"', 1)
        source = _SOURCE.search(image)
        if anchor is not None or source is None or not _RASTER.search(source.group(1)) or any(s in image for s in _NOT_FIGURES):
            return (anchor or "") + image
        return f'<a class="cheatsheet-zoom" href="{source.group(1)}" title="Open the full-size image">{image}</a>'

    return _IMAGE.sub(rewrite, body)


def _rewrite_body(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    if "body" in context:
        context["body"] = figure_links(context["body"])


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("html-page-context", _rewrite_body)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
