"""Choosing where to compute, and making runs reproducible.

:func:`get_device` picks CUDA, then Apple's MPS, then the CPU; ``$MLCHEATSHEET_DEVICE``
overrides the choice for a whole docs build, and :func:`describe_device` names it in the
line a gallery page prints. :func:`seed_everything` seeds every random number generator a
training run touches.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["DEVICE_ENV", "describe_device", "get_device", "seed_everything"]

#: Environment variable that forces a device, e.g. ``cpu``, ``cuda``, ``cuda:1`` or ``mps``.
DEVICE_ENV = "MLCHEATSHEET_DEVICE"


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
        raise RuntimeError(f"device {choice!r} was requested but CUDA is not available on this machine")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {choice!r} was requested but MPS is not available on this machine")
    return device


def describe_device(device: torch.device | str) -> str:
    """Name ``device`` in a few words for the reader, e.g. ``cuda:0 (NVIDIA A100 80GB PCIe)``.

    A page that says only "cuda" does not say what produced its timings; this names the
    GPU, or the number of CPU threads torch uses.

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
        from .training import configure_threads  # the count training will use ($MLCHEATSHEET_THREADS)

        threads = configure_threads(device)
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
