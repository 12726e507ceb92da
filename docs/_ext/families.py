"""Every generative model of this build compared at the CPU time it trained: ``.. family-comparison::``.

The VAE's prior samples, the GANs and the diffusion model are scored by one judge (the
package's FID classifier, against the same held-out images), so one table and one figure
can put them side by side: FID in units of the floor with its draw interval, precision and
recall, the rarest class, training seconds and what one sample costs. The sentence under
them names a leader only when the gap is wider than what retraining moved a GAN in this
build (the ablation's seeds); draws of samples from one trained model are not that noise.
Everything comes from the result records; nothing is trained here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from cheatsheet import LIVE, gallery_dir, label_link, note
from doctables import table
from mlcheatsheet.findings import Interval
from mlcheatsheet.site.report import Result
from resultsdir import gallery_executed
from resultstables import build_results, seed_range
from sitemap import architecture_of, example_label
from stamps import build_stamp
from tradeoffs import label_log_axes

# Where the figure is written, inside the source folder so Sphinx copies it like any image.
_FIGURE = Path("_generated") / "families.png"
# The VAE records its prior samples' scores under this prefix ("prior samples ratio", ...).
_VAE_PREFIX = "prior samples "
_FAMILIES = {"vae": "VAE", "gan": "GAN", "dcgan": "GAN", "diffusion": "Diffusion"}


@dataclass(frozen=True)
class Entry:
    """One generative model of the build, as the comparison reads it from its record."""

    result: Result
    name: str
    family: str
    numbers: dict[str, float]  # the SampleQuality.record() keys: FID, floor, ratio, min class share, ...
    evaluations: int  # network evaluations per sample

    @property
    def ratio(self) -> float:
        return self.numbers["ratio"]

    @property
    def conditional(self) -> bool:
        return "conditional accuracy" in self.numbers

    def ratio_interval(self) -> tuple[float, float]:
        floor = self.numbers["floor"]
        return (self.numbers.get("FID low", self.numbers["FID"]) / floor, self.numbers.get("FID high", self.numbers["FID"]) / floor)


def entries(results: list[Result]) -> list[Entry]:
    """The generative models among ``results``: the VAE's prior samples, every GAN that is not an ablation, the diffusion model."""
    found = []
    for r in results:
        family = _FAMILIES.get(architecture_of(r.example) or "")
        if family == "VAE":
            numbers = {k.removeprefix(_VAE_PREFIX): v for k, v in r.extra.items() if k.startswith(_VAE_PREFIX)}
            name = f"{r.title.split(' (')[0]}, prior samples"
        else:
            numbers, name = dict(r.extra), r.title.split(" (")[0]
        if family is None or r.variants() or not {"FID", "floor", "ratio", "min class share"} <= numbers.keys():
            continue  # not generative, an ablation (its runs share no one time), or a record without the scores
        found.append(Entry(r, name, family, numbers, int(numbers.get("network evaluations", 1))))
    return found


def seed_spread(results: list[Result]) -> tuple[str, int, float, float] | None:
    """The spread of FID / floor between the training seeds of the first ablation that has one:
    (its headline variant, the seeds, the lowest and the highest ratio)."""
    found = seed_range(results)
    return None if found is None else found[1:]


def leader_sentence(found: list[Entry], spread: tuple[str, int, float, float] | None) -> str:
    """Which unconditional model scored best, and whether the gap is beyond the noise that matters for it."""
    ranked = sorted((e for e in found if not e.conditional), key=lambda e: e.ratio)
    if len(ranked) < 2:
        return ""
    best, next_best = ranked[0], ranked[1]
    gap = next_best.ratio / best.ratio
    scores = (f"the unconditional model with the lowest FID / floor is {best.name} ({best.ratio:.2f}×, "
              f"{best.result.train_seconds:.0f} s of training), then {next_best.name} ({next_best.ratio:.2f}×, "
              f"{next_best.result.train_seconds:.0f} s): a factor of {gap:.2f}")
    if spread is None:
        return f"In this build {scores}. No model was trained from several seeds, so this build cannot say whether that gap is more than retraining would move; it ranks neither."
    variant, seeds, low, high = spread
    noise = high / low
    apart = best.ratio_interval()[1] < next_best.ratio_interval()[0]
    if gap > noise and apart:
        verdict = (f"wider than the factor of {noise:.2f} between the best and the worst of {seeds} training seeds of "
                   f"the ablation's {variant} ({low:.2f}× to {high:.2f}×), the only spread between seeds this build "
                   f"measured, and the draw intervals do not overlap: {best.name} is ahead of {next_best.name} here")
    else:
        verdict = (f"within the factor of {noise:.2f} that retraining moved the ablation's {variant} ({seeds} seeds, "
                   f"{low:.2f}× to {high:.2f}×){'' if apart else ', and the draw intervals overlap'}: this build does not "
                   "rank the two")
    return f"In this build {scores}, {verdict}."


