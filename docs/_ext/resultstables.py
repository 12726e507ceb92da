"""The results of this build as tables.

``.. results-table::``
    One row per gallery example that ran in this build, read from the JSON files that
    :func:`mlcheatsheet.site.report.report_result` wrote, with its quality target and whether it
    was met, under one line saying which commit, when, and on what device the build trained.
``.. gan-comparison::``
    Every generator the GAN examples trained, in one table (FID with its interval, floor
    ratio, precision and recall, rarest class), an ablation's variants one row each.
"""

from __future__ import annotations

import math
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

from doctables import Cell, table
from references import REFERENCES, Reference
from mlcheatsheet.site.budgets import TARGET_DATASET, TARGET_DEVICE
from mlcheatsheet.findings import Interval
from mlcheatsheet.site.report import Result, load_results
from resultsdir import gallery_executed, results_dir
from stamps import build_stamp, target_cell
from cheatsheet import LIVE, gallery_dir, label_link, note
from sitemap import architecture_of, example_label, example_rank


# -- results-table --------------------------------------------------------------------
def _steps(result: Result) -> str:
    """The steps a result trained, as "4 × 3 × 500 steps" for an ablation of variants trained alike from seeds."""
    variants, each = len(result.variants()), int(result.extra.get("steps per variant", 0))
    seeds = int(result.extra.get("seeds", 1))
    if variants > 1 and each and variants * seeds * each == result.steps:
        runs = f"{variants}\u00a0×\u00a0{seeds}" if seeds > 1 else f"{variants}"
        return f"{runs}\u00a0×\u00a0{each:,}\u00a0steps"
    return f"{result.steps:,}\u00a0steps"


def seed_range(results: list[Result]) -> tuple[Result, str, int, float, float] | None:
    """The first ablation variant trained from several seeds: (its record, the variant, the seeds,
    its lowest and highest FID / floor over them); ``None`` when no example measured one."""
    for result in results:
        seeds = int(result.extra.get("seeds", 1))
        for variant, numbers in result.variants().items():
            ratios = [numbers[f"seed {k} ratio"] for k in range(seeds) if f"seed {k} ratio" in numbers]
            if seeds > 1 and len(ratios) == seeds:
                return result, variant, seeds, min(ratios), max(ratios)
    return None


def seed_spread(results: list[Result]) -> str:
    """How far a GAN moves between training seeds, from the ablation that measured it ("" when none did).

    Every other GAN number of the build has an interval over draws of samples from one
    trained generator; this sentence gives the scale that interval leaves out.
    """
    found = seed_range(results)
    if found is None:
        return ""
    result, variant, seeds, low, high = found
    return (f"Retraining moves a GAN too, which no draw interval covers: the {variant} of the "
            f"{result.title.split(' (')[0]} example, trained from {seeds} seeds for "
            f"{result.extra['steps per variant']:,.0f} steps each, scored {low:.1f}× to {high:.1f}× the FID floor.")


def _result_row(result: Result, label: str, docname: str) -> list[Cell]:
    """One row of the results table; ``label`` is the example page's reference label."""
    # The short dataset name; its source (a long line) is the tooltip and the note below the table.
    data = nodes.abbreviation(text=result.dataset, explanation=result.source)
    metric: list[nodes.Node] = [nodes.inline(text=f"{result.metric} "), nodes.strong(text=result.formatted_value())]
    if not result.higher_is_better:
        metric.append(nodes.inline(text=" (lower is better)", classes=["cheatsheet-muted"]))
    # What the run achieved first (all a phone shows before the table scrolls), then its cost and setting.
    return [
        [label_link(label, result.title, docname)],
        metric,
        target_cell(result),
        # No-break spaces: on a narrow screen the cell may wrap only between time and steps.
        f"{result.train_seconds:.1f}\u00a0s ({_steps(result)})",
        f"{result.parameters:,}",
        [data],
        result.device,
    ]


