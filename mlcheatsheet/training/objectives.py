"""What each non-adversarial model is trained to minimise, and how it is scored.

Each ``fit_*`` function is :func:`~mlcheatsheet.training.engine.fit` with one objective:
cross-entropy for classifiers, reconstruction of the clean image for (denoising)
autoencoders, the negative ELBO for the VAE, noise or velocity regression for diffusion models. Each ``evaluate_*`` function scores a trained
model on a set of images in the same terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..metrics import accuracy, reconstruction_mse
from ..models.autoencoder import corrupt, reconstruction_loss
from ..models.diffusion import TIME_SAMPLING, NoiseSchedule, ddpm_loss, flow_matching_loss
from ..models.vae import reparameterize, vae_loss
from ..runtime import Runtime
from .engine import History, LossOut, Objective, Step, TrainConfig, fit, predict

__all__ = [
    "classified_correctly",
    "evaluate_autoencoder",
    "evaluate_classifier",
    "evaluate_diffusion",
    "evaluate_vae",
    "fit_autoencoder",
    "fit_classifier",
    "fit_diffusion",
    "fit_vae",
    "negative_elbo_per_image",
    "reconstruction_errors",
    "smoothed_loss_floor",
]

OnEpoch = Callable[[History], bool | None]


# --- Classifiers ------------------------------------------------------------------------------


def evaluate_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of a classifier on a labelled set.

    Returns:
        ``{"loss": ..., "accuracy": ...}`` with accuracy in ``[0, 1]``.
    """
    logits = predict(model, images, batch_size=batch_size)
    return {"loss": F.cross_entropy(logits, labels).item(), "accuracy": accuracy(logits, labels)}


def classified_correctly(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """One boolean per image: does ``model``'s top class match the label? (On the CPU.)

    What :func:`~mlcheatsheet.findings.accuracy_interval` and the paired
    :func:`~mlcheatsheet.findings.compare_classifiers` take.
    """
    return (predict(model, images, batch_size=batch_size).argmax(dim=1) == labels).cpu()


def fit_classifier(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    on_epoch: OnEpoch | None = None,
) -> History:
    """Train a classifier with cross-entropy and evaluate it on the test split every epoch.

    The loss is

    .. math::
        \\mathcal{L} = -\\frac{1}{N}\\sum_{i=1}^{N} \\log \\mathrm{softmax}(f(x_i))_{y_i}

    With ``config.label_smoothing`` :math:`= \\varepsilon > 0` the target puts
    :math:`1 - \\varepsilon + \\varepsilon / K` on the true class and :math:`\\varepsilon / K`
    on each of the other :math:`K - 1`.

    Args:
        model: A model mapping images to logits.
        data: Training and test images.
        config: Training settings; defaults to :class:`~mlcheatsheet.training.engine.TrainConfig`.
        device: Where to train; defaults to :func:`~mlcheatsheet.runtime.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`~mlcheatsheet.training.engine.History` with ``train_loss``, ``test_loss``,
        ``test_accuracy`` and ``seconds`` per epoch.
    """
    config = config or TrainConfig()

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(net(images), labels, label_smoothing=config.label_smoothing)

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_classifier(net, ds.x_test, ds.y_test, batch_size=config.eval_batch_size)
        return {"test_loss": result["loss"], "test_accuracy": result["accuracy"]}

    history = fit(model, data, config, loss_fn=loss_fn, evaluate=evaluate, device=device, on_epoch=on_epoch)
    history.train_loss_floor = smoothed_loss_floor(config.label_smoothing, data.num_classes)
    return history


def smoothed_loss_floor(label_smoothing: float, num_classes: int) -> float:
    """The lowest cross-entropy a smoothed target allows: its own entropy, in nats.

    With smoothing :math:`\\varepsilon` over :math:`K` classes the target puts
    :math:`p = 1 - \\varepsilon + \\varepsilon / K` on the true class and :math:`q = \\varepsilon / K`
    on each other one, so even a perfect model's training loss is
    :math:`-p \\log p - (K - 1)\\, q \\log q` (0.50 nats for :math:`\\varepsilon = 0.1`,
    :math:`K = 10`), while the test loss (plain cross-entropy) can go to 0.
    """
    if label_smoothing == 0:
        return 0.0
    p, q = 1 - label_smoothing + label_smoothing / num_classes, label_smoothing / num_classes
    return float(-p * math.log(p) - (num_classes - 1) * q * math.log(q))


# --- Autoencoders -----------------------------------------------------------------------------


def evaluate_autoencoder(
    model: nn.Module,
    images: torch.Tensor,
    *,
    noise_std: float = 0.0,
    seed: int = 0,
    batch_size: int = 1000,
) -> dict[str, float]:
    """Reconstruction error of an autoencoder on a set of images.

    The model sees the images corrupted with :func:`~mlcheatsheet.models.autoencoder.corrupt`
    (noise drawn from ``seed``, so every call sees the same noise) and is scored against
    the clean images.

    Args:
        model: An autoencoder returning reconstruction logits.
        images: Clean images on the model's device, pixels in :math:`[0, 1]`.
        noise_std: Standard deviation of the input noise (``0``: plain reconstruction).
        seed: Seed of the noise.
        batch_size: Images per forward pass.

    Returns:
        ``{"mse": ..., "bce": ...}``: mean squared error per pixel of the reconstruction
        :math:`\\sigma(\\ell)`, and mean binary cross-entropy per pixel of the logits.
    """
    generator = torch.Generator(device=images.device).manual_seed(seed)
    noisy = corrupt(images, noise_std, generator=generator)
    logits = predict(model, noisy, batch_size=batch_size)
    return {
        "mse": reconstruction_mse(torch.sigmoid(logits), images),
        "bce": reconstruction_loss(logits, images, kind="bce").item(),
    }


def reconstruction_errors(model: nn.Module, images: torch.Tensor, *, noise_std: float = 0.0, seed: int = 0,
                          batch_size: int = 1000) -> torch.Tensor:
    """Each image's mean squared error per pixel, as :func:`evaluate_autoencoder` measures it (on the CPU).

    What :func:`~mlcheatsheet.findings.mean_interval` and
    :func:`~mlcheatsheet.findings.compare_means` take.
    """
    generator = torch.Generator(device=images.device).manual_seed(seed)
    noisy = corrupt(images, noise_std, generator=generator)
    rebuilt = torch.sigmoid(predict(model, noisy, batch_size=batch_size))
    return (rebuilt - images.float()).square().flatten(1).mean(dim=1).cpu()


_NoisyLoss = Callable[[nn.Module, torch.Tensor, torch.Generator | None], torch.Tensor]


class _SeededNoise(Objective):
    """A loss that draws fresh noise every step from one stream, seeded with the run's seed + 1."""

    def __init__(self, loss: _NoisyLoss) -> None:
        self.loss = loss
        self.noise: torch.Generator | None = None

    def begin(self, runtime: Runtime, config: TrainConfig) -> None:
        self.noise = torch.Generator(device=runtime.device).manual_seed(config.seed + 1)

    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: Step) -> LossOut:
        return self.loss(model, images, self.noise)