def _row(entry: Entry, docname: str, gallery: str) -> list[Any]:
    low, high = entry.ratio_interval()
    ratio = f"{entry.ratio:.3g}×"
    if "FID low" in entry.numbers:
        value, bounds = Interval(entry.ratio, low, high, "t", 0).format().split(" ", 1)  # "6.40 [6.12, 6.68]"
        ratio = f"{value}× {bounds}"
    precision, recall = entry.numbers.get("precision", math.nan), entry.numbers.get("recall", math.nan)
    said = [word for word, applies in ((entry.family, True), ("conditional", entry.conditional))
            if applies and word.lower() not in entry.name.lower()]  # "SAGAN (conditional)", but not "DCGAN (GAN)"
    return [
        [label_link(example_label(gallery, entry.result.example), entry.name, docname),
         *([nodes.inline(text=f" ({', '.join(said)})", classes=["cheatsheet-muted"])] if said else [])],
        f"{entry.result.train_seconds:.0f}\u00a0s",
        f"{entry.evaluations}",
        [nodes.strong(text=ratio)],
        "—" if math.isnan(precision) else f"{precision:.2f} / {recall:.2f}",
        f"{100 * entry.numbers['min class share']:.1f}%",
    ]


def draw(found: list[Entry], path: Path) -> None:
    """FID / floor against training seconds, one marker per family; conditional models hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"VAE": ("o", "C2"), "GAN": ("s", "C1"), "Diffusion": ("D", "C4")}
    fig, ax = plt.subplots(figsize=(7, 4.4), layout="constrained")
    placed: list[tuple[float, float]] = []  # labelled points: a label near another goes below its point
    for family, (marker, colour) in markers.items():
        for conditional in (False, True):
            members = [e for e in found if e.family == family and e.conditional == conditional]
            if not members:
                continue
            x = [e.result.train_seconds for e in members]
            y = [e.ratio for e in members]
            errors = [[e.ratio - e.ratio_interval()[0] for e in members], [e.ratio_interval()[1] - e.ratio for e in members]]
            ax.errorbar(x, y, yerr=errors, fmt=marker, color=colour, mfc="none" if conditional else colour, capsize=3, ls="",
                        label=f"{family}{' (conditional)' if conditional else ''}")
            for e in members:
                point = (e.result.train_seconds, e.ratio)
                crowded = any(abs(math.log(point[0] / x)) < 0.2 and abs(math.log(point[1] / y)) < 0.2 for x, y in placed)
                ax.annotate(e.name, point, textcoords="offset points", xytext=(6, -12 if crowded else 4), fontsize=9)
                placed.append(point)
    ax.set(xscale="log", yscale="log", xlabel="training seconds (this build, one thread)", ylabel="FID / floor (1 = real data)",
           title="Generative models: sample quality against training time")
    label_log_axes(ax)
    ax.legend(fontsize=8, loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


class FamilyComparison(SphinxDirective):
    """The table, the figure and the sentence, from this build's records."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][LIVE] = True
        if not gallery_executed(self.config):
            return [note("The comparison of the generative models is filled in when the gallery is executed (make html); "
                         "this build did not run the examples.")]
        results = build_results(self.env)
        found = entries(results)
        if not found:
            return [note("No generative example recorded a result in this build.")]
        rows = [_row(e, self.env.docname, gallery_dir(self)) for e in sorted(found, key=lambda e: e.result.train_seconds)]
        draw(found, Path(self.env.srcdir) / _FIGURE)
        image = nodes.image(uri="/" + _FIGURE.as_posix(), alt="FID / floor of every generative model of this build "
                            "against its training seconds, with the 95% intervals over draws of samples")
        figure = nodes.figure("", image, nodes.caption(text="Each model's FID in units of the floor (the score of a second "
                                                            "set of real images), with its 95% interval over draws of samples "
                                                            "from the one trained model, against the seconds it trained."),
                              classes=["cheatsheet-families"])
        explained = ("Sorted by training time. Network evaluations: what one sample costs (a GAN's generator or the VAE's "
                     "decoder once; the diffusion model once per solver evaluation). Precision is the share of samples "
                     "that fall where real images are in the classifier's feature space, recall the share of real images "
                     "the samples cover; the rarest class is the smallest share of the samples the classifier gives one "
                     "class. Conditional models were asked for every class equally often, which sets their class shares: "
                     "they are marked, and left out of the sentence below.")
        sentence = leader_sentence(found, seed_spread(results))
        quick = any(e.result.mode == "quick" for e in found)
        paragraphs = [nodes.paragraph(text=explained, classes=["cheatsheet-muted"])]
        if sentence:
            prefix = "Quick build, not a result: " if quick else ""
            paragraphs.append(nodes.paragraph(text=prefix + sentence, classes=["cheatsheet-finding"]))
        return [
            build_stamp([e.result for e in found]),
            table(["Model (family)", "Training", "Network evaluations per sample", "FID / floor", "Precision / recall",
                   "Rarest class"], rows, classes=["cheatsheet-results", "cheatsheet-families"], widths=[28, 10, 14, 22, 14, 12]),
            *paragraphs,
            figure,
        ]


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("family-comparison", FamilyComparison)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
