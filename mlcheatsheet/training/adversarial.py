"""Adversarial training: the GAN objectives, one discriminator and one generator step, :class:`GanLoop` and :func:`fit_gan`.

Goodfellow et al. 2014 (https://arxiv.org/abs/1406.2661) train a discriminator :math:`D`
to tell real images from generated ones and a generator :math:`G` to fool it, one update
of each in turn. :func:`discriminator_step` and :func:`generator_step` are those two
updates, exactly as :func:`fit_gan` runs them; the objective (:data:`OBJECTIVES`) decides
the losses: the original minimax game, its non-saturating variant, the Wasserstein
critic with a gradient penalty (Gulrajani et al. 2017, https://arxiv.org/abs/1704.00028),
or the hinge loss of SAGAN (Zhang et al. 2019, https://arxiv.org/abs/1805.08318).
Two of the "improved techniques" of Salimans et al. 2016 (https://arxiv.org/abs/1606.03498)
change the losses too, and are settings of :class:`GanConfig`: one-sided label smoothing
and feature matching.

:class:`GanLoop` is everything around those two updates — seeding, the device, batches and
noise, the weight average, the logged losses, the FID every few steps and the generator
kept — so that a loop written out by hand (as the original GAN's gallery example does)
trains exactly as :func:`fit_gan`, which is that loop for every objective.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import nn

from ..data import Dataset
from ..augment import DIFF_AUGMENTATIONS, diff_augment
from ..findings import conditional_coverage_finding, coverage_finding
from ..metrics import FIDScorer, SampleQuality, mean_pairwise_distance
from ..models.dcgan import critic_loss, gradient_penalty, wasserstein_generator_loss
from ..models.gan import discriminator_loss, minimax_generator_loss, non_saturating_generator_loss, r1_penalty
from ..models.improved_gan import feature_matching_loss, smoothed_discriminator_loss
from ..models.sagan import hinge_discriminator_loss, hinge_generator_loss
from ..runtime import Runtime, check_precision
from .engine import LossTracker, Run, TrainingDivergedError, start_run

__all__ = [
    "OBJECTIVES",
    "AdversarialObjective",
    "GanCollapseWarning",
    "GanConfig",
    "GanHistory",
    "GanLoop",
    "Players",
    "WeightAverage",
    "detect_collapse",
    "discriminator_step",
    "fit_gan",
    "generator_step",
    "sample_class_grid",
    "sample_images",
    "score_generator",
]


@dataclass(frozen=True)
class AdversarialObjective:
    """The two losses of one GAN objective.

    Attributes:
        discriminator: ``(scores of real images, scores of generated images) -> loss`` of D.
        generator: ``scores of generated images -> loss`` of G.
        gradient_penalty: Whether D's loss adds the WGAN-GP penalty.
        probabilities: Whether D's outputs are logits of a probability (logged as
            :math:`D(x) = \\sigma(\\ell)`), rather than unbounded critic scores.
        feature_matching: Whether G's loss is instead
            :func:`~mlcheatsheet.models.improved_gan.feature_matching_loss` on D's features.
    """

    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]
    gradient_penalty: bool = False
    probabilities: bool = True
    feature_matching: bool = False

    def shown(self, scores: torch.Tensor) -> torch.Tensor:
        """The mean of ``scores`` as logged: :math:`D(x)` for logits, the critic score otherwise."""
        return torch.sigmoid(scores).mean() if self.probabilities else scores.mean()


#: The objectives :class:`GanConfig` can name.
OBJECTIVES: dict[str, AdversarialObjective] = {
    "non-saturating": AdversarialObjective(discriminator_loss, non_saturating_generator_loss),
    "minimax": AdversarialObjective(discriminator_loss, minimax_generator_loss),
    "wgan-gp": AdversarialObjective(critic_loss, wasserstein_generator_loss, gradient_penalty=True, probabilities=False),
    "hinge": AdversarialObjective(hinge_discriminator_loss, hinge_generator_loss, probabilities=False),
}


class GanCollapseWarning(UserWarning):
    """Issued when GAN training shows the signs of collapse (see :func:`detect_collapse`)."""


@dataclass
class GanConfig:
    """Settings of one adversarial training run (the networks' hyper-parameters live on them).

    The defaults are the DCGAN recipe (Adam, learning rate 2e-4, :math:`\\beta_1 = 0.5`); the
    budgets module sets ``steps`` and ``batch_size`` per build mode and device.
    """

    steps: int = 2000  # generator updates
    batch_size: int = 64  # real and generated images per discriminator update
    lr_generator: float = 2e-4  # two time-scale rule (Heusel et al. 2017): D may learn faster
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Radford et al.: beta1 = 0.9 oscillates
    loss: str = "non-saturating"  # a key of OBJECTIVES: "non-saturating", "minimax", "wgan-gp" or "hinge"
    label_smoothing: float = 0.0  # one-sided: real images' target is 1 - this (Salimans et al.: 0.1); 0 disables it
    feature_matching: bool = False  # G matches the mean of D's features on real images instead of fooling D
    critic_steps: int = 1  # discriminator updates per generator update (WGAN-GP: 5)
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp only)
    # Largest decay of the moving average of the generator's weights (0 disables it). The
    # warm-up, (1 + t) / (10 + t) at step t, stays below it until step 9 * ema / (1 - ema)
    # (8,991 for 0.999): until then the average spans about the last ninth of the steps. A
    # 0.999 that takes effect by step 2,000 (decay t / (t + 2)) was measured worse at 2,500
    # steps of the DCGAN example: 9.30x and 8.66x the FID floor against 7.41x and 7.52x
    # (seeds 0 and 1; no average: 11.69x and 8.75x), so the warm-up is kept and the recipe
    # prints the decay it reached.
    ema: float = 0.0
    augment: tuple[str, ...] = ()  # DiffAugment policies for D's inputs, real and fake: "translation", "cutout", "color"
    r1_gamma: float = 0.0  # gamma of the R1 penalty on D's gradient at real images (Mescheder et al. 2018); 0 disables it
    log_every: int = 50  # steps per logged loss / D(x) / D(G(z)) value (one host sync each)
    eval_every: int = 250  # steps between FID evaluations and fixed-noise snapshots
    eval_samples: int = 1000  # generated images per FID evaluation
    fixed_samples: int = 64  # images drawn from the fixed noise batch at every snapshot
    channels_last: bool | None = None  # None: on for conv nets on CPU/CUDA (see runtime.use_channels_last)
    precision: str = "auto"  # "auto": bf16/fp16 autocast on CUDA, float32 elsewhere (see runtime)
    seed: int = 0  # seeds batches, noise and every random choice of the run
    collapse_d_loss: float = 0.05  # discriminator loss below this ...
    collapse_window: int = 4  # ... for this many consecutive logged intervals means collapse
    collapse_diversity: float = 0.1  # sample diversity (vs real images) below this means collapse
    collapse_warmup: int = 200  # steps before the collapse checks start (a fresh generator is not diverse yet)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "critic_steps", "log_every", "eval_every", "eval_samples", "fixed_samples", "collapse_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr_generator > 0 and self.lr_discriminator > 0):
            raise ValueError(f"learning rates must be positive, got {self.lr_generator} and {self.lr_discriminator}")
        if self.loss not in OBJECTIVES:
            raise ValueError(f"unknown GAN loss {self.loss!r}; choose one of: {', '.join(OBJECTIVES)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and not OBJECTIVES[self.loss].probabilities:
            raise ValueError(f"label_smoothing smooths a probability's target; the {self.loss!r} loss has none "
                             "(use 'non-saturating' or 'minimax')")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        self.augment = tuple(self.augment)
        unknown = [name for name in self.augment if name not in DIFF_AUGMENTATIONS]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from: {', '.join(DIFF_AUGMENTATIONS)}")
        if self.r1_gamma < 0:
            raise ValueError(f"r1_gamma must be at least 0, got {self.r1_gamma}")
        if self.r1_gamma and OBJECTIVES[self.loss].gradient_penalty:
            raise ValueError("r1_gamma penalises the discriminator's gradient at real images; the 'wgan-gp' loss has "
                             "its own gradient penalty (gp_weight): use one or the other")
        if self.eval_samples < 2:
            raise ValueError(f"eval_samples must be at least 2, got {self.eval_samples}")
        check_precision(self.precision)

    def recipe(self) -> str:
        """This configuration as one sentence, for a page to print rather than retype.

        Example:
            >>> GanConfig(steps=800, lr_generator=1e-3, lr_discriminator=4e-3, ema=0.999).recipe()
            '800 generator steps of 64 images; non-saturating cross-entropy loss; Adam with betas (0.5, 0.999), learning rates 0.001 (generator) and 0.004 (discriminator): the discriminator's is 4× the generator's; EMA of the generator's weights with decay min(0.999, (1 + t) / (10 + t)) at step t (0.9889 at the last step)'
        """
        loss = {"non-saturating": "non-saturating cross-entropy loss", "minimax": "minimax cross-entropy loss",
                "hinge": "hinge loss", "wgan-gp": f"Wasserstein loss with a gradient penalty (weight {self.gp_weight:g})"}
        parts = [f"{self.steps:,} generator steps of {self.batch_size} images", loss[self.loss]]
        if self.label_smoothing:
            parts[-1] += f", real targets smoothed to {1 - self.label_smoothing:g}"
        if self.feature_matching:
            parts[-1] += "; the generator matches the discriminator's mean features instead"
        ratio = self.lr_discriminator / self.lr_generator
        rates = "the same for both" if ratio == 1 else f"the discriminator's is {ratio:g}× the generator's"
        parts.append(f"Adam with betas ({self.betas[0]:g}, {self.betas[1]:g}), learning rates {self.lr_generator:g} "
                     f"(generator) and {self.lr_discriminator:g} (discriminator): {rates}")
        if self.critic_steps > 1:
            parts.append(f"{self.critic_steps} discriminator steps per generator step")
        if self.augment:
            parts.append(f"DiffAugment ({', '.join(self.augment)}) on every image the discriminator sees")
        if self.r1_gamma:
            parts.append(f"R1 penalty on real images, gamma {self.r1_gamma:g}")
        if self.ema:  # the decay WeightAverage.update uses, warm-up included, at the last step
            last = min(self.ema, (1 + self.steps) / (10 + self.steps))
            parts.append(f"EMA of the generator's weights with decay min({self.ema:g}, (1 + t) / (10 + t)) at step t "
                         f"({last:.4g} at the last step)")
        return "; ".join(parts)


@dataclass
class GanHistory:
    """What happened during adversarial training.

    Attributes:
        loss: The loss that was trained (``GanConfig.loss``).
        log_steps: Generator step at the end of each logged interval.
        seconds: Wall-clock seconds since the start, at each logged interval.
        generator_loss: Mean generator loss over each interval.
        discriminator_loss: Mean discriminator (critic) loss over each interval, penalty included.
        d_real: Mean :math:`D(x)` over each interval (the score itself for WGAN-GP and the hinge loss).
        d_fake: Mean :math:`D(G(z))` over each interval (the score itself for WGAN-GP and the hinge loss).
        gradient_penalty: Mean gradient penalty per interval (WGAN-GP only).
        eval_steps: Generator steps at which samples were evaluated (0 = before training).
        fid: FID of the evaluated generator against the scorer's ``"selection"`` reference (model selection).
        min_class_share: Share of the rarest predicted class at each evaluation.
        mean_confidence: Classifier's mean top probability at each evaluation (not a quality
            signal: it is high on noise too).
        precision: Share of the samples where real images are, at each evaluation
            (:func:`~mlcheatsheet.metrics.precision_recall`).
        recall: Share of the real reference images the samples cover, at each evaluation.
        conditional_accuracy: Share classified as the requested class (conditional models).
        diversity: Mean pairwise distance of samples divided by that of real images.
        snapshots: Images from the fixed noise batch at each evaluation, pixels in
            :math:`[0, 1]`, on the CPU.
        fixed_noise: The fixed noise batch, :math:`(M, Z)`, on the CPU.
        fixed_labels: Its labels for a conditional generator (``None`` otherwise).
        best_step: Evaluation step whose generator was kept (lowest FID).
        best_fid: Its FID against the scorer's ``"selection"`` reference.
        collapse: Signs of collapse found, one message each (empty when training was healthy).
        steps: Generator updates taken.
        discriminator_steps: Discriminator updates taken.
        samples: Real images seen by the discriminator.
        total_seconds: Wall-clock seconds of the whole run, evaluations included.
    """

    loss: str = "non-saturating"
    log_steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)
    discriminator_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    gradient_penalty: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    fid: list[float] = field(default_factory=list)
    min_class_share: list[float] = field(default_factory=list)
    mean_confidence: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    conditional_accuracy: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    snapshots: list[torch.Tensor] = field(default_factory=list)
    fixed_noise: torch.Tensor | None = None
    fixed_labels: torch.Tensor | None = None
    best_step: int = 0
    best_fid: float = float("nan")
    collapse: list[str] = field(default_factory=list)
    steps: int = 0
    discriminator_steps: int = 0
    samples: int = 0
    total_seconds: float = 0.0

    def collapse_report(self, quality: SampleQuality | None = None, classes: Sequence[str] = ()) -> str:
        """What the collapse checks found, one line each, and the coverage of ``quality``'s samples.

        The training-time checks (:func:`detect_collapse`) look for a discriminator that wins
        outright and for samples that all look alike; a generator can pass both and still
        drop classes, so the coverage line (:func:`~mlcheatsheet.findings.coverage_finding`)
        names every class below 5% of the samples. For a conditional generator, asked for every
        class equally often, the line compares the class shares with the requests instead
        (:func:`~mlcheatsheet.findings.conditional_coverage_finding`).
        """
        checked = ("the samples never all looked alike (a critic's loss is unbounded, so whether it won outright is "
                   "not checked)" if OBJECTIVES[self.loss].gradient_penalty
                   else "the discriminator never won outright and the samples never all looked alike")
        lines = [f"WARNING — GAN collapse: {message}" for message in self.collapse] or [f"Collapse check during training: {checked}."]
        if quality is not None:
            names = classes or [str(k) for k in range(len(quality.class_shares))]
            lines.append(coverage_finding(quality.class_shares, names) if quality.conditional_interval is None
                         else conditional_coverage_finding(quality.class_shares, names, quality.conditional_interval))
        return "\n".join(lines)

    def log_interval(self, step: int, seconds: float, means: dict[str, float]) -> None:
        """Append one logged interval's means (keys ``g``, ``d``, ``real``, ``fake`` and maybe ``gp``)."""
        self.log_steps.append(step)
        self.generator_loss.append(means["g"])
        self.discriminator_loss.append(means["d"])
        self.d_real.append(means["real"])
        self.d_fake.append(means["fake"])
        if "gp" in means:
            self.gradient_penalty.append(means["gp"])
        self.seconds.append(seconds)


