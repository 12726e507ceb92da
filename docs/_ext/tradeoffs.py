"""The landing page's picture of the trade-offs, drawn from this build's results.

``.. tradeoff-figure::`` plots the classifiers' held-out accuracy, with its 95% interval,
against training seconds and against parameters, and the generative models' FID (in units
of the floor, with its interval) against training seconds. It reads the same result
records as the results table, so it shows this build's runs and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def label_log_axes(ax: Any) -> None:
    """Label a log axis at 1, 2 and 5 of every decade, as plain numbers: a run's seconds or
    parameters often span less than a decade, where matplotlib's default shows no label."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
            axis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="both")


def draw(results: list[Result], path: Path) -> bool:
    """Draw the figure into ``path``; ``False`` (nothing written) when no result can be placed."""
    classifiers, generators = _classifiers(results), _generators(results)
    if not classifiers and not generators:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Two panels a row: at the page's width each keeps its labels readable.
    fig, axes = plt.subplot_mosaic([["time", "size"], ["gans", "gans"]], figsize=(9, 7.2), layout="constrained")
    by_time, by_size, gans = axes["time"], axes["size"], axes["gans"]
    for r in classifiers:
        low, high = 100 * float(r.interval["low"]), 100 * float(r.interval["high"])  # type: ignore[index]
        for ax, x in ((by_time, r.train_seconds), (by_size, r.parameters)):
            ax.errorbar([x], [100 * r.value], yerr=_error_bars(100 * r.value, low, high), fmt="o", capsize=3)
            ax.annotate(r.title.split(" (")[0], (x, 100 * r.value), textcoords="offset points", xytext=(5, 4), fontsize=10)
    by_time.set(xscale="log", xlabel="training seconds (this build)", ylabel="held-out accuracy (%)",
                title="Classifiers: accuracy vs time")
    by_size.set(xscale="log", xlabel="trainable parameters", title="Classifiers: accuracy vs size")
    for r in generators:
        floor, ratio = r.extra["floor"], r.extra["ratio"]
        low, high = r.extra.get("FID low", r.extra["FID"]) / floor, r.extra.get("FID high", r.extra["FID"]) / floor
        conditional = "conditional accuracy" in r.extra  # asked for a class: scored on a different task
        gans.errorbar([r.train_seconds], [ratio], yerr=_error_bars(ratio, low, high), capsize=3, color="C0" if conditional else "C1",
                      fmt="^" if conditional else "s", mfc="none" if conditional else None)
        gans.annotate(r.title.split(" (")[0], (r.train_seconds, ratio), textcoords="offset points", xytext=(6, 4), fontsize=10)
    gans.set(xscale="log", yscale="log", xlabel="training seconds (this build)", ylabel="FID / floor (1 = real data)",
             title="Generators: FID vs time (interval over draws of samples from one trained model)")
    from matplotlib.lines import Line2D

    gans.legend(handles=[Line2D([], [], marker="s", ls="", color="C1", label="unconditional"),
                         Line2D([], [], marker="^", ls="", color="C0", mfc="none", label="conditional (asked for each class)")],
                fontsize=9, loc="best")
    for ax in (by_time, by_size, gans):
        label_log_axes(ax)
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
                                     "(95% interval over the test images) against training seconds and parameters, and "
                                     "each generator's FID in units of its floor (95% interval over independent draws of samples "
                                     "from one trained model; another training seed moves it more) against training "
                                     "seconds. Conditional generators, asked for each class, are drawn apart.")
        return [nodes.figure("", image, caption, classes=["cheatsheet-tradeoffs"])]


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.add_directive("tradeoff-figure", TradeoffFigure)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
