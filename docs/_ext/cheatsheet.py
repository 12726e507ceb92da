"""Sphinx directives that put what this build produced into the cheatsheet pages.

Everything they show is computed while the site is built; nothing is typed by hand:

``.. gallery-figures:: plot_mlp``
    The images sphinx-gallery saved while it executed ``gallery/plot_mlp.py`` in this
    build (``:select: 1 3`` keeps some of them).
``.. results-table::``
    One row per gallery example that ran in this build, read from the JSON files that
    :func:`mlcheatsheet.site.report.report_result` wrote, with its quality target and whether it
    was met, under one line saying which commit, when, and on what device the build trained.
``.. gan-comparison::``
    Every generator the GAN examples trained, in one table (FID with its interval, floor
    ratio, rarest class, confidence), an ablation's variants one row each.
``.. example-downloads:: plot_mlp``
    Links to download the script and the notebook, and to open it in Colab.
``.. architecture-cards::`` and ``.. at-a-glance::``
    The landing page's cards (one per architecture page that exists, with its gallery
    thumbnail) and its summary table.
``.. gallery-examples::``
    On an architecture page, links to the gallery examples that belong to it.

Two hooks complete the navigation: each gallery page opens with the stamp of this build's
run (``stamps.py``) and a link to its architecture page, and the gallery index gets one
heading per family of architectures.

When the gallery was not executed (``make html-noplot``) the directives say so instead of
showing stale or borrowed results. Pages that show results are re-read on every build, so
they can never be older than the gallery run. The layer tables of the architecture pages
(``.. shape-table::``) are another extension, ``shapetables.py``.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

from doctables import Cell, table
from references import REFERENCES
from mlcheatsheet.site.budgets import TARGET_DATASET, TARGET_DEVICE
from mlcheatsheet.findings import Interval
from mlcheatsheet.site.report import Result, load_result, load_results
from resultsdir import gallery_executed, results_dir
from stamps import build_stamp, example_stamp, target_cell

# Metadata flag of documents that must be re-read on every build (they show build results).
_LIVE = "cheatsheet-live"


# -- Architectures shown on the landing page ------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """One row of the landing page: its page ``architectures/<key>`` and script ``plot_<key>.py``."""

    key: str
    title: str
    blurb: str
    io: str
    loss: str
    good_for: str
    paper: str
    paper_url: str


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        "mlp", "Multilayer perceptron", "Every pixel wired to every unit: the baseline every other network is measured against.",
        "image, flattened to a vector → class logits", "cross-entropy",
        "tabular data, small fixed-size inputs, the head of a larger network",
        "Rumelhart, Hinton & Williams 1986", "https://doi.org/10.1038/323533a0"),
    Architecture(
        "cnn", "Convolutional network", "Small filters shared across the image: a pattern is recognised wherever it appears.",
        "image C×H×W → class logits", "cross-entropy",
        "images and other grid-shaped data",
        "LeCun et al. 1998", "https://doi.org/10.1109/5.726791"),
    Architecture(
        "resnet", "Residual network", "Each block learns a correction added to its input: an identity path through every block.",
        "image C×H×W → class logits", "cross-entropy",
        "deep image classifiers and backbones",
        "He et al. 2016", "https://arxiv.org/abs/1512.03385"),
    Architecture(
        "rnn", "Recurrent networks (RNN, LSTM, GRU)", "One cell applied step after step, carrying a hidden state along the sequence.",
        "sequence T×D → per-step outputs or a final state", "cross-entropy on the last state (or per step)",
        "text, audio, time series; here, images read row by row",
        "Hochreiter & Schmidhuber 1997; Cho et al. 2014", "https://doi.org/10.1162/neco.1997.9.8.1735"),
    Architecture(
        "autoencoder", "Autoencoder", "Squeeze the image through a narrow code and rebuild it: features learned without labels.",
        "image → code z → reconstructed image", "reconstruction error (MSE, or BCE on logits)",
        "compression, denoising, anomaly detection, pre-training",
        "Hinton & Salakhutdinov 2006", "https://doi.org/10.1126/science.1127647"),
    Architecture(
        "vae", "Variational autoencoder", "An autoencoder whose code is a distribution: sample it to draw new images.",
        "image → q(z|x) → reconstruction; z ~ N(0, I) → new image", "negative ELBO: reconstruction + KL",
        "generation from a latent space you can sample and walk; a bound on the log-likelihood",
        "Kingma & Welling 2014", "https://arxiv.org/abs/1312.6114"),
    Architecture(
        "gan", "Generative adversarial network", "A generator learns to fool a discriminator that learns to catch it.",
        "noise z → image; image → real/fake logit", "adversarial binary cross-entropy (minimax game)",
        "generation without an explicit likelihood",
        "Goodfellow et al. 2014", "https://arxiv.org/abs/1406.2661"),
    Architecture(
        "dcgan", "Deep convolutional GAN", "The GAN game played by convolutional networks, with the architecture rules of Radford et al.",
        "noise z → image via transposed convolutions", "non-saturating GAN loss",
        "image generation; the template for later image GANs",
        "Radford, Metz & Chintala 2016", "https://arxiv.org/abs/1511.06434"),
)


# The gallery and the results table follow the reading order of the architectures, each
# GAN variant after the DCGAN it builds on; a script not listed here comes last.
GALLERY_ORDER: tuple[str, ...] = (
    *(a.key for a in ARCHITECTURES), "wgan_gp", "conditional_dcgan", "sagan", "gan_techniques",
)


# Examples that belong to another architecture's page: the GAN variants extend the DCGAN's.
_EXAMPLE_PAGES = {"wgan_gp": "dcgan", "conditional_dcgan": "dcgan", "sagan": "dcgan", "gan_techniques": "dcgan"}

# The gallery index groups its examples by family, each family a run of architectures.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Classifiers", ("mlp", "cnn", "resnet", "rnn")),
    ("Autoencoders", ("autoencoder", "vae")),
    ("Generative adversarial networks", ("gan", "dcgan")),
)


def architecture_of(example: str) -> str | None:
    """The key of the architecture page that example ``"wgan_gp"`` (or ``"plot_wgan_gp"``) belongs to."""
    key = Path(example).stem.removeprefix("plot_")
    key = _EXAMPLE_PAGES.get(key, key)
    return key if any(a.key == key for a in ARCHITECTURES) else None


def examples_of(architecture: str) -> list[str]:
    """The examples of one architecture page, in gallery order, e.g. ``["dcgan", "wgan_gp", ...]``."""
    return [e for e in GALLERY_ORDER if architecture_of(e) == architecture]


def example_rank(example: str) -> tuple[int, str]:
    """Sort key of an example name such as ``"cnn"``, ``"plot_cnn"`` or ``"plot_cnn.py"``."""
    key = Path(example).stem.removeprefix("plot_")
    return (GALLERY_ORDER.index(key) if key in GALLERY_ORDER else len(GALLERY_ORDER), key)


# -- Small helpers --------------------------------------------------------------------
def _gallery_dir(directive: SphinxDirective) -> str:
    return str(directive.config.sphinx_gallery_conf["gallery_dirs"])


def _doc_link(target: str, content: nodes.Node, docname: str) -> addnodes.pending_xref:
    """A reference to the document ``target`` (absolute, e.g. ``/architectures/mlp``)."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=target, refexplicit=True,
                                refwarn=True, refdoc=docname)
    ref += content
    return ref


