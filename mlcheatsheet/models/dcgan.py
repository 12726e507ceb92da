"""Deep convolutional GANs: the DCGAN, an upsample-then-convolve generator, the WGAN-GP critic, a conditional DCGAN.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016, https://arxiv.org/abs/1511.06434. Their rules
for a stable convolutional GAN: strided convolutions instead of pooling (transposed ones in
the generator), BatchNorm in both networks except the generator's output and the
discriminator's input, ReLU in the generator with a ``tanh`` output, LeakyReLU(0.2) in the
discriminator, and weights drawn from :math:`\\mathcal{N}(0, 0.02^2)` (standard deviation 0.02).

Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016,
https://distill.pub/2016/deconv-checkerboard/, trace the checkerboard patterns of such
generators to their transposed convolutions, and upsample with a nearest-neighbour resize
followed by an ordinary convolution instead (:class:`~mlcheatsheet.models.dcgan.UpsampleGenerator`).

Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017,
https://arxiv.org/abs/1704.00028, replace the discriminator by a *critic* :math:`f` trained
to estimate the Wasserstein-1 distance, with a gradient penalty keeping it 1-Lipschitz:

.. math::
    \\mathcal{L}_f = \\mathbb{E}[f(\\tilde x)] - \\mathbb{E}[f(x)]
    + \\lambda\\, \\mathbb{E}_{\\hat x}\\big[(\\lVert \\nabla_{\\hat x} f(\\hat x) \\rVert_2 - 1)^2\\big].

The conditional models (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784) append the
one-hot class to the generator's noise, and score images with a projection discriminator
(Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive
from .gan import check_latent_batch
from .layers import with_spectral_norm
from .registry import register_model

__all__ = [
    "ConditionalDiscriminator",
    "ConditionalGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "UpsampleGenerator",
    "WGANCritic",
    "critic_loss",
    "dcgan_init_",
    "gradient_penalty",
    "stage_sizes",
    "wasserstein_generator_loss",
]


def stage_sizes(image_shape: tuple[int, int, int]) -> list[int]:
    """Side lengths of the feature maps, smallest first: ``[7, 14, 28]`` or ``[4, 8, 16, 32]``.

    The side is halved while it is even and larger than 7, so 28 px images get two
    upsampling stages and 32 px images three.

    Raises:
        ValueError: The images are not square, or their side does not halve down to 7 or less.
    """
    _, height, width = check_image_shape(image_shape)
    if height != width:
        raise ValueError(f"DCGAN models need square images, got image_shape={tuple(image_shape)}")
    sizes = [height]
    while sizes[-1] > 7 and sizes[-1] % 2 == 0:
        sizes.append(sizes[-1] // 2)
    if len(sizes) < 2 or sizes[-1] > 7:
        raise ValueError(
            f"DCGAN models need a side that halves down to 7 or less (e.g. 28, 32 or 64), got {height}"
        )
    return sizes[::-1]


def dcgan_init_(module: nn.Module) -> None:
    """Initialise a DCGAN layer in place as in Radford et al.: weights from :math:`\\mathcal{N}(0, 0.02^2)`.

    The standard deviation is 0.02. BatchNorm scales are drawn from
    :math:`\\mathcal{N}(1, 0.02^2)`, as in the PyTorch DCGAN example; biases start at zero.
    Use it with :meth:`torch.nn.Module.apply`.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register_model("dcgan-generator")
