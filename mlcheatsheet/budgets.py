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


# example -> mode -> budget. "full" is the CPU budget; "gpu" (optional) replaces it on CUDA.
_BUDGETS: dict[str, dict[str, Budget]] = {
    "mlp": {
        "quick": Budget(epochs=2, max_train=1000),
        "full": Budget(epochs=30),
        "gpu": Budget(epochs=30),
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
        return table["gpu"]
    return table[mode]


def budget_table() -> dict[str, dict[str, Budget]]:
    """A copy of every example's budgets, for documentation and the benchmark report."""
    return {name: {mode: replace(b) for mode, b in modes.items()} for name, modes in _BUDGETS.items()}
