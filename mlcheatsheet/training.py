"""Training loops that do not waste the machine, and the history they return.

The whole dataset lives on the training device as tensors; each epoch draws a random
permutation and slices it into index batches, so no per-sample Python work happens.
Losses are summed on the device and read once per epoch (no per-step host sync), and
evaluation runs under :func:`torch.inference_mode`. Nothing here prints: the loops return a
:class:`History` and the caller decides what to show.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .augment import random_affine
from .data import Dataset
from .device import get_device, seed_everything

__all__ = [
    "History",
    "TrainConfig",
    "TrainingDivergedError",
    "autocast",
    "count_parameters",
    "evaluate_classifier",
    "fit",
    "fit_classifier",
    "make_optimizer",
    "predict",
]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor | dict[str, torch.Tensor]]
EvalFn = Callable[[nn.Module, Dataset], dict[str, float]]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


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


def make_optimizer(params: Iterator[nn.Parameter] | list[nn.Parameter], config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Build the optimiser named in ``config``, using the fused or foreach kernels.

    Fused AdamW updates every parameter in one kernel on CUDA and on the CPU; elsewhere the
    multi-tensor ``foreach`` path is used. Both are many times cheaper than a Python loop
    over parameters for the small models of this site.
    """
    params = list(params)
    fast: dict[str, bool] = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay, foreach=True)
    return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "constant":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=0.25)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Mixed precision where it pays: bf16 (else fp16) autocast on CUDA, nothing elsewhere.

    On CPUs without bf16 hardware, autocast is several times *slower* than float32, so the
    CPU and MPS run in full precision.
    """
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def _grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    # fp16 needs loss scaling to keep small gradients from underflowing; bf16 does not.
    enabled = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler("cuda", enabled=enabled)


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
        TrainingDivergedError: The loss became NaN or infinite; names the model and step.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    n_train = len(data.x_train)
    if config.batch_size > n_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n_train} training images")
    generator = seed_everything(config.seed)
    data = data.to(device)
    model.to(device)
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
            for key, value in parts.items():
                detached = value.detach().float()
                sums[key] = sums[key] + detached if key in sums else detached
            # Remember the first non-finite step without a host sync.
            step = epoch * steps_per_epoch + i
            bad_now = ~torch.isfinite(loss.detach())
            first_bad = torch.where(bad_now & (first_bad < 0), torch.full_like(first_bad, step), first_bad)

        history.steps += steps_per_epoch
        history.samples += steps_per_epoch * config.batch_size
        means = {key: float(total) / steps_per_epoch for key, total in sums.items()}  # one sync per epoch
        if int(first_bad) >= 0:
            raise TrainingDivergedError(
                f"{_model_name(model)}: the training loss became {means['loss']} at step {int(first_bad)} "
                f"(epoch {epoch + 1}). Usual causes: a learning rate too high (lr={config.lr}), "
                "inputs that are not normalised, or a loss applied to the wrong outputs (probabilities "
                "where logits are expected)."
            )
        history.train_loss.append(means.pop("loss"))
        for key, value in means.items():
            history.log(f"train_{key}", value)
        model.eval()
        if evaluate is not None:
            for key, value in evaluate(model, data).items():
                history.log(key, value)
        history.seconds.append(time.perf_counter() - start)
        if on_epoch is not None and on_epoch(history):
            break
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

