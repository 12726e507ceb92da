"""How long each gallery example trains, decided in one place for every build mode and device.

A docs build runs in one of two modes, read from ``$MLCHEATSHEET_MODE``:

``full`` (the default, ``make html``)
    Budgets measured to reach each page's quality target on a 2-core CPU, or the longer
    runs a GPU affords.
``quick`` (``make html-quick`` and the test suite)
    A few seconds per example: the code runs end to end, the numbers are not meaningful.

A gallery script writes its recipe as literal numbers — the CPU run on the embedded
``mnist-5k``, which is also what a reader who downloads it runs — and hands them, in a
``sphinx_gallery_start_ignore`` block the page leaves out, to :func:`build_data` and
:func:`build_length`. A full CPU build runs the recipe as written (and fails if it has
drifted from the table below); a quick build, a GPU build or a build on another dataset
runs this module's budget instead and prints one line saying so.

Next to each budget sits the quality :class:`Target` that budget was measured to reach
(:func:`get_target`). :func:`mlcheatsheet.site.report.report_result` records it with the result,
and the docs build fails a full build that misses it on the configuration it was measured
for (:data:`TARGET_DEVICE`, :data:`TARGET_DATASET`); elsewhere a miss is only reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..data import CorruptDatasetError, DataUnavailableError, Dataset, canonical_name, load_dataset

__all__ = [
    "DATASET_ENV",
    "MODE_ENV",
    "TARGET_DATASET",
    "TARGET_DEVICE",
    "Budget",
    "Target",
    "budget_table",
    "build_data",
    "build_dataset",
    "build_length",
    "build_mode",
    "get_budget",
    "get_target",
    "targets_enforced",
]

#: Environment variable that selects the build mode, ``quick`` or ``full``.
MODE_ENV = "MLCHEATSHEET_MODE"
#: Environment variable that chooses one dataset for the whole build, e.g. ``fashion-mnist``.
DATASET_ENV = "MLCHEATSHEET_DATASET"
_MODES = ("quick", "full")
#: The device type on which the full-mode targets were measured. Only there, and on
#: :data:`TARGET_DATASET`, does a missed target fail the build.
TARGET_DEVICE = "cpu"
#: The dataset on which the full-mode targets were measured.
TARGET_DATASET = "mnist-5k"


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
        seeds: Training seeds of each variant (the GAN ablation, which compares variants paired by seed).
        dataset: Dataset to load (``None`` = the build's default).
        references: Images in each FID reference set (the FID classifier's budget; ``None`` =
            the held-out count, or a quarter of the training images when that is smaller).
        sampling_steps: Solver steps of a diffusion model's sampler (the diffusion page, whose
            sampling costs a network evaluation per step and image).
        draws: Independent sets of samples scored for a generator's headline FID.
    """

    epochs: int = 1
    batch_size: int = 128
    max_train: int | None = None
    steps: int | None = None
    transfer_steps: int | None = None
    delay_epochs: int | None = None
    seeds: int | None = None
    dataset: str | None = None
    references: int | None = None
    sampling_steps: int | None = None
    draws: int | None = None


@dataclass(frozen=True)
class Target:
    """The quality a full-mode run of an example is expected to reach.

    Attributes:
        value: The threshold, on the metric's own scale (a fraction for an accuracy).
        higher_is_better: ``True``: the run must reach at least ``value``; ``False``: at most.
        metric: The compared number as the reader knows it, e.g. ``"test accuracy"``.
        key: ``""`` compares the result's headline value; otherwise the name of the number
            in the result's ``extra`` that is compared (``"ratio"``, FID / floor, for GANs).
        unit: ``"%"`` when ``value`` is a fraction shown as a percentage, ``"×"`` for a
            ratio, else a unit name or ``""``.
    """

    value: float
    higher_is_better: bool = True
    metric: str = ""
    key: str = ""
    unit: str = ""

    def met(self, measured: float) -> bool:
        """Whether ``measured`` reaches the target (a NaN never does)."""
        return measured >= self.value if self.higher_is_better else measured <= self.value

    def format_number(self, number: float) -> str:
        """``number`` in this target's unit: ``96%``, ``60×``, ``106 nats``, ``0.011``."""
        if self.unit == "%":
            return f"{100 * number:.4g}%"
        if self.unit == "×":
            return f"{number:.3g}×"
        return f"{number:.4g}{' ' + self.unit if self.unit else ''}"

    def bound(self) -> str:
        """The threshold with its direction, e.g. ``≥ 96%`` or ``≤ 0.011``."""
        return f"{'≥' if self.higher_is_better else '≤'} {self.format_number(self.value)}"


