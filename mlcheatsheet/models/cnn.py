"""The convolutional network: small shared filters, pooling, then a linear classifier.

LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 86(11) (1998), https://doi.org/10.1109/5.726791. A convolution
slides one small filter bank over the whole image,
:math:`y_{o,i,j} = b_o + \\sum_{c,u,v} w_{o,c,u,v}\\, x_{c,\\,i+u,\\,j+v}`, so a pattern
learned in one place is recognised everywhere; pooling then halves the resolution, and
after a few stages a linear layer maps the remaining features to class logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive, check_probability
from .registry import register_model

__all__ = ["CNN"]


@register_model("cnn")
class CNN(nn.Module):
    """A convolutional classifier: ``[conv → BN → ReLU → max-pool] × S → dropout → linear``.

    Each of the ``S = len(channels)`` stages keeps the spatial size in its convolution
    (``same`` padding) and halves it in the pooling, so a 28×28 image becomes 14×14, 7×7
    and 3×3 maps with the default three stages. The network's convolutional part is
    ``features``; the classifier on top is ``classifier``.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        channels: Output channels of each stage's convolution, input side first.
        kernel_size: Side of the square filters (odd, so padding keeps the size).
        num_classes: Number of output logits.
        dropout: Probability of zeroing a feature before the linear classifier.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, K)` logits, :math:`K` = ``num_classes``.

    Example:
        >>> model = CNN(channels=(8, 16))
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        channels: Sequence[int] = (32, 64, 128),
        kernel_size: int = 3,
        num_classes: int = 10,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("channels", tuple(channels))
        check_positive("kernel_size", kernel_size)
        check_positive("num_classes", num_classes)
        check_probability("dropout", dropout)
        if not channels:
            raise ValueError("channels must name at least one stage, got ()")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps the image size, got {kernel_size}")
        in_channels, height, width = self.image_shape
        if min(height, width) < 2 ** len(channels):
            raise ValueError(
                f"{len(channels)} pooling stages need images of at least {2 ** len(channels)} pixels a side, "
                f"got {height}x{width}"
            )
        stages: list[nn.Module] = []
        for out_channels in channels:
            stages += [
                # BatchNorm follows, so the convolution's bias would be cancelled: drop it.
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_channels = out_channels
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_channels * height * width, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class logits of a batch of images.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            Logits, :math:`(N, K)`.
        """
        check_image_batch("CNN", x, self.image_shape)
        x = self.features(x)  # (N, 1, 28, 28) -> (N, 32, 14, 14) -> (N, 64, 7, 7) -> (N, 128, 3, 3)
        return self.classifier(x)  # (N, 128 * 3 * 3) -> (N, K)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after each stage's ReLU (before pooling), for pictures.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            One tensor per stage, :math:`(N, C_s, H_s, W_s)`.
        """
        check_image_batch("CNN", x, self.image_shape)
        maps = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                maps.append(x)
        return maps