def _references_table(results: list[Result], gallery: str, docname: str) -> list[nodes.Node]:
    """Published figures for the same architectures, each in its own setting, with its source.

    A table of its own rather than a column of the results table: the settings take a
    sentence each, and beside the build's numbers they would squeeze both out of a desktop page.
    """
    # Examples that share one reference (the GANs' note on Inception FIDs) share one row.
    grouped: dict[Reference, list[Result]] = {}
    for r in results:
        ref = REFERENCES.get(r.example)
        if ref is not None:
            grouped.setdefault(ref, []).append(r)
    rows: list[list[Cell]] = []
    for ref, same in grouped.items():
        examples: list[nodes.Node] = []
        for i, r in enumerate(same):
            examples += [nodes.Text(", ")] if i else []
            examples.append(label_link(example_label(gallery, r.example), r.title, docname))
        figure: Cell = [nodes.strong(text=ref.figure)] if ref.figure else [nodes.inline(text="—", classes=["cheatsheet-muted"])]
        rows.append([examples, figure, ref.setting, [nodes.reference("", ref.citation, refuri=ref.url)]])
    if not rows:
        return []
    intro = nodes.paragraph(text="Published figures for the same architectures, for scale: each in another setting "
                                 "(the full dataset, another recipe and budget), so neither a target nor a comparison "
                                 "with the run above.", classes=["cheatsheet-muted"])
    return [intro, table(["Example", "Published figure", "Setting", "Source"], rows,
                         classes=["cheatsheet-references"], widths=[18, 20, 40, 22])]


def _sourcesnote(results: list[Result]) -> nodes.paragraph:
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
                 "independent draws of samples from one trained generator for an FID (ten for a GAN). Unless the metric "
                 "names training seeds, each model trained once, from one seed, and its interval does not cover "
                 "retraining. Two results whose intervals overlap may not differ at all; the example pages "
                 "compare models on the same images." + (f" {spread}" if (spread := seed_spread(results)) else ""),
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


