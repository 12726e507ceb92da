"""Where and how a training run computes, decided once per run.

:func:`get_device` picks CUDA, then Apple's MPS, then the CPU (``$MLCHEATSHEET_DEVICE``
overrides it); :func:`seed_everything` seeds every random number generator a run touches.
A :class:`Runtime` carries the rest of the policy — threads, CUDA backend switches, the
mixed-precision dtype and its gradient scaler, the channels-last layout, the optimiser
kernels — so that a training loop only *uses* these decisions and never re-asks them per
step. This module reads only ``$MLCHEATSHEET_DEVICE`` and ``$MLCHEATSHEET_THREADS``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEVICE_ENV",
    "PRECISIONS",
    "THREADS_ENV",
    "Runtime",
    "adam_kernels",
    "autocast",
    "check_precision",
    "configure_backends",
    "configure_threads",
    "describe_device",
    "forced_threads",
    "get_device",
    "mixed_precision_dtype",
    "seed_everything",
    "usable_cpus",
    "use_channels_last",
]

#: Environment variable that forces a device, e.g. ``cpu``, ``cuda``, ``cuda:1`` or ``mps``.
DEVICE_ENV = "MLCHEATSHEET_DEVICE"
#: Environment variable forcing the number of CPU threads, e.g. ``1`` on a machine shared with other jobs.
THREADS_ENV = "MLCHEATSHEET_THREADS"
#: Values of ``TrainConfig.precision`` / ``GanConfig.precision``.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


# --- Device and seeds ----------------------------------------------------------------------


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to train on.

    Args:
        preferred: A device to use instead of auto-selection. Defaults to
            ``$MLCHEATSHEET_DEVICE`` when that is set.

    Returns:
        ``cuda`` when a GPU is present, else ``mps`` on Apple silicon, else ``cpu``
        (unless a device was requested).

    Raises:
        ValueError: The requested device is not a valid device string.
        RuntimeError: The requested device does not exist on this machine.
    """
    if isinstance(preferred, torch.device):
        choice: str | torch.device | None = preferred
    else:
        choice = preferred if preferred is not None else os.environ.get(DEVICE_ENV) or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as exc:
        raise ValueError(f"{choice!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(choice)!r} was requested but CUDA is not available on this machine")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {str(choice)!r} was requested but MPS is not available on this machine")
    return device


def describe_device(device: torch.device | str) -> str:
    """Name ``device`` in a few words for the reader, e.g. ``cuda:0 (NVIDIA A100 80GB PCIe)``.

    A page that says only "cuda" does not say what produced its timings; this names the
    GPU, or the number of CPU threads a training run will use. It only reads: the thread
    count is the one :func:`configure_threads` would set, and nothing is changed.

    Args:
        device: A device, as returned by :func:`get_device`.

    Returns:
        One short line.
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    if device.type == "cpu":
        threads = _wanted_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return str(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (every device), and return a seeded CPU generator.

    Args:
        seed: Any non-negative integer.

    Returns:
        A :class:`torch.Generator` seeded with ``seed``, for code that wants its own stream.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# --- Process-wide switches: threads and CUDA backends ---------------------------------------


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:  # cgroup v2, e.g. "200000 100000" = two CPUs' worth of time; "max ..." = no quota
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def forced_threads() -> int | None:
    """The thread count ``$MLCHEATSHEET_THREADS`` forces, or ``None`` when it is unset.

    Raises:
        ValueError: It is set to something other than a positive whole number.
    """
    forced = os.environ.get(THREADS_ENV, "").strip()
    if not forced:
        return None
    if not forced.isdigit() or int(forced) < 1:
        raise ValueError(f"{THREADS_ENV}={forced!r} is not a positive number of threads")
    return int(forced)


def _wanted_threads() -> int:
    forced = forced_threads()
    return forced if forced is not None else min(torch.get_num_threads(), usable_cpus())


def configure_threads(device: torch.device) -> int:
    """Give torch one intra-op thread per usable CPU core when training on the CPU.

    torch starts one thread per *physical* core of the machine, which in a container can be
    more than the CPUs the process is allowed (affinity mask or cgroup quota); the surplus
    threads then wait on each other at every parallel region. This caps the count at the
    usable CPUs (it never raises a count the user lowered). ``$MLCHEATSHEET_THREADS`` forces
    a number instead: on a machine shared with other training jobs, one thread per process
    avoids the OpenMP barrier stalls of an oversubscribed CPU (``make bench --threads 1``
    measures it). Inter-op threads are left alone: training never runs independent ops in
    parallel.

    Args:
        device: The training device; nothing changes unless it is the CPU.

    Returns:
        The number of intra-op threads in use.
    """
    if device.type == "cpu":
        wanted = _wanted_threads()
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


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


# --- Per-run decisions: precision, layout, optimiser kernels --------------------------------


def mixed_precision_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype used on ``device`` by default, or ``None`` for full float32.

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


def check_precision(precision: str) -> None:
    """Refuse a ``precision`` setting that is not one of :data:`PRECISIONS`, naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")


