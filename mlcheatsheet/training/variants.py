"""GAN variants trained on equal terms: the same seed, data, steps and recipe, one change each.

An ablation is only a comparison when every variant starts from the same random state and
differs from the others in the one thing it names. :func:`fit_gan_variants` builds each
variant's networks after seeding, trains it with :func:`~mlcheatsheet.training.adversarial.fit_gan`
on the shared :class:`~mlcheatsheet.training.adversarial.GanConfig` with the variant's own
settings applied, and scores the kept generator with
:func:`~mlcheatsheet.training.adversarial.score_generator`.

One seed says how these runs differ, not how the recipes do: retrained from another seed, a
GAN's FID moves, and the draws of samples from one run do not measure by how much. :func:`fit_gan_seeds` trains every
variant from each of several seeds, :func:`compare_to_baseline` compares each variant with the
baseline paired by seed, and :func:`collapse_line` names the variants whose rarest class fell
below 5% on some seed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..data import Dataset
from ..findings import MISSING_SHARE, Finding, MeanComparison, compare_means, mean_interval
from ..metrics import FIDScorer, SampleQuality
from ..runtime import seed_everything
from .adversarial import GanConfig, GanHistory, fit_gan, score_generator

__all__ = ["GanRun", "GanVariant", "collapse_line", "compare_to_baseline", "fit_gan_seeds", "fit_gan_variants",
           "seed_findings", "seed_record"]



@dataclass(frozen=True)
class GanVariant:
    """One variant of an ablation: how to build its two networks, and what it changes in the config.

    Attributes:
        generator: Builds the generator (called after seeding, so shared architectures start equal).
        discriminator: Builds the discriminator.
        settings: :class:`~mlcheatsheet.training.adversarial.GanConfig` fields this variant changes.
    """

    generator: Callable[[], nn.Module]
    discriminator: Callable[[], nn.Module]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GanRun:
    """A trained variant: its kept generator, its training history and the score of its samples."""

    generator: nn.Module
    history: GanHistory
    quality: SampleQuality


def fit_gan_variants(
    variants: Mapping[str, GanVariant],
    data: Dataset,
    config: GanConfig,
    *,
    scorer: FIDScorer,
    device: torch.device | str | None = None,
    seed: int = 0,
    draws: int = 10,
) -> dict[str, GanRun]:
    """Train and score every variant from the same seed, in the order given.

    Args:
        variants: Name -> variant.
        data: Training images, shared by every run.
        config: The shared recipe; each variant's ``settings`` replace some of its fields.
        scorer: Scores each kept generator on ``draws`` independent sets of samples.
        device: Where to train.
        seed: Seeds every run (networks, batches, noise).
        draws: Sample sets per score (the FID interval needs at least two).

    Returns:
        Name -> :class:`GanRun`, in the order of ``variants``.

    Raises:
        ValueError: A variant names a setting :class:`~mlcheatsheet.training.adversarial.GanConfig` does not have.
    """
    runs = {}
    for name, variant in variants.items():
        unknown = set(variant.settings) - set(GanConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"variant {name!r} changes unknown GanConfig settings: {', '.join(sorted(unknown))}")
        seed_everything(seed)
        generator, discriminator = variant.generator(), variant.discriminator()
        history = fit_gan(generator, discriminator, data, replace(config, seed=seed, **variant.settings),
                          scorer=scorer, device=device)
        runs[name] = GanRun(generator, history, score_generator(generator, scorer, draws=draws))
    return runs


def fit_gan_seeds(
    variants: Mapping[str, GanVariant],
    data: Dataset,
    config: GanConfig,
    *,
    scorer: FIDScorer,
    seeds: Sequence[int],
    device: torch.device | str | None = None,
    draws: int = 5,
) -> dict[str, list[GanRun]]:
    """Train and score every variant from each seed (:func:`fit_gan_variants` once per seed).

    Args:
        variants: Name -> variant; the first is the baseline the others are compared with.
        data: Training images, shared by every run.
        config: The shared recipe.
        scorer: Scores each kept generator.
        seeds: Distinct seeds, at least two; the runs of one seed share their starting state.
        device: Where to train.
        draws: Sample sets per score: the seeds carry the comparison, so fewer than a single run needs.

    Returns:
        Name -> its runs, in the order of ``seeds``.

    Raises:
        ValueError: Fewer than two seeds, or a seed given twice.
    """
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"training seeds must be at least two distinct values, got {list(seeds)}")
    by_seed = [fit_gan_variants(variants, data, config, scorer=scorer, device=device, seed=seed, draws=draws)
               for seed in seeds]
    return {name: [runs[name] for runs in by_seed] for name in variants}


def compare_to_baseline(runs: Mapping[str, Sequence[GanRun]]) -> dict[str, MeanComparison]:
    """Each variant against the first (the baseline) on FID / floor, paired by seed (a paired t-test).

    A variant is named better only when its difference from the baseline is beyond the
    spread between seeds: the same seed gives both runs the same data order and noise, so
    the pairs remove what the seeds share.
    """
    names = list(runs)
    ratios = {name: [run.quality.ratio for run in runs[name]] for name in names}
    return {name: compare_means(name, ratios[name], names[0], ratios[names[0]], what="FID / floor",
                                unit="training seeds") for name in names[1:]}


def collapse_line(runs: Mapping[str, Sequence[GanRun]], seeds: Sequence[int]) -> str:
    """One sentence naming each variant whose rarest class fell below 5% of the samples on some seed."""
    collapsed = []
    for name, by_seed in runs.items():
        low = [(seed, run.quality.min_class_share) for seed, run in zip(seeds, by_seed) if run.quality.min_class_share < MISSING_SHARE]
        if low:
            where = ", ".join(f"seed {seed} ({100 * share:.1f}%)" for seed, share in low)
            collapsed.append(f"{name}, on {len(low)} of {len(by_seed)} seeds: {where}")
    if not collapsed:
        return f"No run's rarest class fell below {100 * MISSING_SHARE:.0f}% of its samples: none partly collapsed."
    return (f"Partly collapsed (the rarest class below {100 * MISSING_SHARE:.0f}% of the samples, where 10% is even): "
            + "; ".join(collapsed) + ".")


def seed_findings(runs: Mapping[str, Sequence[GanRun]], seeds: Sequence[int]) -> list[Finding]:
    """The ablation's findings for a page: each variant against the baseline, and the partly collapsed runs."""
    covers = (f"{len(seeds)} training seeds, each variant paired with the {next(iter(runs))} of the same seed; "
              "within each run, the draws of samples")
    found = [Finding(name, comparison.sentence(), covers) for name, comparison in compare_to_baseline(runs).items()]
    return found + [Finding("collapse", collapse_line(runs, seeds), f"{len(seeds)} training seeds of each variant")]


def seed_record(runs: Mapping[str, Sequence[GanRun]], seeds: Sequence[int]) -> dict[str, float]:
    """The numbers a results record keeps, as ``"<variant>: <number>"``: FID with its t-interval over the seeds,
    the mean FID / floor, precision and recall, the rarest class of the worst seed, seconds per run, and each seed's FID / floor."""
    record: dict[str, float] = {}
    for name, by_seed in runs.items():
        qualities = [run.quality for run in by_seed]
        fid = mean_interval([q.fid for q in qualities])
        record |= {f"{name}: FID": fid.value, f"{name}: FID low": fid.low, f"{name}: FID high": fid.high,
                   f"{name}: floor": qualities[0].floor, f"{name}: ratio": statistics.fmean(q.ratio for q in qualities),
                   f"{name}: precision": statistics.fmean(q.precision for q in qualities),
                   f"{name}: recall": statistics.fmean(q.recall for q in qualities),
                   f"{name}: min class share": min(q.min_class_share for q in qualities),
                   f"{name}: seconds": statistics.fmean(run.history.total_seconds for run in by_seed),
                   **{f"{name}: seed {seed} ratio": q.ratio for seed, q in zip(seeds, qualities)}}
    return record
