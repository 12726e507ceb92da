"""How long each gallery example trains, decided in one place for every build mode and device.

A docs build runs in one of two modes, read from ``$MLCHEATSHEET_MODE``:

``full`` (the default, ``make html``)
    Budgets measured to reach each page's quality target on a 2-core CPU, or the longer
    runs a GPU affords.
``quick`` (``make html-quick`` and the test suite)
    A few seconds per example: the code runs end to end, the numbers are not meaningful.

Gallery scripts never hard-code epochs; they ask :func:`get_budget` for theirs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from .data import DATASET_ENV

__all__ = ["MODE_ENV", "Budget", "budget_table", "build_mode", "get_budget"]

#: Environment variable that selects the build mode, ``quick`` or ``full``.
MODE_ENV = "MLCHEATSHEET_MODE"
_MODES = ("quick", "full")


@dataclass(frozen=True)
class Budget:
    """The training budget of one gallery example.

    Attributes:
        epochs: Passes over the training images (classifiers, autoencoders).
        batch_size: Images per optimiser step.
        max_train: Keep at most this many training images (``None`` = all).
        steps: Optimiser steps, for examples that count steps rather than epochs (GANs).
        dataset: Dataset to load (``None`` = the build's default).
    """

    epochs: int = 1
    batch_size: int = 128
    max_train: int | None = None
    steps: int | None = None
    dataset: str | None = None


# example -> mode -> budget. "full" is the CPU budget (on mnist-5k unless it names a dataset);
# "gpu" (optional) replaces it on CUDA, usually with a full torchvision dataset.
_BUDGETS: dict[str, dict[str, Budget]] = {
    # Batches of 512 (lr 5e-3): 97.0-97.6% by dropout mask and thread count, as batches of 128
    # at lr 3e-3 (97.6%), in two thirds of the time: the hidden layers' matrix products run
    # near the machine's matmul rate only with this many rows.
    "mlp": {
        "quick": Budget(epochs=2, max_train=1000, batch_size=512),
        "full": Budget(epochs=30, batch_size=512),
        # The classic full-size MLP example: 60,000 Fashion-MNIST images on a GPU.
        "gpu": Budget(epochs=30, batch_size=512, dataset="fashion-mnist"),
    },
    # 12 epochs: 98.9% on mnist-5k, ~70 s of one CPU thread for the whole script.
    "cnn": {
        "quick": Budget(epochs=1, max_train=500),
        "full": Budget(epochs=12),
    },
    # epochs: each of ResNet-20, plain-20 and the pre-training on digits 0-4 (half the images);
    # steps: optimiser steps of each transfer strategy on the 50 labelled images of 5-9.
    # 12 epochs gave ResNet-20 98.4-98.5% (by thread count); 14 epochs 98.7% (seeds 0 and 1,
    # one thread) and 98.8-98.9% (seeds 0 and 2, two threads).
    "resnet": {
        "quick": Budget(epochs=1, max_train=500, steps=10),
        "full": Budget(epochs=14, steps=120),
    },
    # epochs: each of the three recurrent cells (15 left the best cell at 96.7-97.3%, by seed;
    # 20 gave 96.9% in a full build, 25 gave 97.6%).
    "rnn": {
        "quick": Budget(epochs=1, max_train=500),
        "full": Budget(epochs=25),
    },
    # epochs: each of the four autoencoders (fully connected with 12- and 2-number codes,
    # convolutional, convolutional denoising).
    "autoencoder": {
        "quick": Budget(epochs=1, max_train=500, batch_size=64),
        "full": Budget(epochs=10, batch_size=64),
    },
    # Batches of 32: on 4,000 images the VAE needs optimiser steps more than epochs. Measured
    # on mnist-5k (base_channels=24, latent 16): 30 epochs reach a held-out negative ELBO of
    # 105.3 nats with a 256-unit hidden layer, 104.5 with 512 (34 epochs of the former: 105.1).
    "vae": {
        "quick": Budget(epochs=1, max_train=500, batch_size=32),
        "full": Budget(epochs=30, batch_size=32),
    },
    # The VAE page's second model, with a 2-D code to draw: a map, not a benchmark.
    "vae_2d": {
        "quick": Budget(epochs=1, max_train=500, batch_size=64),
        "full": Budget(epochs=10, batch_size=64),
    },
    # The classifier whose features define FID (trained once per process, shared by the GANs).
    "fid-classifier": {
        "quick": Budget(epochs=2),
        "full": Budget(epochs=8),
    },
    # GANs count generator steps; the FID classifier above is trained on the same data.
    # DCGAN with the gallery's recipe (one thread, FID / floor): 2,000 steps 6.4x, 2,500 5.8x
    # (a 64-number noise vector: 9.5x and 8.3x).
    # Conditional DCGAN: 96.7% of samples of the requested class at 625 steps, 97.2% at 1,000.
    # On a GPU they learn the full 60,000 MNIST digits (the FID classifier follows the data).
    "gan": {
        "quick": Budget(steps=60, batch_size=64),
        "full": Budget(steps=2400, batch_size=64),
        "gpu": Budget(steps=10000, batch_size=64, dataset="mnist"),
    },
    "dcgan": {
        "quick": Budget(steps=30, batch_size=64),
        "full": Budget(steps=2500, batch_size=64),
        "gpu": Budget(steps=10000, batch_size=64, dataset="mnist"),
    },
    "wgan_gp": {
        "quick": Budget(steps=10, batch_size=64),
        "full": Budget(steps=400, batch_size=64),
        "gpu": Budget(steps=4000, batch_size=64, dataset="mnist"),
    },
    "conditional_dcgan": {
        "quick": Budget(steps=30, batch_size=64),
        "full": Budget(steps=800, batch_size=64),
        "gpu": Budget(steps=6000, batch_size=64, dataset="mnist"),
    },
}


def build_mode() -> str:
    """The build mode from ``$MLCHEATSHEET_MODE`` (``full`` when unset).

    Raises:
        ValueError: The variable holds something other than ``quick`` or ``full``.
    """
    mode = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if mode not in _MODES:
        raise ValueError(f"{MODE_ENV}={mode!r} is not a build mode; use 'quick' or 'full'")
    return mode


def get_budget(example: str, *, device: torch.device | str | None = None, mode: str | None = None) -> Budget:
    """The budget of ``example`` in the given (default: current) mode, on ``device``.

    Args:
        example: The example's name, e.g. ``"mlp"``.
        device: The training device; CUDA selects the ``gpu`` budget in full mode.
        mode: ``"quick"`` or ``"full"``; defaults to :func:`build_mode`.

    Returns:
        The budget. Its ``dataset`` is ``$MLCHEATSHEET_DATASET`` when that is set (one dataset
        for the whole build), else the entry's own (``None``: the default ``mnist-5k``).

    Raises:
        ValueError: Unknown example or mode; the message lists the valid names.
    """
    if example not in _BUDGETS:
        raise ValueError(f"no budget for example {example!r}; known examples: {', '.join(sorted(_BUDGETS))}")
    mode = mode or build_mode()
    if mode not in _MODES:
        raise ValueError(f"unknown mode {mode!r}; use 'quick' or 'full'")
    table = _BUDGETS[example]
    if mode == "full" and device is not None and torch.device(device).type == "cuda" and "gpu" in table:
        budget = table["gpu"]
    else:
        budget = table[mode]
    # A dataset chosen for the whole build overrides the per-example choice.
    chosen = os.environ.get(DATASET_ENV, "").strip()
    return replace(budget, dataset=chosen) if chosen else budget


def budget_table() -> dict[str, dict[str, Budget]]:
    """A copy of every example's budgets, for documentation and the benchmark report."""
    return {name: {mode: replace(b) for mode, b in modes.items()} for name, modes in _BUDGETS.items()}
