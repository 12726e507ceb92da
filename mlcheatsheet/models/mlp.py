"""The multilayer perceptron: fully connected layers with non-linearities in between.

Rumelhart, Hinton & Williams, "Learning representations by back-propagating errors",
Nature 323 (1986), https://doi.org/10.1038/323533a0. Each hidden layer computes
:math:`h_{l} = \\mathrm{Dropout}(\\mathrm{ReLU}(\\mathrm{BN}(W_{l} h_{l-1})))` — no bias: BatchNorm's
shift :math:`\\beta_l` takes its place — and the last layer returns class logits
:math:`z = W_L h_{L-1} + b_L`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive, check_probability
from .layers import FastDropout
from .registry import register_model

__all__ = ["MLP"]


@register_model("mlp")
class MLP(nn.Module):
    """A multilayer perceptron that classifies images from their flattened pixels.

    Every hidden layer is ``Linear → BatchNorm → ReLU → Dropout`` (:class:`~mlcheatsheet.models.layers.FastDropout`,
    the same dropout with a faster mask on the CPU); the output layer is a
    plain ``Linear`` that returns logits (pair it with
    :func:`~torch.nn.functional.cross_entropy`, never with a softmax of its own).

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        hidden_dims: Width of each hidden layer, input side first.
        num_classes: Number of output logits.
        dropout: Probability of zeroing a hidden unit during training.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, K)` logits, :math:`K` = ``num_classes``.

    Example:
        >>> model = MLP(hidden_dims=(128,))
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (512, 256),
        num_classes: int = 10,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("hidden_dims", tuple(hidden_dims))
        check_positive("num_classes", num_classes)
        check_probability("dropout", dropout)
        c, h, w = self.image_shape
        in_features = c * h * w
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden_dims:
            # BatchNorm makes the MLP insensitive to the input scale and allows a high
            # learning rate; its shift cancels a linear bias, so the bias is dropped.
            layers += [nn.Linear(in_features, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(FastDropout(dropout))  # nn.Dropout with a faster mask on the CPU
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class logits of a batch of images.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            Logits, :math:`(N, K)`.
        """
        check_image_batch("MLP", x, self.image_shape)
        return self.layers(x)  # (N, C, H, W) -> (N, C*H*W) -> ... -> (N, K)
