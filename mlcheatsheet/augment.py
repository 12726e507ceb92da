"""Batched data augmentation on tensors: every image of a batch gets its own random warp.

Random small affine warps (shift, rotation, scale) are the classic way to make a small
digit dataset look larger. They are done with one :func:`~torch.nn.functional.affine_grid`
and one :func:`~torch.nn.functional.grid_sample` per batch, on whatever device the batch
lives on, so augmentation costs far less than the training step it feeds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_affine"]


def random_affine(
    images: torch.Tensor,
    *,
    max_shift: float = 2.0,
    max_rotation: float = 10.0,
    max_scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Warp each image by its own random shift, rotation and scale.

    Args:
        images: A batch of images.
        max_shift: Largest shift, in pixels, along each axis.
        max_rotation: Largest rotation, in degrees, either way.
        max_scale: Largest relative zoom, either way (``0.1`` = 90% to 110%).
        generator: Random number generator on the images' device, for reproducible runs.

    Returns:
        The warped batch, same shape and device. Pixels moved in from outside are zero.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, C, H, W)`.
    """
    n, _, h, w = images.shape
    device, dtype = images.device, images.dtype

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(n, device=device, dtype=dtype, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(max_rotation))
    scale = 1 + uniform(max_scale)
    # affine_grid works in normalised coordinates where the image spans [-1, 1].
    shift_x, shift_y = uniform(2 * max_shift / w), uniform(2 * max_shift / h)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], dim=1), torch.stack([sin, cos, shift_y], dim=1)], dim=1
    )  # (N, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
