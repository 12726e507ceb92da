"""GAN variants trained on equal terms: the same seed, data, steps and recipe, one change each.

An ablation is only a comparison when every variant starts from the same random state and
differs from the others in the one thing it names. :func:`fit_gan_variants` builds each
variant's networks after seeding, trains it with :func:`~mlcheatsheet.training.adversarial.fit_gan`
on the shared :class:`~mlcheatsheet.training.adversarial.GanConfig` with the variant's own
settings applied, and scores the kept generator with
:func:`~mlcheatsheet.training.adversarial.score_generator`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..data import Dataset
from ..metrics import FIDScorer, SampleQuality
from ..runtime import seed_everything
from .adversarial import GanConfig, GanHistory, fit_gan, score_generator

__all__ = ["GanRun", "GanVariant", "fit_gan_variants"]


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