@dataclass(frozen=True)
class _Denoising:
    """Rebuild the clean batch from a corrupted copy."""

    noise_std: float

    def __call__(self, model: nn.Module, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        noisy = corrupt(images, self.noise_std, generator=generator)
        return reconstruction_loss(model(noisy), images, kind="bce")


def fit_autoencoder(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    noise_std: float = 0.0,
    device: torch.device | str | None = None,
    on_epoch: OnEpoch | None = None,
) -> History:
    """Train an autoencoder to rebuild its input, or, with ``noise_std > 0``, to denoise it.

    Each batch :math:`x` is corrupted to :math:`\\tilde x` (:func:`~mlcheatsheet.models.autoencoder.corrupt`,
    fresh noise every step) and the loss is the binary cross-entropy
    (:func:`~mlcheatsheet.models.autoencoder.reconstruction_loss`) between
    :math:`g(f(\\tilde x))` and the *clean* :math:`x`. Labels are never used.

    Args:
        model: An autoencoder returning reconstruction logits.
        data: Training and test images.
        config: Training settings; defaults to :class:`~mlcheatsheet.training.engine.TrainConfig`.
        noise_std: Standard deviation of the Gaussian input noise; ``0`` trains a plain
            autoencoder.
        device: Where to train; defaults to :func:`~mlcheatsheet.runtime.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`~mlcheatsheet.training.engine.History` with ``train_loss`` and, on the
        test split (same corruption, fixed noise), ``test_mse`` and ``test_bce`` per epoch.

    Raises:
        ValueError: ``noise_std`` is negative.
    """
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    config = config or TrainConfig()

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_autoencoder(net, ds.x_test, noise_std=noise_std, seed=config.seed, batch_size=config.eval_batch_size)
        return {"test_mse": result["mse"], "test_bce": result["bce"]}

    return fit(model, data, config, loss_fn=_SeededNoise(_Denoising(noise_std)), evaluate=evaluate, device=device, on_epoch=on_epoch)


# --- The VAE ----------------------------------------------------------------------------------


@torch.inference_mode()
def negative_elbo_per_image(model: nn.Module, images: torch.Tensor, *, seed: int = 0, batch_size: int = 1000) -> dict[str, torch.Tensor]:
    """Each image's negative ELBO and its two parts, in nats (on the CPU).

    One code is drawn per image (from ``seed``, so repeated calls agree), as in training;
    the estimate of the reconstruction term is unbiased, and its noise averages out over
    the images. The parts are those of :func:`~mlcheatsheet.models.vae.vae_loss`, per image.

    Args:
        model: A :class:`~mlcheatsheet.models.vae.VAE` (or any model with ``encode``
            returning mean and log-variance and ``decode`` returning logits).
        images: Images on the model's device, pixels in :math:`[0, 1]`.
        seed: Seed of the code draws.
        batch_size: Images per forward pass.

    Returns:
        ``{"loss": ..., "reconstruction": ..., "kl": ...}``, each of shape :math:`(N,)`.
    """
    model.eval()
    generator = torch.Generator(device=images.device).manual_seed(seed)
    parts: dict[str, list[torch.Tensor]] = {"reconstruction": [], "kl": []}
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        mean, logvar = (t.float() for t in model.encode(batch))
        logits = model.decode(reparameterize(mean, logvar, generator=generator)).float()
        bce = F.binary_cross_entropy_with_logits(logits, batch, reduction="none")
        parts["reconstruction"].append(bce.flatten(1).sum(dim=1).cpu())
        parts["kl"].append((-0.5 * (1 + logvar - mean.square() - logvar.exp())).sum(dim=1).cpu())
    per_image = {key: torch.cat(values) for key, values in parts.items()}
    return {"loss": per_image["reconstruction"] + per_image["kl"], **per_image}


def evaluate_vae(model: nn.Module, images: torch.Tensor, *, seed: int = 0, batch_size: int = 1000) -> dict[str, float]:
    """The negative ELBO of a VAE on a set of images, with its two parts, in nats per image.

    The means over the images of :func:`negative_elbo_per_image`.

    Returns:
        ``{"loss": ..., "reconstruction": ..., "kl": ...}`` averaged over the images
        (see :func:`~mlcheatsheet.models.vae.vae_loss`).
    """
    per_image = negative_elbo_per_image(model, images, seed=seed, batch_size=batch_size)
    return {key: float(values.double().mean()) for key, values in per_image.items()}


class _NegativeELBO(Objective):
    """The VAE loss with the KL weight raised linearly from 0 to 1 over the first epochs."""

    def __init__(self, kl_warmup_epochs: float) -> None:
        self.kl_warmup_epochs = kl_warmup_epochs

    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: Step) -> LossOut:
        warmup_steps = self.kl_warmup_epochs * step.steps_per_epoch
        kl_weight = min(1.0, step.index / warmup_steps) if warmup_steps > 0 else 1.0
        logits, mean, logvar = model(images)
        return vae_loss(logits.float(), images, mean.float(), logvar.float(), kl_weight=kl_weight)


