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

__all__ = ["DATASET_ENV", "MODE_ENV", "Budget", "budget_table", "build_dataset", "build_mode", "get_budget"]

#: Environment variable that selects the build mode, ``quick`` or ``full``.
MODE_ENV = "MLCHEATSHEET_MODE"
#: Environment variable that chooses one dataset for the whole build, e.g. ``fashion-mnist``.
DATASET_ENV = "MLCHEATSHEET_DATASET"
_MODES = ("quick", "full")


@dataclass(frozen=True)
class Budget:
    """The training budget of one gallery example.

    Attributes:
        epochs: Passes over the training images (classifiers, autoencoders).
        batch_size: Images per optimiser step.
        max_train: Keep at most this many training images (``None`` = all).
        steps: Generator steps, for the GANs (which count steps rather than epochs).
        transfer_steps: Optimiser steps of each transfer-learning strategy (the ResNet page).
        delay_epochs: Epochs of each cell on the delayed-digit task (the RNN page).
        dataset: Dataset to load (``None`` = the build's default).
    """

    epochs: int = 1
    batch_size: int = 128
    max_train: int | None = None
    steps: int | None = None
    transfer_steps: int | None = None
    delay_epochs: int | None = None
    dataset: str | None = None


# example -> mode -> budget. "full" is the CPU budget (on mnist-5k unless it names a dataset);
# "gpu" (optional) replaces it on CUDA, usually with a full torchvision dataset. Each full
# budget is the shortest measured to meet its page's quality target on the 2-core CPU; the
# measurements are in the commits that set them and in `make bench`'s build report.
_BUDGETS: dict[str, dict[str, Budget]] = {
    # Batches of 512: the hidden layers' matrix products run near the machine's matmul rate
    # only with this many rows, and accuracy matches batches of 128 in two thirds of the time.
    "mlp": {
        "quick": Budget(epochs=2, max_train=1000, batch_size=512),
        "full": Budget(epochs=30, batch_size=512),
        # The classic full-size MLP example: 60,000 Fashion-MNIST images on a GPU.
        "gpu": Budget(epochs=30, batch_size=512, dataset="fashion-mnist"),
    },
    "cnn": {
        "quick": Budget(epochs=1, max_train=500),
        "full": Budget(epochs=12),
    },
    # epochs: each of ResNet-20, plain-20 and the pre-training on digits 0-4 (half the images);
    # transfer_steps: each transfer strategy, on the 50 labelled images of digits 5-9.
    "resnet": {
        "quick": Budget(epochs=1, max_train=500, transfer_steps=10),
        "full": Budget(epochs=14, transfer_steps=120),
    },
    # epochs: each of the three recurrent cells; delay_epochs: each of the four cells on
    # the digits followed by blank rows (twice the steps per epoch).
    "rnn": {
        "quick": Budget(epochs=1, max_train=500, delay_epochs=1),
        "full": Budget(epochs=25, delay_epochs=10),
    },
    # epochs: each of the four autoencoders (fully connected with 12- and 2-number codes,
    # convolutional, convolutional denoising).
    "autoencoder": {
        "quick": Budget(epochs=1, max_train=500, batch_size=64),
        "full": Budget(epochs=10, batch_size=64),
    },
    # Batches of 32: on 4,000 images the VAE needs optimiser steps more than epochs.
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
    chosen = build_dataset()  # a dataset chosen for the whole build overrides the example's own
    return replace(budget, dataset=chosen) if chosen else budget


def build_dataset() -> str | None:
    """The dataset chosen for the whole build by ``$MLCHEATSHEET_DATASET`` (``None`` when unset)."""
    return os.environ.get(DATASET_ENV, "").strip() or None


def budget_table() -> dict[str, dict[str, Budget]]:
    """A copy of every example's budgets, for documentation and the benchmark report."""
    return {name: {mode: replace(b) for mode, b in modes.items()} for name, modes in _BUDGETS.items()}
