"""The Self-Attention GAN: a conditional, spectrally normalised GAN with one self-attention block per network.

Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative Adversarial Networks", ICML
2019, https://arxiv.org/abs/1805.08318. Convolutions only mix nearby positions, so a
convolutional GAN struggles with structure that spans the image (the two legs of a dog, the
closing stroke of an "8"). A self-attention block lets every position :math:`j` read from all
positions :math:`i` of a feature map :math:`x`:

.. math::
    \\beta_{j,i} = \\frac{\\exp(s_{ij})}{\\sum_{i'} \\exp(s_{i'j})}, \\quad
    s_{ij} = f(x_i)^\\top g(x_j), \\quad
    o_j = v\\Big(\\sum_i \\beta_{j,i}\\, h(x_i)\\Big), \\quad
    y_j = x_j + \\gamma\\, o_j,

with 1x1 convolutions :math:`f, g, h, v` and a learned scalar :math:`\\gamma` that starts at
zero, so the network first learns local structure and lets attention in gradually.

Both networks are *spectrally normalised* (Miyato, Kataoka, Koyama & Yoshida, "Spectral
Normalization for Generative Adversarial Networks", ICLR 2018,
https://arxiv.org/abs/1802.05957): every weight is used as :math:`W / \\sigma(W)`, with
:math:`\\sigma(W)` its largest singular value estimated by one power-iteration step per
training forward pass, which bounds the Lipschitz constant of each linear layer by 1.
Miyato et al. normalise the discriminator only; Zhang et al. add it to the generator, against
sudden jumps of its weights. Both are options here (``spectral_norm`` of the generator,
``embedding_spectral_norm`` of the discriminator's class embedding): under the bound the
generator's first layer maps the one-hot class with a weight of norm at most 1, beside a
noise vector of norm about :math:`\\sqrt{Z}`, and ``benchmarks/gan_levers.py`` measures
what that costs in a run of a build's length.

The generator is conditioned through its input (the one-hot class beside :math:`z`) and
class-conditional BatchNorm (de Vries et al., "Modulating early visual processing by
language", NeurIPS 2017, https://arxiv.org/abs/1707.00683), the discriminator through a projection (Miyato & Koyama,
"cGANs with Projection Discriminator", ICLR 2018, https://arxiv.org/abs/1802.05637). They are
trained with the hinge loss (Lim & Ye, "Geometric GAN", 2017, https://arxiv.org/abs/1705.02894):

.. math::
    \\mathcal{L}_D = \\mathbb{E}_x[\\max(0, 1 - D(x))] + \\mathbb{E}_z[\\max(0, 1 + D(G(z)))],
    \\qquad \\mathcal{L}_G = -\\mathbb{E}_z[D(G(z))].

Zhang et al. pair it with separate learning rates (TTUR): Adam with
:math:`\\beta = (0, 0.9)`, :math:`10^{-4}` for the generator and :math:`4 \\cdot 10^{-4}` for
the discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_positive
from .dcgan import _check_labels, stage_sizes
from .gan import check_latent_batch
from .layers import spectral_norm_at_start, with_spectral_norm
from .registry import register_model

__all__ = [
    "ConditionalBatchNorm2d",
    "SAGANDiscriminator",
    "SAGANGenerator",
    "SelfAttention",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
]


def _check_attention_size(model: str, attention_size: int, valid: list[int], image_shape: tuple[int, ...]) -> None:
    if isinstance(attention_size, bool) or attention_size not in valid:
        side = image_shape[1]
        raise ValueError(
            f"{model}: attention_size must be the side of one of its feature maps for {side}x{side} images, "
            f"one of {sorted(valid)}, got {attention_size!r}"
        )


class SelfAttention(nn.Module):
    """Self-attention over the positions of a feature map, added back through a gate :math:`\\gamma = 0`.

    The paper's four 1x1 convolutions, named here by their role: ``query`` is the paper's
    :math:`g`, ``key`` its :math:`f` (the softmax in :math:`\\beta_{j,i}` runs over the
    positions :math:`i` of :math:`f`), ``value`` its :math:`h` and ``out`` its :math:`v`.
    Queries and keys have ``key_channels`` = :math:`C/8` channels, as in the paper. The values
    have :math:`C/2` channels, as in the authors' released code (and BigGAN's), which the
    ``out`` convolution maps back to :math:`C`; that code also max-pools the keys and values
    2x2 to save memory, which we do not, so every query sees every position and
    :meth:`~mlcheatsheet.models.sagan.SelfAttention.attention` is a full :math:`HW \\times HW` map.

    Scores are plain dot products, not divided by :math:`\\sqrt{C'}` as in a Transformer,
    following the paper. Because :math:`\\gamma` starts at exactly zero, the block is the
    identity at initialisation.

    Args:
        channels: Channels :math:`C` of the feature map.
        key_channels: Channels :math:`C'` of the queries and keys; default
            :math:`\\max(C // 8, 1)`.
        value_channels: Channels of the values; default :math:`\\max(C // 2, 1)`.
        spectral_norm: Spectrally normalise the four convolutions (with
            :func:`~mlcheatsheet.models.layers.with_spectral_norm`); ``False`` only starts
            them at spectral norm 1 (:func:`~mlcheatsheet.models.layers.spectral_norm_at_start`).

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, C, H, W)`.
        - :meth:`~mlcheatsheet.models.sagan.SelfAttention.attention`: :math:`(N, HW, HW)`.

    Example:
        >>> block = SelfAttention(16)
        >>> x = torch.randn(2, 16, 5, 5)
        >>> torch.equal(block(x), x)  # gamma = 0: the identity at initialisation
        True
        >>> block.attention(x).shape
        torch.Size([2, 25, 25])
    """

    def __init__(
        self,
        channels: int,
        *,
        key_channels: int | None = None,
        value_channels: int | None = None,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        check_positive("channels", channels)
        key_channels = max(channels // 8, 1) if key_channels is None else key_channels
        value_channels = max(channels // 2, 1) if value_channels is None else value_channels
        check_positive("key_channels", key_channels)
        check_positive("value_channels", value_channels)
        wrap = with_spectral_norm if spectral_norm else spectral_norm_at_start
        # No bias on the key: it adds q . b to every score of query q, which the softmax
        # cancels. None on the value: the weights of a query sum to 1, so it would pass
        # through as a constant, which the out conv's bias already is. None on the query
        # either, as in BigGAN's attention block.
        self.query = wrap(nn.Conv2d(channels, key_channels, kernel_size=1, bias=False))
        self.key = wrap(nn.Conv2d(channels, key_channels, kernel_size=1, bias=False))
        self.value = wrap(nn.Conv2d(channels, value_channels, kernel_size=1, bias=False))
        self.out = wrap(nn.Conv2d(value_channels, channels, kernel_size=1))
        self.gamma = nn.Parameter(torch.zeros(1))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map :math:`\\beta`: row :math:`j` is where query position :math:`j` looks.

        Positions are numbered row by row, :math:`j = r W + c`. Each row sums to 1.

        Args:
            x: Feature map, :math:`(N, C, H, W)`.

        Returns:
            :math:`(N, HW, HW)`, entry ``[n, j, i]`` = :math:`\\beta_{j,i}`.
        """
        queries = self.query(x).flatten(2).transpose(1, 2)  # (N, HW, C')
        keys = self.key(x).flatten(2)  # (N, C', HW)
        scores = torch.bmm(queries, keys)  # (N, HW, HW): scores[n, j, i] = s_ij = f(x_i) . g(x_j)
        return scores.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`x + \\gamma\\, o`, with :math:`o` the attention output.

        Args:
            x: Feature map, :math:`(N, C, H, W)`.

        Returns:
            The same shape as ``x``.
        """
        beta = self.attention(x)  # (N, HW, HW)
        values = self.value(x).flatten(2)  # (N, C_v, HW)
        attended = torch.bmm(values, beta.transpose(1, 2))  # (N, C_v, HW): column j = sum_i beta_ji h(x_i)
        o = self.out(attended.unflatten(2, x.shape[2:]))  # (N, C_v, H, W) -> (N, C, H, W)
        return x + self.gamma * o


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are learned per class (de Vries et al. 2017).

    .. math::
        \\mathrm{CBN}(x, y) = \\gamma_y \\odot \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta_y,

    with batch statistics :math:`\\mu, \\sigma^2` per channel (running averages in evaluation
    mode) and :math:`(\\gamma_y, \\beta_y)` read from an embedding of the class. The gains start
    at 1 and the shifts at 0, so at initialisation it is plain BatchNorm whatever the class.

    Args:
        num_features: Channels :math:`C`.
        num_classes: Number of classes :math:`K`.

    Shape:
        - Input: :math:`(N, C, H, W)` and labels :math:`(N,)` in :math:`\\{0, \\dots, K-1\\}`.
        - Output: :math:`(N, C, H, W)`.

    Example:
        >>> norm = ConditionalBatchNorm2d(4, num_classes=3)
        >>> norm(torch.randn(2, 4, 5, 5), torch.tensor([0, 2])).shape
        torch.Size([2, 4, 5, 5])
    """

    def __init__(self, num_features: int, *, num_classes: int) -> None:
        super().__init__()
        check_positive("num_features", num_features)
        check_positive("num_classes", num_classes)
        self.num_features = num_features
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_classes, 2 * num_features)  # one row per class: [gains, shifts]
        with torch.no_grad():
            self.embed.weight[:, :num_features].fill_(1.0)
            self.embed.weight[:, num_features:].zero_()

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` and apply the scale and shift of each image's class."""
        gain, shift = self.embed(labels).chunk(2, dim=1)  # (N, C) each
        return self.norm(x) * gain[:, :, None, None] + shift[:, :, None, None]


