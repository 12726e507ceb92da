"""The original generative adversarial network: a fully connected generator and discriminator.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, https://arxiv.org/abs/1406.2661.
A generator :math:`G` maps noise :math:`z \\sim \\mathcal{N}(0, I)` to images and a
discriminator :math:`D` scores images as real or generated; they play the minimax game

.. math::
    \\min_G \\max_D V(D, G) = \\mathbb{E}_{x}[\\log D(x)] + \\mathbb{E}_{z}[\\log(1 - D(G(z)))].

The discriminator here returns *logits* :math:`\\ell` (:math:`D = \\sigma(\\ell)`), and the
losses below are pure functions of those logits, computed with
:func:`~torch.nn.functional.binary_cross_entropy_with_logits` so they stay finite when
:math:`D` saturates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive, check_probability
from .layers import FastDropout
from .registry import register_model

__all__ = [
    "Discriminator",
    "Generator",
    "check_latent_batch",
    "discriminator_loss",
    "interpolate_latents",
    "latent_direction",
    "minimax_generator_loss",
    "non_saturating_generator_loss",
    "r1_penalty",
]


def check_latent_batch(model: str, z: torch.Tensor, latent_dim: int) -> None:
    """Raise ``ValueError`` unless ``z`` is a batch of latent vectors of shape ``(N, latent_dim)``."""
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{model} expects latent vectors of shape (N, {latent_dim}), got {tuple(z.shape)}")


@register_model("gan-generator")
class Generator(nn.Module):
    """A fully connected generator: noise vector in, image with pixels in :math:`[-1, 1]` out.

    Each hidden layer is ``Linear → BatchNorm → ReLU``; the output layer is ``Linear → tanh``,
    so the training images must be scaled to :math:`[-1, 1]` as well.

    Args:
        image_shape: Shape ``(C, H, W)`` of the generated images.
        latent_dim: Size of the noise vector :math:`z`.
        hidden_dims: Width of each hidden layer, noise side first.

    Shape:
        - Input: :math:`(N, Z)` with :math:`Z` = ``latent_dim``.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.

    Example:
        >>> Generator(latent_dim=8)(torch.randn(2, 8)).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 64,
        hidden_dims: Sequence[int] = (256, 512),
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("latent_dim", latent_dim)
        check_positive("hidden_dims", tuple(hidden_dims))
        self.latent_dim = latent_dim
        layers: list[nn.Module] = []
        width = latent_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            width = hidden
        c, h, w = self.image_shape
        layers += [nn.Linear(width, c * h * w), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map noise to images.

        Args:
            z: Noise, :math:`(N, Z)`.

        Returns:
            Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        """
        check_latent_batch("Generator", z, self.latent_dim)
        return self.layers(z).view(len(z), *self.image_shape)  # (N, Z) -> (N, C*H*W) -> (N, C, H, W)


@register_model("gan-discriminator")
class Discriminator(nn.Module):
    """A fully connected discriminator: image in, one real-vs-generated logit out.

    Hidden layers are ``Linear → LeakyReLU(0.2) → Dropout``; no BatchNorm, so the score of
    an image never depends on the other images of its batch.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images.
        hidden_dims: Width of each hidden layer, image side first.
        dropout: Dropout after each hidden layer (it keeps :math:`D` from memorising the
            small training set).

    Shape:
        - Input: :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        - Output: :math:`(N,)` logits; :math:`D(x) = \\sigma(\\text{logit})`.

    Example:
        >>> Discriminator()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (512, 256),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("hidden_dims", tuple(hidden_dims))
        check_probability("dropout", dropout)
        c, h, w = self.image_shape
        layers: list[nn.Module] = [nn.Flatten()]
        width = c * h * w
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                layers.append(FastDropout(dropout))  # nn.Dropout with a faster mask on the CPU
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images.

        Args:
            x: Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.

        Returns:
            Logits, :math:`(N,)`: large means "real".
        """
        check_image_batch("Discriminator", x, self.image_shape)
        return self.layers(x).squeeze(1)  # (N, C, H, W) -> (N, C*H*W) -> ... -> (N, 1) -> (N,)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss, :math:`-V(D, G)`: cross-entropy of "real" vs "generated".

    .. math::
        \\mathcal{L}_D = -\\frac{1}{N}\\sum_i \\log \\sigma(\\ell^{real}_i)
        - \\frac{1}{M}\\sum_j \\log\\big(1 - \\sigma(\\ell^{fake}_j)\\big)

    It equals :math:`2 \\log 2 \\approx 1.386` when :math:`D` cannot tell the two apart
    (every logit 0) and tends to 0 when :math:`D` wins outright.

    Args:
        real_logits: Discriminator logits of real images, :math:`(N,)`.
        fake_logits: Discriminator logits of generated images, :math:`(M,)`.

    Returns:
        The scalar loss.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the original minimax game: minimise :math:`\\log(1 - D(G(z)))`.

    .. math::
        \\mathcal{L}_G^{\\text{minimax}} = \\frac{1}{M}\\sum_j \\log\\big(1 - \\sigma(\\ell_j)\\big)

    Its gradient vanishes exactly when the generator is bad (:math:`D(G(z)) \\approx 0`), which
    is why :func:`non_saturating_generator_loss` is used in practice.

    Args:
        fake_logits: Discriminator logits of generated images, :math:`(M,)`.

    Returns:
        The scalar loss (always :math:`\\le 0`).
    """
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: maximise :math:`\\log D(G(z))` instead.

    .. math::
        \\mathcal{L}_G^{\\text{NS}} = -\\frac{1}{M}\\sum_j \\log \\sigma(\\ell_j)

    Same fixed point as the minimax loss, but strong gradients while the generator is still
    poor (Goodfellow et al. 2014, section 3): its gradient with respect to the logit is
    :math:`-(1 - D)` rather than :math:`-D`. It is a different objective, though: at the
    optimal discriminator its gradient is that of
    :math:`\\mathrm{KL}(p_g \\| p_{data}) - 2\\,\\mathrm{JSD}(p_{data} \\| p_g)` (Arjovsky & Bottou,
    ICLR 2017, https://arxiv.org/abs/1701.04862), which favours convincing samples over
    covering every mode.

    Args:
        fake_logits: Discriminator logits of generated images, :math:`(M,)`.

    Returns:
        The scalar loss (always :math:`\\ge 0`).
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def interpolate_latents(start: torch.Tensor, end: torch.Tensor, steps: int, *, spherical: bool = True) -> torch.Tensor:
    """Points on the path from ``start`` to ``end`` in latent space, both ends included.

    With ``spherical=True`` the path is a great-circle arc (slerp): Gaussian noise vectors
    concentrate near a sphere of radius :math:`\\sqrt{Z}`, and a straight line between two
    of them passes through low-norm points the generator never saw in training.

    Args:
        start: Latent vectors, :math:`(Z,)` or :math:`(N, Z)`.
        end: Latent vectors of the same shape.
        steps: Number of points (at least 2).
        spherical: Interpolate along the arc rather than the straight line.

    Shape:
        - Output: :math:`(\\text{steps}, Z)` or :math:`(N, \\text{steps}, Z)`.
    """
    if start.shape != end.shape:
        raise ValueError(f"start {tuple(start.shape)} and end {tuple(end.shape)} differ in shape")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    t = torch.linspace(0, 1, steps, device=start.device, dtype=start.dtype)[:, None]  # (S, 1)
    a, b = start.unsqueeze(-2), end.unsqueeze(-2)  # (..., 1, Z)
    if not spherical:
        return a + t * (b - a)
    cos = F.cosine_similarity(a, b, dim=-1).clamp(-1 + 1e-7, 1 - 1e-7).unsqueeze(-1)  # (..., 1, 1)
    omega = torch.arccos(cos)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def latent_direction(
    latents: torch.Tensor, scores: torch.Tensor, *, groups: torch.Tensor | None = None, fraction: float = 0.2
) -> torch.Tensor:
    """The latent direction of an attribute: mean of the top-scoring latents minus mean of the bottom.

    Radford et al. (2015) found that such averaged vectors behave arithmetically ("smiling
    woman - neutral woman + neutral man = smiling man"); adding this direction to a
    latent vector strengthens the attribute in the generated image. An attribute that
    varies with the class (a 1 holds less ink than a 0) would drag the class along with
    it; with ``groups`` (e.g. the class of each generated image) the direction is computed
    within each group and the groups' directions are averaged, so the class is held fixed.

    Args:
        latents: Latent vectors, :math:`(N, Z)`.
        scores: The attribute measured on each generated image, :math:`(N,)`.
        groups: A group index per latent, :math:`(N,)`; groups of fewer than two are skipped.
        fraction: Share of the latents (of each group) averaged at each end.

    Returns:
        The direction, :math:`(Z,)`.
    """
    if latents.dim() != 2 or scores.shape != (len(latents),):
        raise ValueError(f"need latents (N, Z) and scores (N,), got {tuple(latents.shape)} and {tuple(scores.shape)}")
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    if groups is None:
        k = max(1, int(fraction * len(latents)))
        order = scores.argsort()
        return latents[order[-k:]].mean(dim=0) - latents[order[:k]].mean(dim=0)
    if groups.shape != scores.shape:
        raise ValueError(f"need one group per latent, got {tuple(groups.shape)} for {len(latents)} latents")
    members = [groups == g for g in groups.unique()]
    directions = [latent_direction(latents[m], scores[m], fraction=fraction) for m in members if int(m.sum()) >= 2]
    if not directions:
        raise ValueError("every group has fewer than two latents: no direction within a group")
    return torch.stack(directions).mean(dim=0)


def r1_penalty(real_scores: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """The R1 penalty of Mescheder et al. (2018), https://arxiv.org/abs/1801.04406: :math:`\\mathbb{E}_x \\lVert \\nabla_x D(x) \\rVert^2`.

    Penalising the discriminator's gradient at real images keeps it from sharpening its
    decision around each training image; on a small dataset that is what memorising it looks
    like. The discriminator's loss adds :math:`\\tfrac{\\gamma}{2}` times this. The graph is
    kept (``create_graph=True``) so the penalty can be minimised.

    Args:
        real_scores: :math:`D`'s outputs (logits or scores) on ``real_images``, :math:`(N,)` or :math:`(N, 1)`.
        real_images: The real images :math:`D` was given, with ``requires_grad=True``.

    Returns:
        The squared gradient norm, summed over pixels and averaged over images (a scalar).

    Raises:
        ValueError: ``real_images`` does not require gradients, so no gradient can be taken.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty needs the real images with requires_grad=True before the discriminator saw them")
    (grad,) = torch.autograd.grad(real_scores.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()