def detect_collapse(
    log_steps: list[int],
    discriminator_loss: list[float],
    eval_steps: list[int],
    diversity: list[float],
    *,
    d_loss_threshold: float = 0.05,
    window: int = 4,
    diversity_threshold: float = 0.1,
    warmup: int = 0,
) -> list[str]:
    """Find the two classic signs of a failed GAN run in its logged series.

    1. The discriminator wins: its loss stays below ``d_loss_threshold`` for ``window``
       consecutive logged intervals, so :math:`D(G(z)) \\approx 0` and the generator's
       gradient carries no information. (Not meaningful for a Wasserstein critic, whose
       loss is unbounded: pass an empty ``discriminator_loss``.)
    2. Mode collapse: the samples' diversity (mean pairwise distance relative to real
       images) falls below ``diversity_threshold`` at an evaluation after the start.

    Both checks ignore the first ``warmup`` steps: a freshly initialised generator draws
    nearly the same image for every :math:`z` before it has learned anything.

    Returns:
        One message per sign found (each sign reported once); empty for a healthy run.
    """
    messages = []
    run = 0
    for i, value in enumerate(discriminator_loss):
        run = run + 1 if value < d_loss_threshold and log_steps[i] > warmup else 0
        if run == window:
            first = log_steps[i - window] + 1 if i >= window else 1
            messages.append(
                f"the discriminator loss stayed below {d_loss_threshold} from step {first} to step {log_steps[i]}: "
                "D rejects every generated image and the generator's gradient carries no information "
                "(try a smaller discriminator learning rate, the non-saturating loss, or label smoothing)."
            )
            break
    for step, value in zip(eval_steps, diversity):
        if step > max(warmup, 0) and value < diversity_threshold:
            messages.append(
                f"at step {step} the samples are nearly identical (diversity {value:.3f} of real images', "
                f"threshold {diversity_threshold}): the generator has collapsed onto a few modes."
            )
            break
    return messages


