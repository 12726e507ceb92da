"""The variational autoencoder (VAE): an autoencoder whose code is a distribution.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
https://arxiv.org/abs/1312.6114. The encoder outputs the mean :math:`\\mu(x)` and
log-variance :math:`\\log \\sigma^2(x)` of a diagonal Gaussian :math:`q(z \\mid x)`; a code is
drawn as :math:`z = \\mu + \\sigma \\odot \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal{N}(0, I)`
(the reparameterisation trick), and the decoder returns the logits of a Bernoulli
:math:`p(x \\mid z)`. Training maximises the evidence lower bound

.. math::
    \\log p(x) \\ge \\mathbb{E}_{q(z \\mid x)}[\\log p(x \\mid z)]
    - \\mathrm{KL}\\big(q(z \\mid x) \\,\\|\\, \\mathcal{N}(0, I)\\big),

whose negative is :func:`vae_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive
from .autoencoder import ConvDecoder, ConvEncoder
from .registry import register_model

__all__ = ["VAE", "reparameterize", "vae_loss"]


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw :math:`z = \\mu + \\sigma \\odot \\varepsilon` with :math:`\\varepsilon \\sim \\mathcal{N}(0, I)`.

    The randomness sits in :math:`\\varepsilon`, outside the network, so gradients flow
    through :math:`\\mu` and :math:`\\sigma = \\exp(\\tfrac12 \\log \\sigma^2)` to the encoder.

    Args:
        mean: :math:`\\mu`.
        logvar: :math:`\\log \\sigma^2`.
        generator: Random generator on the tensors' device, for reproducible draws.

    Shape:
        - ``mean``, ``logvar`` and output: :math:`(N, d)`.
    """
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


@register_model("vae")
class VAE(nn.Module):
    """A convolutional variational autoencoder with a Bernoulli decoder.

    The encoder is a :class:`~mlcheatsheet.models.autoencoder.ConvEncoder` whose output
    vector is split into the mean and the log-variance of :math:`q(z \\mid x)`; the decoder
    is a :class:`~mlcheatsheet.models.autoencoder.ConvDecoder` that returns the logits of
    :math:`p(x \\mid z)`.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image (at least 4x4).
        base_channels: Width of the convolutional stages.
        hidden_dim: Width of the fully connected layer on either side of the code.
        latent_dim: Dimension :math:`d` of the latent code :math:`z`.

    Shape:
        - Input: :math:`(N, C, H, W)`, pixels in :math:`[0, 1]`.
        - Output of :meth:`forward`: logits :math:`(N, C, H, W)`, mean :math:`(N, d)` and
          log-variance :math:`(N, d)`.

    Example:
        >>> model = VAE(base_channels=8, hidden_dim=32, latent_dim=4)
        >>> logits, mean, logvar = model(torch.zeros(2, 1, 28, 28))
        >>> logits.shape, mean.shape
        (torch.Size([2, 1, 28, 28]), torch.Size([2, 4]))
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        base_channels: int = 16,
        hidden_dim: int = 256,
        latent_dim: int = 16,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape, smallest=4)
        check_positive("base_channels", base_channels)
        check_positive("hidden_dim", hidden_dim)
        check_positive("latent_dim", latent_dim)
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(self.image_shape, base_channels, hidden_dim, 2 * latent_dim)
        self.decoder = ConvDecoder(self.image_shape, base_channels, hidden_dim, latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and log-variance of :math:`q(z \\mid x)`, each :math:`(N, d)`."""
        check_image_batch(type(self).__name__, x, self.image_shape)
        mean, logvar = self.encoder(x).chunk(2, dim=1)  # (N, 2d) -> 2 x (N, d)
        return mean, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The logits of :math:`p(x \\mid z)`, :math:`(N, C, H, W)`, for codes :math:`(N, d)`."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, draw one code with the reparameterisation trick, and decode it.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            ``(logits, mean, logvar)``: reconstruction logits :math:`(N, C, H, W)` and the
            parameters of :math:`q(z \\mid x)`, each :math:`(N, d)`.
        """
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar)  # (N, d)
        return self.decode(z), mean, logvar

    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode codes drawn from the prior :math:`\\mathcal{N}(0, I)`.

        Args:
            num_samples: How many images to draw.
            generator: Random generator on the model's device.

        Returns:
            Logits :math:`(\\text{num\\_samples}, C, H, W)`; their sigmoid is the image.
        """
        check_positive("num_samples", num_samples)
        device = next(self.parameters()).device
        z = torch.randn(num_samples, self.latent_dim, generator=generator, device=device)
        return self.decode(z)


def vae_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    *,
    kl_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The negative ELBO of Kingma & Welling (2014), https://arxiv.org/abs/1312.6114.

    Per image, summed over its :math:`D` pixels and :math:`d` latent dimensions,

    .. math::
        \\underbrace{-\\sum_{j=1}^{D} \\big[x_j \\log \\sigma(\\ell_j)
        + (1 - x_j) \\log(1 - \\sigma(\\ell_j))\\big]}_{\\text{reconstruction}}
        \\; + \\; \\beta \\underbrace{\\left(-\\frac12 \\sum_{k=1}^{d}
        \\big(1 + \\log \\sigma_k^2 - \\mu_k^2 - \\sigma_k^2\\big)\\right)}_{\\mathrm{KL}(q(z \\mid x)
        \\,\\|\\, \\mathcal{N}(0, I))},

    averaged over the batch. The KL term is the closed form for a diagonal Gaussian against
    the standard normal prior (Appendix B of the paper); the reconstruction term is a
    one-sample estimate of :math:`-\\mathbb{E}_q[\\log p(x \\mid z)]` computed from the
    logits :math:`\\ell`. With ``kl_weight`` :math:`\\beta = 1` the loss is the negative ELBO
    in nats; smaller values during the first epochs (KL warm-up) are the usual remedy for
    a decoder that ignores the code. With grey-level targets the Bernoulli term is not a
    normalised likelihood (Loaiza-Ganem & Cunningham, NeurIPS 2019,
    https://arxiv.org/abs/1907.06845), so the nats compare models on the same data only.

    Args:
        logits: Decoder logits :math:`\\ell`.
        target: Images :math:`x`, pixels in :math:`[0, 1]`.
        mean: :math:`\\mu` of :math:`q(z \\mid x)`.
        logvar: :math:`\\log \\sigma^2` of :math:`q(z \\mid x)`.
        kl_weight: :math:`\\beta`, the weight of the KL term in ``"loss"``.

    Returns:
        ``{"loss": ..., "reconstruction": ..., "kl": ...}``, scalars in nats per image; the
        parts are unweighted.

    Shape:
        - ``logits``, ``target``: :math:`(N, C, H, W)`; ``mean``, ``logvar``: :math:`(N, d)`.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    if mean.shape != logvar.shape or mean.shape[0] != target.shape[0]:
        raise ValueError(f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} must both be (N, d) with N = {target.shape[0]}")
    n = target.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / n
    return {"loss": reconstruction + kl_weight * kl, "reconstruction": reconstruction, "kl": kl}