def _label_link(label: str, text: str, docname: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=label, refexplicit=True,
                                refwarn=True, refdoc=docname)
    ref += nodes.inline(text=text)
    return ref


def _note(text: str) -> nodes.note:
    note = nodes.note()
    note += nodes.paragraph(text=text)
    return note


# -- gallery-figures ------------------------------------------------------------------
class GalleryFigures(SphinxDirective):
    """Embed the figures that one gallery script produced in this build."""

    required_arguments = 1
    option_spec = {"select": directives.positive_int_list, "width": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        stem = self.arguments[0]
        image_dir = Path(self.env.srcdir) / _gallery_dir(self) / "images"
        found = sorted(image_dir.glob(f"sphx_glr_{stem}_[0-9][0-9][0-9].png"))
        if "select" in self.options:
            wanted = {f"sphx_glr_{stem}_{k:03d}.png" for k in self.options["select"]}
            found = [p for p in found if p.name in wanted]
        if not found:
            return [_note(f"The figures of {stem}.py appear here when the gallery is executed "
                          "(make html); this build did not execute it.")]
        result: list[nodes.Node] = []
        for path in found:
            rel = "/" + path.relative_to(self.env.srcdir).as_posix()
            self.env.note_dependency(str(path))
            image = nodes.image(uri=rel, alt=f"figure from {stem}.py")
            if "width" in self.options:
                image["width"] = self.options["width"]
            result.append(image)
        return result


# -- results-table --------------------------------------------------------------------
def _result_row(result: Result, label: str, docname: str) -> list[Cell]:
    """One row of the results table; ``label`` is the example page's reference label."""
    # The short dataset name; its source (a long line) is the tooltip and the note below the table.
    data = nodes.abbreviation(text=result.dataset, explanation=result.source)
    metric: list[nodes.Node] = [nodes.inline(text=f"{result.metric} "), nodes.strong(text=result.formatted_value())]
    if not result.higher_is_better:
        metric.append(nodes.inline(text=" (lower is better)", classes=["cheatsheet-muted"]))
    return [
        [_label_link(label, result.title, docname)],
        [data],
        result.device,
        f"{result.parameters:,}",
        # No-break spaces: on a narrow screen the cell may wrap only between time and steps.
        f"{result.train_seconds:.1f}\u00a0s ({result.steps:,}\u00a0steps)",
        metric,
        target_cell(result),
    ]


def _references_table(results: list[Result], gallery: str, docname: str) -> list[nodes.Node]:
    """Published figures for the same architectures, each in its own setting, with its source.

    A table of its own rather than a column of the results table: the settings take a
    sentence each, and beside the build's numbers they would squeeze both out of a desktop page.
    """
    rows: list[list[Cell]] = []
    for r in results:
        ref = REFERENCES.get(r.example)
        if ref is not None:
            figure: Cell = [nodes.strong(text=ref.figure)] if ref.figure else [nodes.inline(text="—", classes=["cheatsheet-muted"])]
            rows.append([[_label_link(_example_label(gallery, r.example), r.title, docname)], figure, ref.setting,
                         [nodes.reference("", ref.citation, refuri=ref.url)]])
    if not rows:
        return []
    intro = nodes.paragraph(text="Published figures for the same architectures, for scale: each in another setting "
                                 "(the full dataset, another recipe and budget), so neither a target nor a comparison "
                                 "with the run above.", classes=["cheatsheet-muted"])
    return [intro, table(["Example", "Published figure", "Setting", "Source"], rows,
                         classes=["cheatsheet-references"], widths=[18, 20, 40, 22])]


def _sources_note(results: list[Result]) -> nodes.paragraph:
    """Each dataset's source, once, below the table."""
    sources = dict.fromkeys((r.dataset, r.source) for r in results)
    note = nodes.paragraph(classes=["cheatsheet-muted", "cheatsheet-sources"])
    note += nodes.Text("Data: ")
    for i, (dataset, source) in enumerate(sources):
        if i:
            note += nodes.Text("; ")
        note += nodes.strong(text=dataset)
        note += nodes.Text(f" — {source}")
    note += nodes.Text(".")
    return note


def _results_notes(results: list[Result], scripts: list[Path]) -> list[nodes.Node]:
    """What the reader needs to read the table: intervals, targets, quick mode, examples that did not run."""
    notes: list[nodes.Node] = []
    if any(r.interval for r in results):
        notes.append(nodes.paragraph(
            text="In brackets: the 95% confidence interval — Wilson's for an accuracy on the held-out "
                 "images, a t-interval over the held-out images for an error or a negative ELBO, and over "
                 "ten independent draws of samples for an FID. Two results whose intervals overlap may "
                 "not differ at all; the example pages compare models on the same images.",
            classes=["cheatsheet-muted"]))
    notes.append(nodes.paragraph(
        text=f"Target: the quality each example's full budget was measured to reach on {TARGET_DEVICE} with "
             f"{TARGET_DATASET}; there a missed target fails the build, elsewhere it is marked here.",
        classes=["cheatsheet-muted"]))
    if any(r.mode == "quick" for r in results):
        notes.append(nodes.paragraph(
            text="Built in quick mode: every example trained for a few seconds only, so these numbers show "
                 "that the examples run, not how well the architectures do. make html trains them properly.",
            classes=["cheatsheet-muted"]))
    ran = {r.example for r in results}
    missing = [p.name for p in scripts if p.stem.removeprefix("plot_") not in ran]
    if missing:
        notes.append(nodes.paragraph(
            text="Not run in this build (or recorded no result): " + ", ".join(missing) + ".",
            classes=["cheatsheet-muted"]))
    return notes


def _example_label(gallery: str, example: str) -> str:
    """sphinx-gallery's reference label of an example page, e.g. ``sphx_glr_auto_examples_plot_mlp.py``."""
    return f"sphx_glr_{gallery}_plot_{example}.py".replace("/", "_").lower()


class ResultsTable(SphinxDirective):
    """Every result recorded by a gallery script in this build, one row per example, under the build's stamp."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][_LIVE] = True
        scripts = sorted(Path(self.config.sphinx_gallery_conf["examples_dirs"]).glob("plot_*.py"))
        if not gallery_executed(self.config):
            return [_note("The results table is filled in when the gallery is executed (make html); "
                          "this build did not run the examples, so it has no results to show.")]
        results = _build_results(self.env)
        if not results:
            return [_note("No gallery example recorded a result in this build."), *_results_notes(results, scripts)]
        rows = [_result_row(r, _example_label(_gallery_dir(self), r.example), self.env.docname) for r in results]
        return [
            build_stamp(results),
            table(["Example", "Data", "Device", "Parameters", "Training", "Headline result", "Target"],
                  rows, classes=["cheatsheet-results"], widths=[12, 8, 6, 9, 13, 30, 22]),
            _sources_note(results),
            *_results_notes(results, scripts),
            *_references_table(results, _gallery_dir(self), self.env.docname),
        ]


# -- gan-comparison -------------------------------------------------------------------
# The numbers every GAN example records (SampleQuality.record); an ablation's variants are
# read by Result.variants.
_GAN_KEYS = ("FID", "floor")


def _gan_rows(result: Result, label: str, docname: str) -> list[list[Cell]]:
    """The comparison rows of one GAN record: its headline generator, or each variant of an ablation."""
    variants = result.variants()
    if not variants:
        return [_gan_row([_label_link(label, result.title, docname)], result.extra, result.steps, result.train_seconds)]
    steps = int(result.extra.get("steps per variant", 0))
    return [_gan_row([_label_link(label, f"{variant} ({result.title.split(' (')[0]})", docname)],  # "DCGAN (GAN techniques)"
                     numbers, steps, numbers.get("seconds", math.nan))
            for variant, numbers in variants.items()]


def _gan_row(name: list[nodes.Node], numbers: dict[str, float], steps: int, seconds: float) -> list[Cell]:
    fid = (Interval(numbers["FID"], numbers["FID low"], numbers["FID high"], "t", 0).format()
           if "FID low" in numbers else f"{numbers['FID']:.3g}")
    confidence = numbers.get("confidence / real", math.nan)
    return [
        name,
        f"{steps:,}",
        f"{seconds:.1f}\u00a0s",
        [nodes.strong(text=fid)],
        f"{numbers['FID'] / numbers['floor']:.1f}×",
        f"{100 * numbers['min class share']:.1f}%",
        f"{numbers['mean confidence']:.3f}" + ("" if math.isnan(confidence) else f" ({100 * confidence:.0f}% of real)"),
    ]


class GanComparison(SphinxDirective):
    """Every generator the GAN examples trained in this build, in one table: FID with its interval, coverage, confidence."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][_LIVE] = True
        if not gallery_executed(self.config):
            return [_note("The comparison of the GAN variants is filled in when the gallery is executed (make html); "
                          "this build did not run the examples.")]
        results = [r for r in _build_results(self.env) if all(k in r.extra for k in _GAN_KEYS)]
        if not results:
            return [_note("No GAN example recorded a result in this build.")]
        rows = [row for r in results for row in _gan_rows(r, _example_label(_gallery_dir(self), r.example), self.env.docname)]
        notes = [nodes.paragraph(
            text="FID in the package classifier's feature space, against the held-out images, the mean of ten independent "
                 "draws of samples with its 95% t-interval; FID / floor divides it by the FID between two sets of real "
                 "images (what a perfect generator would score). Rarest class and confidence are pooled over the draws; "
                 "the confidence is the classifier's mean top probability, beside the same number for real held-out "
                 "images. The examples differ in steps, networks and recipe: a row is a finding of its own example, "
                 "and only the rows of one ablation share seeds, steps and recipe.",
            classes=["cheatsheet-muted"])]
        if any(r.mode == "quick" for r in results):
            notes.append(nodes.paragraph(text="Built in quick mode: every GAN trained for a few steps only, so these numbers "
                                              "show that the examples run, not how the variants compare.",
                                         classes=["cheatsheet-muted"]))
        return [
            build_stamp(results),
            table(["Generator", "Steps", "Training", "FID", "FID / floor", "Rarest class", "Confidence"], rows,
                  classes=["cheatsheet-results", "cheatsheet-gans"], widths=[26, 8, 10, 20, 10, 10, 16]),
            *notes,
        ]


def _build_results(env: BuildEnvironment) -> list[Result]:
    """This build's results, in gallery order; each file is a dependency of the page that reads it."""
    directory = results_dir(env.config)
    for path in directory.glob("*.json"):
        env.note_dependency(str(path))
    return sorted(load_results(directory) if directory.is_dir() else [], key=lambda r: example_rank(r.example))


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
        gallery = _gallery_dir(self)
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
            return [_note(f"{stem}.py has not been generated in this build.")]
        for i, link in enumerate(links):
            if i:
                paragraph += nodes.Text(" · ")
            paragraph += link
        paragraph += nodes.Text(". It needs only the mlcheatsheet package.")
        return [paragraph]


def _colab_in_gallery_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    """Add an "Open in Colab" link to the download area of each gallery example page."""
    gallery = str(app.config.sphinx_gallery_conf["gallery_dirs"])
    if not docname.startswith(f"{gallery}/plot_"):
        return
    stem = docname.rsplit("/", 1)[1]
    url = colab_url(app.config, stem)
    if not url:
        return
    footer = "    .. container:: sphx-glr-download sphx-glr-download-python\n"
    block = f"    .. container:: sphx-glr-download sphx-glr-download-colab\n\n      `Open in Colab <{url}>`__\n\n"
    source[0] = source[0].replace(footer, block + footer, 1)
    top = "        to download the full example code."
    source[0] = source[0].replace(top, top[:-1] + f", or `open it in Colab <{url}>`__.", 1)


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
                                        reftarget=_example_label(_gallery_dir(self), example), refdoc=self.env.docname)
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
        found = re.search(r"plot_(\w+)", block)
        return example_rank(found.group(1) if found else "")

    blocks = list(_THUMBNAIL_BLOCK.finditer(text))
    if blocks:
        first, last = blocks[0].start(), blocks[-1].end()
        if text[first:last] == "".join(b.group(0) for b in blocks):  # adjacent, as sphinx-gallery writes them
            text = text[:first] + "".join(sorted((b.group(0) for b in blocks), key=rank)) + text[last:]
    return _TOCTREE_ENTRY.sub(lambda m: "".join(sorted(m.group(0).splitlines(keepends=True), key=rank)), text)