def _generate(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return generator(noise) if labels is None else generator(noise, labels)


def _discriminate(discriminator: nn.Module, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return discriminator(images) if labels is None else discriminator(images, labels)


# --- The two updates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Players:
    """The two networks of a GAN run, each with its optimiser and gradient scaler.

    Attributes:
        generator: :math:`G`, noise (and labels) to images in :math:`[-1, 1]`.
        discriminator: :math:`D`, images (and labels) to logits or critic scores.
        opt_g: The generator's optimiser.
        opt_d: The discriminator's optimiser.
        scaler_g: The generator's gradient scaler (disabled outside float16).
        scaler_d: The discriminator's.
        objective: The losses (an entry of :data:`OBJECTIVES`).
        runtime: The run's device, precision and layout.
        gp_weight: :math:`\\lambda` of the gradient penalty.
        rng: The device generator of the run's random draws (the penalty's :math:`\\epsilon`, the augmentations).
        augment: DiffAugment policies applied to every image D sees (``GanConfig.augment``).
        r1_gamma: :math:`\\gamma` of the R1 penalty (``GanConfig.r1_gamma``).
    """

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    objective: AdversarialObjective
    runtime: Runtime
    gp_weight: float
    rng: torch.Generator
    augment: tuple[str, ...] = ()
    r1_gamma: float = 0.0

    def shown_to_d(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` as the discriminator sees them: augmented when the run augments."""
        return diff_augment(images, self.augment, generator=self.rng) if self.augment else images


def discriminator_step(gan: Players, real: torch.Tensor, fake: torch.Tensor,
                       real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One update of :math:`D` on a real batch and a generated one; returns the parts to log.

    With ``gan.augment`` both batches are augmented first (each image its own draw); with
    ``gan.r1_gamma`` the loss adds :math:`\\tfrac{\\gamma}{2}\\,\\mathbb{E}\\lVert \\nabla_x D(x) \\rVert^2` at
    the real images as D saw them (:func:`~mlcheatsheet.models.gan.r1_penalty`).
    """
    # The R1 penalty differentiates D's input: a detached view, so the caller's batch is left as it was.
    real_seen = gan.shown_to_d(real).detach().requires_grad_(gan.r1_gamma > 0)
    with gan.runtime.autocast():
        real_out = _discriminate(gan.discriminator, real_seen, real_labels)
        fake_out = _discriminate(gan.discriminator, gan.shown_to_d(fake.detach()), fake_labels)  # no gradient into G
        loss = gan.objective.discriminator(real_out, fake_out)
    parts = {"d": loss, "real": gan.objective.shown(real_out), "fake": gan.objective.shown(fake_out)}
    if gan.r1_gamma:  # in float32, like the WGAN-GP penalty
        parts["r1"] = r1_penalty(real_out.float(), real_seen)
        loss = parts["d"] = loss + gan.r1_gamma / 2 * parts["r1"]
    if gan.objective.gradient_penalty:  # in float32: its inner gradient would underflow in float16
        parts["gp"] = gradient_penalty(gan.discriminator, real, fake, labels=real_labels, generator=gan.rng)
        loss = parts["d"] = loss + gan.gp_weight * parts["gp"]
    gan.runtime.optimizer_step(loss, gan.opt_d, gan.scaler_d)
    return parts


def generator_step(gan: Players, fake: torch.Tensor, fake_labels: torch.Tensor | None = None,
                   real: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One update of :math:`G` through the discriminator's verdict on ``fake`` (generated with gradients).

    With feature matching the verdict is replaced by the distance between the mean
    features D computes on ``fake`` and on the ``real`` batch.
    """
    with gan.runtime.autocast():
        if gan.objective.feature_matching:
            if real is None:
                raise ValueError("feature matching needs the real batch: pass real= to generator_step")
            loss = feature_matching_loss(gan.discriminator.features(gan.shown_to_d(real)),
                                         gan.discriminator.features(gan.shown_to_d(fake)))
        else:
            loss = gan.objective.generator(_discriminate(gan.discriminator, gan.shown_to_d(fake), fake_labels))
    gan.runtime.optimizer_step(loss, gan.opt_g, gan.scaler_g)  # D's gradients are cleared before its next step
    return {"g": loss}


# --- Evaluating the generator during training ---------------------------------------------------


class WeightAverage:
    """An exponential moving average of a generator's weights (Karras et al. 2018, Yazıcı et al. 2019).

    The average is evaluated, not trained. Its BatchNorm running statistics would belong to
    the *live* weights, so :meth:`model` first recomputes them for the averaged weights
    ("standing statistics").

    Args:
        generator: The trained generator (on its device and layout).
        decay: The EMA decay, e.g. 0.999; early steps use a smaller one (see :meth:`update`).
    """

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = copy.deepcopy(generator).requires_grad_(False)
        self._live = list(generator.parameters())
        self._averaged = list(self.average.parameters())

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the average towards the live weights; warm-up: early weights are forgotten fast
        (the decay is (1 + step) / (10 + step) until it reaches ``decay``; see ``ema`` in :class:`GanConfig`)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self._averaged, self._live, 1 - decay)

    @torch.no_grad()
    def model(self, noise: torch.Tensor, labels: torch.Tensor | None, batch_size: int) -> nn.Module:
        """The averaged generator, its BatchNorm statistics recomputed as exact averages over ``noise``."""
        norms = [m for m in self.average.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.average.train()
        for start in range(0, len(noise) - batch_size + 1, batch_size) if norms else ():
            batch_labels = None if labels is None else labels[start : start + batch_size]
            _generate(self.average, noise[start : start + batch_size], batch_labels)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        self.average.eval()
        return self.average


@torch.no_grad()
def sample_images(
    generator: nn.Module,
    noise: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 500,
) -> torch.Tensor:
    """Generate images in eval mode and map them from :math:`[-1, 1]` to pixels in :math:`[0, 1]`.

    Args:
        generator: A generator called as ``generator(z)`` or ``generator(z, labels)``.
        noise: Latent vectors, :math:`(N, Z)`, on the generator's device.
        labels: Requested classes :math:`(N,)` for a conditional generator.
        batch_size: Images per forward pass.

    Returns:
        Images :math:`(N, C, H, W)` with pixels in :math:`[0, 1]`, on the generator's device.
    """
    generator.eval()
    chunks = []
    for start in range(0, len(noise), batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size]
        chunks.append(_generate(generator, noise[start : start + batch_size], batch_labels).float())
    return (torch.cat(chunks) + 1) / 2


@torch.no_grad()
def sample_class_grid(generator: nn.Module, noise: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Every noise vector drawn as every class by a conditional generator, one row per class.

    Args:
        generator: A conditional generator, called as ``generator(z, labels)``.
        noise: :math:`S` latent vectors, :math:`(S, Z)`, on the generator's device.
        num_classes: Number of classes :math:`K`.

    Returns:
        Images :math:`(K, S, C, H, W)` with pixels in :math:`[0, 1]`: row :math:`k` asks for
        class :math:`k`, and column :math:`s` uses ``noise[s]`` in every row.
    """
    labels = torch.arange(num_classes, device=noise.device).repeat_interleave(len(noise))  # (K S,): 0 0 ... 1 1 ...
    return sample_images(generator, noise.repeat(num_classes, 1), labels).unflatten(0, (num_classes, len(noise)))


@torch.no_grad()
def score_generator(generator: nn.Module, scorer: FIDScorer, *, draws: int = 10, seed: int = 1) -> SampleQuality:
    """Score ``draws`` independent sets of fresh samples, each as large as the scorer's reference.

    Every set draws new noise (and, for a conditional generator, every class equally
    often); :meth:`~mlcheatsheet.metrics.FIDScorer.score_draws` gives the mean FID with its
    interval, precision and recall, and the pooled coverage and conditional accuracy.

    Args:
        generator: A trained generator with a ``latent_dim`` (on its device).
        scorer: The FID scorer; its held-out images are the reference.
        draws: Independent sample sets (the interval needs at least two).
        seed: Seed of the noise; the first set is what ``torch.randn`` gives after seeding
            a CPU generator with it.
    """
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    n, conditional = scorer.num_reference, bool(getattr(generator, "conditional", False))
    labels = (torch.arange(n) % scorer.num_classes).to(device) if conditional else None
    images = [sample_images(generator, torch.randn(n, generator.latent_dim, generator=rng).to(device), labels)
              for _ in range(draws)]
    return scorer.score_draws(images, labels=None if labels is None else [labels] * draws)


class _Evaluation:
    """Scores the generator every few steps and remembers the best one (lowest FID against the selection reference)."""

    def __init__(self, config: GanConfig, data: Dataset, latent_dim: int, conditional: bool,
                 scorer: FIDScorer | None, history: GanHistory, device: torch.device) -> None:
        rng = torch.Generator().manual_seed(config.seed + 1)  # evaluation never shifts the training stream
        num_classes = data.num_classes
        history.fixed_noise = torch.randn(config.fixed_samples, latent_dim, generator=rng)
        # No more samples than the reference they are scored against (a quick build's is small).
        samples = config.eval_samples if scorer is None else min(config.eval_samples, scorer.num_reference)
        self.noise = torch.randn(samples, latent_dim, generator=rng).to(device)
        self.labels = (torch.arange(samples) % num_classes).to(device) if conditional else None
        if conditional:
            history.fixed_labels = torch.arange(config.fixed_samples) % num_classes
        self.fixed_noise = history.fixed_noise.to(device)
        self.fixed_labels = None if history.fixed_labels is None else history.fixed_labels.to(device)
        pick = torch.randperm(len(data.x_train), generator=rng)[:256].to(device)
        self.real_spread = mean_pairwise_distance(data.x_train[pick])
        self.scorer, self.history = scorer, history
        self.bn_batch = min(config.batch_size * 4, samples)
        self.best_state: dict[str, torch.Tensor] | None = None

    def __call__(self, step: int, generator: nn.Module, average: WeightAverage | None) -> None:
        history = self.history
        model = average.model(self.noise, self.labels, self.bn_batch) if average is not None else generator
        samples = sample_images(model, self.noise, self.labels)
        history.eval_steps.append(step)
        history.diversity.append(mean_pairwise_distance(samples) / self.real_spread)
        history.snapshots.append(sample_images(model, self.fixed_noise, self.fixed_labels).cpu())
        better = True
        if self.scorer is not None:
            quality = self.scorer.score(samples, labels=self.labels, reference="selection")
            history.fid.append(quality.fid)
            history.min_class_share.append(quality.min_class_share)
            history.mean_confidence.append(quality.mean_confidence)
            history.precision.append(quality.precision)
            history.recall.append(quality.recall)
            history.conditional_accuracy.append(quality.conditional_accuracy)
            better = math.isnan(history.best_fid) or quality.fid < history.best_fid
        if better and step > 0:
            history.best_step = step
            history.best_fid = history.fid[-1] if history.fid else float("nan")
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        generator.train()


# --- The loop ----------------------------------------------------------------------------------


def _check_networks(generator: nn.Module, discriminator: nn.Module, config: GanConfig) -> tuple[int, bool]:
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise ValueError(f"{type(generator).__name__} has no integer latent_dim attribute; fit_gan needs it to draw noise")
    conditional = bool(getattr(generator, "conditional", False))
    if conditional != bool(getattr(discriminator, "conditional", False)):
        raise ValueError("the generator and the discriminator must both be conditional or both unconditional")
    if config.feature_matching and (conditional or not callable(getattr(discriminator, "features", None))):
        raise ValueError(f"feature matching needs an unconditional discriminator with a features(x) method; "
                         f"{type(discriminator).__name__} is {'conditional' if conditional else 'without one'}")
    return latent_dim, conditional


def _objective(config: GanConfig) -> AdversarialObjective:
    """The losses of ``config.loss``, with label smoothing and feature matching applied."""
    objective = OBJECTIVES[config.loss]
    if config.label_smoothing:
        objective = replace(objective, discriminator=partial(smoothed_discriminator_loss, real_target=1 - config.label_smoothing))
    return replace(objective, feature_matching=config.feature_matching)


def _players(generator: nn.Module, discriminator: nn.Module, config: GanConfig, runtime: Runtime) -> Players:
    kernels = runtime.adam_kernels()
    generator.train(), discriminator.train()
    return Players(
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas, **kernels),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=config.lr_discriminator, betas=config.betas, **kernels),
        scaler_g=runtime.scaler(),
        scaler_d=runtime.scaler(),
        objective=_objective(config),
        runtime=runtime,
        gp_weight=config.gp_weight,
        rng=torch.Generator(device=runtime.device).manual_seed(config.seed),
        augment=config.augment,
        r1_gamma=config.r1_gamma,
    )


def _draw(gan: Players, batch: int, latent_dim: int, real_labels: torch.Tensor | None,
          num_classes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise for a generated batch, and its classes when the networks are conditional (real labels given).

    Classes are drawn uniformly, except with a gradient penalty: then the generated batch
    takes the real batch's classes, so every interpolated image lies between a real and a
    generated image of one class, scored under that class.
    """
    noise = torch.randn(batch, latent_dim, device=gan.runtime.device, generator=gan.rng)
    if real_labels is None or gan.objective.gradient_penalty:
        return noise, real_labels
    return noise, torch.randint(num_classes, (batch,), device=gan.runtime.device, generator=gan.rng)


def _generate_batch(gan: Players, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    with gan.runtime.autocast():
        return _generate(gan.generator, noise, labels)


def _read_interval(tracker: LossTracker, history: GanHistory, step: int, seconds: float, gan: Players, config: GanConfig) -> None:
    means, first_bad = tracker.read()  # one host sync per interval
    if first_bad >= 0 or not all(math.isfinite(v) for v in means.values()):
        first = step - tracker.count + 1
        raise TrainingDivergedError(
            f"{type(gan.generator).__name__}/{type(gan.discriminator).__name__}: a GAN loss became non-finite between "
            f"steps {first} and {step} (generator {means['g']}, discriminator {means['d']}). "
            f"Usual causes: learning rates too high ({config.lr_generator}, {config.lr_discriminator}), "
            "images not scaled to [-1, 1], or probabilities passed where logits are expected."
        )
    history.log_interval(step, seconds, means)


def fit_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: Dataset,
    config: GanConfig,
    *,
    scorer: FIDScorer | None = None,
    device: torch.device | str | None = None,
) -> GanHistory:
    """Train a GAN (or WGAN-GP, or a conditional GAN) and keep the generator with the best FID.

    Each step runs :func:`discriminator_step` ``config.critic_steps`` times on real images
    (scaled to :math:`[-1, 1]`, the range of the generator's ``tanh``) and generated ones,
    then :func:`generator_step` once, on the batch D last saw when D steps once per step (one
    generator forward per step, as the DCGAN tutorial does), else on a fresh one. Device,
    mixed precision (a gradient scaler per network in float16), threads and layout are
    decided once, as for :func:`~mlcheatsheet.training.engine.fit`. Every
    ``config.eval_every`` steps (and before the first) the generator — its
    :class:`WeightAverage` when ``config.ema > 0`` — draws ``config.eval_samples`` images
    (no more than the scorer's reference set holds) from fixed noise; ``scorer`` measures their FID against its selection reference, class
    precision, recall and class coverage, and the best generator so far is remembered.

    Networks with ``conditional = True`` also get labels: real images their own, generated ones drawn ones.

    Args:
        generator: Maps noise :math:`(N, Z)` (and labels) to images in :math:`[-1, 1]`; must
            have a ``latent_dim`` attribute. On return it holds the kept (best-FID) weights,
            in eval mode.
        discriminator: Maps images (and labels) to logits (critic scores for WGAN-GP).
        data: Training images in :math:`[0, 1]` (and labels).
        config: Training settings.
        scorer: Scores samples (:func:`~mlcheatsheet.training.scorer.fid_scorer`); without one the
            last generator is kept.
        device: Where to train; defaults to :func:`~mlcheatsheet.runtime.get_device`.

    Returns:
        The :class:`GanHistory`; signs of collapse are in ``history.collapse``, and warned
        (:class:`GanCollapseWarning`).

    Raises:
        ValueError: The batch exceeds the training set, the generator has no ``latent_dim``,
            or only one network is conditional.
        TrainingDivergedError: A loss became NaN or infinite; names the networks and steps.
    """
    run = GanLoop(generator, discriminator, data, config, scorer=scorer, device=device)
    gan, reuse_fake = run.players, config.critic_steps == 1  # G learns from the batch D just saw: one G forward per step
    for step in range(1, config.steps + 1):
        for _ in range(config.critic_steps):
            real, real_labels = run.real_batch()
            noise, fake_labels = run.noise(real_labels)
            with torch.set_grad_enabled(reuse_fake):
                fake = _generate_batch(gan, noise, fake_labels)
            parts = discriminator_step(gan, real, fake, real_labels, fake_labels)
        if not reuse_fake:
            noise, fake_labels = run.noise(real_labels)
            fake = _generate_batch(gan, noise, fake_labels)
        parts |= generator_step(gan, fake, fake_labels, real)
        run.end_step(step, **parts)
    return run.finish()


class GanLoop:
    """One GAN training run, one step at a time: all of :func:`fit_gan` except the two updates.

    Creating it seeds the run, decides the device, precision and layout, moves both networks
    there, builds their Adam optimisers and scores the untrained generator (step 0). A loop
    then, at every step, draws a real batch (:meth:`real_batch`) and noise (:meth:`noise`),
    updates the discriminator and the generator (:meth:`update_discriminator`,
    :meth:`update_generator`, inside :meth:`autocast`) and hands the step's losses to
    :meth:`end_step`, which updates the weight average, logs every ``config.log_every``
    steps and scores the generator every ``config.eval_every``. :meth:`finish` loads the
    best generator and returns the history.

    Args:
        generator, discriminator, data, config, scorer, device: As for :func:`fit_gan`.

    Attributes:
        players: The two networks with their optimisers (:class:`Players`).
        history: What the run has recorded so far.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, data: Dataset, config: GanConfig, *,
                 scorer: FIDScorer | None = None, device: torch.device | str | None = None) -> None:
        self.latent_dim, self.conditional = _check_networks(generator, discriminator, config)
        self.config = config
        self._run = start_run([generator, discriminator], data, seed=config.seed, batch_size=config.batch_size,
                              device=device, channels_last=config.channels_last, precision=config.precision)
        self.runtime, self.data = self._run.runtime, self._run.data
        self.players = _players(generator, discriminator, config, self.runtime)
        self._real_images = self.data.x_train * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
        self._average = WeightAverage(generator, config.ema) if config.ema > 0 else None
        self.history = GanHistory(loss=config.loss)
        self._evaluate = _Evaluation(config, self.data, self.latent_dim, self.conditional, scorer, self.history,
                                     self.runtime.device)
        self._run.start_clock()
        self._evaluate(0, generator, self._average)
        self._tracker = LossTracker(self.runtime.device)

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``config.batch_size`` training images drawn at random, in :math:`[-1, 1]`, and their labels
        (``None`` for unconditional networks)."""
        idx = torch.randint(len(self._real_images), (self.config.batch_size,), device=self.runtime.device,
                            generator=self.players.rng)
        labels = self.data.y_train[idx] if self.conditional else None
        return self.runtime.batch(self._real_images[idx]), labels

    def noise(self, real_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Noise :math:`z` for a generated batch, and its classes for conditional networks: drawn at
        random, or the real batch's ``real_labels`` when the loss has a gradient penalty."""
        return _draw(self.players, self.config.batch_size, self.latent_dim, real_labels, self.data.num_classes)

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The run's mixed precision for the forward passes (a null context in float32)."""
        return self.runtime.autocast()

    def update_discriminator(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` and take one step of the discriminator's optimiser."""
        self.runtime.optimizer_step(loss, self.players.opt_d, self.players.scaler_d)

    def update_generator(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` and take one step of the generator's optimiser (D's gradients
        from it are cleared before D's next step)."""
        self.runtime.optimizer_step(loss, self.players.opt_g, self.players.scaler_g)

    def end_step(self, step: int, **parts: torch.Tensor) -> None:
        """After the updates of ``step`` (counted from 1): the weight average, the step's losses
        (``d``, ``g``, and D's mean verdicts ``real`` and ``fake``) and, when due, a log line and the FID."""
        if self._average is not None:
            self._average.update(step)
        self._tracker.add(parts, step)
        if step % self.config.log_every == 0 or step == self.config.steps:
            _read_interval(self._tracker, self.history, step, self._run.seconds(), self.players, self.config)
            self._tracker = LossTracker(self.runtime.device)
        if step % self.config.eval_every == 0 or step == self.config.steps:
            self._evaluate(step, self.players.generator, self._average)

    def finish(self) -> GanHistory:
        """Hand the networks back (the generator with its kept, best-FID weights) and return the history."""
        _finish(self.history, self._run, self.players, self._evaluate, self.config)
        return self.history


def _finish(history: GanHistory, run: Run, gan: Players, evaluate: _Evaluation, config: GanConfig) -> None:
    history.total_seconds = run.seconds()
    history.steps = config.steps
    history.discriminator_steps = config.steps * config.critic_steps
    history.samples = history.discriminator_steps * config.batch_size
    run.finish(gan.generator, gan.discriminator, steps=config.steps)
    if evaluate.best_state is not None:
        gan.generator.load_state_dict(evaluate.best_state)
    history.collapse = detect_collapse(
        history.log_steps,
        [] if gan.objective.gradient_penalty else history.discriminator_loss,
        history.eval_steps,
        history.diversity,
        d_loss_threshold=config.collapse_d_loss,
        window=config.collapse_window,
        diversity_threshold=config.collapse_diversity,
        warmup=config.collapse_warmup,
    )
    for message in history.collapse:
        warnings.warn(message, GanCollapseWarning, stacklevel=3)
