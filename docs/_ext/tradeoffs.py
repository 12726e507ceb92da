"""The landing page's picture of the trade-offs, drawn from this build's results.

``.. tradeoff-figure::`` plots the classifiers' held-out accuracy, with its 95% interval,
against training seconds and against parameters, and the generative models' FID (in units
of the floor, with its interval) against training seconds. It reads the same result
records as the results table, so it shows this build's runs and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from mlcheatsheet.site.report import Result, load_results
from resultsdir import results_dir

# Where the figure is written, inside the source folder so Sphinx copies it like any image.
_FIGURE = Path("_generated") / "tradeoffs.png"


def _classifiers(results: list[Result]) -> list[Result]:
    return [r for r in results if r.unit == "%" and r.metric == "test accuracy" and r.interval]


def _generators(results: list[Result]) -> list[Result]:
    # An ablation's time is the sum of its variants': one point at that time would place its
    # headline generator wrongly.
    return [r for r in results if "ratio" in r.extra and r.extra.get("floor") and not r.variants()]


def _error_bars(value: float, low: float, high: float) -> list[list[float]]:
    return [[value - low], [high - value]]


def draw(results: list[Result], path: Path) -> bool:
    """Draw the figure into ``path``; ``False`` (nothing written) when no result can be placed."""
    classifiers, generators = _classifiers(results), _generators(results)
    if not classifiers and not generators:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_size, gans) = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
    for r in classifiers:
        low, high = 100 * float(r.interval["low"]), 100 * float(r.interval["high"])  # type: ignore[index]
        for ax, x in ((by_time, r.train_seconds), (by_size, r.parameters)):
            ax.errorbar([x], [100 * r.value], yerr=_error_bars(100 * r.value, low, high), fmt="o", capsize=3)
            ax.annotate(r.title.split(" (")[0], (x, 100 * r.value), textcoords="offset points", xytext=(5, 4), fontsize=8)
    by_time.set(xscale="log", xlabel="training seconds (this build)", ylabel="held-out accuracy (%)",
                title="Classifiers: accuracy vs time")
    by_size.set(xscale="log", xlabel="trainable parameters", title="Classifiers: accuracy vs size")
    for r in generators:
        floor, ratio = r.extra["floor"], r.extra["ratio"]
        low, high = r.extra.get("FID low", r.extra["FID"]) / floor, r.extra.get("FID high", r.extra["FID"]) / floor
        gans.errorbar([r.train_seconds], [ratio], yerr=_error_bars(ratio, low, high), fmt="s", capsize=3)
        gans.annotate(r.title.split(" (")[0], (r.train_seconds, ratio), textcoords="offset points", xytext=(5, 4), fontsize=8)
    gans.set(xscale="log", yscale="log", xlabel="training seconds (this build)", ylabel="FID / floor (1 = real data)",
             title="Generators: FID vs time")
    from matplotlib.ticker import NullFormatter

    for ax in (by_time, by_size, gans):
        ax.grid(alpha=0.3, which="both")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())  # a log axis spanning less than a decade labels every minor tick
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


class TradeoffFigure(SphinxDirective):
    """The trade-off figure of this build's results (nothing when the gallery did not run)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        directory = results_dir(self.config)
        paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
        for path in paths:
            self.env.note_dependency(str(path))
        if not draw(load_results(directory) if paths else [], Path(self.env.srcdir) / _FIGURE):
            return []
        image = nodes.image(uri="/" + _FIGURE.as_posix(), alt="Accuracy and FID of this build's models against "
                            "training time and size, with 95% intervals")
        caption = nodes.caption(text="Drawn from this build's result records: the classifiers' held-out accuracy "
                                     "(95% interval) against training seconds and parameters, and each generator's "
                                     "FID in units of its floor (95% interval over ten draws) against training seconds.")
        return [nodes.figure("", image, caption, classes=["cheatsheet-tradeoffs"])]


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("tradeoff-figure", TradeoffFigure)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
