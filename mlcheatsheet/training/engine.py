"""The supervised training engine: its settings, its history, one run harness and :func:`fit`.

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

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..augment import random_affine
from ..data import Dataset
from ..runtime import Runtime, adam_kernels, autocast, check_precision, seed_everything

__all__ = [
    "History",
    "LossTracker",
    "Objective",
    "Run",
    "TrainConfig",
    "TrainingDivergedError",
    "count_parameters",
    "fit",
    "make_optimizer",
    "predict",
    "start_run",
    "Step",
    "training_steps_taken",
]

LossOut = torch.Tensor | dict[str, torch.Tensor]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], LossOut]
EvalFn = Callable[[nn.Module, Dataset], dict[str, float]]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


# Optimiser steps taken by this package's training loops in this process (GAN: generator
# steps). report_result records how many fell within each example, so the docs build can
# check that the steps an example reports were really trained (docs/_ext/buildcheck.py).
_STEPS_TAKEN = [0]


def training_steps_taken() -> int:
    """Optimiser steps taken so far in this process by :func:`fit` and :func:`~mlcheatsheet.training.adversarial.fit_gan`."""
    return _STEPS_TAKEN[0]


def _count_steps(steps: int) -> None:
    _STEPS_TAKEN[0] += steps


_OPTIMIZERS = ("adamw", "adam", "sgd")


@dataclass
class TrainConfig:
    """Settings of one training run (the model's own hyper-parameters live on the model).

    Every field has a default that suits the gallery data; the budgets module sets
    ``epochs`` (and sometimes ``batch_size``) per build mode and device.
    """

    epochs: int = 10  # full passes over the training images
    batch_size: int = 128  # on 2 CPU cores, 128 keeps both busy without hurting accuracy
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 1e-4  # decoupled (AdamW) decay of weight matrices and kernels only
    optimizer: str = "adamw"  # "adamw", "adam" or "sgd" (Nesterov momentum 0.9)
    schedule: str = "onecycle"  # "onecycle" (warm-up then cosine decay) or "constant"
    label_smoothing: float = 0.0  # classifier targets: 1 - s + s/K on the true class, s/K elsewhere
    augment: bool = False  # random shift/rotation/scale of every training batch
    eval_batch_size: int = 1000  # evaluation holds no activations for backward: go big
    seed: int = 0  # seeds initialisation order, shuffling and augmentation
    channels_last: bool | None = None  # None: on for conv nets on CPU/CUDA (see runtime.use_channels_last)
    precision: str = "auto"  # "auto": bf16/fp16 autocast on CUDA, float32 elsewhere (see runtime)

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
        check_precision(self.precision)

    def recipe(self) -> str:
        """This configuration as one sentence, for a page to print rather than retype.

        Example:
            >>> TrainConfig(epochs=12, lr=5e-3, label_smoothing=0.1, augment=True).recipe()
            '12 epochs of batches of 128; AdamW, weight decay 0.0001 on weights only; peak learning rate 0.005, one-cycle schedule; label smoothing 0.1; random shifts, rotations and scalings of every batch'
        """
        optimiser = {"adamw": f"AdamW, weight decay {self.weight_decay:g} on weights only",
                     "adam": "Adam" + (f", L2 penalty {self.weight_decay:g} on weights only" if self.weight_decay else ""),
                     "sgd": "SGD with Nesterov momentum 0.9"
                            + (f", weight decay {self.weight_decay:g} on weights only" if self.weight_decay else "")}
        schedule = "one-cycle schedule" if self.schedule == "onecycle" else "constant"
        rate = "peak learning rate" if self.schedule == "onecycle" else "learning rate"
        parts = [f"{self.epochs:,} epoch{'s' if self.epochs > 1 else ''} of batches of {self.batch_size}",
                 optimiser[self.optimizer], f"{rate} {self.lr:g}, {schedule}"]
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.augment:
            parts.append("random shifts, rotations and scalings of every batch")
        return "; ".join(parts)


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
        train_loss_floor: The lowest training loss the objective allows (the entropy of
            label-smoothed targets; 0 when a perfect model can reach 0).
    """

    train_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    samples: int = 0
    train_loss_floor: float = 0.0

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


def make_optimizer(params: Iterable[nn.Parameter], config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Build the optimiser named in ``config``, using the fused or foreach kernels.

    Weight decay applies to tensors of two or more dimensions only — weight matrices and
    convolution kernels — and never to biases or normalisation gains and shifts (as
    nanoGPT's ``configure_optimizers`` does): shrinking a BatchNorm scale towards zero
    changes what the layer computes without regularising anything the next layer cannot undo.
    Fused AdamW updates every parameter in one kernel on CUDA and on the CPU; elsewhere the
    multi-tensor ``foreach`` path is used.
    """
    params = list(params)
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [group for group in groups if group["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True, foreach=True)
    adam = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return adam(groups, lr=config.lr, **adam_kernels(device))


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "constant" or total_steps < 3:  # one-cycle needs a step up and a step down
        return None
    # Below 6 steps a quarter of the run is under one step, and OneCycleLR divides by zero.
    pct_start = max(0.25, 1.5 / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=pct_start)


# --- The run harness shared by fit and fit_gan ------------------------------------------------


@dataclass
class Run:
    """What every training loop of the package starts from.

    Attributes:
        runtime: The run's device, precision and layout decisions.
        data: The dataset, on the run's device.
        shuffle: A CPU generator seeded with the run's seed (batch order).
        started: :func:`time.perf_counter` when the loop started (:meth:`start_clock`).
    """

    runtime: Runtime
    data: Dataset
    shuffle: torch.Generator
    started: float = 0.0

    def start_clock(self) -> None:
        """Start timing, once the optimisers exist (building the first one can take a second)."""
        self.started = time.perf_counter()

    def seconds(self) -> float:
        """Wall-clock seconds since the run started."""
        return time.perf_counter() - self.started

    def finish(self, *models: nn.Module, steps: int) -> None:
        """Hand ``models`` back in eval mode and the default layout, and count the steps taken."""
        self.runtime.restore(*models)
        for model in models:
            model.eval()
        _count_steps(steps)


def start_run(
    models: Sequence[nn.Module],
    data: Dataset,
    *,
    seed: int,
    batch_size: int,
    device: torch.device | str | None,
    channels_last: bool | None,
    precision: str,
) -> Run:
    """Seed, decide the runtime, upload the data once and move ``models`` to the device and layout.

    Raises:
        ValueError: ``batch_size`` is larger than the training set.
    """
    n_train = len(data.x_train)
    if batch_size > n_train:
        raise ValueError(f"batch_size {batch_size} is larger than the {n_train} training images")
    shuffle = seed_everything(seed)
    runtime = Runtime.create(*models, device=device, channels_last=channels_last, precision=precision)
    data = data.to(runtime.device)  # one upload; pinned and non-blocking on CUDA
    runtime.prepare(*models)
    return Run(runtime=runtime, data=data, shuffle=shuffle)


class LossTracker:
    """Sums of a loop's loss parts on the device, and the first step where one was not finite.

    Nothing here synchronises with the host until :meth:`read`, once per epoch or interval.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, parts: dict[str, torch.Tensor], step: int) -> None:
        """Add one step's parts (``step`` counted from 1, as :attr:`History.steps`)."""
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        for key, value in parts.items():
            detached = value.detach().float()
            self.sums[key] = self.sums[key] + detached if key in self.sums else detached
            finite = finite & torch.isfinite(detached).all()
        self.first_bad = torch.where(~finite & (self.first_bad < 0), torch.full_like(self.first_bad, step), self.first_bad)
        self.count += 1

    def read(self) -> tuple[dict[str, float], int]:
        """The mean of every part, and the first non-finite step (``-1``: none). One host sync."""
        means = {key: float(total) / self.count for key, total in self.sums.items()}
        return means, int(self.first_bad)


@dataclass(frozen=True)
class Step:
    """Where a loop is, handed to an :class:`Objective` at every step.

    Attributes:
        index: The optimiser step about to be taken, counted from 1.
        epoch: The epoch it belongs to, counted from 0.
        steps_per_epoch: Optimiser steps in one epoch.
    """

    index: int
    epoch: int
    steps_per_epoch: int


class Objective:
    """A training loss that needs the run's device or position (a noise stream, a warm-up).

    :func:`fit` calls :meth:`begin` once the runtime is decided, then the objective at
    every step with the :class:`Step`. A plain ``loss_fn(model, images, labels)`` function
    needs neither and is accepted as it is.
    """

    def begin(self, runtime: Runtime, config: TrainConfig) -> None:
        """Prepare per-run state (default: none)."""

    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: Step) -> LossOut:
        raise NotImplementedError


class _PlainLoss(Objective):
    def __init__(self, loss_fn: LossFn) -> None:
        self.loss_fn = loss_fn

    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: Step) -> LossOut:
        return self.loss_fn(model, images, labels)


