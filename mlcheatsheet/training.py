"""Training loops that do not waste the machine, and the history they return.

The whole dataset lives on the training device as tensors; each epoch draws a random
permutation and slices it into index batches, so no per-sample Python work happens.
Losses are summed on the device and read once per epoch (no per-step host sync), and
evaluation runs under :func:`torch.inference_mode`. Nothing here prints: the loops return a
:class:`History` and the caller decides what to show.

Reproducibility: on the CPU, the same seed (set before the model is built, and
``TrainConfig.seed`` for shuffling, dropout and augmentation) gives a bit-identical history
run after run, as long as the number of threads (:func:`torch.get_num_threads`) is the
same. On CUDA, cuDNN and atomic-add kernels are nondeterministic by default; for identical
GPU runs call ``torch.use_deterministic_algorithms(True)``, set
``torch.backends.cudnn.benchmark = False`` and export ``CUBLAS_WORKSPACE_CONFIG=:4096:8``,
at some cost in speed. Runs on different devices or library versions agree only to
rounding.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .augment import random_affine
from .data import Dataset
from .device import get_device, seed_everything
from .metrics import FIDScorer, mean_pairwise_distance, reconstruction_mse
from .models.autoencoder import corrupt, reconstruction_loss
from .models.dcgan import critic_loss, gradient_penalty, wasserstein_generator_loss
from .models.gan import discriminator_loss, minimax_generator_loss, non_saturating_generator_loss
from .models.vae import reparameterize, vae_loss

__all__ = [
    "GanCollapseWarning",
    "GanConfig",
    "GanHistory",
    "History",
    "TrainConfig",
    "TrainingDivergedError",
    "autocast",
    "configure_backends",
    "configure_threads",
    "count_parameters",
    "detect_collapse",
    "evaluate_autoencoder",
    "evaluate_classifier",
    "evaluate_vae",
    "fit",
    "fit_autoencoder",
    "fit_classifier",
    "fit_gan",
    "fit_vae",
    "freeze_backbone",
    "input_gradient_per_row",
    "make_optimizer",
    "mixed_precision_dtype",
    "predict",
    "sample_images",
    "training_steps_taken",
    "use_channels_last",
    "with_new_head",
]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor | dict[str, torch.Tensor]]
EvalFn = Callable[[nn.Module, Dataset], dict[str, float]]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


# Optimiser steps taken by this package's training loops in this process (GAN: generator
# steps). report_result records how many fell within each example, so the docs build can
# check that the steps an example reports were really trained (docs/_ext/buildcheck.py).
_STEPS_TAKEN = [0]


def training_steps_taken() -> int:
    """Optimiser steps taken so far in this process by :func:`fit` and :func:`fit_gan`."""
    return _STEPS_TAKEN[0]


@dataclass
class TrainConfig:
    """Settings of one training run (the model's own hyper-parameters live on the model).

    Every field has a default that suits the gallery data; the budgets module sets
    ``epochs`` (and sometimes ``batch_size``) per build mode and device.
    """

    epochs: int = 10  # full passes over the training images
    batch_size: int = 128  # on 2 CPU cores, 128 keeps both busy without hurting accuracy
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-4  # decoupled (AdamW) weight decay
    optimizer: str = "adamw"  # "adamw", "adam", "sgd" (Nesterov momentum 0.9) or "adadelta"
    schedule: str = "onecycle"  # "onecycle" (warm-up then cosine decay) or "constant"
    label_smoothing: float = 0.0  # classifier targets: 1 - s on the true class
    augment: bool = False  # random shift/rotation/scale of every training batch
    eval_batch_size: int = 1000  # evaluation holds no activations for backward: go big
    seed: int = 0  # seeds initialisation order, shuffling and augmentation
    channels_last: bool | None = None  # None: on for conv nets on CPU/CUDA (see use_channels_last)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError(f"batch sizes must be positive, got {self.batch_size} and {self.eval_batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(_OPTIMIZERS)}")
        if self.schedule not in ("onecycle", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; choose 'onecycle' or 'constant'")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass
class History:
    """What happened during training, one entry per epoch.

    Attributes:
        train_loss: Mean training loss of each epoch.
        seconds: Wall-clock seconds since training started, at the end of each epoch
            (evaluation included).
        metrics: Other per-epoch series by name, e.g. ``test_loss`` and ``test_accuracy``
            for a classifier, or the parts of a composite loss (``train_kl``).
        steps: Optimiser steps taken in all.
        samples: Training images processed in all.
    """

    train_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    samples: int = 0

    def __getitem__(self, name: str) -> list[float]:
        if name == "train_loss":
            return self.train_loss
        if name == "seconds":
            return self.seconds
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no series {name!r}; this history has: train_loss, seconds, {', '.join(self.metrics)}") from None

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds the whole run took."""
        return self.seconds[-1] if self.seconds else 0.0

    @property
    def test_loss(self) -> list[float]:
        """Held-out loss per epoch (classifiers)."""
        return self["test_loss"]

    @property
    def test_accuracy(self) -> list[float]:
        """Held-out accuracy per epoch, in ``[0, 1]`` (classifiers)."""
        return self["test_accuracy"]

    def log(self, name: str, value: float) -> None:
        """Append ``value`` to the series ``name``."""
        self.metrics.setdefault(name, []).append(float(value))


_OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")


def _adam_kernels(device: torch.device) -> dict[str, bool]:
    # Fused Adam(W) exists on CUDA and the CPU; elsewhere the multi-tensor foreach path.
    return {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}


def make_optimizer(params: Iterator[nn.Parameter] | list[nn.Parameter], config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Build the optimiser named in ``config``, using the fused or foreach kernels.

    Fused AdamW updates every parameter in one kernel on CUDA and on the CPU; elsewhere the
    multi-tensor ``foreach`` path is used. Both are many times cheaper than a Python loop
    over parameters for the small models of this site.
    """
    params = list(params)
    fast = _adam_kernels(device)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay, foreach=True)
    return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "constant" or total_steps < 3:  # one-cycle needs a step up and a step down
        return None
    # Below 6 steps a quarter of the run is under one step, and OneCycleLR divides by zero.
    pct_start = max(0.25, 1.5 / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=pct_start)


def mixed_precision_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype used on ``device``, or ``None`` for full float32.

    CUDA GPUs that compute in bfloat16 natively (Ampere and later) get ``torch.bfloat16``:
    float32's exponent range, so no loss scaling. Older GPUs get ``torch.float16`` with a
    gradient scaler (:func:`torch.cuda.is_bf16_supported` alone would also say yes on them,
    through slow emulation). On CPUs without bf16 hardware autocast is several times
    *slower* than float32, so the CPU and MPS run in full precision.
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if _cuda_bf16_native(device.index) else torch.float16


@functools.cache
def _cuda_bf16_native(index: int | None) -> bool:
    with torch.cuda.device(index if index is not None else torch.cuda.current_device()):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Mixed precision where it pays: autocast to :func:`mixed_precision_dtype` on CUDA, nothing elsewhere."""
    dtype = mixed_precision_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    # fp16 needs loss scaling to keep small gradients from underflowing; bf16 and float32 do
    # not, and a disabled scaler passes the loss and the step through untouched.
    enabled = mixed_precision_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


_BACKENDS_CONFIGURED = False


def configure_backends(device: torch.device) -> bool:
    """Set the process-wide CUDA speed switches, once, when training on CUDA.

    * ``torch.backends.cudnn.benchmark = True``: cuDNN times its convolution algorithms on
      the first batch of each shape and keeps the fastest (the shapes here never change).
    * TF32 for float32 matmuls (``torch.set_float32_matmul_precision("high")``) and cuDNN
      convolutions: tensor cores with a 10-bit mantissa, ample for training.

    Nothing happens on the CPU or MPS, on a second call, or when the user asked for
    deterministic algorithms (:func:`torch.use_deterministic_algorithms`), which benchmark
    mode would defeat.

    Args:
        device: The training device.

    Returns:
        Whether the switches were set by this call.
    """
    global _BACKENDS_CONFIGURED
    if device.type != "cuda" or _BACKENDS_CONFIGURED or torch.are_deterministic_algorithms_enabled():
        return False
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    _BACKENDS_CONFIGURED = True
    return True


# Environment variable forcing the number of CPU threads, e.g. ``1`` on a machine shared with other jobs.
THREADS_ENV = "MLCHEATSHEET_THREADS"


def _usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:  # cgroup v2, e.g. "200000 100000" = two CPUs' worth of time; "max ..." = no quota
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def configure_threads(device: torch.device) -> int:
    """Give torch one intra-op thread per usable CPU core when training on the CPU.

    torch starts one thread per *physical* core of the machine, which in a container can be
    more than the CPUs the process is allowed (affinity mask or cgroup quota); the surplus
    threads then wait on each other at every parallel region. This caps the count at the
    usable CPUs (it never raises a count the user lowered). ``$MLCHEATSHEET_THREADS`` forces
    a number instead: on a machine shared with other training jobs, one thread per process
    avoids the OpenMP barrier stalls of an oversubscribed CPU (measured: 5x faster CNN steps
    with 1 thread than with 2 when four other jobs were running on 2 cores). Inter-op
    threads are left alone: training never runs independent ops in parallel.

    Args:
        device: The training device; nothing changes unless it is the CPU.

    Returns:
        The number of intra-op threads in use.
    """
    if device.type == "cpu":
        forced = os.environ.get(THREADS_ENV, "").strip()
        if forced:
            if not forced.isdigit() or int(forced) < 1:
                raise ValueError(f"{THREADS_ENV}={forced!r} is not a positive number of threads")
            wanted = int(forced)
        else:
            wanted = min(torch.get_num_threads(), _usable_cpus())
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


def use_channels_last(model: nn.Module, device: torch.device, requested: bool | None = None) -> bool:
    """Whether to train ``model`` with channels-last (NHWC) activations on ``device``.

    oneDNN on the CPU and cuDNN on the GPU run convolutions natively in NHWC; in the default
    NCHW layout every convolution pays for a reorder of its input and output. With the
    weights and the input batch in channels-last, the activations stay NHWC through the
    whole network. Measured on this project's 2-core CPU (one thread each, machine shared
    with other jobs): +42-47% samples/s for the package's CNN at batch 64 and 128, +4% for a
    network dominated by a large linear layer; MLPs have no 4-D activations to reorder.

    Args:
        model: The model to train.
        device: The training device.
        requested: ``TrainConfig.channels_last``; ``None`` decides automatically: on when
            the model has a 2-D (transposed) convolution and the device is the CPU or CUDA
            (MPS gains nothing from it).

    Returns:
        ``True`` to convert the model and every input batch.
    """
    if requested is not None:
        return requested
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if device.type == "cpu" and any(isinstance(conv, nn.Conv2d) and _crashes_channels_last_cpu(conv) for conv in convs):
        return False
    return device.type in ("cpu", "cuda") and bool(convs)


def _crashes_channels_last_cpu(conv: nn.Conv2d) -> bool:
    # oneDNN bug (uxlfoundation/oneDNN#6035, open): the weight gradient of a strided 1x1
    # convolution in NHWC writes past its workspace when the input has fewer channels than
    # the kernel's block (8 with AVX2, 16 with AVX-512): a segfault with one thread, a hang
    # with two, or silently wrong gradients. Found with resnet_small(base_channels=4).
    block = 16 if "AVX512" in torch.backends.cpu.get_cpu_capability() else 8
    return conv.kernel_size == (1, 1) and conv.stride != (1, 1) and conv.in_channels < block


def _as_channels_last(images: torch.Tensor, enabled: bool) -> torch.Tensor:
    # A no-op for batches already in that layout (and for one-channel images, whose two
    # layouts coincide in memory).
    return images.contiguous(memory_format=torch.channels_last) if enabled and images.dim() == 4 else images


def _model_name(model: nn.Module) -> str:
    return type(model).__name__


def fit(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig,
    *,
    loss_fn: LossFn,
    evaluate: EvalFn | None = None,
    device: torch.device | str | None = None,
    on_epoch: Callable[[History], bool | None] | None = None,
) -> History:
    """Train ``model`` on ``data.x_train`` / ``data.y_train`` with any per-batch loss.

    Args:
        model: The model; it is moved to ``device`` and left in eval mode.
        data: The dataset (moved to ``device`` once).
        config: Training settings.
        loss_fn: ``loss_fn(model, images, labels)`` returns the scalar loss to minimise, or a
            dict with the scalar under ``"loss"`` and other parts to log as ``train_<part>``.
        evaluate: Called after every epoch; the metrics it returns are logged in the history.
        device: Where to train. Defaults to :func:`~mlcheatsheet.device.get_device`.
        on_epoch: Called with the history after every epoch; return ``True`` to stop early.

    Returns:
        The :class:`History` of the run.

    Raises:
        ValueError: The batch size is larger than the training set.
        TrainingDivergedError: The loss, a logged loss part or an evaluation metric became NaN
            or infinite; names the model, the quantity and the step.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    n_train = len(data.x_train)
    if config.batch_size > n_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n_train} training images")
    generator = seed_everything(config.seed)
    configure_backends(device)
    configure_threads(device)
    data = data.to(device)  # one upload; pinned and non-blocking on CUDA
    model.to(device)
    channels_last = use_channels_last(model, device, config.channels_last)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # before the optimiser sees the parameters
    optimizer = make_optimizer(model.parameters(), config, device)
    steps_per_epoch = n_train // config.batch_size  # drop the ragged last batch (BatchNorm)
    schedule = _make_schedule(optimizer, config, config.epochs * steps_per_epoch)
    scaler = _grad_scaler(device)
    aug_generator = torch.Generator(device=device).manual_seed(config.seed) if config.augment else None

    history = History()
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n_train, generator=generator).to(device, non_blocking=True)
        sums: dict[str, torch.Tensor] = {}
        first_bad = torch.full((), -1, dtype=torch.long, device=device)
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            images, labels = data.x_train[idx], data.y_train[idx]
            if aug_generator is not None:
                images = random_affine(images, generator=aug_generator)
            images = _as_channels_last(images, channels_last)
            with autocast(device):
                out = loss_fn(model, images, labels)
            parts = out if isinstance(out, dict) else {"loss": out}
            loss = parts["loss"]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if schedule is not None:
                schedule.step()
            finite = torch.ones((), dtype=torch.bool, device=device)
            for key, value in parts.items():
                detached = value.detach().float()
                sums[key] = sums[key] + detached if key in sums else detached
                finite = finite & torch.isfinite(detached).all()
            # Remember the first step where the loss or any logged part is not finite, without a host sync.
            step = epoch * steps_per_epoch + i + 1  # counted from 1, like History.steps and fit_gan
            bad_now = ~finite
            first_bad = torch.where(bad_now & (first_bad < 0), torch.full_like(first_bad, step), first_bad)

        history.steps += steps_per_epoch
        _STEPS_TAKEN[0] += steps_per_epoch
        history.samples += steps_per_epoch * config.batch_size
        means = {key: float(total) / steps_per_epoch for key, total in sums.items()}  # one sync per epoch
        bad_parts = [key for key, value in means.items() if not math.isfinite(value)]
        if int(first_bad) >= 0 or bad_parts:
            what = "the training loss" if "loss" in bad_parts or not bad_parts else f"the loss part {bad_parts[0]!r}"
            value = means["loss"] if "loss" in bad_parts or not bad_parts else means[bad_parts[0]]
            where = f"at step {int(first_bad)}" if int(first_bad) >= 0 else "during"
            raise TrainingDivergedError(
                f"{_model_name(model)}: {what} became {value} {where} (epoch {epoch + 1}). Usual causes: a "
                f"learning rate too high (lr={config.lr}), inputs that are not normalised, or a loss applied "
                "to the wrong outputs (probabilities where logits are expected)."
            )
        history.train_loss.append(means.pop("loss"))
        for key, value in means.items():
            history.log(f"train_{key}", value)
        model.eval()
        if evaluate is not None:
            metrics = evaluate(model, data)
            for key, value in metrics.items():
                if not math.isfinite(value):
                    raise TrainingDivergedError(
                        f"{_model_name(model)}: the evaluation metric {key!r} became {value} after epoch {epoch + 1} "
                        f"(step {history.steps}) while the training loss stayed finite. Usual causes: a learning "
                        f"rate too high (lr={config.lr}) that blew up BatchNorm's running statistics, test inputs "
                        "not normalised like the training inputs, or a logarithm of zero in the metric."
                    )
            for key, value in metrics.items():
                history.log(key, value)
        history.seconds.append(time.perf_counter() - start)
        if on_epoch is not None and on_epoch(history):
            break
    if channels_last:  # hand the model back in the default layout, so .view() on its weights works
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Run ``model`` on ``images`` in evaluation mode, batch by batch.

    Args:
        model: Any model; it is switched to eval mode.
        images: Inputs, on the model's device.
        batch_size: Images per forward pass.

    Returns:
        The model outputs, concatenated, as float32.
    """
    model.eval()
    device = images.device
    outputs = []
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(images), batch_size):
            outputs.append(model(images[start : start + batch_size]).float())
    return torch.cat(outputs)


def evaluate_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of a classifier on a labelled set.

    Returns:
        ``{"loss": ..., "accuracy": ...}`` with accuracy in ``[0, 1]``.
    """
    logits = predict(model, images, batch_size=batch_size)
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return {"loss": loss, "accuracy": accuracy}


def fit_classifier(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    on_epoch: Callable[[History], bool | None] | None = None,
) -> History:
    """Train a classifier with cross-entropy and evaluate it on the test split every epoch.

    The loss is

    .. math::
        \\mathcal{L} = -\\frac{1}{N}\\sum_{i=1}^{N} \\log \\mathrm{softmax}(f(x_i))_{y_i}

    (with label smoothing when ``config.label_smoothing > 0``).

    Args:
        model: A model mapping images to logits.
        data: Training and test images.
        config: Training settings; defaults to :class:`TrainConfig`.
        device: Where to train; defaults to :func:`~mlcheatsheet.device.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`History` with ``train_loss``, ``test_loss``, ``test_accuracy`` and
        ``seconds`` per epoch.
    """
    config = config or TrainConfig()

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(net(images), labels, label_smoothing=config.label_smoothing)

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_classifier(net, ds.x_test, ds.y_test, batch_size=config.eval_batch_size)
        return {"test_loss": result["loss"], "test_accuracy": result["accuracy"]}

    return fit(model, data, config, loss_fn=loss_fn, evaluate=evaluate, device=device, on_epoch=on_epoch)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- Autoencoders and the VAE ------------------------------------------------------------------


def _reconstruct(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Sigmoid of the model's logits, batch by batch, as float32 pixels in [0, 1]."""
    return torch.sigmoid(predict(model, images, batch_size=batch_size))


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


def fit_autoencoder(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    noise_std: float = 0.0,
    loss: str = "bce",
    device: torch.device | str | None = None,
    on_epoch: Callable[[History], bool | None] | None = None,
) -> History:
    """Train an autoencoder to rebuild its input, or, with ``noise_std > 0``, to denoise it.

    Each batch :math:`x` is corrupted to :math:`\\tilde x` (:func:`~mlcheatsheet.models.autoencoder.corrupt`,
    fresh noise every step) and the loss is
    :func:`~mlcheatsheet.models.autoencoder.reconstruction_loss` between :math:`g(f(\\tilde x))`
    and the *clean* :math:`x`. Labels are never used.

    Args:
        model: An autoencoder returning reconstruction logits.
        data: Training and test images.
        config: Training settings; defaults to :class:`TrainConfig`.
        noise_std: Standard deviation of the Gaussian input noise; ``0`` trains a plain
            autoencoder.
        loss: ``"bce"`` (Bernoulli, the default: sharper digits) or ``"mse"``.
        device: Where to train; defaults to :func:`~mlcheatsheet.device.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`History` with ``train_loss`` and, on the test split (same corruption,
        fixed noise), ``test_mse`` and ``test_bce`` per epoch.

    Raises:
        ValueError: ``noise_std`` is negative or ``loss`` is unknown.
    """
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    if loss not in ("bce", "mse"):
        raise ValueError(f"unknown reconstruction loss {loss!r}; choose 'bce' or 'mse'")
    config = config or TrainConfig()
    noise_generators: dict[torch.device, torch.Generator] = {}

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if images.device not in noise_generators:  # created on first use, on the training device
            noise_generators[images.device] = torch.Generator(device=images.device).manual_seed(config.seed + 1)
        noisy = corrupt(images, noise_std, generator=noise_generators[images.device])
        return reconstruction_loss(net(noisy), images, kind=loss)

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_autoencoder(net, ds.x_test, noise_std=noise_std, seed=config.seed, batch_size=config.eval_batch_size)
        return {"test_mse": result["mse"], "test_bce": result["bce"]}

    return fit(model, data, config, loss_fn=loss_fn, evaluate=evaluate, device=device, on_epoch=on_epoch)


@torch.inference_mode()
def evaluate_vae(model: nn.Module, images: torch.Tensor, *, seed: int = 0, batch_size: int = 1000) -> dict[str, float]:
    """The negative ELBO of a VAE on a set of images, with its two parts, in nats per image.

    One code is drawn per image (from ``seed``, so repeated calls agree), as in training;
    the estimate of the reconstruction term is unbiased, and its noise averages out over
    the images.

    Args:
        model: A :class:`~mlcheatsheet.models.vae.VAE` (or any model with ``encode``
            returning mean and log-variance and ``decode`` returning logits).
        images: Images on the model's device, pixels in :math:`[0, 1]`.
        seed: Seed of the code draws.
        batch_size: Images per forward pass.

    Returns:
        ``{"loss": ..., "reconstruction": ..., "kl": ...}`` averaged over the images
        (see :func:`~mlcheatsheet.models.vae.vae_loss`).
    """
    model.eval()
    generator = torch.Generator(device=images.device).manual_seed(seed)
    totals = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        mean, logvar = model.encode(batch)
        logits = model.decode(reparameterize(mean, logvar, generator=generator))
        parts = vae_loss(logits.float(), batch, mean.float(), logvar.float())
        for key in totals:
            totals[key] += parts[key].item() * len(batch)
    return {key: value / len(images) for key, value in totals.items()}


def fit_vae(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    kl_warmup_epochs: float = 0.0,
    device: torch.device | str | None = None,
    on_epoch: Callable[[History], bool | None] | None = None,
) -> History:
    """Train a VAE by minimising the negative ELBO (:func:`~mlcheatsheet.models.vae.vae_loss`).

    Args:
        model: A :class:`~mlcheatsheet.models.vae.VAE`: ``forward`` returns
            ``(logits, mean, logvar)``.
        data: Training and test images (labels are never used).
        config: Training settings; defaults to :class:`TrainConfig`.
        kl_warmup_epochs: Raise the weight :math:`\\beta` of the KL term linearly from 0 to 1
            over this many epochs (KL annealing, Bowman et al. 2016,
            https://arxiv.org/abs/1511.06349), so the decoder learns to use the code before
            the prior pulls it in; ``0`` trains on the ELBO from the start.
        device: Where to train; defaults to :func:`~mlcheatsheet.device.get_device`.
        on_epoch: Called after every epoch with the history; return ``True`` to stop.

    Returns:
        A :class:`History` whose ``train_loss`` is the weighted training loss, with
        ``train_reconstruction`` and ``train_kl``, and the held-out ``test_loss`` (the
        negative ELBO), ``test_reconstruction`` and ``test_kl`` per epoch, in nats per image.

    Raises:
        ValueError: ``kl_warmup_epochs`` is negative.
    """
    if kl_warmup_epochs < 0:
        raise ValueError(f"kl_warmup_epochs must be non-negative, got {kl_warmup_epochs}")
    config = config or TrainConfig()
    warmup_steps = kl_warmup_epochs * (len(data.x_train) // config.batch_size)
    step = 0  # counted in Python: the weight never needs a host sync

    def loss_fn(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal step
        step += 1
        kl_weight = min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0
        logits, mean, logvar = net(images)
        return vae_loss(logits.float(), images, mean.float(), logvar.float(), kl_weight=kl_weight)

    def evaluate(net: nn.Module, ds: Dataset) -> dict[str, float]:
        result = evaluate_vae(net, ds.x_test, seed=config.seed, batch_size=config.eval_batch_size)
        return {f"test_{key}": value for key, value in result.items()}

    return fit(model, data, config, loss_fn=loss_fn, evaluate=evaluate, device=device, on_epoch=on_epoch)


# --- Adversarial training ----------------------------------------------------------------------

_GAN_LOSSES = ("non-saturating", "minimax", "wgan-gp")


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
    loss: str = "non-saturating"  # "non-saturating", "minimax" or "wgan-gp"
    critic_steps: int = 1  # discriminator updates per generator update (WGAN-GP: 5)
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp only)
    ema: float = 0.0  # decay of the moving average of the generator's weights; 0 disables it
    lr_decay: bool = False  # decay both learning rates linearly to zero over the run
    log_every: int = 50  # steps per logged loss / D(x) / D(G(z)) value (one host sync each)
    eval_every: int = 250  # steps between FID evaluations and fixed-noise snapshots
    eval_samples: int = 1000  # generated images per FID evaluation
    fixed_samples: int = 64  # images drawn from the fixed noise batch at every snapshot
    channels_last: bool | None = None  # None: on for conv nets on CPU/CUDA (see use_channels_last)
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
        if self.loss not in _GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {self.loss!r}; choose one of: {', '.join(_GAN_LOSSES)}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.eval_samples < 2:
            raise ValueError(f"eval_samples must be at least 2, got {self.eval_samples}")


@dataclass
class GanHistory:
    """What happened during adversarial training.

    Attributes:
        loss: The loss that was trained (``GanConfig.loss``).
        log_steps: Generator step at the end of each logged interval.
        seconds: Wall-clock seconds since the start, at each logged interval.
        generator_loss: Mean generator loss over each interval.
        discriminator_loss: Mean discriminator (critic) loss over each interval, penalty included.
        d_real: Mean :math:`D(x)` over each interval (critic score for WGAN-GP).
        d_fake: Mean :math:`D(G(z))` over each interval (critic score for WGAN-GP).
        gradient_penalty: Mean gradient penalty per interval (WGAN-GP only).
        eval_steps: Generator steps at which samples were evaluated (0 = before training).
        fid: FID of the evaluated generator against the *training* images (model selection).
        min_class_share: Share of the rarest predicted class at each evaluation.
        mean_confidence: Classifier's mean top probability at each evaluation.
        conditional_accuracy: Share classified as the requested class (conditional models).
        diversity: Mean pairwise distance of samples divided by that of real images.
        snapshots: Images from the fixed noise batch at each evaluation, pixels in
            :math:`[0, 1]`, on the CPU.
        fixed_noise: The fixed noise batch, :math:`(M, Z)`, on the CPU.
        fixed_labels: Its labels for a conditional generator (``None`` otherwise).
        best_step: Evaluation step whose generator was kept (lowest FID).
        best_fid: Its FID against the training images.
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

    def collapse_report(self) -> str:
        """One line per sign of collapse, or a line saying none was found."""
        if not self.collapse:
            return "Collapse check: no sign of collapse (discriminator loss and sample diversity stayed healthy)."
        return "\n".join(f"WARNING — GAN collapse: {message}" for message in self.collapse)


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


@torch.no_grad()
def _recompute_batchnorm(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None, batch_size: int) -> None:
    """Replace running BatchNorm statistics by exact averages over ``noise`` ("standing statistics").

    The running averages of a generator whose weights are an EMA belong to *other* weights;
    recomputing them makes eval-mode samples match the weights actually used.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    for start in range(0, len(noise) - batch_size + 1, batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size]
        _generate(generator, noise[start : start + batch_size], batch_labels)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()


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

    Each step trains the discriminator ``config.critic_steps`` times on a batch of real images
    (scaled from :math:`[0, 1]` to :math:`[-1, 1]`, the range of the generator's ``tanh``)
    and a batch of generated ones, then the generator once — on the generated batch the
    discriminator last saw when there is one discriminator update per step (as the DCGAN
    tutorial does; one generator forward per step), on a fresh one otherwise. Conv
    networks run channels-last where :func:`use_channels_last` says it pays. Losses are
    summed on the device and read every ``config.log_every`` steps. Every ``config.eval_every`` steps (and before
    the first step) the generator — its exponential moving average when ``config.ema > 0``,
    with BatchNorm statistics recomputed for those weights — draws ``config.eval_samples``
    images from a fixed noise batch; ``scorer`` measures their FID against the training
    images, class coverage and confidence, and the best generator so far is remembered.

    A generator or discriminator with a ``conditional = True`` attribute is called with class
    labels: real images with their own, generated ones with uniformly drawn classes.

    Args:
        generator: Maps noise :math:`(N, Z)` (and labels) to images in :math:`[-1, 1]`; must
            have a ``latent_dim`` attribute. On return it holds the kept (best-FID) weights,
            in eval mode.
        discriminator: Maps images (and labels) to logits (critic scores for WGAN-GP).
        data: Training images in :math:`[0, 1]` (and labels).
        config: Training settings.
        scorer: Scores samples (:func:`~mlcheatsheet.metrics.fid_scorer`); without one, no FID
            is measured and the last generator is kept.
        device: Where to train; defaults to :func:`~mlcheatsheet.device.get_device`.

    Returns:
        The :class:`GanHistory`; signs of collapse are listed in ``history.collapse`` and
        issued as :class:`GanCollapseWarning`.

    Raises:
        ValueError: The batch is larger than the training set, or the generator has no
            ``latent_dim``.
        TrainingDivergedError: A loss became NaN or infinite; names the networks and step.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    n_train = len(data.x_train)
    if config.batch_size > n_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n_train} training images")
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise ValueError(f"{_model_name(generator)} has no integer latent_dim attribute; fit_gan needs it to draw noise")
    conditional = bool(getattr(generator, "conditional", False))
    if conditional != bool(getattr(discriminator, "conditional", False)):
        raise ValueError("the generator and the discriminator must both be conditional or both unconditional")
    num_classes = data.num_classes
    wasserstein = config.loss == "wgan-gp"

    seed_everything(config.seed)
    rng = torch.Generator(device=device).manual_seed(config.seed)
    eval_rng = torch.Generator().manual_seed(config.seed + 1)  # evaluation never shifts the training stream
    configure_backends(device)
    data = data.to(device)
    real_images = data.x_train * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
    generator.to(device).train()
    discriminator.to(device).train()
    # One decision for both networks: the generated batch flows from one into the other, and a
    # layer of either that must not run channels-last keeps both in the default layout.
    channels_last = use_channels_last(nn.ModuleList([generator, discriminator]), device, config.channels_last)
    if channels_last:  # before the optimisers see the parameters; generated batches come out NHWC
        for net in (generator, discriminator):
            net.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas, **_adam_kernels(device))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_discriminator, betas=config.betas, **_adam_kernels(device))
    schedules = []
    if config.lr_decay:
        schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / config.steps) for opt in (opt_g, opt_d)]
    average = copy.deepcopy(generator).requires_grad_(False) if config.ema > 0 else None
    live_params = list(generator.parameters())
    average_params = list(average.parameters()) if average is not None else []

    history = GanHistory(loss=config.loss)
    fixed_count = config.fixed_samples
    history.fixed_noise = torch.randn(fixed_count, latent_dim, generator=eval_rng)
    eval_noise = torch.randn(config.eval_samples, latent_dim, generator=eval_rng).to(device)
    eval_labels = (torch.arange(config.eval_samples) % num_classes).to(device) if conditional else None
    if conditional:
        history.fixed_labels = torch.arange(fixed_count) % num_classes
    fixed_labels = None if history.fixed_labels is None else history.fixed_labels.to(device)
    fixed_noise = history.fixed_noise.to(device)
    real_spread = mean_pairwise_distance(data.x_train[torch.randperm(n_train, generator=eval_rng)[:256].to(device)])
    best_state: dict[str, torch.Tensor] | None = None
    start = time.perf_counter()

    def evaluate(step: int) -> None:
        nonlocal best_state
        model = average if average is not None else generator
        if average is not None:
            _recompute_batchnorm(average, eval_noise, eval_labels, batch_size=min(config.batch_size * 4, len(eval_noise)))
        samples = sample_images(model, eval_noise, eval_labels)
        history.eval_steps.append(step)
        history.diversity.append(mean_pairwise_distance(samples) / real_spread)
        history.snapshots.append(sample_images(model, fixed_noise, fixed_labels).cpu())
        if scorer is not None:
            quality = scorer.score(samples, labels=eval_labels, reference="train")
            history.fid.append(quality.fid)
            history.min_class_share.append(quality.min_class_share)
            history.mean_confidence.append(quality.mean_confidence)
            history.conditional_accuracy.append(quality.conditional_accuracy)
            better = math.isnan(history.best_fid) or quality.fid < history.best_fid
        else:
            better = True
        if better and step > 0:
            history.best_step = step
            history.best_fid = history.fid[-1] if history.fid else float("nan")
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        generator.train()

    def draw() -> tuple[torch.Tensor, torch.Tensor | None]:
        noise = torch.randn(config.batch_size, latent_dim, device=device, generator=rng)
        labels = torch.randint(num_classes, (config.batch_size,), device=device, generator=rng) if conditional else None
        return noise, labels

    # With one discriminator update per step, the generated batch it is trained on is also
    # the batch the generator learns from: one generator forward per step instead of two.
    reuse_fake = config.critic_steps == 1
    evaluate(0)
    sums: dict[str, torch.Tensor] = {}
    interval_start = 0
    for step in range(1, config.steps + 1):
        for _ in range(config.critic_steps):
            idx = torch.randint(n_train, (config.batch_size,), device=device, generator=rng)
            real, real_labels = _as_channels_last(real_images[idx], channels_last), (data.y_train[idx] if conditional else None)
            noise, fake_labels = draw()
            with torch.set_grad_enabled(reuse_fake):
                fake = _generate(generator, noise, fake_labels)
            real_out = _discriminate(discriminator, real, real_labels)
            fake_out = _discriminate(discriminator, fake.detach(), fake_labels)
            if wasserstein:
                penalty = gradient_penalty(discriminator, real, fake, labels=real_labels, generator=rng)
                d_loss = critic_loss(real_out, fake_out) + config.gp_weight * penalty
            else:
                d_loss = discriminator_loss(real_out, fake_out)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        if not reuse_fake:
            noise, fake_labels = draw()
            fake = _generate(generator, noise, fake_labels)
        fake_out_g = _discriminate(discriminator, fake, fake_labels)
        if wasserstein:
            g_loss = wasserstein_generator_loss(fake_out_g)
        elif config.loss == "minimax":
            g_loss = minimax_generator_loss(fake_out_g)
        else:
            g_loss = non_saturating_generator_loss(fake_out_g)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        for schedule in schedules:
            schedule.step()
        if average is not None:
            decay = min(config.ema, (1 + step) / (10 + step))  # warm-up: early weights are forgotten fast
            with torch.no_grad():
                torch._foreach_lerp_(average_params, live_params, 1 - decay)

        parts = {"g": g_loss, "d": d_loss,
                 "real": real_out.mean() if wasserstein else torch.sigmoid(real_out).mean(),
                 "fake": fake_out.mean() if wasserstein else torch.sigmoid(fake_out).mean()}
        if wasserstein:
            parts["gp"] = penalty
        for key, value in parts.items():
            detached = value.detach().float()
            sums[key] = sums[key] + detached if key in sums else detached

        if step % config.log_every == 0 or step == config.steps:
            count = step - interval_start
            means = {key: float(total) / count for key, total in sums.items()}  # one host sync per interval
            if not all(math.isfinite(v) for v in means.values()):
                raise TrainingDivergedError(
                    f"{_model_name(generator)}/{_model_name(discriminator)}: a GAN loss became non-finite between "
                    f"steps {interval_start + 1} and {step} (generator {means['g']}, discriminator {means['d']}). "
                    f"Usual causes: learning rates too high ({config.lr_generator}, {config.lr_discriminator}), "
                    "images not scaled to [-1, 1], or probabilities passed where logits are expected."
                )
            history.log_steps.append(step)
            history.generator_loss.append(means["g"])
            history.discriminator_loss.append(means["d"])
            history.d_real.append(means["real"])
            history.d_fake.append(means["fake"])
            if wasserstein:
                history.gradient_penalty.append(means["gp"])
            history.seconds.append(time.perf_counter() - start)
            sums, interval_start = {}, step
        if step % config.eval_every == 0 or step == config.steps:
            evaluate(step)

    history.total_seconds = time.perf_counter() - start
    history.steps = config.steps
    _STEPS_TAKEN[0] += config.steps
    history.discriminator_steps = config.steps * config.critic_steps
    history.samples = history.discriminator_steps * config.batch_size
    if channels_last:  # hand the networks back in the default layout (as fit does)
        for net in (generator, discriminator):
            net.to(memory_format=torch.contiguous_format)
    if best_state is not None:
        generator.load_state_dict(best_state)
    generator.eval()
    discriminator.eval()
    history.collapse = detect_collapse(
        history.log_steps,
        [] if wasserstein else history.discriminator_loss,
        history.eval_steps,
        history.diversity,
        d_loss_threshold=config.collapse_d_loss,
        window=config.collapse_window,
        diversity_threshold=config.collapse_diversity,
        warmup=config.collapse_warmup,
    )
    for message in history.collapse:
        warnings.warn(message, GanCollapseWarning, stacklevel=2)
    return history


# --- Transfer learning and recurrent-gradient measurements (classifier examples) ---------------


def with_new_head(model: nn.Module, num_classes: int, *, head: str = "fc") -> nn.Module:
    """A deep copy of a trained model whose classifier ``head`` is a freshly initialised linear layer.

    The starting point of transfer learning: keep what the network learned about images,
    forget what it learned about the old labels.

    Args:
        model: A trained model with a :class:`~torch.nn.Linear` attribute named ``head``.
        num_classes: Outputs of the new head.
        head: Attribute name of the classifier layer.

    Returns:
        The copy (the original model is untouched).

    Raises:
        ValueError: ``model`` has no linear layer called ``head``.
    """
    old = getattr(model, head, None)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{type(model).__name__} has no nn.Linear attribute {head!r} to replace")
    copy_ = copy.deepcopy(model)
    device = old.weight.device
    setattr(copy_, head, nn.Linear(old.in_features, num_classes, device=device))
    return copy_


class _FrozenBatchNorm(nn.Module):
    """A BatchNorm layer turned into the fixed affine map it computes in eval mode."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias.detach() if bn.affine else 0) - bn.running_mean * scale
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", shift.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.scale.view(shape) + self.shift.view(shape)


def freeze_backbone(model: nn.Module, *, head: str = "fc") -> nn.Module:
    """Freeze everything but the classifier ``head``, in place, for feature extraction.

    Every parameter outside ``head`` stops receiving gradients, and every BatchNorm layer
    outside it is replaced by the fixed affine map it computes in evaluation mode. Without
    that second step the backbone would still change: in training mode BatchNorm
    normalises with the statistics of the current batch and keeps updating its running
    averages, even when its parameters are frozen.

    Args:
        model: The model; modified in place.
        head: Attribute name of the part that stays trainable.

    Returns:
        ``model``, for chaining.

    Raises:
        ValueError: ``model`` has no attribute ``head``.
    """
    if not isinstance(getattr(model, head, None), nn.Module):
        raise ValueError(f"{type(model).__name__} has no module {head!r} to keep trainable")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(f"{head}."))
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(f"{head}."):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, _FrozenBatchNorm(module))
    return model