class DCGANGenerator(nn.Module):
    """The DCGAN generator: project the noise to a small feature map, then upsample by two per stage.

    Every stage is ``ConvTranspose2d(4, stride 2) → BatchNorm → ReLU`` and halves the
    channels while doubling the side; the last stage maps to the image channels with a
    ``tanh``, so training images must be scaled to :math:`[-1, 1]`. The state sizes are,
    with the defaults:

    - 1x28x28: :math:`z` → (N, 128, 7, 7) → (N, 64, 14, 14) → (N, 1, 28, 28)
    - 3x32x32: :math:`z` → (N, 256, 4, 4) → (N, 128, 8, 8) → (N, 64, 16, 16) → (N, 3, 32, 32)

    Args:
        image_shape: Shape ``(C, H, W)`` of the generated images (square, e.g. 28 or 32 px).
        latent_dim: Size of the noise vector :math:`z`.
        base_channels: Channels of the last hidden stage; each earlier stage has twice as many.

    Shape:
        - Input: :math:`(N, Z)`, :math:`Z` = ``latent_dim``.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.

    Example:
        >>> DCGANGenerator(latent_dim=16, base_channels=8)(torch.randn(2, 16)).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 64,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        sizes = stage_sizes(image_shape)
        check_positive("latent_dim", latent_dim)
        check_positive("base_channels", base_channels)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        upsamplings = len(sizes) - 1
        channels = [base_channels * 2 ** (upsamplings - 1 - i) for i in range(upsamplings)]  # e.g. [128, 64]
        # "Project and reshape": a transposed convolution over a 1x1 input is a linear map
        # from z to a sizes[0] x sizes[0] feature map.
        self.project = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, channels[0], kernel_size=sizes[0], bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        self.upsample = nn.Sequential(*[
            nn.Sequential(
                self._upsampling_layer(c_in, c_out, bias=False),  # no bias: BatchNorm's shift replaces it
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )
            for c_in, c_out in zip(channels, channels[1:])
        ])
        # No BatchNorm on the output layer: Radford et al. found that BatchNorm on every
        # layer caused sample oscillation and instability. (It would also tie the pixel
        # statistics of each generated batch, per channel, to two learned constants.)
        self.to_image = nn.Sequential(
            self._upsampling_layer(channels[-1], image_shape[0], bias=True),
            nn.Tanh(),
        )
        self.apply(dcgan_init_)

    def _upsampling_layer(self, c_in: int, c_out: int, *, bias: bool) -> nn.Module:
        """The layer that doubles the side of a stage, (N, c_in, H, W) -> (N, c_out, 2H, 2W).

        Subclasses change how the generator upsamples by overriding this method alone.
        """
        return nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map noise to images.

        Args:
            z: Noise, :math:`(N, Z)`.

        Returns:
            Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        """
        check_latent_batch(type(self).__name__, z, self.latent_dim)
        x = self.project(z[:, :, None, None])  # state size: (N, 128, 7, 7) for 28 px defaults
        x = self.upsample(x)  # state size: (N, 64, 14, 14): each stage halves C, doubles H and W
        return self.to_image(x)  # state size: (N, 1, 28, 28)


@register_model("upsample-generator")
class UpsampleGenerator(DCGANGenerator):
    """The DCGAN generator with every transposed convolution replaced by a resize and a convolution.

    Each stage that doubles the side, the output stage included, is
    ``Upsample(×2, nearest) → Conv2d(3, padding 1)`` instead of
    ``ConvTranspose2d(4, stride 2, padding 1)``; everything else, including the state sizes
    at every stage, is :class:`~mlcheatsheet.models.dcgan.DCGANGenerator`'s.

    Why (Odena et al. 2016): a transposed convolution of stride 2 computes the even and
    the odd output pixels from *different* taps of its kernel. With kernel 4 each output
    pixel of the interior receives exactly two taps per axis (4 is divisible by 2, so the
    overlap is even there, and uneven only at the border), but which two alternates: taps
    1 and 3 for one parity, 0 and 2 for the other. A constant feature map therefore comes
    out as a pattern of period 2 unless the two sets of taps happen to have equal sums,
    which nothing in training enforces, and stacking stages compounds it: the checkerboard.
    With a kernel not divisible by the stride (3 with stride 2) it is worse, since even the
    *number* of taps alternates (uneven overlap). A nearest-neighbour resize copies each
    pixel into a 2x2 block, and the ordinary convolution after it applies the same kernel
    at every position, so a constant map stays constant away from the border and no
    pattern is tied to the parity of the position.

    The first stage, which projects :math:`z` to the smallest map, remains a transposed
    convolution: over a 1x1 input it is a dense linear map, each output pixel given by
    exactly one tap, so there is no overlap to be uneven.

    Args:
        image_shape: Shape ``(C, H, W)`` of the generated images (square, e.g. 28 or 32 px).
        latent_dim: Size of the noise vector :math:`z`.
        base_channels: Channels of the last hidden stage; each earlier stage has twice as many.

    Shape:
        - Input: :math:`(N, Z)`, :math:`Z` = ``latent_dim``.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.

    Example:
        >>> UpsampleGenerator(latent_dim=16, base_channels=8)(torch.randn(2, 16)).shape
        torch.Size([2, 1, 28, 28])
    """

    def _upsampling_layer(self, c_in: int, c_out: int, *, bias: bool) -> nn.Module:
        return nn.Sequential(  # (N, c_in, H, W) -> (N, c_in, 2H, 2W) -> (N, c_out, 2H, 2W)
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=bias),
        )