def fit_vae(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    kl_warmup_epochs: float = 0.0,
    device: torch.device | str | None = None,
    on_epoch: OnEpoch | None = None,
) -> History:
    """Train a VAE by minimising the negative ELBO (:func:`~mlcheatsheet.models.vae.vae_loss`).

    Args:
        model: A :class:`~mlcheatsheet.models.vae.VAE`: ``forward`` returns
            ``(logits, mean, logvar)``.
        data: Training and test images (labels are never used).
        config: Training settings; defaults to :class:`~mlcheatsheet.training.engine.TrainConfig`.
        kl_warmup_epochs: Raise the weight :math:`\\beta` of the KL term linearly from 0 to 1
            over this many epochs (KL annealing, Bowman et al. 2016,
            https://arxiv.org/abs/1511.06349), so the decoder learns to use the code before
            the prior pulls it in; ``0`` trains on the ELBO from the start.
        device: Where to train; defaults to :func:`~mlcheatsheet.runtime.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`~mlcheatsheet.training.engine.History` whose ``train_loss`` is the weighted
        training loss, with ``train_reconstruction`` and ``train_kl``, and the held-out
        ``test_loss`` (the negative ELBO), ``test_reconstruction`` and ``test_kl`` per epoch,
        in nats per image.

    Raises:
        ValueError: ``kl_warmup_epochs`` is negative.
    """
    if kl_warmup_epochs < 0:
        raise ValueError(f"kl_warmup_epochs must be non-negative, got {kl_warmup_epochs}")
    config = config or TrainConfig()

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_vae(net, ds.x_test, seed=config.seed, batch_size=config.eval_batch_size)
        return {f"test_{key}": value for key, value in result.items()}

    return fit(model, data, config, loss_fn=_NegativeELBO(kl_warmup_epochs), evaluate=evaluate, device=device, on_epoch=on_epoch)