# FID / floor: the GANs' FIDs compared with the FID between two sets of real images.
_FID_RATIO = "FID / floor"

# example -> "full" (CPU) or "gpu" -> target, keyed like _BUDGETS below. Quick budgets have no
# target (their numbers are not meaningful). Each was measured with the example's "full"
# budget on TARGET_DEVICE and TARGET_DATASET; no GPU target has been measured yet, so a GPU
# run is compared with the CPU target and a miss there is reported, not enforced.
_TARGETS: dict[str, dict[str, Target]] = {
    "mlp": {"full": Target(0.96, metric="test accuracy", unit="%")},
    "cnn": {"full": Target(0.985, metric="test accuracy", unit="%")},
    "resnet": {"full": Target(0.985, metric="test accuracy", unit="%")},
    "rnn": {"full": Target(0.97, metric="test accuracy (best cell)", unit="%")},
    "autoencoder": {"full": Target(0.011, higher_is_better=False, metric="held-out MSE per pixel")},
    "vae": {"full": Target(105.0, higher_is_better=False, metric="held-out negative ELBO", unit="nats")},
    # The GAN bars are FIDs in units of the floor. The DCGAN's earlier bar, FID <= 10 x the
    # old floor (1.345, training vs held-out digits), is the same FID, 13.45, against the
    # floor between two references the classifier never saw (0.844 on mnist-5k): 16 x.
    # The FC GAN's bar is issue 28's: 4,800 steps measured 25.9x, 24.4x and 25.6x over seeds
    # 0-2 (3,600 steps: 36.7x on seed 0; 2,400 steps: 61.3x).
    "gan": {"full": Target(30.0, higher_is_better=False, metric=_FID_RATIO, key="ratio", unit="×")},
    "dcgan": {"full": Target(16.0, higher_is_better=False, metric=_FID_RATIO, key="ratio", unit="×")},
    # Issue 28's bar too: 3,000 steps measured 7.33x [6.92, 7.73] and 6.42x on seeds 0 and 1
    # (2,400 steps: 8.33x on seed 0).
    "wgan_gp": {"full": Target(8.0, higher_is_better=False, metric=_FID_RATIO, key="ratio", unit="×")},
    "conditional_dcgan": {"full": Target(0.95, metric="classified as the requested class", unit="%")},
    "sagan": {"full": Target(0.95, metric="classified as the requested class", key="conditional accuracy", unit="%")},
    # Measured 6.40x with this budget and ten Heun steps (one training seed, one draw).
    "diffusion": {"full": Target(9.0, higher_is_better=False, metric=_FID_RATIO, key="ratio", unit="×")},
}


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
        # The quick site's CNN is the one its in-browser demo runs (and the browser test
        # draws digits on), so even quick mode trains it on every image: ~5 s on one thread.
        "quick": Budget(epochs=2),
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
    # A quick build's scores only show that the examples run: 250 reference images (and so
    # 250 samples per draw) instead of 1,000 cut the GAN examples' scoring fourfold.
    "fid-classifier": {
        "quick": Budget(epochs=2, references=250),
        "full": Budget(epochs=8),
    },
    # GANs count generator steps; the FID classifier above is trained on the same data.
    # On a GPU they learn the full 60,000 MNIST digits (the FID classifier follows the data).
    "gan": {
        "quick": Budget(steps=60, batch_size=64),
        "full": Budget(steps=4800, batch_size=64),
        "gpu": Budget(steps=10000, batch_size=64, dataset="mnist"),
    },
    "dcgan": {
        "quick": Budget(steps=30, batch_size=64),
        "full": Budget(steps=2500, batch_size=64),
        "gpu": Budget(steps=10000, batch_size=64, dataset="mnist"),
    },
    "wgan_gp": {
        "quick": Budget(steps=10, batch_size=32),
        "full": Budget(steps=3000, batch_size=32),
        "gpu": Budget(steps=4000, batch_size=64, dataset="mnist"),
    },
    "conditional_dcgan": {
        "quick": Budget(steps=30, batch_size=64),
        "full": Budget(steps=800, batch_size=64),
        "gpu": Budget(steps=6000, batch_size=64, dataset="mnist"),
    },
    # Steps of each run of the four variants (plain DCGAN and one per technique), all at one
    # budget so they are compared at equal steps, from ``seeds`` seeds each. At the full budget
    # the plain DCGAN's spectral-norm discriminator was measured at 7.6x to 8.8x the FID floor
    # over seeds 0-2 (a BatchNorm discriminator: 9.8x to 12.0x; the hinge loss: 10.0x to 12.0x);
    # 2,080 steps left two of the three seeds above 10x.
    "gan_techniques": {
        "quick": Budget(steps=12, batch_size=32, seeds=2),
        "full": Budget(steps=2500, batch_size=32, seeds=3),
        "gpu": Budget(steps=3000, batch_size=64, seeds=3, dataset="mnist"),
    },
    # epochs of flow matching; sampling_steps: Heun steps of the headline sampler (the sweep
    # of step counts stops there); draws: sets of samples scored for the headline FID. A
    # sample costs 2 * sampling_steps - 1 network evaluations, so sampling is budgeted too.
    "diffusion": {
        "quick": Budget(epochs=1, max_train=500, batch_size=64, sampling_steps=2, draws=2),
        "full": Budget(epochs=48, batch_size=64, sampling_steps=10, draws=3),
        "gpu": Budget(epochs=20, batch_size=128, sampling_steps=10, draws=3, dataset="mnist"),
    },
    # SAGAN is the model a CIFAR-10 project reaches for after DCGAN: on a GPU it draws
    # 32x32 colour photos, on the CPU the build's digits.
    "sagan": {
        "quick": Budget(steps=12, batch_size=64),
        "full": Budget(steps=1000, batch_size=64),
        "gpu": Budget(steps=20000, batch_size=64, dataset="cifar10"),
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


def _entry(example: str, device: torch.device | str | None, mode: str | None) -> str:
    """Which entry of an example's tables applies: ``"quick"``, ``"full"`` or ``"gpu"``."""
    if example not in _BUDGETS:
        raise ValueError(f"no budget for example {example!r}; known examples: {', '.join(sorted(_BUDGETS))}")
    mode = mode or build_mode()
    if mode not in _MODES:
        raise ValueError(f"unknown mode {mode!r}; use 'quick' or 'full'")
    if mode == "full" and device is not None and torch.device(device).type == "cuda" and "gpu" in _BUDGETS[example]:
        return "gpu"
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
    budget = _BUDGETS[example][_entry(example, device, mode)]
    chosen = build_dataset()  # a dataset chosen for the whole build overrides the example's own
    return replace(budget, dataset=chosen) if chosen else budget


def get_target(example: str, *, device: torch.device | str | None = None, mode: str | None = None) -> Target | None:
    """The quality target of ``example``'s budget in the given (default: current) mode, on ``device``.

    Args:
        example: The example's name, e.g. ``"mlp"``.
        device: The training device, as for :func:`get_budget`.
        mode: ``"quick"`` or ``"full"``; defaults to :func:`build_mode`.

    Returns:
        The target, or ``None`` in quick mode and for a name without a budget (an example
        outside this site's gallery). The ``gpu`` entry falls back to the ``full`` target.
    """
    if example not in _BUDGETS:
        return None
    entry = _entry(example, device, mode)
    targets = _TARGETS.get(example, {})
    return targets.get(entry, targets.get("full")) if entry != "quick" else None


def targets_enforced(device: str, dataset: str) -> bool:
    """Whether a run on ``device`` (e.g. ``"cpu"``, ``"cuda:0"``) and ``dataset`` is where the targets were measured."""
    return device.split(":", 1)[0] == TARGET_DEVICE and dataset == TARGET_DATASET


def build_dataset() -> str | None:
    """The dataset chosen for the whole build by ``$MLCHEATSHEET_DATASET`` (``None`` when unset)."""
    return os.environ.get(DATASET_ENV, "").strip() or None


def build_data(example: str, device: torch.device | str, data: Dataset) -> Dataset:
    """The data this build trains ``example`` on, given what its script loaded.

    ``data`` is returned as it is in a full CPU build; a GPU budget or ``$MLCHEATSHEET_DATASET``
    names another dataset, loaded here, and a quick budget keeps fewer training images. Each
    change is printed.
    """
    budget = get_budget(example, device=device)
    wanted = canonical_name(budget.dataset)
    if wanted != canonical_name(data.name):
        print(f"This build trains on {wanted} instead of the script's {data.name}.")
        try:  # quietly: the script prints the data it trains on; here only why a stand-in is used
            data = load_dataset(wanted, verbose=False, fallback=False)
        except DataUnavailableError as exc:
            if isinstance(exc, CorruptDatasetError):
                raise
            print(f"{exc}; falling back to the embedded mnist-5k.")
            data = load_dataset(wanted, verbose=False)
    kept = data.subset(max_train=budget.max_train)
    if len(kept.x_train) < len(data.x_train):
        print(f"{build_mode().capitalize()} build: {len(kept.x_train):,} of the {len(data.x_train):,} training images.")
    return kept


def build_length(example: str, device: torch.device | str, **recipe: int) -> Any:
    """The lengths (``epochs``, ``steps``, ``batch_size``, ...) this build trains ``example`` with.

    Args:
        example: The example's budget name, e.g. ``"cnn"``.
        device: The training device (CUDA selects a ``gpu`` budget in full mode).
        recipe: The script's values, by :class:`Budget` field name.

    Returns:
        The values in the order given, or the one value alone. A full CPU build returns the
        recipe's own; any other build returns the budget's and prints a line naming each change.

    Raises:
        ValueError: A name that is not a budget field, or a full CPU budget that differs from
            the script's recipe (the table and the script have drifted apart: change one).
    """
    budget, entry = get_budget(example, device=device), _entry(example, device, None)
    values = []
    for name, written in recipe.items():
        if name not in Budget.__dataclass_fields__ or name in ("dataset", "max_train"):
            raise ValueError(f"{name!r} is not a training length of a budget")
        values.append(getattr(budget, name))
        if entry == "full" and values[-1] != written:
            raise ValueError(f"the {example} script's recipe says {name}={written}, its full budget {values[-1]}: "
                             "the two must agree (mlcheatsheet/site/budgets.py)")
    changed = [f"{name}={value:,} (the recipe: {written:,})" for (name, written), value in zip(recipe.items(), values)
               if value != written]
    if changed:
        print(f"{'GPU' if entry == 'gpu' else build_mode().capitalize()} build: " + ", ".join(changed))
    return values[0] if len(values) == 1 else tuple(values)


def budget_table() -> dict[str, dict[str, Budget]]:
    """A copy of every example's budgets, for documentation and the benchmark report."""
    return {name: {mode: replace(b) for mode, b in modes.items()} for name, modes in _BUDGETS.items()}
