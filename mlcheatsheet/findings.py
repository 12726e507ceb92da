"""Findings: what a run's numbers support, with their uncertainty, in words that follow the numbers.

A gallery page never types an outcome. It computes one here and prints it: an
:class:`Interval` for every accuracy (Wilson's score interval) and every mean — an error
over images, or FID over independent draws of generated samples (a t-interval); a :class:`Comparison` of two
classifiers scored on the same images by McNemar's exact test, which names a winner only
when the difference is significant at 5%; a :class:`WelchComparison` of two independent sets
(two generators' FIDs over draws) by Welch's t-test; a :class:`Finding` that carries such a sentence,
with what its noise covers, to the page that quotes it; and a :class:`Claim` for each outcome a page's
explanation depends on, which the docs build checks (``docs/_ext/buildcheck.py`` fails a
full build whose claims the run does not support). The statistics are scipy's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

__all__ = [
    "LEVEL",
    "MISSING_SHARE",
    "Claim",
    "Comparison",
    "Finding",
    "WelchComparison",
    "Interval",
    "MeanComparison",
    "accuracy_interval",
    "compare_classifiers",
    "compare_fids",
    "compare_independent",
    "compare_means",
    "conditional_coverage_finding",
    "coverage_finding",
    "mean_interval",
    "share_interval",
]

#: Confidence level of every interval, and 1 - the significance level of every test.
LEVEL = 0.95
#: The share of a generator's samples below which a class counts as missing (the generator partly collapsed).
MISSING_SHARE = 0.05


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval.

    Attributes:
        value: The point estimate.
        low: Lower end of the interval.
        high: Upper end.
        method: How the interval was computed, e.g. ``"Wilson"``.
        n: How many observations it rests on.
    """

    value: float
    low: float
    high: float
    method: str
    n: int

    def format(self, unit: str = "") -> str:
        """``97.4% [96.3, 98.2]`` for ``unit="%"`` (a fraction shown as a percentage), ``104.5 nats [103.9, 105.1]``.

        The decimals give the interval's width two significant digits: more would be noise.
        """
        scale, suffix = (100.0, "%") if unit == "%" else (1.0, f" {unit}" if unit else "")
        value, low, high = (scale * v for v in (self.value, self.low, self.high))
        width = high - low
        decimals = max(0, 1 - math.floor(math.log10(width))) if width > 0 else 2
        return f"{value:.{decimals}f}{suffix} [{low:.{decimals}f}, {high:.{decimals}f}]"

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share any value."""
        return self.low <= other.high and other.low <= self.high

    def record(self) -> dict[str, float | str | int]:
        """The interval as plain numbers, for a results record."""
        return asdict(self)


def accuracy_interval(correct: torch.Tensor | Sequence[bool]) -> Interval:
    """The share of correct predictions with Wilson's score interval.

    Args:
        correct: One boolean per test image: was it classified correctly?
    """
    hits = torch.as_tensor(correct, dtype=torch.bool).flatten()
    if len(hits) == 0:
        raise ValueError("an accuracy needs at least one scored image")
    return share_interval(int(hits.sum()), len(hits))


def share_interval(count: int, n: int) -> Interval:
    """The share ``count / n`` with Wilson's score interval (a class's share of ``n`` samples, say).

    Raises:
        ValueError: ``n`` is not positive, or ``count`` is not between 0 and ``n``.
    """
    if n < 1 or not 0 <= count <= n:
        raise ValueError(f"a share needs 0 <= count <= n and n >= 1, got count={count}, n={n}")
    ci = stats.binomtest(count, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Interval(count / n, float(ci.low), float(ci.high), "Wilson", n)


def coverage_finding(class_shares: torch.Tensor | Sequence[float], classes: Sequence[str], *,
                     threshold: float = MISSING_SHARE) -> str:
    """Whether every class is drawn: a finding that names the classes below ``threshold`` of the samples.

    Args:
        class_shares: The share of samples classified as each class
            (:attr:`~mlcheatsheet.metrics.SampleQuality.class_shares`).
        classes: The classes' names, in label order.
        threshold: A share below this marks the generator as partly collapsed.
    """
    shares = [float(share) for share in class_shares]
    rare = [(name, share) for name, share in zip(classes, shares) if share < threshold]
    if not rare:
        rarest = min(range(len(shares)), key=shares.__getitem__)
        return (f"Coverage: every class holds at least {100 * threshold:.0f}% of the samples "
                f"(rarest: {classes[rarest]}, {100 * shares[rarest]:.1f}%).")
    named = ", ".join(f"{name} ({100 * share:.1f}%)" for name, share in rare)
    return (f"Coverage: partly collapsed — {len(rare)} class{'es' if len(rare) > 1 else ''} below "
            f"{100 * threshold:.0f}% of the samples: {named}.")


def conditional_coverage_finding(class_shares: torch.Tensor | Sequence[float], classes: Sequence[str],
                                 requested: Interval) -> str:
    """What a conditional generator drew when asked for every class equally often.

    A share of 1/K per class is what the requests were, so class shares far from it say the
    generator did not draw what it was asked for, even when no class is missing.

    Args:
        class_shares: The share of samples classified as each class.
        classes: The classes' names, in label order.
        requested: The share of samples classified as the class they were asked for.
    """
    shares = [float(share) for share in class_shares]
    low, high = min(range(len(shares)), key=shares.__getitem__), max(range(len(shares)), key=shares.__getitem__)
    return (f"Coverage of the requests: each class was asked for in {100 / len(shares):.1f}% of the samples; the "
            f"classifier put {100 * shares[low]:.1f}% ({classes[low]}) to {100 * shares[high]:.1f}% ({classes[high]}) "
            f"in each class, and {requested.format('%')} of the samples in the class asked for.")


def mean_interval(values: torch.Tensor | Sequence[float]) -> Interval:
    """The mean of per-image values (an error, a negative ELBO) with its t-interval.

    The half-width is :math:`t_{0.975,\\,n-1}` standard errors of the mean.
    """
    x = torch.as_tensor(values, dtype=torch.float64).flatten().cpu().numpy()
    if len(x) < 2:
        raise ValueError("a mean's interval needs at least two values")
    low, high = stats.t.interval(LEVEL, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    return Interval(float(x.mean()), float(low), float(high), "t", len(x))


@dataclass(frozen=True)
class Comparison:
    """Two classifiers scored on the same images, compared by McNemar's exact test.

    Attributes:
        names: The two classifiers.
        accuracies: Their accuracies with Wilson intervals.
        only_first: Images the first got right and the second wrong.
        only_second: Images the second got right and the first wrong.
        p_value: Two-sided exact McNemar p-value (a binomial test on the discordant images).
    """

    names: tuple[str, str]
    accuracies: tuple[Interval, Interval]
    only_first: int
    only_second: int
    p_value: float

    @property
    def winner(self) -> str | None:
        """The better classifier when the difference is significant at 5%, else ``None``."""
        if self.p_value >= 1 - LEVEL or self.only_first == self.only_second:
            return None
        return self.names[0] if self.only_first > self.only_second else self.names[1]

    def sentence(self) -> str:
        """The finding in words that follow the numbers."""
        (a, b), (ia, ib) = self.names, self.accuracies
        gap = 100 * (ia.value - ib.value)
        numbers = (f"{a} {ia.format('%')} vs {b} {ib.format('%')} on the same {ia.n:,} images "
                   f"({self.only_first} right only by {a}, {self.only_second} only by {b}; McNemar p = {self.p_value:.3g})")
        if self.winner is None:
            return f"{numbers}: the {abs(gap):.1f}-point difference is within the noise of {ia.n:,} test images."
        loser = b if self.winner == a else a
        return f"{numbers}: {self.winner} is ahead of {loser} by {abs(gap):.1f} points, significant at 5%."


def _paired(first: str, a: torch.Tensor | Sequence[float], second: str, b: torch.Tensor | Sequence[float], dtype: torch.dtype,
            unit: str = "images") -> tuple[torch.Tensor, torch.Tensor]:
    """Both measurements as flat CPU tensors, refused unless they cover the same number of units."""
    a, b = (torch.as_tensor(t, dtype=dtype).flatten().cpu() for t in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"{first} was measured on {len(a)} {unit} and {second} on {len(b)}: a paired test needs the same {unit}")
    return a, b


def compare_classifiers(first: str, first_correct: torch.Tensor, second: str, second_correct: torch.Tensor) -> Comparison:
    """Compare two classifiers on the same test images (one boolean per image each).

    Raises:
        ValueError: The two were not scored on the same number of images.
    """
    a, b = _paired(first, first_correct, second, second_correct, torch.bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(only_a, discordant, 0.5).pvalue)
    return Comparison((first, second), (accuracy_interval(a), accuracy_interval(b)), only_a, only_b, p_value)


@dataclass(frozen=True)
class MeanComparison:
    """Two models' values on the same units (per-image errors, or one score per training seed), compared by a paired t-test.

    Attributes:
        names: The two models.
        means: Their mean values with t-intervals.
        difference: The mean of first minus second, with its paired t-interval.
        p_value: Two-sided p-value of the paired t-test.
        lower_is_better: Whether a smaller value is better (an error).
        what: What the values are, e.g. ``"MSE per pixel"``.
        unit: What the pairs are, e.g. ``"images"`` or ``"training seeds"``.
    """

    names: tuple[str, str]
    means: tuple[Interval, Interval]
    difference: Interval
    p_value: float
    lower_is_better: bool
    what: str
    unit: str = "images"

    @property
    def winner(self) -> str | None:
        """The better model when the difference is significant at 5%, else ``None``."""
        if self.p_value >= 1 - LEVEL:
            return None
        first_lower = self.difference.value < 0
        return self.names[0] if first_lower == self.lower_is_better else self.names[1]

    def sentence(self) -> str:
        """The finding in words that follow the numbers."""
        (a, b), (ma, mb) = self.names, self.means
        numbers = (f"{self.what}: {a} {ma.format()} vs {b} {mb.format()} on the same {ma.n:,} {self.unit} "
                   f"(difference {self.difference.format()}, paired t-test p = {self.p_value:.3g})")
        if self.winner is None:
            return f"{numbers}: the difference is within the noise of {ma.n:,} {self.unit}."
        return f"{numbers}: {self.winner} is better, significant at 5%."


def compare_means(first: str, first_values: torch.Tensor | Sequence[float], second: str,
                  second_values: torch.Tensor | Sequence[float], *, what: str, lower_is_better: bool = True,
                  unit: str = "images") -> MeanComparison:
    """Compare two models' values paired by ``unit`` (a paired t-test, scipy's ``ttest_rel``).

    The pairs are usually images (each model's error on the same image); for generators
    trained from several seeds they are the seeds, each model's score from the same seed.

    Raises:
        ValueError: The two were not measured on the same number of units, or on fewer than two.
    """
    a, b = _paired(first, first_values, second, second_values, torch.float64, unit)
    if len(a) < 2:
        raise ValueError(f"comparing {what} needs at least two {unit}, got {len(a)}")
    test = stats.ttest_rel(a.numpy(), b.numpy())
    ci = test.confidence_interval(confidence_level=LEVEL)
    difference = Interval(float((a - b).mean()), float(ci.low), float(ci.high), "paired t", len(a))
    return MeanComparison((first, second), (mean_interval(a), mean_interval(b)), difference, float(test.pvalue),
                          lower_is_better, what, unit)


@dataclass(frozen=True)
class WelchComparison:
    """Two independent sets of values (FIDs of draws, per-image measurements of two generators), compared by Welch's t-test.

    For FIDs the draws measure how well this run knows each trained generator's FID; they
    say nothing of how much another training seed would move it, so a difference beyond
    this noise is a difference between these two runs.

    Attributes:
        names: The two models.
        means: Their means with t-intervals.
        difference: First minus second, with Welch's interval.
        p_value: Two-sided p-value of Welch's t-test (scipy's ``ttest_ind``, ``equal_var=False``).
        what: What the values are, e.g. ``"FID"``.
        lower_is_better: Whether a smaller value is better; ``None`` for a measurement that is
            neither (the finding then says which is lower).
        unit: What one value rests on, e.g. ``"draws"`` or ``"images"``.
    """

    names: tuple[str, str]
    means: tuple[Interval, Interval]
    difference: Interval
    p_value: float
    what: str
    lower_is_better: bool | None = True
    unit: str = "draws"

    @property
    def winner(self) -> str | None:
        """The better model when the difference is significant at 5%, else ``None`` (always for a neutral measurement)."""
        if self.p_value >= 1 - LEVEL or self.lower_is_better is None:
            return None
        first_lower = self.difference.value < 0
        return self.names[0] if first_lower == self.lower_is_better else self.names[1]

    @property
    def lower(self) -> str | None:
        """The model with the lower mean when the difference is significant at 5%, else ``None``."""
        if self.p_value >= 1 - LEVEL:
            return None
        return self.names[0] if self.difference.value < 0 else self.names[1]

    def sentence(self) -> str:
        """The finding in words that follow the numbers."""
        (a, b), (ma, mb) = self.names, self.means
        numbers = (f"{self.what}: {a} {ma.format()} vs {b} {mb.format()} (difference {self.difference.format()}, "
                   f"Welch p = {self.p_value:.3g}, {ma.n:,} and {mb.n:,} {self.unit})")
        if self.lower is None:
            return f"{numbers}: the difference is within the noise of the {self.unit}."
        if self.lower_is_better is None:  # a measurement, not a score: say which is lower, not which is better
            higher = b if self.lower == a else a
            return f"{numbers}: {self.lower} is lower than {higher} in this run, beyond the noise of the {self.unit}."
        other = b if self.winner == a else a
        return f"{numbers}: {self.winner} is better than {other} in this run, beyond the noise of the {self.unit}."


def compare_independent(first: str, first_values: Sequence[float] | torch.Tensor, second: str,
                        second_values: Sequence[float] | torch.Tensor, *, what: str, lower_is_better: bool | None = True,
                        unit: str = "draws") -> WelchComparison:
    """Compare two independent sets of values by Welch's t-test (unequal variances).

    Raises:
        ValueError: Either set has fewer than two values.
    """
    a, b = (np.asarray(torch.as_tensor(v, dtype=torch.float64).flatten().cpu()) for v in (first_values, second_values))
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"comparing {what} needs at least two values of each, got {len(a)} and {len(b)}")
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence_level=LEVEL)
    difference = Interval(float(a.mean() - b.mean()), float(ci.low), float(ci.high), "Welch", len(a) + len(b))
    return WelchComparison((first, second), (mean_interval(torch.from_numpy(a)), mean_interval(torch.from_numpy(b))),
                           difference, float(test.pvalue), what, lower_is_better, unit)


def compare_fids(first: str, first_draws: Sequence[float], second: str, second_draws: Sequence[float]) -> WelchComparison:
    """Compare two generators by the FIDs of their independent draws (:attr:`~mlcheatsheet.metrics.SampleQuality.fid_draws`)."""
    return compare_independent(first, first_draws, second, second_draws, what="FID")


@dataclass(frozen=True)
class Finding:
    """An outcome of this run, worded by its numbers, and the noise its interval covers.

    The sentence of a comparison says what is within the noise of the test images or the
    sample draws; ``covers`` says what it leaves out (usually: each model was trained once,
    so another training seed may move it further). A page quotes the finding by name.

    Attributes:
        name: What the page calls it, e.g. ``"initialisation"``.
        sentence: The finding, e.g. a :meth:`Comparison.sentence`.
        covers: The noise its test or interval covers, e.g.
            ``"1,000 test images; each model trained once"``.
    """

    name: str
    sentence: str
    covers: str

    def __str__(self) -> str:
        return f"{self.sentence} (Noise covered: {self.covers}.)"

    def record(self) -> dict[str, str]:
        """The finding as plain values, for a results record."""
        return asdict(self)


@dataclass(frozen=True)
class Claim:
    """An outcome a page's explanation depends on, and whether this run supports it.

    Attributes:
        page: The page whose text depends on it, e.g. ``"architectures/rnn"``.
        statement: The outcome, e.g. ``"a residual network trains better than a plain one of the same depth"``.
        holds: Whether the run's numbers support it.
        evidence: The finding it was judged by.
    """

    page: str
    statement: str
    holds: bool
    evidence: str

    def __str__(self) -> str:
        verdict = "supported by this run" if self.holds else "NOT supported by this run"
        return f"Claim of {self.page} ({self.statement}): {verdict}. {self.evidence}"

    def record(self) -> dict[str, str | bool]:
        """The claim as plain values, for a results record."""
        return asdict(self)