def _model_name(model: nn.Module) -> str:
    return type(model).__name__


def _check_epoch(model: nn.Module, means: dict[str, float], first_bad: int, epoch: int, lr: float) -> None:
    bad_parts = [key for key, value in means.items() if not math.isfinite(value)]
    if first_bad < 0 and not bad_parts:
        return
    name = "loss" if "loss" in bad_parts or not bad_parts else bad_parts[0]
    what = "the training loss" if name == "loss" else f"the loss part {name!r}"
    where = f"at step {first_bad}" if first_bad >= 0 else "during"
    raise TrainingDivergedError(
        f"{_model_name(model)}: {what} became {means[name]} {where} (epoch {epoch + 1}). Usual causes: a "
        f"learning rate too high (lr={lr}), inputs that are not normalised, or a loss applied "
        "to the wrong outputs (probabilities where logits are expected)."
    )


def _evaluate(model: nn.Module, evaluate: EvalFn, data: Dataset, history: History, epoch: int, lr: float) -> None:
    metrics = evaluate(model, data)
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"{_model_name(model)}: the evaluation metric {key!r} became {value} after epoch {epoch + 1} "
                f"(step {history.steps}) while the training loss stayed finite. Usual causes: a learning "
                f"rate too high (lr={lr}) that blew up BatchNorm's running statistics, test inputs "
                "not normalised like the training inputs, or a logarithm of zero in the metric."
            )
    for key, value in metrics.items():
        history.log(key, value)