class _UpsampleStage(nn.Module):
    """One generator stage: ``ConditionalBatchNorm → ReLU → nearest upsampling x2 → (SN) conv 3x3``."""

    def __init__(self, in_channels: int, out_channels: int, *, num_classes: int, bias: bool = False,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        self.norm = ConditionalBatchNorm2d(in_channels, num_classes=num_classes)
        # Nearest upsampling then a 3x3 convolution rather than a transposed convolution: it
        # avoids the checkerboard artefacts of overlapping strides (Odena et al. 2016), and is
        # what SNGAN's and SAGAN's ResNet generators do. A bias only on the image layer: the
        # next norm removes any other.
        conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=bias)
        self.conv = (with_spectral_norm if spectral_norm else spectral_norm_at_start)(conv)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm(x, labels))
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))  # (N, C_in, 2H, 2W) -> (N, C_out, 2H, 2W)


@register_model("sagan-generator")
class SAGANGenerator(nn.Module):
    """The SAGAN generator: a linear map from the noise, upsampling stages, one self-attention block.

    The noise and the one-hot class are mapped by a (spectrally normalised) linear layer to the
    smallest feature map;
    each stage is ``ConditionalBatchNorm → ReLU → upsample x2 → (SN) conv 3x3`` and halves the
    channels; a :class:`~mlcheatsheet.models.sagan.SelfAttention` block follows the stage
    whose output has side ``attention_size``; the last stage,
    ``ConditionalBatchNorm → ReLU → upsample x2 → (SN) conv 3x3 → tanh``, makes the image, so
    training images must be scaled to :math:`[-1, 1]`. The state sizes are the
    :class:`~mlcheatsheet.models.dcgan.DCGANGenerator`'s; with the defaults:

    - 1x28x28: :math:`z` → (N, 64, 7, 7) → (N, 32, 14, 14) + attention → (N, 1, 28, 28)
    - 3x32x32: :math:`z` → (N, 128, 4, 4) → (N, 64, 8, 8) → (N, 32, 16, 16) + attention → (N, 3, 32, 32)

    The paper's generator is a ResNet with attention at 32x32 of 128x128 images; these plain
    stages keep it small enough for MNIST and CIFAR-10 on a CPU. The image is drawn straight
    from the last upsampling, as in the DCGAN generator, rather than from one more stage
    at full size: a 3x3 convolution between two wide maps at 28x28 would cost about seven
    times the rest of the network.

    Args:
        image_shape: Shape ``(C, H, W)`` of the generated images (square, e.g. 28 or 32 px).
        latent_dim: Size of the noise vector :math:`z`.
        num_classes: Number of classes :math:`K`.
        base_channels: Channels of the last stage; each earlier stage has twice as many (as in
            :class:`~mlcheatsheet.models.dcgan.DCGANGenerator`).
        attention_size: Side of the stage output that gets self-attention (a side between
            the first map and the image); default the second-largest side (14 for 28 px, 16
            for 32 px), where a position can see the whole image at a cost of
            :math:`(HW)^2` scores per image.
        spectral_norm: Spectrally normalise every weight, as Zhang et al. do; ``False``
            leaves the generator's layers unbounded, as SNGAN's generator is (its BatchNorms
            already fix the scale of every map but the image), but starts each where the
            normalised layer would start (:func:`~mlcheatsheet.models.layers.spectral_norm_at_start`).

    Attributes:
        attention: The :class:`~mlcheatsheet.models.sagan.SelfAttention` block, e.g. to hook and look at its map.

    Shape:
        - Input: noise :math:`(N, Z)`, :math:`Z` = ``latent_dim``, and labels :math:`(N,)` in
          :math:`\\{0, \\dots, K-1\\}`.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.

    Raises:
        ValueError: ``attention_size`` is not the side of a stage output (the message lists
            them).

    Example:
        >>> g = SAGANGenerator(latent_dim=16, base_channels=8)
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
        base_channels: int = 32,
        attention_size: int | None = None,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        sizes = stage_sizes(image_shape)  # e.g. [7, 14, 28]
        check_positive("latent_dim", latent_dim)
        check_positive("num_classes", num_classes)
        check_positive("base_channels", base_channels)
        attention_size = sizes[-2] if attention_size is None else attention_size
        _check_attention_size(type(self).__name__, attention_size, sizes[1:-1], tuple(image_shape))
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        upsamplings = len(sizes) - 1
        channels = [base_channels * 2 ** (upsamplings - 1 - i) for i in range(upsamplings)]  # e.g. [64, 32]
        self._start = (channels[0], sizes[0], sizes[0])
        # No bias: the first stage's conditional BatchNorm removes it.
        # The class enters twice: appended to z as a one-hot vector (as BigGAN feeds its class
        # embedding to the first layer), and through every conditional BatchNorm. With the
        # norms alone the classes start identical, and a build's few hundred steps left most
        # samples of another class than the one asked for.
        project = nn.Linear(latent_dim + num_classes, channels[0] * sizes[0] ** 2, bias=False)
        self.project = (with_spectral_norm if spectral_norm else spectral_norm_at_start)(project)
        self.stages = nn.ModuleList([
            _UpsampleStage(c_in, c_out, num_classes=num_classes, spectral_norm=spectral_norm)
            for c_in, c_out in zip(channels, channels[1:])
        ])
        self._attend_after = sizes[1:-1].index(attention_size)  # index of the stage the attention follows
        self.attention = SelfAttention(channels[1 + self._attend_after], spectral_norm=spectral_norm)
        self.to_image = _UpsampleStage(channels[-1], image_shape[0], num_classes=num_classes, bias=True,
                                       spectral_norm=spectral_norm)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Draw one image of class ``labels[i]`` from each noise vector ``z[i]``.

        Args:
            z: Noise, :math:`(N, Z)`.
            labels: Classes, :math:`(N,)` integers.

        Returns:
            Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.
        """
        name = type(self).__name__
        check_latent_batch(name, z, self.latent_dim)
        _check_labels(name, labels, z.shape[0], self.num_classes)  # shape[0], not len(): symbolic under torch.export
        one_hot = F.one_hot(labels, self.num_classes).to(z.dtype)  # (N, K)
        h = self.project(torch.cat([z, one_hot], dim=1)).unflatten(1, self._start)  # (N, Z + K) -> (N, 64, 7, 7) for 28 px defaults
        for i, stage in enumerate(self.stages):
            h = stage(h, labels)  # state size: (N, 32, 14, 14)
            if i == self._attend_after:
                h = self.attention(h)
        return torch.tanh(self.to_image(h, labels))  # (N, 1, 28, 28)