@register_model("dcgan-discriminator")
class DCGANDiscriminator(nn.Module):
    """The DCGAN discriminator: strided convolutions down to a small map, then one logit.

    The first stage is ``Conv2d(4, stride 2) → LeakyReLU(0.2)`` (no BatchNorm on the input
    layer); later stages add BatchNorm (unless ``batch_norm=False``) and double the channels.
    A linear head turns the last feature map into a logit. With the defaults on 1x28x28:
    (N, 1, 28, 28) → (N, 64, 14, 14) → (N, 128, 7, 7) → (N,).

    Args:
        image_shape: Shape ``(C, H, W)`` of the images (square, e.g. 28 or 32 px).
        base_channels: Channels of the first stage; each later stage has twice as many.
        batch_norm: Use BatchNorm after every convolution but the first. The WGAN-GP
            critic must not (its gradient penalty is per image).
        spectral_norm: Divide every weight by its largest singular value instead
            (:func:`~mlcheatsheet.models.layers.with_spectral_norm`, Miyato et al. 2018), which
            keeps the discriminator's slopes in check (each reshaped kernel's largest singular
            value is 1; that is not a bound of 1 on the whole network); needs ``batch_norm=False``.

    Shape:
        - Input: :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        - Output: :math:`(N,)` logits.

    Example:
        >>> DCGANDiscriminator(base_channels=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        base_channels: int = 64,
        batch_norm: bool = True,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        sizes = stage_sizes(image_shape)
        check_positive("base_channels", base_channels)
        if batch_norm and spectral_norm:
            raise ValueError("DCGANDiscriminator: choose batch_norm or spectral_norm, not both "
                             "(spectral normalisation replaces BatchNorm, as in Miyato et al.)")
        self.image_shape = tuple(image_shape)
        downsamplings = len(sizes) - 1
        channels = [image_shape[0]] + [base_channels * 2**i for i in range(downsamplings)]  # e.g. [1, 64, 128]
        stages: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            normalise = batch_norm and i > 0
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=not normalise)]
            if normalise:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            stages.append(nn.Sequential(*layers))
        self.downsample = nn.Sequential(*stages)
        self.feature_dim = channels[-1] * sizes[0] * sizes[0]
        self.head = nn.Linear(self.feature_dim, 1)
        self.apply(dcgan_init_)
        if spectral_norm:  # after the initialisation, whose scale W / sigma(W) divides out
            for layer in [*self.downsample.modules(), self.head]:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    with_spectral_norm(layer)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened last feature map, :math:`(N, F)`, before the head."""
        check_image_batch(type(self).__name__, x, self.image_shape)
        h = self.downsample(x)  # state size: (N, 64, 14, 14) -> (N, 128, 7, 7) for 28 px defaults
        return h.flatten(1)  # (N, 128 * 7 * 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images.

        Args:
            x: Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.

        Returns:
            Logits (critic scores for :class:`WGANCritic`), :math:`(N,)`.
        """
        return self.head(self.features(x)).squeeze(1)


@register_model("wgan-gp-critic")
class WGANCritic(DCGANDiscriminator):
    """The WGAN-GP critic: the DCGAN discriminator without BatchNorm, returning unbounded scores.

    The gradient penalty constrains the gradient of each image's score with respect to
    *that* image; BatchNorm would make every score depend on the whole batch, so
    Gulrajani et al. remove it from the critic.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images.
        base_channels: Channels of the first stage.

    Shape:
        - Input: :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        - Output: :math:`(N,)` scores (not probabilities).
    """

    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), base_channels: int = 64) -> None:
        super().__init__(image_shape=image_shape, base_channels=base_channels, batch_norm=False)


def _check_labels(model: str, labels: torch.Tensor, batch: int, num_classes: int) -> None:
    if labels.shape != (batch,) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{model} expects integer class labels of shape ({batch},), got {tuple(labels.shape)} {labels.dtype}")
    # The values are checked only where they can be read for free: on a GPU reading them would
    # wait for the device at every step, and while the model is traced for export they do not
    # exist yet (a label out of range then fails inside the embedding, less clearly).
    if labels.device.type != "cpu" or torch.compiler.is_compiling() or torch.jit.is_tracing() or labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{model} draws {num_classes} classes, labels 0 to {num_classes - 1}; got labels from {low} to {high}")


@register_model("conditional-dcgan-generator")
class ConditionalGenerator(nn.Module):
    """A DCGAN generator that draws a requested class: the one-hot label is appended to the noise.

    Args:
        image_shape: Shape ``(C, H, W)`` of the generated images.
        latent_dim: Size of the noise vector :math:`z`.
        num_classes: Number of classes :math:`K`.
        base_channels: As for :class:`DCGANGenerator`.

    Shape:
        - Input: noise :math:`(N, Z)` and labels :math:`(N,)` in :math:`\\{0, \\dots, K-1\\}`.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.

    Example:
        >>> g = ConditionalGenerator(latent_dim=16, base_channels=8)
        >>> g(torch.randn(3, 16), torch.tensor([0, 1, 9])).shape
        torch.Size([3, 1, 28, 28])
    """

    conditional = True

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 64,
        num_classes: int = 10,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        check_positive("latent_dim", latent_dim)
        check_positive("num_classes", num_classes)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.generator = DCGANGenerator(image_shape=image_shape, latent_dim=latent_dim + num_classes, base_channels=base_channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Draw one image of class ``labels[i]`` from each noise vector ``z[i]``."""
        check_latent_batch("ConditionalGenerator", z, self.latent_dim)
        _check_labels("ConditionalGenerator", labels, z.shape[0], self.num_classes)  # shape[0], not len(): stays symbolic for torch.export
        one_hot = F.one_hot(labels, self.num_classes).to(z.dtype)  # (N, K)
        return self.generator(torch.cat([z, one_hot], dim=1))  # (N, Z + K) -> (N, C, H, W)


