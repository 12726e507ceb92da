"""Time to quality: how long our DCGAN recipe takes to match the classic recipe's FID.

The classic recipe is pytorch/examples' ``dcgan/main.py`` (after Radford et al. 2016,
https://arxiv.org/abs/1511.06434): Adam with learning rate :math:`2 \\cdot 10^{-4}` for both
networks, :math:`\\beta = (0.5, 0.999)`, 100 noise numbers, no weight average, the
cross-entropy game and a BatchNorm discriminator, here for 2,500 steps on the gallery's
network sizes and data. Its generator after the last step scores
``F`` = the mean FID of ten draws against the scorer's selection digits. Ours is the recipe
of ``gallery/plot_dcgan.py`` in full mode (:func:`gallery_config`), whose FID is evaluated
every ``probe_every`` steps; the first evaluation at or below ``F`` gives the step ``s``.

Both clocks count training only. :class:`~mlcheatsheet.training.GanHistory` does not
separate evaluation time from training time, so the FID trajectory comes from a *probe*
run whose clock is not used, and each timed run evaluates (without FID scoring) only
before its first step and after its last: the clock is ``history.seconds`` at the last
step, which includes the one evaluation of the untrained generator (sampling
``eval_samples`` images, plus recomputing the weight average's BatchNorm statistics for
ours: well under a second) and nothing after. Ours is timed by training again for
exactly ``s`` steps: the learning rates are constant and the run is seeded, so on the CPU
it repeats the probe's first ``s`` steps. Each side is timed once (the classic, then ours),
not interleaved: a change in background load between the two moves the ratio, and the
notes give each side's time per step to show it. Both recipes run through
:func:`~mlcheatsheet.training.fit_gan`, so the speed-up comes from needing fewer steps,
not from a faster loop (the throughput rows measure that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from mlcheatsheet.site.budgets import Budget, get_budget
from mlcheatsheet.data import Dataset
from mlcheatsheet.metrics import FIDScorer, SampleQuality
from mlcheatsheet.models.dcgan import DCGANDiscriminator, DCGANGenerator
from mlcheatsheet.runtime import seed_everything
from mlcheatsheet.training import GanConfig, GanHistory, fid_scorer, fit_gan, sample_images

from ._measure import Row

__all__ = [
    "BASE_CHANNELS",
    "CLASSIC_LATENT_DIM",
    "CLASSIC_STEPS",
    "OUR_LATENT_DIM",
    "TimeToQuality",
    "classic_config",
    "first_at_or_below",
    "gallery_config",
    "quality_rows",
    "run_time_to_quality",
]

BASE_CHANNELS = 32  # both recipes train the gallery's networks (pytorch/examples' are 64 wide)
OUR_LATENT_DIM = 16  # gallery/plot_dcgan.py
CLASSIC_LATENT_DIM = 100  # pytorch/examples' nz
CLASSIC_STEPS = 2500  # as many steps as the gallery's full budget
TARGET = 5.0  # classic seconds / our seconds to F


def gallery_config(budget: Budget) -> GanConfig:
    """The :class:`GanConfig` that ``gallery/plot_dcgan.py`` builds from its budget.

    Written out here because the gallery script builds it inline; a test compares the
    two, so retuning the gallery without updating this fails the suite.
    """
    if budget.steps is None:
        raise ValueError("the DCGAN budget has no steps")
    steps = budget.steps
    return GanConfig(
        steps=steps, batch_size=budget.batch_size, loss="hinge", lr_generator=2e-3, lr_discriminator=2e-3,
        betas=(0.0, 0.999), ema=0.999, eval_every=max(steps // 10, 25), log_every=max(1, steps // 60),
    )


def classic_config(steps: int = CLASSIC_STEPS, batch_size: int = 64) -> GanConfig:
    """pytorch/examples' DCGAN settings: Adam 2e-4 for both networks, betas (0.5, 0.999), no weight average.

    It is evaluated only before the first step and after the last (its final generator is
    the one scored), and logs as often as the gallery's recipe, so both clocks carry the
    same host syncs per step.
    """
    return GanConfig(steps=steps, batch_size=batch_size, lr_generator=2e-4, lr_discriminator=2e-4, betas=(0.5, 0.999),
                     ema=0.0, eval_every=steps, log_every=max(1, steps // 60))


def first_at_or_below(history: GanHistory, threshold: float) -> int | None:
    """The first evaluation step after the start whose FID is at or below ``threshold`` (``None``: never).

    Step 0 (the untrained generator) never counts; a NaN FID never reaches anything.
    """
    for step, fid in zip(history.eval_steps, history.fid):
        if step > 0 and fid <= threshold:
            return step
    return None


def best_evaluation(history: GanHistory) -> tuple[float, int]:
    """``(lowest FID, its step)`` over the evaluations after the start (``(nan, 0)`` when there are none)."""
    scored = [(fid, step) for step, fid in zip(history.eval_steps, history.fid) if step > 0 and not math.isnan(fid)]
    return min(scored) if scored else (float("nan"), 0)


@dataclass
class TimeToQuality:
    """Both sides of the time-to-quality benchmark.

    Attributes:
        classic: The classic recipe's final generator, scored on ``draws`` sets of
            selection-reference-sized samples against the selection digits; ``classic.fid`` is ``F``.
        classic_seconds: Training seconds of its ``classic_config.steps`` steps.
        probe: Our recipe's history with an FID every ``probe_every`` steps (its clock,
            evaluations included, is not used).
        reached_step: First evaluated step at or below ``F`` (``None``: never within the budget).
        ours_seconds: Training seconds of the timed re-run to ``reached_step`` (``None`` when never reached).
        ours_at_reach: That re-run's generator, scored like ``classic`` (``None`` when never reached).
        ours_config: Our recipe (the gallery's full-mode config).
        classic_config: The classic recipe.
        probe_every: Steps between the probe's evaluations.
    """

    classic: SampleQuality
    classic_seconds: float
    probe: GanHistory
    reached_step: int | None
    ours_seconds: float | None
    ours_at_reach: SampleQuality | None
    ours_config: GanConfig
    classic_config: GanConfig
    probe_every: int

    @property
    def threshold(self) -> float:
        """``F``: the classic recipe's final FID against the selection digits."""
        return self.classic.fid

    @property
    def speedup(self) -> float | None:
        """Classic training seconds divided by ours to ``F`` (``None`` when we never reached ``F``)."""
        return None if self.ours_seconds is None else self.classic_seconds / self.ours_seconds


def _networks(data: Dataset, *, ours: bool) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """The gallery's networks: ours with 16 noise numbers and a spectrally normalised discriminator, the classic with 100 and BatchNorm."""
    seed_everything(0)  # as the gallery script does before building them
    latent_dim = OUR_LATENT_DIM if ours else CLASSIC_LATENT_DIM
    generator = DCGANGenerator(latent_dim=latent_dim, base_channels=BASE_CHANNELS, image_shape=data.image_shape)
    norm = {"batch_norm": False, "spectral_norm": True} if ours else {}
    return generator, DCGANDiscriminator(image_shape=data.image_shape, base_channels=BASE_CHANNELS, **norm)


def _train(data: Dataset, config: GanConfig, *, ours: bool, scorer: FIDScorer | None,
           device: torch.device) -> tuple[DCGANGenerator, GanHistory]:
    generator, discriminator = _networks(data, ours=ours)
    return generator, fit_gan(generator, discriminator, data, config, scorer=scorer, device=device)


def _selection_quality(generator: DCGANGenerator, scorer: FIDScorer, *, draws: int, seed: int = 1) -> SampleQuality:
    """Like :func:`~mlcheatsheet.training.score_generator`, against the selection digits the probe's FIDs use.

    The held-out digits stay unseen, as in the gallery, and ``F`` is measured on the
    same reference and sample size as every evaluation it is compared with.
    """
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    images = [sample_images(generator, torch.randn(scorer.num_reference, generator.latent_dim, generator=rng).to(device))
              for _ in range(draws)]
    return scorer.score_draws(images, reference="selection")


def run_time_to_quality(
    data: Dataset,
    *,
    device: torch.device,
    scorer: FIDScorer | None = None,
    recipe: GanConfig | None = None,
    classic_steps: int = CLASSIC_STEPS,
    probe_every: int = 50,
    draws: int = 10,
) -> tuple[TimeToQuality, list[Row]]:
    """Run both recipes and return the measurements and the table rows.

    Args:
        data: Training images (``mnist-5k`` in the benchmark, all 4,000, as in the gallery).
        device: Where both recipes train.
        scorer: The FID scorer; defaults to :func:`~mlcheatsheet.training.fid_scorer` with the
            full-mode classifier budget (the one the gallery's full build uses).
        recipe: Our settings; defaults to :func:`gallery_config` of the full-mode DCGAN budget.
        classic_steps: Steps of the classic recipe.
        probe_every: Steps between the probe's FID evaluations (the resolution of our time).
        draws: Sample sets scored for ``F`` and for our generator where it reached ``F``.
    """
    recipe = recipe or gallery_config(get_budget("dcgan", mode="full"))
    if scorer is None:
        scorer = fid_scorer(data, device=device, epochs=get_budget("fid-classifier", mode="full").epochs)
    # Every FID of the comparison is one of num_reference samples (the gallery's 1,000 on mnist-5k).
    probe_config = replace(recipe, eval_every=probe_every, eval_samples=scorer.num_reference)
    _, probe = _train(data, probe_config, ours=True, scorer=scorer, device=device)

    classic = replace(classic_config(classic_steps, recipe.batch_size), eval_samples=scorer.num_reference)
    classic_generator, classic_history = _train(data, classic, ours=False, scorer=None, device=device)
    classic_quality = _selection_quality(classic_generator, scorer, draws=draws)

    reached = first_at_or_below(probe, classic_quality.fid)
    ours_seconds, ours_quality = None, None
    if reached is not None:
        # Evaluated at step 0 and at `reached` only; the same eval_samples keeps the weight
        # average's BatchNorm statistics computed from the same noise as in the probe.
        timed = replace(probe_config, steps=reached, eval_every=reached)
        generator, history = _train(data, timed, ours=True, scorer=None, device=device)
        ours_seconds, ours_quality = history.seconds[-1], _selection_quality(generator, scorer, draws=draws)
    result = TimeToQuality(classic_quality, classic_history.seconds[-1], probe, reached, ours_seconds, ours_quality,
                           recipe, classic, probe_every)
    return result, quality_rows(result)


def _fid_text(quality: SampleQuality) -> str:
    return f"FID {quality.fid_interval.format() if quality.fid_interval is not None else f'{quality.fid:.3f}'}"


def quality_rows(result: TimeToQuality) -> list[Row]:
    """The table rows of a :class:`TimeToQuality`: the time to ``F`` with its target, then ``F`` itself."""
    ours, classic = result.ours_config, result.classic_config
    classic_rate = 1000 * result.classic_seconds / classic.steps
    if result.reached_step is None or result.ours_seconds is None:
        best_fid, best_step = best_evaluation(result.probe)
        ours_text = "not reached"
        note = (f"ours never reached F in {ours.steps:,} steps (evaluated every {result.probe_every}): best FID "
                f"{best_fid:.3f} at step {best_step:,}; classic {classic_rate:.0f} ms/step")
    else:
        ours_text = f"{result.ours_seconds:.1f} s"
        note = (f"ours first at or below F at step {result.reached_step:,} of {ours.steps:,} (evaluated every "
                f"{result.probe_every}); {1000 * result.ours_seconds / result.reached_step:.0f} vs {classic_rate:.0f} ms/step")
    time_row = Row("DCGAN time to classic FID F", ours_text, f"{result.classic_seconds:.1f} s", result.speedup, TARGET,
                   f"{note}; probe run {result.probe.total_seconds:.0f} s with its evaluations")
    reached = "—" if result.ours_at_reach is None else _fid_text(result.ours_at_reach)
    draws = "1 draw" if result.classic.fid_interval is None else f"{result.classic.fid_interval.n} draws"
    fid_row = Row(
        f"  F: classic FID after {classic.steps:,} steps", reached, _fid_text(result.classic), None, None,
        f"ours at that step; selection digits, {draws}, floor {result.classic.floor:.3f}; classic: Adam "
        f"{classic.lr_generator:g}/{classic.lr_discriminator:g}, betas {classic.betas}, Z {CLASSIC_LATENT_DIM}, no EMA; "
        f"ours: Adam {ours.lr_generator:g}/{ours.lr_discriminator:g}, betas {ours.betas}, Z {OUR_LATENT_DIM}, EMA {ours.ema:g}",
    )
    return [time_row, fid_row]