class ResultsTable(SphinxDirective):
    """Every result recorded by a gallery script in this build, one row per example, under the build's stamp."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][LIVE] = True
        scripts = sorted(Path(self.config.sphinx_gallery_conf["examples_dirs"]).glob("plot_*.py"))
        if not gallery_executed(self.config):
            return [note("The results table is filled in when the gallery is executed (make html); "
                          "this build did not run the examples, so it has no results to show.")]
        results = build_results(self.env)
        if not results:
            return [note("No gallery example recorded a result in this build."), *_results_notes(results, scripts)]
        rows = [_result_row(r, example_label(gallery_dir(self), r.example), self.env.docname) for r in results]
        return [
            build_stamp(results),
            table(["Example", "Headline result", "Target", "Training", "Parameters", "Data", "Device"],
                  rows, classes=["cheatsheet-results"], widths=[12, 30, 22, 13, 9, 8, 6]),
            _sourcesnote(results),
            *_results_notes(results, scripts),
            *_references_table(results, gallery_dir(self), self.env.docname),
        ]


# -- gan-comparison -------------------------------------------------------------------
# The numbers every GAN example records (SampleQuality.record); an ablation's variants are
# read by Result.variants.
_GAN_KEYS = ("FID", "floor")


def _gan_rows(result: Result, label: str, docname: str) -> list[list[Cell]]:
    """The comparison rows of one GAN record: its headline generator, or each variant of an ablation."""
    variants = result.variants()
    if not variants:
        return [_gan_row([label_link(label, result.title, docname)], result.extra, result.steps, result.train_seconds)]
    steps, seeds = int(result.extra.get("steps per variant", 0)), int(result.extra.get("seeds", 1))
    return [_gan_row([label_link(label, f"{variant} ({result.title.split(' (')[0]})", docname)],  # "DCGAN (GAN techniques)"
                     numbers, steps, numbers.get("seconds", math.nan), runs=seeds)
            for variant, numbers in variants.items()]


def _gan_row(name: list[nodes.Node], numbers: dict[str, float], steps: int, seconds: float, *, runs: int = 1) -> list[Cell]:
    """One generator's row; an ablation's variant trained ``runs`` times (its seeds) shows steps and seconds per run."""
    fid = (Interval(numbers["FID"], numbers["FID low"], numbers["FID high"], "t", 0).format()
           if "FID low" in numbers else f"{numbers['FID']:.3g}")
    precision, recall = numbers.get("precision", math.nan), numbers.get("recall", math.nan)
    return [
        name,
        f"{runs}\u00a0×\u00a0{steps:,}" if runs > 1 else f"{steps:,}",
        f"{seconds:.1f}\u00a0s each" if runs > 1 else f"{seconds:.1f}\u00a0s",
        [nodes.strong(text=fid)],
        f"{numbers['FID'] / numbers['floor']:.1f}×",
        "—" if math.isnan(precision) else f"{precision:.2f} / {recall:.2f}",
        f"{100 * numbers['min class share']:.1f}%",
    ]


class GanComparison(SphinxDirective):
    """Every generator the GAN examples trained in this build, in one table: FID with its interval, precision and recall, coverage."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][LIVE] = True
        if not gallery_executed(self.config):
            return [note("The comparison of the GAN variants is filled in when the gallery is executed (make html); "
                          "this build did not run the examples.")]
        results = [r for r in build_results(self.env)
                   if all(k in r.extra for k in _GAN_KEYS) and architecture_of(r.example) in ("gan", "dcgan")]
        if not results:
            return [note("No GAN example recorded a result in this build.")]
        rows = [row for r in results for row in _gan_rows(r, example_label(gallery_dir(self), r.example), self.env.docname)]
        explained = [
            "FID in the package classifier's feature space, against the held-out images, the mean of ten independent "
            "draws of samples from one trained generator with its 95% t-interval (an ablation's rows: the mean over "
            "its training seeds, with the t-interval over the seeds, and the rarest class of its worst seed); the "
            "draws do not cover retraining.",
            seed_spread(results),
            "FID / floor divides it by the FID between two sets of real images (what a perfect generator would score). "
            "Precision is the share of samples that fall where real images are in the classifier's feature space, recall "
            "the share of real images the samples cover (Kynkäänniemi et al. 2019; the mean over the draws); the rarest "
            "class is pooled over the draws. The examples differ in steps, networks and recipe: a row is a finding of "
            "its own example, and only the rows of one ablation share seeds, steps and recipe.",
        ]
        notes = [nodes.paragraph(text=" ".join(part for part in explained if part), classes=["cheatsheet-muted"])]
        real = next(((r.extra["real precision"], r.extra["real recall"]) for r in results if "real precision" in r.extra), None)
        if real is not None:
            notes.append(nodes.paragraph(text=f"One set of real images against the other scores {real[0]:.2f} / {real[1]:.2f}: "
                                              "what a perfect generator would score at this sample size.",
                                         classes=["cheatsheet-muted"]))
        if any(r.mode == "quick" for r in results):
            notes.append(nodes.paragraph(text="Built in quick mode: every GAN trained for a few steps only, so these numbers "
                                              "show that the examples run, not how the variants compare.",
                                         classes=["cheatsheet-muted"]))
        return [
            build_stamp(results),
            table(["Generator", "Steps", "Training", "FID", "FID / floor", "Precision / recall", "Rarest class"], rows,
                  classes=["cheatsheet-results", "cheatsheet-gans"], widths=[26, 8, 10, 20, 10, 10, 16]),
            *notes,
        ]


def build_results(env: BuildEnvironment) -> list[Result]:
    """This build's results, in gallery order; each file is a dependency of the page that reads it."""
    directory = results_dir(env.config)
    for path in directory.glob("*.json"):
        env.note_dependency(str(path))
    return sorted(load_results(directory) if directory.is_dir() else [], key=lambda r: example_rank(r.example))


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("results-table", ResultsTable)
    app.add_directive("gan-comparison", GanComparison)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