@register_model("conditional-dcgan-discriminator")
class ConditionalDiscriminator(nn.Module):
    """A projection discriminator: the DCGAN discriminator plus a class-specific term.

    .. math::
        \\ell(x, y) = w^\\top \\phi(x) + b + e_y^\\top \\phi(x),

    where :math:`\\phi(x)` are the DCGAN discriminator's features and :math:`e_y` a learned
    embedding of the class, so an image scores high only if it is real *and* of class
    :math:`y`.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images.
        num_classes: Number of classes :math:`K`.
        base_channels: As for :class:`DCGANDiscriminator`.

    Shape:
        - Input: images :math:`(N, C, H, W)` in :math:`[-1, 1]` and labels :math:`(N,)`.
        - Output: :math:`(N,)` logits.
    """

    conditional = True

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        check_positive("num_classes", num_classes)
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.discriminator = DCGANDiscriminator(image_shape=image_shape, base_channels=base_channels)
        self.embed = nn.Embedding(num_classes, self.discriminator.feature_dim)
        dcgan_init_(self.embed)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Score images as real examples of the given classes."""
        _check_labels("ConditionalDiscriminator", labels, len(x), self.num_classes)
        features = self.discriminator.features(x)  # (N, F)
        unconditional = self.discriminator.head(features).squeeze(1)  # (N,)
        return unconditional + (self.embed(labels) * features).sum(dim=1)  # + e_y . phi(x)


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The Wasserstein critic loss (without the penalty): :math:`\\mathbb{E}[f(\\tilde x)] - \\mathbb{E}[f(x)]`.

    Its negative is the critic's estimate of the Wasserstein-1 distance between the real
    and generated distributions (when the critic is 1-Lipschitz).

    Args:
        real_scores: Critic scores of real images, :math:`(N,)`.
        fake_scores: Critic scores of generated images, :math:`(M,)`.
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator loss :math:`-\\mathbb{E}[f(G(z))]`: push generated images up the critic."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The WGAN-GP penalty :math:`\\mathbb{E}_{\\hat x}[(\\lVert \\nabla_{\\hat x} f(\\hat x) \\rVert_2 - 1)^2]`.

    :math:`\\hat x = \\epsilon x + (1 - \\epsilon) \\tilde x` with one
    :math:`\\epsilon \\sim U[0, 1]` per image, on the line between a real and a generated
    image. The graph is kept (``create_graph=True``) so the penalty can be minimised.

    Args:
        critic: The critic :math:`f`; called as ``critic(x)`` or ``critic(x, labels)``.
        real: Real images, :math:`(N, C, H, W)`.
        fake: Generated images, same shape (detached from the generator).
        labels: Class labels for a conditional critic.
        generator: Random number generator for :math:`\\epsilon`.

    Returns:
        The scalar penalty (multiply by :math:`\\lambda`, 10 in the paper).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} images differ in shape")
    eps = torch.rand(len(real), 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed) if labels is None else critic(mixed, labels)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # (N,)
    return ((norms - 1) ** 2).mean()