@register_model("sagan-discriminator")
class SAGANDiscriminator(nn.Module):
    """The SAGAN discriminator: SN convolutions, one self-attention block, sum pooling, a projection head.

    Each downsampling stage is ``SN conv 4x4, stride 2 → LeakyReLU(0.1)`` and doubles the
    channels (the slope 0.1 and the absence of BatchNorm are SNGAN's); a
    :class:`~mlcheatsheet.models.sagan.SelfAttention` block follows the stage whose output has
    side ``attention_size``. The features :math:`\\phi(x)` are the last map *summed* over
    positions (global sum pooling, as in the ResNet discriminators of SNGAN and SAGAN), and
    the score is

    .. math::
        D(x, y) = w^\\top \\phi(x) + b + e_y^\\top \\phi(x),

    a projection discriminator with a (spectrally normalised) class embedding :math:`e`. With
    the defaults on 1x28x28: (N, 1, 28, 28) → (N, 32, 14, 14) → (N, 64, 7, 7) + attention
    → :math:`\\phi` (N, 64) → (N,). SNGAN's discriminators add 3x3 convolutions at every
    size; on the build's CPU the strided ones alone keep a training step affordable.

    The scores are unbounded: use them with
    :func:`~mlcheatsheet.models.sagan.hinge_discriminator_loss`, or as a WGAN-GP critic (no
    BatchNorm, so each image's score depends on that image alone).

    Args:
        image_shape: Shape ``(C, H, W)`` of the images (square, e.g. 28 or 32 px).
        num_classes: Number of classes :math:`K`.
        base_channels: Channels of the first stage; each later stage has twice as many.
        attention_size: Side of the stage output that gets self-attention; default the output
            of the second downsampling (7 for 28 px, 8 for 32 px).
        embedding_spectral_norm: Spectrally normalise the class embedding, as Miyato &
            Koyama do. The bound is on the whole :math:`K \\times F` table, so every class's
            :math:`\\lVert e_y \\rVert` is at most 1; ``False`` starts the table at the same
            scale and lets the class term grow as fast as the rest of the discriminator learns.

    Attributes:
        attention: The :class:`~mlcheatsheet.models.sagan.SelfAttention` block.
        feature_dim: Size :math:`F` of :math:`\\phi(x)`.

    Shape:
        - Input: images :math:`(N, C, H, W)` in :math:`[-1, 1]` and labels :math:`(N,)`.
        - Output: :math:`(N,)` scores.

    Raises:
        ValueError: ``attention_size`` is not the side of a stage output (the message lists
            them).

    Example:
        >>> d = SAGANDiscriminator(base_channels=8)
        >>> d(torch.zeros(2, 1, 28, 28), torch.tensor([3, 7])).shape
        torch.Size([2])
    """

    conditional = True

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        base_channels: int = 32,
        attention_size: int | None = None,
        embedding_spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        sizes = stage_sizes(image_shape)  # e.g. [7, 14, 28]
        check_positive("num_classes", num_classes)
        check_positive("base_channels", base_channels)
        outputs = sizes[-2::-1]  # sides after each downsampling, e.g. [14, 7]
        # After the second downsampling (7x7 for 28 px, 8x8 for 32 px): a 14x14 map costs the
        # discriminator 16 times the scores, and it already sees each digit whole at 7x7.
        attention_size = outputs[min(1, len(outputs) - 1)] if attention_size is None else attention_size
        _check_attention_size(type(self).__name__, attention_size, outputs, tuple(image_shape))
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        downsamplings = len(sizes) - 1
        channels = [image_shape[0]] + [base_channels * 2**i for i in range(downsamplings)]  # e.g. [1, 32, 64]
        self.stages = nn.ModuleList([
            nn.Sequential(
                with_spectral_norm(nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1)),
                nn.LeakyReLU(0.1, inplace=True),
            )
            for c_in, c_out in zip(channels, channels[1:])
        ])
        self._attend_after = outputs.index(attention_size)
        self.attention = SelfAttention(channels[1 + self._attend_after])
        self.feature_dim = channels[-1]
        self.head = with_spectral_norm(nn.Linear(self.feature_dim, 1))
        embed = nn.Embedding(num_classes, self.feature_dim)
        self.embed = (with_spectral_norm if embedding_spectral_norm else spectral_norm_at_start)(embed)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, stage in enumerate(self.stages):
            h = stage(h)  # state size: (N, 32, 14, 14), then (N, 64, 7, 7) for 28 px defaults
            if i == self._attend_after:
                h = self.attention(h)
        # Sum, not mean, over positions, as the authors do; with a flattened map instead the
        # head and the class embedding would need F * H * W weights each.
        return h.sum(dim=(2, 3))  # (N, 64, 7, 7) -> (N, 64)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\phi(x)`, the last feature map summed over positions, :math:`(N, F)`."""
        check_image_batch(type(self).__name__, x, self.image_shape)
        return self._features(x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Score images as real examples of the given classes.

        Args:
            x: Images, :math:`(N, C, H, W)` in :math:`[-1, 1]`.
            labels: Classes, :math:`(N,)` integers.

        Returns:
            Unbounded scores, :math:`(N,)`.
        """
        name = type(self).__name__
        check_image_batch(name, x, self.image_shape)
        _check_labels(name, labels, x.shape[0], self.num_classes)  # shape[0], not len(): symbolic under torch.export
        phi = self._features(x)  # (N, F)
        return self.head(phi).squeeze(1) + (self.embed(labels) * phi).sum(dim=1)  # w . phi + b + e_y . phi


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss, :math:`\\mathbb{E}[\\max(0, 1 - D(x))] + \\mathbb{E}[\\max(0, 1 + D(G(z)))]`.

    A real image scoring above 1, or a generated one below -1, adds nothing: the
    discriminator stops pushing on examples it already separates by the margin (a
    support-vector machine's loss, Lim & Ye 2017).

    Args:
        real_scores: Discriminator scores of real images, :math:`(N,)`.
        fake_scores: Discriminator scores of generated images, :math:`(M,)`.

    Example:
        >>> hinge_discriminator_loss(torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])).item()  # (0 + 0.5) / 2 + (0 + 1) / 2
        0.75
    """
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's loss with a hinge discriminator, :math:`-\\mathbb{E}[D(G(z))]`.

    No margin here: the generator keeps raising the scores of its images (as in WGAN), so
    its gradient never vanishes.

    Args:
        fake_scores: Discriminator scores of generated images, :math:`(M,)`.

    Example:
        >>> hinge_generator_loss(torch.tensor([0.5, 1.5])).item()
        -1.0
    """
    return -fake_scores.mean()