def _family_heading(app: Sphinx, family: str) -> str:
    """The reST of one family's heading, with links to its architecture pages."""
    keys = next((keys for name, keys in FAMILIES if name == family), ())
    pages = [f":doc:`/architectures/{k}`" for k in keys if _architecture_page_exists(app.env, k)]
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


# -- architecture-cards and at-a-glance -----------------------------------------------
def _architecture_page_exists(env: BuildEnvironment, key: str) -> bool:
    return (Path(env.srcdir) / "architectures" / f"{key}.rst").exists()


class ArchitectureCards(SphinxDirective):
    """A card for each architecture page that exists, with its gallery run's thumbnail."""

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][_LIVE] = True
        grid = nodes.container(classes=["cheatsheet-cards"])
        thumbs = Path(self.env.srcdir) / _gallery_dir(self) / "images" / "thumb"
        for arch in ARCHITECTURES:
            if not _architecture_page_exists(self.env, arch.key):
                continue
            card = nodes.container(classes=["cheatsheet-card"])
            thumb = thumbs / f"sphx_glr_plot_{arch.key}_thumb.png"
            if thumb.exists() and gallery_executed(self.config):
                self.env.note_dependency(str(thumb))
                card += nodes.image(uri="/" + thumb.relative_to(self.env.srcdir).as_posix(),
                                    alt=f"A figure from this build's {arch.title} example", classes=["cheatsheet-card-image"])
            title = nodes.paragraph(classes=["cheatsheet-card-title"])
            title += _doc_link(f"/architectures/{arch.key}", nodes.inline(text=arch.title), self.env.docname)
            card += title
            card += nodes.paragraph(text=arch.blurb, classes=["cheatsheet-card-text"])
            grid += card
        return [grid]


