"""Improved techniques for training GANs: feature matching, one-sided label smoothing, minibatch discrimination.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
https://arxiv.org/abs/1606.03498. Three of their remedies for a discriminator that wins
too easily or a generator that collapses onto a few modes live here:

- *Feature matching* (section 3.1) gives the generator a new target: match the mean of an
  intermediate layer :math:`f` of the discriminator on real data,

  .. math::
      \\mathcal{L}_G^{\\text{FM}} = \\lVert \\mathbb{E}_x[f(x)] - \\mathbb{E}_z[f(G(z))] \\rVert_2^2.

- *Minibatch discrimination* (section 3.2) lets the discriminator look at a whole batch, so
  a batch of near-identical samples, the signature of mode collapse, is easy to reject.
- *One-sided label smoothing* (section 3.4) trains the discriminator towards 0.9 instead of
  1 on real images, which keeps its logits, and so the generator's gradients, from
  growing without bound.

The losses are pure functions, as in :mod:`mlcheatsheet.models.gan`; the minibatch layer is
a module, and :class:`~mlcheatsheet.models.improved_gan.MinibatchDiscriminator` puts it in
front of a DCGAN discriminator's head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_positive
from .dcgan import DCGANDiscriminator, dcgan_init_
from .layers import with_spectral_norm
from .registry import register_model

__all__ = [
    "MinibatchDiscrimination",
    "MinibatchDiscriminator",
    "feature_matching_loss",
    "smoothed_discriminator_loss",
]


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """The feature matching generator loss :math:`\\lVert \\mathbb{E}[f(x)] - \\mathbb{E}[f(G(z))] \\rVert_2^2`.

    :math:`f` is an intermediate layer of the discriminator, e.g. the flattened features of
    :meth:`~mlcheatsheet.models.dcgan.DCGANDiscriminator.features` or
    :meth:`~mlcheatsheet.models.improved_gan.MinibatchDiscriminator.features`; the
    expectations are the batch means. The generator is asked to reproduce the statistics
    the discriminator finds most telling, rather than to fool the current discriminator
    outright, which makes it chase a moving target less.

    This is a *generator* loss: it must not train the discriminator. The real features
    are therefore detached here, so no gradient reaches the discriminator through them
    (the caller need not detach them). Gradients still flow through ``fake_features`` into
    both networks; step only the generator's optimiser with it, as with any generator loss.

    Args:
        real_features: :math:`f(x)` of real images, :math:`(N, F)` (or :math:`(N, *)`, flattened).
        fake_features: :math:`f(G(z))` of generated images, :math:`(M, F)`; :math:`M` may
            differ from :math:`N`.

    Shape:
        - Input: :math:`(N, *)` and :math:`(M, *)` with the same trailing shape.
        - Output: a scalar.

    Raises:
        ValueError: The two batches' features differ in shape, or a batch has no batch dimension.

    Example:
        >>> feature_matching_loss(torch.zeros(4, 3), torch.ones(2, 3))
        tensor(3.)
    """
    if real_features.dim() < 2 or real_features.shape[1:] != fake_features.shape[1:]:
        raise ValueError(
            "feature matching needs batches of features (N, *) and (M, *) of one shape, "
            f"got {tuple(real_features.shape)} and {tuple(fake_features.shape)}"
        )
    real_mean = real_features.detach().flatten(1).mean(dim=0)  # (F,): a target, not trained
    fake_mean = fake_features.flatten(1).mean(dim=0)  # (F,)
    return (real_mean - fake_mean).square().sum()


def smoothed_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, real_target: float = 0.9
) -> torch.Tensor:
    """The discriminator loss with one-sided label smoothing: real images are labelled ``real_target``.

    .. math::
        \\mathcal{L}_D = -\\frac{1}{N}\\sum_i \\big[\\alpha \\log \\sigma(\\ell^{real}_i)
        + (1 - \\alpha) \\log\\big(1 - \\sigma(\\ell^{real}_i)\\big)\\big]
        - \\frac{1}{M}\\sum_j \\log\\big(1 - \\sigma(\\ell^{fake}_j)\\big),

    with :math:`\\alpha` = ``real_target``. With :math:`\\alpha = 1` it is
    :func:`~mlcheatsheet.models.gan.discriminator_loss`. With :math:`\\alpha < 1` a real
    image's loss is smallest at logit :math:`\\log \\frac{\\alpha}{1 - \\alpha}` (2.2 for
    0.9), not at :math:`+\\infty`, so the discriminator cannot become arbitrarily confident;
    the loss then never falls below the binary entropy of :math:`\\alpha` (0.325 nats for 0.9).

    Only the real side is smoothed. With targets :math:`\\alpha` for real and :math:`\\beta`
    for generated images the optimal discriminator is
    :math:`D(x) = \\frac{\\alpha\\, p_{data}(x) + \\beta\\, p_{model}(x)}{p_{data}(x) + p_{model}(x)}`;
    Salimans et al. point out that any :math:`\\beta > 0` leaves :math:`D = \\beta` wherever
    the generator puts mass and the data has none, so those samples are no longer pushed
    back towards the data.

    Args:
        real_logits: Discriminator logits of real images, :math:`(N,)`.
        fake_logits: Discriminator logits of generated images, :math:`(M,)`.
        real_target: The label :math:`\\alpha` of real images, in :math:`(0, 1]`.

    Returns:
        The scalar loss.

    Raises:
        ValueError: ``real_target`` is not in :math:`(0, 1]`.
    """
    if not 0.0 < real_target <= 1.0:
        raise ValueError(f"real_target must be in (0, 1], got {real_target!r}")
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination: append to each sample's features how close it is to the rest of its batch.

    A learned tensor :math:`T \\in \\mathbb{R}^{A \\times B \\times C}` (:math:`A` =
    ``in_features``, :math:`B` = ``kernels``, :math:`C` = ``kernel_dim``) maps the features
    :math:`f(x_i) \\in \\mathbb{R}^A` of each sample to :math:`B` rows
    :math:`M_{i,b} \\in \\mathbb{R}^C`. Kernel :math:`b` measures the closeness of two samples
    by a negative exponential of the :math:`L_1` distance between their rows, and sums it
    over the *other* samples of the batch:

    .. math::
        c_b(x_i, x_j) = \\exp\\big(-\\lVert M_{i,b} - M_{j,b} \\rVert_{L_1}\\big), \\qquad
        o(x_i)_b = \\sum_{j \\ne i} c_b(x_i, x_j).

    The output is :math:`[f(x_i), o(x_i)]`. The term :math:`j = i` is left out: Salimans et
    al. sum over the whole batch, but :math:`c_b(x_i, x_i) = 1` always, so it only adds a
    constant; without it a batch of one gives :math:`o = 0` and a batch of :math:`N`
    identical samples gives :math:`o = N - 1` per kernel. A collapsed generator's batch
    has large :math:`o` where a batch of real images has small, which the next layer can
    learn to see. Because :math:`o` is a sum over the batch, its scale grows with the batch
    size: score with the batch size used in training.

    Args:
        in_features: Size :math:`A` of each sample's feature vector.
        kernels: Number of closeness kernels :math:`B` (features added).
        kernel_dim: Size :math:`C` of each kernel's row :math:`M_{i,b}`.

    Shape:
        - Input: :math:`(N, A)`.
        - Output: :math:`(N, A + B)`.

    Example:
        >>> layer = MinibatchDiscrimination(16, kernels=4)
        >>> layer(torch.randn(5, 16)).shape
        torch.Size([5, 20])
    """

    def __init__(self, in_features: int, *, kernels: int = 32, kernel_dim: int = 8) -> None:
        super().__init__()
        check_positive("in_features", in_features)
        check_positive("kernels", kernels)
        check_positive("kernel_dim", kernel_dim)
        self.in_features = in_features
        self.kernels = kernels
        self.kernel_dim = kernel_dim
        # T is stored as the (A, B*C) matrix of the paper's tensor, so M = f @ T is one matmul.
        self.T = nn.Parameter(torch.empty(in_features, kernels * kernel_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw :math:`T` from :math:`\\mathcal{N}(0, \\sigma^2)`, :math:`\\sigma = 1 / (C \\sqrt{A})`.

        The DCGAN standard deviation 0.02 does not suit this layer: with the
        :math:`A = 128 \\cdot 7 \\cdot 7 = 6272` features of a DCGAN discriminator it gives rows
        :math:`M_{i,b}` whose entries are about :math:`0.02 \\sqrt{A} \\approx 1.6` times as
        large as the features. Measured on MNIST digits at initialisation, the :math:`L_1`
        distances over :math:`C = 8` entries are then about 7 and :math:`c_b \\approx 0.001`
        for almost every pair: the layer starts saturated, its output nearly constant and
        its gradient nearly nil. Scaling by :math:`1/\\sqrt{A}` (fan-in) makes each entry as
        large as a typical feature, and the further :math:`1/C` keeps the distance, a sum of
        :math:`C` absolute differences, of order one whatever ``kernel_dim`` is: the same
        digits give distances of about 0.55 and :math:`c_b \\approx 0.58`, in the middle
        of :math:`(0, 1)`, where it responds to how close two samples are.
        """
        nn.init.normal_(self.T, 0.0, 1.0 / (self.kernel_dim * math.sqrt(self.in_features)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Append the minibatch features :math:`o(x_i)`.

        Args:
            features: :math:`f(x_i)` for the batch, :math:`(N, A)`.

        Returns:
            :math:`[f(x_i), o(x_i)]`, :math:`(N, A + B)`.
        """
        if features.dim() != 2 or features.shape[1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects features of shape (N, {self.in_features}), got {tuple(features.shape)}"
            )
        n = features.shape[0]
        rows = (features @ self.T).view(n, self.kernels, self.kernel_dim)  # M: (N, B, C)
        per_kernel = rows.transpose(0, 1)  # (B, N, C): one set of rows per kernel
        # cdist with p=1 is the paper's L1 distance between every pair; it never builds the
        # (N, N, B, C) tensor of differences, and is about a quarter faster on the CPU.
        distances = torch.cdist(per_kernel, per_kernel, p=1)  # (B, N, N): ||M_i,b - M_j,b||_1
        closeness = torch.exp(-distances)  # c_b(x_i, x_j), exactly 1 on the diagonal
        others = ~torch.eye(n, dtype=torch.bool, device=features.device)  # (N, N): j != i
        o = (closeness * others).sum(dim=2).T  # (N, B): masked, not "minus 1", so o is exact
        return torch.cat([features, o], dim=1)  # (N, A + B)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


@register_model("minibatch-discriminator")
class MinibatchDiscriminator(nn.Module):
    """A DCGAN discriminator whose head sees the batch: conv features → minibatch discrimination → logit.

    The convolutional stages are those of
    :class:`~mlcheatsheet.models.dcgan.DCGANDiscriminator` (same sizes, normalisation and
    initialisation); :class:`~mlcheatsheet.models.improved_gan.MinibatchDiscrimination`
    appends ``kernels`` closeness features to their flattened output, and a linear head
    turns the result into one logit.
    With the defaults on 1x28x28: (N, 1, 28, 28) → (N, 128, 7, 7) → (N, 6272) → (N, 6304) → (N,).

    Pair it with :func:`~mlcheatsheet.models.improved_gan.feature_matching_loss` on
    :meth:`~mlcheatsheet.models.improved_gan.MinibatchDiscriminator.features` (the layer
    before the minibatch features, as in Salimans et al.), or with the usual generator losses.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images (square, e.g. 28 or 32 px).
        base_channels: Channels of the first convolutional stage; each later one has twice as many.
        kernels: Number of minibatch kernels :math:`B`.
        kernel_dim: Size :math:`C` of each kernel's row.
        batch_norm: BatchNorm in the convolutional stages, as in ``DCGANDiscriminator``.
        spectral_norm: Spectral normalisation of the convolutions and the head instead
            (needs ``batch_norm=False``). The minibatch layer's :math:`T` is left as it is:
            its scale sets how far apart two samples must be for the kernels to tell them
            apart (see ``MinibatchDiscrimination.reset_parameters``).

    Shape:
        - Input: :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        - Output: :math:`(N,)` logits; each depends on the whole batch.

    Example:
        >>> MinibatchDiscriminator(base_channels=8, kernels=4)(torch.zeros(3, 1, 28, 28)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        base_channels: int = 64,
        kernels: int = 32,
        kernel_dim: int = 8,
        batch_norm: bool = True,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_positive("kernels", kernels)
        check_positive("kernel_dim", kernel_dim)
        if batch_norm and spectral_norm:
            raise ValueError("MinibatchDiscriminator: choose batch_norm or spectral_norm, not both "
                             "(spectral_norm=True needs batch_norm=False)")
        body = DCGANDiscriminator(image_shape=image_shape, base_channels=base_channels,
                                  batch_norm=batch_norm, spectral_norm=spectral_norm)
        self.image_shape = body.image_shape
        self.feature_dim = body.feature_dim
        # Only the body's stages are kept: its own linear head (feature_dim -> 1) is replaced
        # by the minibatch layer and a wider head, and keeping it would leave untrained
        # weights in every checkpoint.
        self.downsample = body.downsample
        self.minibatch = MinibatchDiscrimination(self.feature_dim, kernels=kernels, kernel_dim=kernel_dim)
        self.head = nn.Linear(self.feature_dim + kernels, 1)
        dcgan_init_(self.head)
        if spectral_norm:
            with_spectral_norm(self.head)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened last feature map, :math:`(N, F)`, before the minibatch layer.

        This is the layer :func:`~mlcheatsheet.models.improved_gan.feature_matching_loss`
        matches: per-sample features, whose batch mean is a statistic of the images alone
        (the minibatch features are not).
        """
        check_image_batch(type(self).__name__, x, self.image_shape)
        h = self.downsample(x)  # state size: (N, 64, 14, 14) -> (N, 128, 7, 7) for 28 px defaults
        return h.flatten(1)  # (N, 128 * 7 * 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score a batch of images.

        Args:
            x: Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.

        Returns:
            Logits, :math:`(N,)`.
        """
        h = self.minibatch(self.features(x))  # (N, F) -> (N, F + B)
        return self.head(h).squeeze(1)