def fit(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig,
    *,
    loss_fn: LossFn | Objective,
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
            dict with the scalar under ``"loss"`` and other parts to log as ``train_<part>``;
            or an :class:`Objective`, called with the :class:`Step` as well.
        evaluate: Called after every epoch; the metrics it returns are logged in the history.
        device: Where to train. Defaults to :func:`~mlcheatsheet.runtime.get_device`.
        on_epoch: Called with the history after every epoch; return ``True`` to stop early.

    Returns:
        The :class:`History` of the run.

    Raises:
        ValueError: The batch size is larger than the training set.
        TrainingDivergedError: The loss, a logged loss part or an evaluation metric became NaN
            or infinite; names the model, the quantity and the step.
    """
    run = start_run([model], data, seed=config.seed, batch_size=config.batch_size, device=device,
                    channels_last=config.channels_last, precision=config.precision)
    runtime, data = run.runtime, run.data
    optimizer = make_optimizer(model.parameters(), config, runtime.device)
    n_train, batch = len(data.x_train), config.batch_size
    steps_per_epoch = n_train // batch  # drop the ragged last batch (BatchNorm)
    schedule = _make_schedule(optimizer, config, config.epochs * steps_per_epoch)
    scaler = runtime.scaler()
    augment = torch.Generator(device=runtime.device).manual_seed(config.seed) if config.augment else None
    objective = loss_fn if isinstance(loss_fn, Objective) else _PlainLoss(loss_fn)
    objective.begin(runtime, config)
    history = History()
    run.start_clock()
    for epoch in range(config.epochs):
        model.train()
        tracker = LossTracker(runtime.device)
        order = torch.randperm(n_train, generator=run.shuffle).to(runtime.device, non_blocking=True)
        for i in range(steps_per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            images, labels = data.x_train[idx], data.y_train[idx]
            if augment is not None:
                images = random_affine(images, generator=augment)
            step = Step(index=history.steps + i + 1, epoch=epoch, steps_per_epoch=steps_per_epoch)
            with runtime.autocast():
                out = objective(model, runtime.batch(images), labels, step)
            parts = out if isinstance(out, dict) else {"loss": out}
            runtime.optimizer_step(parts["loss"], optimizer, scaler)
            if schedule is not None:
                schedule.step()
            tracker.add(parts, step=step.index)
        history.steps += steps_per_epoch
        history.samples += steps_per_epoch * batch
        means, first_bad = tracker.read()  # one host sync per epoch
        _check_epoch(model, means, first_bad, epoch, config.lr)
        history.train_loss.append(means.pop("loss"))
        for key, value in means.items():
            history.log(f"train_{key}", value)
        model.eval()
        if evaluate is not None:
            _evaluate(model, evaluate, data, history, epoch, config.lr)
        history.seconds.append(run.seconds())
        if on_epoch is not None and on_epoch(history):
            break
    run.finish(model, steps=history.steps)
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
    outputs = []
    with torch.inference_mode(), autocast(images.device):
        for start in range(0, len(images), batch_size):
            outputs.append(model(images[start : start + batch_size]).float())
    return torch.cat(outputs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