class AtAGlance(SphinxDirective):
    """The cheatsheet table: input → output, loss, uses and key paper of each architecture."""

    def run(self) -> list[nodes.Node]:
        rows: list[list[Cell]] = []
        for arch in ARCHITECTURES:
            name: Cell = (_doc_link(f"/architectures/{arch.key}", nodes.inline(text=arch.title), self.env.docname)
                          if _architecture_page_exists(self.env, arch.key) else arch.title)
            paper = nodes.reference("", arch.paper, refuri=arch.paper_url)
            rows.append([name, arch.io, arch.loss, arch.good_for, paper])
        return [table(["Architecture", "Input → output", "Loss", "Good for", "Key paper"], rows,
                       classes=["cheatsheet-glance"], widths=[16, 24, 20, 24, 16])]


# -- Events ---------------------------------------------------------------------------
def _always_reread(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str],
                   removed: set[str]) -> list[str]:
    """Pages that show this build's results are re-read on every build."""
    return [doc for doc, meta in env.metadata.items() if meta.get(_LIVE) and doc in env.found_docs]


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
    app.setup_extension("resultsdir")
    # Where the package's repository lives (https://github.com/<owner>/<repo>), and the branch
    # on which the docs workflow publishes the built site; both empty means no Colab links.
    app.add_config_value("repository_url", "", "html", types=frozenset({str}))
    app.add_config_value("colab_branch", "", "html", types=frozenset({str}))
    app.add_directive("gallery-figures", GalleryFigures)
    app.add_directive("results-table", ResultsTable)
    app.add_directive("gan-comparison", GanComparison)
    app.add_directive("example-downloads", ExampleDownloads)
    app.add_directive("architecture-cards", ArchitectureCards)
    app.add_directive("at-a-glance", AtAGlance)
    app.add_directive("gallery-examples", GalleryExamples)
    app.connect("autodoc-process-signature", _dataclass_factories)
    app.connect("env-get-outdated", _always_reread)
    app.connect("source-read", _colab_in_gallery_pages)
    app.connect("source-read", _group_gallery_index)
    app.connect("doctree-resolved", _stamp_gallery_page)
    app.connect("build-finished", _publish_notebooks)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