# --- Diffusion models ----------------------------------------------------------------------------

DIFFUSION_OBJECTIVES = ("flow", "ddpm")


@dataclass(frozen=True)
class _DiffusionLoss:
    """One of the two regressions, on images in [0, 1]."""

    objective: str
    schedule: NoiseSchedule
    time_sampling: str

    def __call__(self, model: nn.Module, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x0 = images * 2 - 1  # [0, 1] -> [-1, 1]: the noise and the image on one scale
        if self.objective == "flow":
            return flow_matching_loss(model, x0, time_sampling=self.time_sampling, generator=generator)
        return ddpm_loss(model, x0, self.schedule, generator=generator)


@torch.no_grad()
def evaluate_diffusion(model: nn.Module, images: torch.Tensor, *, objective: str = "flow", schedule: NoiseSchedule | None = None,
                       time_sampling: str = "uniform", seed: int = 0, batch_size: int = 1000) -> float:
    """The training loss on ``images`` with noise levels and noise drawn from ``seed``: the same number every call."""
    loss = _DiffusionLoss(objective, schedule or NoiseSchedule.cosine(), time_sampling)
    generator = torch.Generator(device=images.device).manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        total += float(loss(model, batch, generator)) * len(batch)
    return total / len(images)


def fit_diffusion(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    objective: str = "flow",
    schedule: NoiseSchedule | None = None,
    time_sampling: str = "uniform",
    held_out: int | None = 256,
    device: torch.device | str | None = None,
    on_epoch: OnEpoch | None = None,
) -> History:
    """Train a diffusion model's network (:class:`~mlcheatsheet.models.diffusion.UNet`) to undo noise.

    Each batch, mapped to :math:`[-1, 1]`, is noised to a random level and the network is
    regressed onto the velocity :math:`\\varepsilon - x_0` (``objective="flow"``,
    :func:`~mlcheatsheet.models.diffusion.flow_matching_loss`) or onto the noise
    (``"ddpm"``, :func:`~mlcheatsheet.models.diffusion.ddpm_loss` under ``schedule``).
    Labels are never used.

    Args:
        model: The network, ``model(x_t, t)``.
        data: Training and test images in :math:`[0, 1]`.
        config: Training settings; defaults to :class:`~mlcheatsheet.training.engine.TrainConfig`.
        objective: ``"flow"`` or ``"ddpm"``.
        schedule: The DDPM noise schedule (default: cosine, 1,000 steps); unused by ``"flow"``.
        time_sampling: How flow matching draws noise levels (``"uniform"`` or
            ``"logit-normal"``, see :func:`~mlcheatsheet.models.diffusion.flow_matching_loss`);
            unused by ``"ddpm"``.
        held_out: How many of the test images the held-out loss is computed on every epoch
            (``None``: all). The loss uses the same noise every epoch, so a few hundred images
            give a smooth curve; all of them would cost a forward pass per image and epoch.
        device: Where to train; defaults to :func:`~mlcheatsheet.runtime.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`~mlcheatsheet.training.engine.History` with ``train_loss`` and the held-out
        ``test_loss`` (same noise every epoch) per epoch.

    Raises:
        ValueError: An unknown ``objective`` or ``time_sampling``, or ``held_out`` below 1.
    """
    if held_out is not None and held_out < 1:
        raise ValueError(f"held_out must be at least 1 test image (or None for all), got {held_out}")
    if objective not in DIFFUSION_OBJECTIVES:
        raise ValueError(f"unknown diffusion objective {objective!r}; choose one of: {', '.join(DIFFUSION_OBJECTIVES)}")
    if time_sampling not in TIME_SAMPLING:
        raise ValueError(f"unknown time sampling {time_sampling!r}; choose one of: {', '.join(TIME_SAMPLING)}")
    config, schedule = config or TrainConfig(), schedule or NoiseSchedule.cosine()

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        images = ds.x_test[:held_out]
        return {"test_loss": evaluate_diffusion(net, images, objective=objective, schedule=schedule, time_sampling=time_sampling,
                                                seed=config.seed, batch_size=config.eval_batch_size)}

    loss = _DiffusionLoss(objective, schedule, time_sampling)
    return fit(model, data, config, loss_fn=_SeededNoise(loss), evaluate=evaluate, device=device, on_epoch=on_epoch)
