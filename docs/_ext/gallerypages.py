"""The gallery's pages and their links to the architecture pages.

``.. gallery-figures:: plot_mlp``
    The images sphinx-gallery saved while it executed ``gallery/plot_mlp.py`` in this
    build (``:select: 1 3`` keeps some of them).
``.. gallery-examples::``
    On an architecture page, links to the gallery examples that belong to it.
``.. example-downloads:: plot_mlp``
    Links to download the script and the notebook, and to open it in Colab.

Hooks: each gallery page opens with the stamp of this build's run (``stamps.py``) and a
link to its architecture page, and gets a Colab link beside its downloads; the gallery
index shows the examples in reading order under one heading per family; the notebooks are
published under ``notebooks/`` for Colab.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from mlcheatsheet.site.report import load_result
from resultsdir import gallery_executed, results_dir
from stamps import example_stamp
from cheatsheet import gallery_dir, note
from sitemap import FAMILIES, architecture_of, architecture_page_exists, example_label, example_rank, examples_of


# -- gallery-figures ------------------------------------------------------------------
class GalleryFigures(SphinxDirective):
    """Embed the figures that one gallery script produced in this build."""

    required_arguments = 1
    option_spec = {"select": directives.positive_int_list, "width": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        stem = self.arguments[0]
        image_dir = Path(self.env.srcdir) / gallery_dir(self) / "images"
        found = sorted(image_dir.glob(f"sphx_glr_{stem}_[0-9][0-9][0-9].png"))
        if "select" in self.options:
            wanted = {f"sphx_glr_{stem}_{k:03d}.png" for k in self.options["select"]}
            found = [p for p in found if p.name in wanted]
        if not found:
            return [note(f"The figures of {stem}.py appear here when the gallery is executed "
                          "(make html); this build did not execute it.")]
        result: list[nodes.Node] = []
        alts = figure_alts(image_dir.parent / f"{stem}.rst")
        # An architecture page shows several examples' figures, some with the same title
        # ("The same noise over training"): the alt text names the example too.
        record = results_dir(self.config) / f"{stem.removeprefix('plot_')}.json"
        example = load_result(record).title.split(" (")[0] if record.is_file() else ""
        for path in found:
            rel = "/" + path.relative_to(self.env.srcdir).as_posix()
            self.env.note_dependency(str(path))
            alt = alts.get(path.name) or f"A figure from {stem}.py"
            image = nodes.image(uri=rel, alt=alt if alt.startswith(example) else f"{example}: {alt}")
            if "width" in self.options:
                image["width"] = self.options["width"]
            result.append(image)
        return result


def figure_alts(page: Path) -> dict[str, str]:
    """The alt text sphinx-gallery gave each figure of a generated page (the figure's titles), by file name."""
    if not page.is_file():
        return {}
    found = re.findall(r"^\.\. image-sg:: \S*/(sphx_glr_\w+\.png)\n\s+:alt: ([^\n]*)", page.read_text(), re.M)
    return {name: alt.strip() for name, alt in found}


# -- example-downloads ----------------------------------------------------------------
def colab_url(config: Any, stem: str) -> str | None:
    """The Colab address of a gallery notebook, or None when no GitHub repository is configured.

    Colab opens notebooks from GitHub: the docs workflow publishes the built site, with its
    notebooks under ``notebooks/``, on the branch ``colab_branch`` of ``repository_url``.
    """
    url = (config.repository_url or "").rstrip("/")
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", url)
    if not match or not config.colab_branch:
        return None
    owner, repo = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{config.colab_branch}/notebooks/{stem}.ipynb"


class ExampleDownloads(SphinxDirective):
    """Links to download a gallery script and its notebook, and to open it in Colab."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        stem = self.arguments[0]
        gallery = gallery_dir(self)
        paragraph = nodes.paragraph(classes=["cheatsheet-downloads"])
        paragraph += nodes.strong(text="Run it yourself: ")
        links: list[nodes.Node] = []
        for suffix, what in ((".py", "script"), (".ipynb", "notebook")):
            path = Path(self.env.srcdir) / gallery / f"{stem}{suffix}"
            if not path.exists():
                continue
            ref = addnodes.download_reference("", refdoc=self.env.docname, reftarget=f"/{gallery}/{stem}{suffix}",
                                              refexplicit=True, refwarn=True, reftype="download", refdomain="")
            ref += nodes.literal(text=f"{stem}{suffix}")
            links.append(nodes.inline("", "", nodes.Text(f"download the {what} "), ref))
        url = colab_url(self.config, stem)
        if url:
            links.append(nodes.reference("", "open it in Colab", refuri=url, classes=["cheatsheet-colab"]))
        if not links:
            return [note(f"{stem}.py has not been generated in this build.")]
        for i, link in enumerate(links):
            if i:
                paragraph += nodes.Text(" · ")
            paragraph += link
        paragraph += nodes.Text(". It needs only the mlcheatsheet package.")
        return [paragraph]


def _add_colab_links(doctree: nodes.document, section: nodes.section, url: str) -> None:
    """An "Open it in Colab" line under the title and a Colab box beside sphinx-gallery's download
    boxes (found by their ``sphx-glr-download-python`` class, not by their wording)."""
    section.insert(1, nodes.paragraph("", "", nodes.reference("", "Open it in Colab", refuri=url),
                                      classes=["cheatsheet-colab"]))
    for box in doctree.findall(nodes.container):
        if "sphx-glr-download-python" in box["classes"]:
            colab = nodes.container(classes=["sphx-glr-download", "sphx-glr-download-colab"])
            colab += nodes.paragraph("", "", nodes.reference("", "Open in Colab", refuri=url))
            box.parent.insert(box.parent.index(box), colab)
            return


# -- Navigation between architecture pages and gallery pages ------------------------
class GalleryExamples(SphinxDirective):
    """On an architecture page: one line linking the gallery examples that belong to it."""

    def run(self) -> list[nodes.Node]:
        key = self.env.docname.rsplit("/", 1)[-1]
        scripts = Path(self.config.sphinx_gallery_conf["examples_dirs"])
        examples = [e for e in examples_of(key) if (scripts / f"plot_{e}.py").exists()]
        if not examples:
            return []
        line = nodes.paragraph(classes=["cheatsheet-examples"])
        line += nodes.strong(text="In the gallery: ")
        for i, example in enumerate(examples):
            if i:
                line += nodes.Text(" · ")
            # Not explicit: the reference shows the example page's own title.
            ref = addnodes.pending_xref("", refdomain="std", reftype="ref", refexplicit=False, refwarn=True,
                                        reftarget=example_label(gallery_dir(self), example), refdoc=self.env.docname)
            ref += nodes.inline(text=example)
            line += ref
        return [line]


def _architecture_link(app: Sphinx, docname: str, example: str) -> nodes.reference | None:
    """A resolved link from a gallery page to its architecture page (None when the page does not exist)."""
    key = architecture_of(example)
    target = f"architectures/{key}"
    if key is None or target not in app.env.titles:
        return None
    link = nodes.reference("", "", internal=True, refuri=app.builder.get_relative_uri(docname, target))
    link += nodes.inline(text=app.env.titles[target].astext())
    return link


def _stamp_gallery_page(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Right under a gallery page's title: the stamp of this build's run, and its architecture page."""
    gallery = str(app.config.sphinx_gallery_conf["gallery_dirs"])
    section = doctree.next_node(nodes.section) if docname.startswith(f"{gallery}/plot_") else None
    if section is None:
        return
    example = docname.rsplit("/", 1)[1].removeprefix("plot_")
    link = _architecture_link(app, docname, example)
    path = results_dir(app.config) / f"{example}.json"
    if gallery_executed(app.config) and path.is_file():  # no result, no stamp: never a made-up one
        section.insert(1, example_stamp(load_result(path), link))
    elif link is not None:
        section.insert(1, nodes.paragraph("", "", nodes.strong(text="Architecture page: "), link,
                                          classes=["cheatsheet-examples"]))
    url = colab_url(app.config, docname.rsplit("/", 1)[1])
    if url:
        _add_colab_links(doctree, section, url)


_THUMBNAIL = re.compile(r'\n\.\. raw:: html\n\n    <div class="sphx-glr-thumbcontainer".*?:doc:`/[^`]*/plot_(\w+)`', re.S)
_THUMBNAILS_OPEN = '.. raw:: html\n\n    <div class="sphx-glr-thumbnails">\n'
_THUMBNAIL_BLOCK = re.compile(r'\n\.\. raw:: html\n\n    <div class="sphx-glr-thumbcontainer".*?\n    </div>\n', re.S)
_TOCTREE_ENTRY = re.compile(r"(?m)^   /[^\n]*/plot_\w+\n(?:   /[^\n]*/plot_\w+\n)*")


def _in_architecture_order(text: str) -> str:
    """The gallery index with its thumbnails and toctree in architecture order.

    sphinx-gallery writes both in the order the examples *ran* (longest first, see
    :class:`examplecache.RunOrder`); the reader gets the families in the order of the site.
    """
    def rank(block: str) -> tuple[int, str]:
        # The page's own name (the :doc: link or the toctree line), not the thumbnail's file
        # name, whose "plot_cnn_thumb" would rank as an unknown example.
        found = re.search(r"(?::doc:`|^   )/[^`\n]*/plot_(\w+)", block, re.M)
        return example_rank(found.group(1) if found else "")

    blocks = list(_THUMBNAIL_BLOCK.finditer(text))
    gaps = [text[a.end():b.start()] for a, b in zip(blocks, blocks[1:])]
    if blocks and all(not gap.strip() for gap in gaps):  # one after another, as sphinx-gallery writes them
        ordered = sorted((b.group(0) for b in blocks), key=rank)
        text = (text[:blocks[0].start()] + "".join(block + gap for block, gap in zip(ordered, [*gaps, ""]))
                + text[blocks[-1].end():])
    return _TOCTREE_ENTRY.sub(lambda m: "".join(sorted(m.group(0).splitlines(keepends=True), key=rank)), text)


def _family_heading(app: Sphinx, family: str) -> str:
    """The reST of one family's heading, with links to its architecture pages."""
    keys = next((keys for name, keys in FAMILIES if name == family), ())
    pages = [f":doc:`/architectures/{k}`" for k in keys if architecture_page_exists(app.env.srcdir, k)]
    links = f"Architecture pages: {' · '.join(pages)}.\n\n" if pages else ""
    return f"{family}\n{'-' * len(family)}\n\n{links}"


def _group_gallery_index(app: Sphinx, docname: str, source: list[str]) -> None:
    """Give the gallery index one heading per family (:data:`FAMILIES`) above its thumbnails.

    sphinx-gallery groups examples only by subfolder, which would move the scripts and
    change every download, notebook and reference address; once the thumbnails are in
    architecture order (:func:`_in_architecture_order`), a heading before each family's
    first one suffices.
    """
    if docname != f"{app.config.sphinx_gallery_conf['gallery_dirs']}/index":
        return
    text, starts, previous = _in_architecture_order(source[0]), [], None
    for match in _THUMBNAIL.finditer(text):
        key = architecture_of(match.group(1))
        family = next((name for name, keys in FAMILIES if key in keys), "More examples")
        if family != previous:
            starts.append((match.start(), family))
        previous = family
    for i, (start, family) in reversed(list(enumerate(starts))):  # from the end: earlier offsets stay valid
        opening = text.rfind(_THUMBNAILS_OPEN, 0, start)
        if i == 0 and opening >= 0:  # the first heading goes above the thumbnails' own container
            text = text[:opening] + _family_heading(app, family) + text[opening:]
        else:  # close the container, head the family, open a new one
            text = (text[:start] + "\n.. raw:: html\n\n    </div>\n\n" + _family_heading(app, family)
                    + _THUMBNAILS_OPEN + text[start:])
    source[0] = text


def _publish_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Copy the gallery notebooks to ``notebooks/`` in the HTML output: stable addresses for Colab."""
    if exception is not None or app.builder.format != "html":
        return
    gallery = Path(app.srcdir) / str(app.config.sphinx_gallery_conf["gallery_dirs"])
    target = Path(app.outdir) / "notebooks"
    notebooks = sorted(gallery.glob("plot_*.ipynb"))
    if notebooks:
        target.mkdir(exist_ok=True)
    for notebook in notebooks:
        shutil.copyfile(notebook, target / notebook.name)


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("gallery-figures", GalleryFigures)
    app.add_directive("example-downloads", ExampleDownloads)
    app.add_directive("gallery-examples", GalleryExamples)
    app.connect("source-read", _group_gallery_index)
    app.connect("doctree-resolved", _stamp_gallery_page)
    app.connect("build-finished", _publish_notebooks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
