"""Autoencoders: an encoder squeezes an image into a short code, a decoder rebuilds the image.

Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks",
Science 313 (2006), https://doi.org/10.1126/science.1127647; the denoising variant is
Vincent et al., "Extracting and composing robust features with denoising autoencoders",
ICML 2008, https://doi.org/10.1145/1390156.1390294. With an encoder :math:`f` and a decoder
:math:`g`, the reconstruction is :math:`r = g(f(x))` and training minimises a distance
between :math:`r` and :math:`x` (for a denoising autoencoder, between :math:`g(f(\\tilde x))`
and the clean :math:`x`, where :math:`\\tilde x` is a corrupted copy).

The decoders here return *logits*: the reconstruction in pixel space is their sigmoid, and
the Bernoulli (binary cross-entropy) loss is computed from the logits directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive
from .registry import register_model

__all__ = ["Autoencoder", "ConvAutoencoder", "ConvDecoder", "ConvEncoder", "corrupt", "reconstruction_loss"]


@register_model("autoencoder")
class Autoencoder(nn.Module):
    """A fully connected autoencoder: pixels → hidden layers → code → hidden layers → pixels.

    The decoder mirrors the encoder. The code is a plain linear layer (no non-linearity),
    so the code space is not clipped to positive values.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        hidden_dims: Width of each encoder hidden layer, input side first; the decoder
            uses them in reverse.
        latent_dim: Size of the code (the bottleneck). Smaller codes force the model to
            keep only what matters most, and typically give blurrier reconstructions.

    Shape:
        - Input: :math:`(N, C, H, W)`, pixels in :math:`[0, 1]`.
        - Code (:meth:`encode`): :math:`(N, d)`, :math:`d` = ``latent_dim``.
        - Output: :math:`(N, C, H, W)` logits of the reconstruction.

    Example:
        >>> model = Autoencoder(hidden_dims=(64,), latent_dim=2)
        >>> model(torch.zeros(3, 1, 28, 28)).shape
        torch.Size([3, 1, 28, 28])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (512, 128),
        latent_dim: int = 12,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("hidden_dims", tuple(hidden_dims))
        check_positive("latent_dim", latent_dim)
        self.latent_dim = latent_dim
        c, h, w = self.image_shape
        encoder: list[nn.Module] = [nn.Flatten()]
        n_in = c * h * w
        for width in hidden_dims:
            encoder += [nn.Linear(n_in, width), nn.ReLU(inplace=True)]
            n_in = width
        encoder.append(nn.Linear(n_in, latent_dim))
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = []
        n_in = latent_dim
        for width in reversed(tuple(hidden_dims)):
            decoder += [nn.Linear(n_in, width), nn.ReLU(inplace=True)]
            n_in = width
        decoder += [nn.Linear(n_in, c * h * w), nn.Unflatten(1, (c, h, w))]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code :math:`f(x)`, :math:`(N, d)`, of images :math:`(N, C, H, W)`."""
        check_image_batch(type(self).__name__, x, self.image_shape)
        return self.encoder(x)  # (N, C, H, W) -> (N, C*H*W) -> ... -> (N, d)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction logits :math:`g(z)`, :math:`(N, C, H, W)`, of codes :math:`(N, d)`."""
        return self.decoder(z)  # (N, d) -> ... -> (N, C*H*W) -> (N, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of the reconstruction :math:`g(f(x))`.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            Logits, :math:`(N, C, H, W)`; ``torch.sigmoid`` of them is the reconstruction.
        """
        return self.decode(self.encode(x))


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions that quarter the image, then a linear map to ``out_features``.

    Shared by :class:`ConvAutoencoder` (``out_features`` = the code size) and
    :class:`~mlcheatsheet.models.vae.VAE` (twice the code size: mean and log-variance).
    Striding in the convolutions themselves, rather than pooling after them, keeps the
    encoder cheap: no layer ever runs at full resolution. BatchNorm after each convolution
    allows a high learning rate.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image (at least 4x4).
        base_channels: Channels after the first convolution; the second has twice as many.
        hidden_dim: Width of the fully connected layer between the feature map and the output.
        out_features: Size of the output vector.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, \\text{out\\_features})`.
    """

    def __init__(self, image_shape: tuple[int, int, int], base_channels: int, hidden_dim: int, out_features: int) -> None:
        super().__init__()
        c, h, w = check_image_shape(image_shape, smallest=4)
        check_positive("base_channels", base_channels)
        check_positive("hidden_dim", hidden_dim)
        check_positive("out_features", out_features)
        h4, w4 = h // 4, w // 4  # each 4x4 convolution with stride 2 and padding 1 floors the size to half
        self.layers = nn.Sequential(
            nn.Conv2d(c, base_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(base_channels),
            nn.ReLU(inplace=True),
            # state size: (base) x H/2 x W/2
            nn.Conv2d(base_channels, 2 * base_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * base_channels),
            nn.ReLU(inplace=True),
            # state size: (2 base) x H/4 x W/4
            nn.Flatten(),
            nn.Linear(2 * base_channels * h4 * w4, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images :math:`(N, C, H, W)` to vectors :math:`(N, \\text{out\\_features})`."""
        return self.layers(x)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: a linear map to a quarter-size feature map, then
    two stride-2 transposed convolutions back to the image size, returning logits.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images to produce (at least 4x4).
        base_channels: Channels before the last convolution; the first feature map has
            twice as many.
        hidden_dim: Width of the fully connected layer between the code and the feature map.
        latent_dim: Size of the input code.

    Shape:
        - Input: :math:`(N, d)`.
        - Output: :math:`(N, C, H, W)` logits.
    """

    def __init__(self, image_shape: tuple[int, int, int], base_channels: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        c, h, w = check_image_shape(image_shape, smallest=4)
        check_positive("base_channels", base_channels)
        check_positive("hidden_dim", hidden_dim)
        check_positive("latent_dim", latent_dim)
        h2, w2 = h // 2, w // 2  # the encoder's feature map sizes, which this decoder retraces
        h4, w4 = h2 // 2, w2 // 2

        # A 4x4 transposed convolution with stride 2 and padding 1 doubles the size. The
        # kernel is a multiple of the stride, so every output pixel gets the same number of
        # kernel taps: that removes the uneven overlap behind checkerboard artefacts (Odena
        # et al., Distill 2016), though learned weights can still produce some. output_padding
        # adds the row or column that the encoder dropped from an odd size.
        def up(n_in: int, n_out: int, target: tuple[int, int], bias: bool) -> nn.ConvTranspose2d:
            pad = (target[0] % 2, target[1] % 2)
            return nn.ConvTranspose2d(n_in, n_out, 4, stride=2, padding=1, output_padding=pad, bias=bias)

        self.layers = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, 2 * base_channels * h4 * w4),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (2 * base_channels, h4, w4)),
            # state size: (2 base) x H/4 x W/4
            up(2 * base_channels, base_channels, (h2, w2), bias=False),
            nn.BatchNorm2d(base_channels),
            nn.ReLU(inplace=True),
            # state size: (base) x H/2 x W/2
            up(base_channels, c, (h, w), bias=True),
            # state size: C x H x W (logits)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map codes :math:`(N, d)` to image logits :math:`(N, C, H, W)`."""
        return self.layers(z)


@register_model("conv-autoencoder")
class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder: :class:`ConvEncoder` to a code, :class:`ConvDecoder` back.

    Convolutions share their filters across the image, so the layers that see pixels need
    few parameters; most of the weights (about 96% with the defaults) sit in the two
    linear layers between the flattened feature map and the hidden layer, not in the
    layers next to the code.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image (at least 4x4).
        base_channels: Width of the convolutional stages.
        hidden_dim: Width of the fully connected layer on either side of the code.
        latent_dim: Size of the code (the bottleneck).

    Shape:
        - Input: :math:`(N, C, H, W)`, pixels in :math:`[0, 1]`.
        - Code (:meth:`encode`): :math:`(N, d)`, :math:`d` = ``latent_dim``.
        - Output: :math:`(N, C, H, W)` logits of the reconstruction.

    Example:
        >>> model = ConvAutoencoder(image_shape=(3, 32, 32), base_channels=8, hidden_dim=32, latent_dim=16)
        >>> model(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        base_channels: int = 16,
        hidden_dim: int = 256,
        latent_dim: int = 32,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape, smallest=4)
        check_positive("base_channels", base_channels)
        check_positive("hidden_dim", hidden_dim)
        check_positive("latent_dim", latent_dim)
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(self.image_shape, base_channels, hidden_dim, latent_dim)
        self.decoder = ConvDecoder(self.image_shape, base_channels, hidden_dim, latent_dim)

    # Only the encoder and decoder differ: r = g(f(x)) is the fully connected model's.
    encode = Autoencoder.encode
    decode = Autoencoder.decode
    forward = Autoencoder.forward


def corrupt(images: torch.Tensor, noise_std: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The corrupted input :math:`\\tilde x` of a denoising autoencoder.

    Adds Gaussian noise of standard deviation ``noise_std`` to every pixel and clips the
    result back to :math:`[0, 1]`: :math:`\\tilde x = \\operatorname{clip}(x + \\sigma
    \\varepsilon, 0, 1)`, :math:`\\varepsilon \\sim \\mathcal{N}(0, I)`.

    Args:
        images: Clean images, pixels in :math:`[0, 1]`.
        noise_std: :math:`\\sigma \\ge 0`; ``0`` returns the images unchanged.
        generator: Random generator on the images' device, for reproducible noise.

    Shape:
        - Input and output: :math:`(N, C, H, W)`.
    """
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    if noise_std == 0:
        return images
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + noise_std * noise).clamp_(0.0, 1.0)


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> torch.Tensor:
    """The autoencoder's objective: mean per-pixel distance between reconstruction and target.

    ``"bce"`` is the Bernoulli negative log-likelihood of the target intensities,
    :math:`-[x \\log \\sigma(\\ell) + (1 - x) \\log(1 - \\sigma(\\ell))]`, computed from the
    logits :math:`\\ell` in a numerically stable way; ``"mse"`` is
    :math:`(\\sigma(\\ell) - x)^2`.

    Args:
        logits: Decoder output.
        target: Images the decoder should produce, pixels in :math:`[0, 1]` (the *clean*
            images for a denoising autoencoder).
        kind: ``"bce"`` or ``"mse"``.

    Shape:
        - ``logits``, ``target``: :math:`(N, C, H, W)`; output: scalar.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(logits), target)
    raise ValueError(f"unknown reconstruction loss {kind!r}; choose 'bce' or 'mse'")
