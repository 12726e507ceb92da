"""Sphinx extensions that put what this build produced into the cheatsheet pages: what they share.

Everything the pages show is computed while the site is built; nothing is typed by hand.
One module per job:

:mod:`resultstables`
    ``.. results-table::`` (one row per example that ran, with its target) and
    ``.. gan-comparison::`` (every generator the GAN examples trained).
:mod:`gallerypages`
    ``.. gallery-figures:: plot_mlp``, ``.. gallery-examples::`` and
    ``.. example-downloads:: plot_mlp`` on the architecture pages; on each gallery page the
    stamp of its run, a link to its architecture page and a Colab link; the gallery index
    grouped by family; the notebooks published for Colab.
:mod:`landing`
    ``.. architecture-cards::``, the landing page's cards, whose text is written in ``index.rst``.
:mod:`sitemap`
    The architecture pages in reading order and the examples of each.
:mod:`summaries`
    ``.. recipe-card::``, ``.. finding::`` and ``.. decision-table::``: what a page states
    about a run, from the run's record.
:mod:`diagrams`
    ``.. architecture-diagram::``, each architecture drawn as SVG from its real model.

This module holds what they share (links, notes, the flag of pages re-read on every build,
``.. folded::`` for detail a reader opens on demand) and the configuration values
``repository_url`` and ``colab_branch``. When the gallery was
not executed (``make html-noplot``) the directives say so instead of showing stale or
borrowed results. The layer tables of the architecture pages (``.. shape-table::``) are
another extension, ``shapetables.py``.
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

__all__ = ["LIVE", "doc_link", "folded", "gallery_dir", "label_link", "note"]

#: Metadata flag of documents that must be re-read on every build (they show build results).
LIVE = "cheatsheet-live"


def gallery_dir(directive: SphinxDirective) -> str:
    return str(directive.config.sphinx_gallery_conf["gallery_dirs"])


def doc_link(target: str, content: nodes.Node, docname: str) -> addnodes.pending_xref:
    """A reference to the document ``target`` (absolute, e.g. ``/architectures/mlp``)."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=target, refexplicit=True,
                                refwarn=True, refdoc=docname)
    ref += content
    return ref


def label_link(label: str, text: str, docname: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=label, refexplicit=True,
                                refwarn=True, refdoc=docname)
    ref += nodes.inline(text=text)
    return ref


def note(text: str) -> nodes.note:
    note = nodes.note()
    note += nodes.paragraph(text=text)
    return note


class Folded(SphinxDirective):
    """``.. folded:: The package's code``: the content, folded under a one-line summary a reader opens.

    For detail most readers skip (a full class listing, every layer of a deep network): the
    page stays short and nothing is lost. HTML only; other builders show the content as is.
    """

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[nodes.Node]:
        return folded(self.arguments[0], self.parse_content_to_nodes())


def folded(summary: str, content: list[nodes.Node]) -> list[nodes.Node]:
    """``content`` inside an HTML ``<details>`` whose one-line ``<summary>`` a reader clicks to open."""
    import html

    opening = nodes.raw("", f'<details class="cheatsheet-fold"><summary>{html.escape(summary, quote=False)}</summary>',
                        format="html")
    return [opening, *content, nodes.raw("", "</details>", format="html")]


def _always_reread(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str],
                   removed: set[str]) -> list[str]:
    """Pages that show this build's results are re-read on every build."""
    return [doc for doc, meta in env.metadata.items() if meta.get(LIVE) and doc in env.found_docs]


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
    # Where the package's repository lives (https://github.com/<owner>/<repo>), and the branch
    # on which the docs workflow publishes the built site; both empty means no Colab links.
    app.add_config_value("repository_url", "", "html", types=frozenset({str}))
    app.add_config_value("colab_branch", "", "html", types=frozenset({str}))
    app.add_directive("folded", Folded)
    app.connect("autodoc-process-signature", _dataclass_factories)
    app.connect("env-get-outdated", _always_reread)
    return {"version": "2.0", "parallel_read_safe": True, "parallel_write_safe": True}