def input_gradient_per_row(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, blank_rows: int = 0) -> torch.Tensor:
    """How strongly the loss depends on each row of the input: :math:`\\|\\partial \\mathcal{L} / \\partial x_t\\|`.

    For a model that reads an image row by row
    (:class:`~mlcheatsheet.models.rnn.RecurrentClassifier`), row :math:`t` is the input of
    time step :math:`t`, so this is the gradient that reaches step :math:`t` from the loss at
    the last step. A vanishing gradient shows as norms that fall exponentially towards the
    first rows.

    Args:
        model: An image classifier (switched to eval mode).
        images: Images on the model's device, :math:`(N, C, H, W)`.
        labels: Their labels, :math:`(N,)`.
        blank_rows: Append this many rows of zeros after each image, so the gradient has to
            cross that many more steps to reach the image (needs a model with a
            ``classify_sequence`` method, such as
            :class:`~mlcheatsheet.models.rnn.RecurrentClassifier`).

    Returns:
        The norm of the gradient of each image's cross-entropy with respect to each of its
        rows (blank rows included), averaged over the images, :math:`(H + \\text{blank\\_rows},)`,
        on the CPU.
    """
    if blank_rows < 0:
        raise ValueError(f"blank_rows must be at least 0, got {blank_rows}")
    if blank_rows and not hasattr(model, "classify_sequence"):
        raise ValueError(f"{type(model).__name__} cannot read extra rows: it has no classify_sequence method")
    model.eval()
    n, c, h, w = images.shape
    rows = images.detach().permute(0, 2, 1, 3).reshape(n, h, c * w)  # (N, H, C*W)
    rows = torch.cat([rows, rows.new_zeros(n, blank_rows, c * w)], dim=1).requires_grad_(True)  # (N, H + B, C*W)
    # cuDNN refuses to backpropagate through an RNN in eval mode; the native kernels do not.
    with torch.backends.cudnn.flags(enabled=False), torch.enable_grad():
        if blank_rows:
            logits = model.classify_sequence(rows)  # type: ignore[operator]
        else:
            logits = model(rows.reshape(n, h, c, w).permute(0, 2, 1, 3))
        loss = F.cross_entropy(logits, labels, reduction="sum")  # sum: per-image gradients
        (grad,) = torch.autograd.grad(loss, rows)
    return grad.norm(dim=2).mean(dim=0).cpu()  # (N, T, C*W) -> (N, T) -> (T,)
