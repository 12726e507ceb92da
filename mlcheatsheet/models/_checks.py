"""Argument and input checks shared by the models, so bad input fails with a clear message."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_image_batch", "check_image_shape", "check_positive", "check_probability"]


def check_positive(name: str, value: int | Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``value`` (or every element of it) is a positive integer."""
    values = [value] if isinstance(value, int) else list(value)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            what = "a positive integer" if values == [value] else "positive integers"
            raise ValueError(f"{name} must be {what}, got {value!r}")


def check_probability(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1``."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_image_shape(image_shape: Sequence[int], *, smallest: int = 1) -> tuple[int, int, int]:
    """``image_shape`` as a ``(C, H, W)`` tuple; ``ValueError`` unless it is three positive integers.

    Args:
        image_shape: The shape of one image, channels first.
        smallest: The least height and width the model can take.
    """
    shape = tuple(image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {shape!r}")
    check_positive("image_shape", shape)
    if min(shape[1:]) < smallest:
        raise ValueError(f"image_shape {shape!r}: images must be at least {smallest}x{smallest} pixels")
    return shape  # type: ignore[return-value]


def check_image_batch(model: str, x: torch.Tensor, expected: tuple[int, int, int]) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch of images of shape ``(N, *expected)``."""
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(expected):
        c, h, w = expected
        raise ValueError(
            f"{model} expects a batch of images of shape (N, {c}, {h}, {w}), got {tuple(x.shape)}"
        )