def _precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    check_precision(precision)
    if precision == "auto":
        return mixed_precision_dtype(device)
    return None if precision == "float32" else getattr(torch, precision)


def _autocast_to(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Mixed precision where it pays: autocast to :func:`mixed_precision_dtype` on CUDA, nothing elsewhere."""
    return _autocast_to(device, mixed_precision_dtype(device))


def use_channels_last(model: nn.Module, device: torch.device, requested: bool | None = None) -> bool:
    """Whether to train ``model`` with channels-last (NHWC) activations on ``device``.

    oneDNN on the CPU and cuDNN on the GPU run convolutions natively in NHWC; in the default
    NCHW layout every convolution pays for a reorder of its input and output. With the
    weights and the input batch in channels-last, the activations stay NHWC through the
    whole network (``make bench`` measures what it buys). MLPs have no 4-D activations to
    reorder.

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


def adam_kernels(device: torch.device) -> dict[str, bool]:
    """Keyword arguments selecting Adam(W)'s fast kernels: fused on CUDA and the CPU, else foreach."""
    return {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}


@dataclass(frozen=True)
class Runtime:
    """The decisions of one training run, made once by :meth:`create` and only read afterwards.

    Attributes:
        device: Where the run computes.
        amp_dtype: The autocast dtype, or ``None`` for full float32.
        channels_last: Whether models and image batches use the NHWC layout.
        threads: CPU intra-op threads in use.
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    threads: int

    @classmethod
    def create(
        cls,
        *models: nn.Module,
        device: torch.device | str | None = None,
        channels_last: bool | None = None,
        precision: str = "auto",
    ) -> Runtime:
        """Decide the run's policy for ``models`` (one decision for all of them).

        Sets the process-wide switches (threads, CUDA backends) as a side effect, once.

        Args:
            models: The networks the run trains. They share one layout decision: a batch
                flows from one into the other (a GAN), so a layer of any of them that must
                not run channels-last keeps all in the default layout.
            device: Where to train; defaults to :func:`get_device`.
            channels_last: Force the layout; ``None`` lets :func:`use_channels_last` decide.
            precision: ``"auto"`` (:func:`mixed_precision_dtype`), ``"float32"``,
                ``"bfloat16"`` or ``"float16"`` (with a gradient scaler).
        """
        device = get_device(device)
        amp_dtype = _precision_dtype(precision, device)
        configure_backends(device)
        threads = configure_threads(device)
        layout = use_channels_last(nn.ModuleList(models), device, channels_last)
        return cls(device=device, amp_dtype=amp_dtype, channels_last=layout, threads=threads)

    def prepare(self, *models: nn.Module) -> None:
        """Move ``models`` to the device and layout; call before an optimiser sees their parameters."""
        for model in models:
            model.to(self.device)
            if self.channels_last:
                model.to(memory_format=torch.channels_last)

    def restore(self, *models: nn.Module) -> None:
        """Hand ``models`` back in the default layout (so ``.view()`` on their weights works)."""
        if self.channels_last:
            for model in models:
                model.to(memory_format=torch.contiguous_format)

    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """An image batch in the run's layout (a no-op for other tensors and for one-channel images)."""
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The run's mixed-precision context (a null context in float32)."""
        return _autocast_to(self.device, self.amp_dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A new gradient scaler: enabled in float16, whose small gradients underflow without it.

        One per optimiser that steps on its own loss (a GAN has two): each loss needs its
        own scale.
        """
        enabled = self.amp_dtype == torch.float16
        return torch.amp.GradScaler(self.device.type if enabled else "cpu", enabled=enabled)

    def adam_kernels(self) -> dict[str, bool]:
        """See :func:`adam_kernels`."""
        return adam_kernels(self.device)

    def optimizer_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        """Backpropagate ``loss`` and take one (scaled) step of ``optimizer``."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

