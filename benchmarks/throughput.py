"""Training samples per second: the package's engine against the plain reference loop.

For each model the two sides start from the same initial weights, train on the same
tensors with the same optimiser, and are timed interleaved (see ``_measure.compare``):

* ours — the package's real training path: :func:`~mlcheatsheet.training.fit` for the
  classifiers (whole dataset on the device, index batches, one host sync per epoch, fused
  AdamW, channels-last for conv nets, each gallery example's own batch size) and
  :func:`~mlcheatsheet.training.fit_gan` for one DCGAN step;
* reference — ``DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)``, a plain
  optimiser and ``.item()`` every step (:mod:`benchmarks.reference`).

Below each comparison a second row puts the reference in the machine's terms: the FLOPs
of one training sample (counted by :class:`~torch.utils.flop_counter.FlopCounterMode`)
times the reference's samples/s is the rate the reference already achieves, and the
machine's large-matmul rate divided by it is the **ceiling**: the largest speed-up any
training loop could show on that model here, even with every FLOP at matmul speed.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mlcheatsheet.data import Dataset
from mlcheatsheet.models.cnn import CNN
from mlcheatsheet.models.dcgan import DCGANDiscriminator, DCGANGenerator
from mlcheatsheet.models.mlp import MLP
from mlcheatsheet.training import GanConfig, TrainConfig, fit, fit_gan

from ._measure import Comparison, Row, compare
from .flops import matmul_gflops, training_step_flops
from .reference import reference_classifier_epoch, reference_gan_epoch, reference_loader

__all__ = ["Sizes", "run_throughput"]

REFERENCE_BATCH = 64  # the classic example's batch size


@dataclass(frozen=True)
class Sizes:
    """How much work each timed repeat does (tests shrink these).

    Attributes:
        mlp_images: Training images per repeat for the MLP.
        cnn_images: Training images per repeat for the CNN.
        gan_steps: DCGAN steps (batches of 64 real images) per repeat.
        repeats: Timed repeats per side, after one warm-up each.
        cnn_channels: Channels of the CNN's stages.
        mlp_hidden: Hidden widths of the MLP.
        gan_channels: ``base_channels`` of the DCGAN networks.
        matmul_size: Side of the square matrices whose product measures the machine's rate.
    """

    # Sized for about 45 s on 2 idle cores: a repeat is 0.3-1.5 s per side, long enough that
    # fit()'s per-call setup (optimiser, upload) is a small part of it.
    mlp_images: int = 4000  # at the MLP's batch of 512, fewer images would leave fit()'s setup a visible share
    cnn_images: int = 1024
    gan_steps: int = 24
    repeats: int = 5  # the MLP side of a repeat lasts under half a second: more pairs, steadier median
    cnn_channels: tuple[int, ...] = (32, 64, 128)  # the CNN's defaults, as in the gallery
    mlp_hidden: tuple[int, ...] = (1024, 512)  # the gallery's MLP
    gan_channels: int = 32  # as in the gallery's DCGAN (gallery/plot_dcgan.py)
    matmul_size: int = 2048


def _cross_entropy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(images), labels)


def _classifier_pair(
    make_model: Callable[[], nn.Module], data: Dataset, *, batch_size: int, lr: float, device: torch.device
) -> tuple[Callable[[], int], Callable[[], int]]:
    """(ours, reference) callables that each train one epoch over ``data`` and return images seen."""
    torch.manual_seed(0)
    ours_model = make_model()
    reference_model = copy.deepcopy(ours_model).to(device)
    # Same optimiser on both sides: AdamW with the package's default weight decay; the
    # reference uses the library default implementation, as a plain script would.
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=lr, schedule="constant")
    reference_optimizer = torch.optim.AdamW(reference_model.parameters(), lr=lr, weight_decay=config.weight_decay)
    loader = reference_loader(data.x_train, data.y_train, batch_size=REFERENCE_BATCH)

    def ours() -> int:
        return fit(ours_model, data, config, loss_fn=_cross_entropy, device=device).samples

    def reference() -> int:
        return reference_classifier_epoch(reference_model, loader, reference_optimizer, device=device)

    return ours, reference


def _gan_pair(data: Dataset, *, steps: int, base_channels: int, batch_size: int, device: torch.device) -> tuple[Callable[[], int], Callable[[], int]]:
    """(ours, reference) callables that each run ``steps`` DCGAN steps on batches of real images."""
    torch.manual_seed(0)
    shape = data.image_shape
    generator = DCGANGenerator(image_shape=shape, base_channels=base_channels)
    discriminator = DCGANDiscriminator(image_shape=shape, base_channels=base_channels)
    ref_g, ref_d = copy.deepcopy(generator).to(device), copy.deepcopy(discriminator).to(device)
    config = GanConfig(steps=steps, batch_size=batch_size, eval_every=steps, eval_samples=32, fixed_samples=8, log_every=steps)
    betas = config.betas
    opt_g = torch.optim.Adam(ref_g.parameters(), lr=config.lr_generator, betas=betas)
    opt_d = torch.optim.Adam(ref_d.parameters(), lr=config.lr_discriminator, betas=betas)
    real = data.x_train[: steps * REFERENCE_BATCH] * 2 - 1  # the tutorial normalises to [-1, 1]
    loader = reference_loader(real, data.y_train[: len(real)], batch_size=REFERENCE_BATCH)

    def ours() -> int:
        return fit_gan(generator, discriminator, data, config, device=device).samples

    def reference() -> int:
        return reference_gan_epoch(ref_g, ref_d, loader, opt_g, opt_d, latent_dim=generator.latent_dim, device=device)

    return ours, reference


def _reference_gan_flops_per_sample(generator: nn.Module, discriminator: nn.Module, real: torch.Tensor) -> float:
    """FLOPs per real image of one step of the reference DCGAN loop, counted on copies of the networks."""
    generator, discriminator = copy.deepcopy(generator), copy.deepcopy(discriminator)
    opt_g = torch.optim.Adam(generator.parameters())
    opt_d = torch.optim.Adam(discriminator.parameters())
    loader = reference_loader(real, torch.zeros(len(real), dtype=torch.long, device=real.device), batch_size=len(real))
    with FlopCounterMode(display=False) as counter:
        seen = reference_gan_epoch(generator, discriminator, loader, opt_g, opt_d, latent_dim=generator.latent_dim,
                                   device=real.device)
    return counter.get_total_flops() / seen


def _ceiling_row(result: Comparison, *, flops_per_sample: float, matmul: float) -> Row:
    reference_rate = statistics.median(result.reference) * flops_per_sample / 1e9
    return Row(
        "  ceiling: matmul / reference", f"{reference_rate:.1f} GFLOP/s", f"{matmul:.1f} GFLOP/s", matmul / reference_rate, None,
        f"{flops_per_sample / 1e6:.2f} MFLOP per sample; the reference already runs at "
        f"{100 * reference_rate / matmul:.0f}% of the matmul rate",
    )


# The CNN and the DCGAN step carry no target: the reference loop already runs them at 40-44%
# of the machine's matmul rate, so the ceiling row below leaves little for any loop to win.
NO_TARGET = "; no target (information): see the ceiling below"


def _row(name: str, result: Comparison, *, target: float | None, ours_batch: int, detail: str = "") -> Row:
    low, high = result.spread
    ours, reference = statistics.median(result.ours), statistics.median(result.reference)
    note = f"batch {ours_batch} vs {REFERENCE_BATCH}; pairs {low:.2f}-{high:.2f}x over {len(result.ours)} repeats"
    if target is None:
        detail += NO_TARGET
    return Row(name, f"{ours:,.0f}/s", f"{reference:,.0f}/s", result.ratio, target, f"{note}{detail}")


def run_throughput(
    data: Dataset, *, device: torch.device, sizes: Sizes = Sizes(), mlp_batch_size: int = 512, cnn_batch_size: int = 128,
    gan_batch_size: int = 64,
) -> list[Row]:
    """Measure training samples/s, ours vs the reference, for the MLP, the CNN and a DCGAN step.

    Args:
        data: The training images (``mnist-5k`` in the benchmark).
        device: Where both sides train.
        sizes: Work per repeat and number of repeats.
        mlp_batch_size: Our MLP's batch size (the gallery's, from its budget).
        cnn_batch_size: Our CNN's batch size (likewise).
        gan_batch_size: Our DCGAN batch size (likewise).

    Returns:
        One :class:`~benchmarks._measure.Row` per model, ratio = ours / reference.
    """
    rows = []
    shape = data.image_shape
    matmul = matmul_gflops(sizes.matmul_size, device=device)
    images = data.x_train[:REFERENCE_BATCH].to(device)
    labels = data.y_train[:REFERENCE_BATCH].to(device)
    classifiers: list[tuple[str, Callable[[], nn.Module], int, int, float | None]] = [
        ("MLP", lambda: MLP(image_shape=shape, hidden_dims=sizes.mlp_hidden, num_classes=data.num_classes, dropout=0.3),
         sizes.mlp_images, mlp_batch_size, 3.0),
        ("CNN", lambda: CNN(image_shape=shape, channels=sizes.cnn_channels, num_classes=data.num_classes),
         sizes.cnn_images, cnn_batch_size, None),
    ]
    for name, make_model, count, batch_size, target in classifiers:
        torch.manual_seed(0)
        flops = training_step_flops(make_model().to(device), images, labels) / REFERENCE_BATCH
        ours, reference = _classifier_pair(make_model, data.subset(max_train=count), batch_size=batch_size, lr=3e-3, device=device)
        result = compare(ours, reference, repeats=sizes.repeats)
        rows += [_row(f"{name} samples/s", result, target=target, ours_batch=batch_size),
                 _ceiling_row(result, flops_per_sample=flops, matmul=matmul)]

    torch.manual_seed(0)
    flops = _reference_gan_flops_per_sample(DCGANGenerator(image_shape=shape, base_channels=sizes.gan_channels).to(device),
                                            DCGANDiscriminator(image_shape=shape, base_channels=sizes.gan_channels).to(device),
                                            images * 2 - 1)
    ours, reference = _gan_pair(data, steps=sizes.gan_steps, base_channels=sizes.gan_channels, batch_size=gan_batch_size, device=device)
    result = compare(ours, reference, repeats=sizes.repeats)
    rows += [_row("DCGAN step samples/s", result, target=None, ours_batch=gan_batch_size,
                  detail=f"; {sizes.gan_steps} steps per repeat"),
             _ceiling_row(result, flops_per_sample=flops, matmul=matmul)]
    return rows
