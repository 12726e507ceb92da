"""Residual networks: blocks that learn a correction to their input, :math:`y = F(x) + x`.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
https://arxiv.org/abs/1512.03385. Each block adds its input back to its output, so a
block that has nothing useful to add can learn :math:`F = 0` and pass the signal on
unchanged, and the gradient reaches early layers through the identity path,
:math:`\\partial (F(x) + x) / \\partial x = I + \\partial F / \\partial x`. These are the
paper's original ("v1", post-activation) blocks: the ReLU after the addition passes that
gradient only where the sum is positive, so the identity path is exact only in the
pre-activation blocks of He et al., "Identity Mappings in Deep Residual Networks", ECCV
2016, https://arxiv.org/abs/1603.05027. When a block changes the number of channels or the
resolution, a 1×1 convolution with the block's stride, followed by BatchNorm (the
*projection shortcut*, the paper's option B), reshapes :math:`x` to match.

This module holds the two block types of the paper (:class:`~mlcheatsheet.models.resnet.BasicBlock`,
:class:`~mlcheatsheet.models.resnet.Bottleneck`), a :class:`~mlcheatsheet.models.resnet.PlainBlock` without the shortcut for comparison, the
:class:`~mlcheatsheet.models.resnet.ResNet` that stacks them, and builders: :func:`~mlcheatsheet.models.resnet.resnet_small` for 28×28 and 32×32
images, :func:`~mlcheatsheet.models.resnet.plain_small` (the same network without skips), and the standard
:func:`~mlcheatsheet.models.resnet.resnet18` / :func:`~mlcheatsheet.models.resnet.resnet50` layouts, which can load torchvision's ImageNet weights
when they are already in the local torch cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive
from .registry import register_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PlainBlock",
    "ResNet",
    "imagenet_weights_path",
    "plain_small",
    "resnet18",
    "resnet50",
    "resnet_small",
]


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """The paper's option B shortcut for a block that changes the shape: a strided 1×1 conv + BN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: the block of ResNet-18 and ResNet-34.

    Computes :math:`y = \\mathrm{ReLU}(F(x) + S(x))` with
    :math:`F = \\mathrm{BN} \\circ \\mathrm{conv}_{3\\times3} \\circ \\mathrm{ReLU} \\circ
    \\mathrm{BN} \\circ \\mathrm{conv}_{3\\times3}` and :math:`S` the identity, or the
    projection (1×1 conv + BN) that :class:`~mlcheatsheet.models.resnet.ResNet` hands to a
    block with ``stride > 1`` or a change in the channel count.

    Args:
        in_channels: Channels of the input.
        channels: Width of the block; it outputs ``channels * expansion`` channels.
        stride: Stride of the first convolution (2 halves the resolution).
        shortcut: :math:`S`, a module that maps the input to the output's shape; ``None``
            for the identity.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \\mathrm{channels} \\cdot \\mathrm{expansion}, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`.
    """

    #: Output channels per unit of ``channels``.
    expansion: ClassVar[int] = 1
    #: Whether the block adds its input back (``False``: the layer builder gives it no shortcut).
    residual: ClassVar[bool] = True

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut  # None: the identity, as torchvision's ``downsample``

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return :math:`\\mathrm{ReLU}(F(x) + S(x))`."""
        out = self.relu(self.bn1(self.conv1(x)))  # (N, channels, H/s, W/s)
        out = self.bn2(self.conv2(out))  # (N, channels * expansion, H/s, W/s)
        identity = x if self.shortcut is None else self.shortcut(x)  # the same shape as out
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand, plus a shortcut: the block of ResNet-50 and deeper.

    The 1×1 convolutions shrink the block's input to ``channels`` and expand the result
    back to ``4 * channels``, so the expensive 3×3 convolution runs on a quarter of the
    channels.

    Args:
        in_channels: Channels of the input.
        channels: Width of the inner 3×3 convolution; the block outputs
            ``channels * expansion`` channels.
        stride: Stride of the 3×3 convolution (2 halves the resolution).
        shortcut: :math:`S`, as for :class:`~mlcheatsheet.models.resnet.BasicBlock`.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, 4 \\cdot \\mathrm{channels}, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`.
    """

    #: Output channels per unit of ``channels``.
    expansion: ClassVar[int] = 4
    #: Whether the block adds its input back.
    residual: ClassVar[bool] = True

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        # The stride sits in the 3x3 conv, not in the first 1x1 as in the paper ("ResNet v1.5"):
        # a strided 1x1 conv would simply discard three quarters of its input.
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut  # None: the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return :math:`\\mathrm{ReLU}(F(x) + S(x))`."""
        out = self.relu(self.bn1(self.conv1(x)))  # (N, channels, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, channels, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (N, 4 * channels, H/s, W/s)
        identity = x if self.shortcut is None else self.shortcut(x)  # the same shape as out
        return self.relu(out + identity)


class PlainBlock(BasicBlock):
    """A :class:`~mlcheatsheet.models.resnet.BasicBlock` without its shortcut: :math:`y = \\mathrm{ReLU}(F(x))`.

    Stacking these gives the paper's "plain" baseline, the same depth and convolutions as
    the residual network but with nothing to carry the signal past a block. It takes the
    arguments of :class:`~mlcheatsheet.models.resnet.BasicBlock`; ``shortcut`` must be ``None``
    (``residual = False`` tells the layer builder not to make one).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \\mathrm{channels}, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`.
    """

    residual: ClassVar[bool] = False

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: nn.Module | None = None) -> None:
        if shortcut is not None:
            raise ValueError("a PlainBlock has no shortcut; build it with shortcut=None")
        super().__init__(in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return :math:`\\mathrm{ReLU}(F(x))`."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """A stem, stages of residual blocks, global average pooling and a linear classifier.

    Stage :math:`s` stacks ``layers[s]`` blocks of width ``widths[s]``; every stage after
    the first starts with a stride-2 block that halves the resolution (and therefore gets
    a projection shortcut, unless the block is not ``residual``). Two stems are available:
    ``"imagenet"`` (7×7 stride-2 convolution and 3×3 max-pool, as in the paper, for 224×224
    photographs) and ``"small"`` (one 3×3 convolution at full resolution, as in the paper's
    CIFAR-10 networks), which suits 28×28 and 32×32 images.

    Prefer the builders :func:`~mlcheatsheet.models.resnet.resnet_small`, :func:`~mlcheatsheet.models.resnet.plain_small`, :func:`~mlcheatsheet.models.resnet.resnet18` and
    :func:`~mlcheatsheet.models.resnet.resnet50` to calling this class directly.

    Args:
        block: :class:`~mlcheatsheet.models.resnet.BasicBlock`, :class:`~mlcheatsheet.models.resnet.Bottleneck` or :class:`~mlcheatsheet.models.resnet.PlainBlock`.
        layers: Number of blocks in each stage.
        widths: Width (``channels`` argument of the block) of each stage.
        image_shape: Shape ``(C, H, W)`` of one input image.
        num_classes: Number of output logits.
        stem: ``"small"`` or ``"imagenet"``.
        stem_channels: Output channels of the stem.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, K)` logits, :math:`K` = ``num_classes``.
    """

    def __init__(
        self,
        *,
        block: Block,
        layers: Sequence[int],
        widths: Sequence[int],
        image_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        stem: str = "small",
        stem_channels: int = 16,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        check_positive("layers", tuple(layers))
        check_positive("widths", tuple(widths))
        check_positive("num_classes", num_classes)
        check_positive("stem_channels", stem_channels)
        if not layers or len(layers) != len(widths):
            raise ValueError(f"layers and widths must name the same, non-zero number of stages, got {tuple(layers)} and {tuple(widths)}")
        if stem not in ("small", "imagenet"):
            raise ValueError(f"unknown stem {stem!r}; choose 'small' or 'imagenet'")
        in_channels = self.image_shape[0]
        if stem == "small":
            stem_layers: list[nn.Module] = [nn.Conv2d(in_channels, stem_channels, kernel_size=3, padding=1, bias=False)]
        else:
            stem_layers = [nn.Conv2d(in_channels, stem_channels, kernel_size=7, stride=2, padding=3, bias=False)]
        stem_layers += [nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True)]
        if stem == "imagenet":
            stem_layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.normalize: nn.Module = nn.Identity()  # pretrained weights bring their input statistics
        self.stem = nn.Sequential(*stem_layers)
        self.in_channels = stem_channels
        self.stages = nn.Sequential(
            *(self._make_layer(block, width, count, stride=1 if i == 0 else 2) for i, (count, width) in enumerate(zip(layers, widths, strict=True)))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: Block, channels: int, count: int, stride: int) -> nn.Sequential:
        """One stage: a (possibly strided) first block, then ``count - 1`` blocks that keep the shape.

        The stage decides each block's shortcut, as torchvision's ``_make_layer`` does: a
        projection where a residual block changes the shape, else none (the identity).
        Building the projection before its block changes no initial weight: every
        convolution is drawn again, in module order, once the whole network exists.
        """
        out_channels = channels * block.expansion
        shortcut = None
        if block.residual and (stride != 1 or self.in_channels != out_channels):
            shortcut = _projection(self.in_channels, out_channels, stride)
        blocks = [block(self.in_channels, channels, stride, shortcut)]
        self.in_channels = out_channels
        blocks += [block(self.in_channels, channels) for _ in range(count - 1)]
        return nn.Sequential(*blocks)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the classifier sees, :math:`(N, D)`."""
        check_image_batch(type(self).__name__, x, self.image_shape)
        x = self.stem(self.normalize(x))  # small stem: (N, 16, 28, 28)
        x = self.stages(x)  # small ResNet: (N, 16, 28, 28) -> (N, 32, 14, 14) -> (N, 64, 7, 7)
        return torch.flatten(self.pool(x), 1)  # (N, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class logits of a batch of images.

        Args:
            x: Images, :math:`(N, C, H, W)`.

        Returns:
            Logits, :math:`(N, K)`.
        """
        return self.fc(self.features(x))  # (N, D) -> (N, K)


def _small(
    block: Block, *, image_shape: tuple[int, int, int], num_classes: int, blocks_per_stage: int, base_channels: int
) -> ResNet:
    """The CIFAR-style layout of the paper: three stages of ``block`` at widths 1x, 2x and 4x ``base_channels``."""
    check_positive("blocks_per_stage", blocks_per_stage)
    check_positive("base_channels", base_channels)
    return ResNet(block=block, layers=(blocks_per_stage,) * 3, widths=(base_channels, 2 * base_channels, 4 * base_channels),
                  image_shape=image_shape, num_classes=num_classes, stem="small", stem_channels=base_channels)


@register_model("resnet")
def resnet_small(
    *,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    blocks_per_stage: int = 2,
    base_channels: int = 16,
) -> ResNet:
    """A small-image ResNet in the style of the paper's CIFAR-10 networks.

    Three stages of :class:`~mlcheatsheet.models.resnet.BasicBlock` with ``base_channels``, twice and four times as
    many channels, at full, half and quarter resolution. Depth is
    :math:`6 \\cdot \\mathrm{blocks\\_per\\_stage} + 2` layers with weights (14 by default).

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        num_classes: Number of output logits.
        blocks_per_stage: Blocks in each of the three stages.
        base_channels: Channels of the stem and of the first stage.

    Example:
        >>> resnet_small(blocks_per_stage=1)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return _small(BasicBlock, image_shape=image_shape, num_classes=num_classes, blocks_per_stage=blocks_per_stage,
                  base_channels=base_channels)


@register_model("plain")
def plain_small(
    *,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    blocks_per_stage: int = 2,
    base_channels: int = 16,
) -> ResNet:
    """:func:`~mlcheatsheet.models.resnet.resnet_small` with :class:`~mlcheatsheet.models.resnet.PlainBlock`: the same depth and widths, no skips.

    Args:
        image_shape: Shape ``(C, H, W)`` of one input image.
        num_classes: Number of output logits.
        blocks_per_stage: Blocks in each of the three stages.
        base_channels: Channels of the stem and of the first stage.
    """
    return _small(PlainBlock, image_shape=image_shape, num_classes=num_classes, blocks_per_stage=blocks_per_stage,
                  base_channels=base_channels)


# torchvision's file names for the ImageNet weights (IMAGENET1K_V1) of the two layouts.
_IMAGENET_FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet50": "resnet50-0676ba61.pth"}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class _Standardize(nn.Module):
    """Subtract the per-channel mean and divide by the standard deviation the weights were trained with."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], channels: int) -> None:
        super().__init__()
        mean_t, std_t = torch.tensor(mean), torch.tensor(std)
        if channels != len(mean):  # grey images: one channel of average statistics
            mean_t, std_t = mean_t.mean().expand(channels), std_t.mean().expand(channels)
        self.register_buffer("mean", mean_t.reshape(1, -1, 1, 1).clone(), persistent=False)
        self.register_buffer("std", std_t.reshape(1, -1, 1, 1).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def imagenet_weights_path(arch: str) -> Path:
    """Where torchvision keeps the ImageNet weights of ``arch`` in the local torch hub cache.

    The file may or may not exist; this function never downloads anything.

    Args:
        arch: ``"resnet18"`` or ``"resnet50"``.
    """
    if arch not in _IMAGENET_FILES:
        raise ValueError(f"no ImageNet weights known for {arch!r}; choose one of: {', '.join(_IMAGENET_FILES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / _IMAGENET_FILES[arch]


def _load_imagenet(model: ResNet, arch: str) -> None:
    path = imagenet_weights_path(arch)
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {arch} are not in the local torch cache ({path}); this package never "
            "downloads them. Build the model with weights=None, or place torchvision's file there."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("fc."):
            continue  # ImageNet's 1,000-way classifier is never what we want
        # torchvision names: conv1/bn1 (stem), layerK.i (stage K-1, block i), downsample (shortcut).
        key = key.replace("downsample", "shortcut")
        if key.startswith("layer"):
            stage, rest = key[len("layer"):].split(".", 1)
            key = f"stages.{int(stage) - 1}.{rest}"
        else:
            key = key.replace("conv1.", "stem.0.").replace("bn1.", "stem.1.")
        ours[key] = value
    stem = ours["stem.0.weight"]  # (64, 3, 7, 7)
    in_channels = model.image_shape[0]
    if in_channels != stem.shape[1]:
        # A grey pixel g is the colour pixel (g, g, g): filters summed over their colour
        # channels (and shared among the input channels) give the same response.
        ours["stem.0.weight"] = (stem.sum(dim=1, keepdim=True) / in_channels).expand(-1, in_channels, -1, -1).contiguous()
    # The ImageNet filters expect standardised pixels; the first module does that.
    model.normalize = _Standardize(_IMAGENET_MEAN, _IMAGENET_STD, in_channels)
    missing, unexpected = model.load_state_dict(ours, strict=False)
    if unexpected or set(missing) - {"fc.weight", "fc.bias"}:
        raise RuntimeError(f"{path} does not match the {arch} layout (missing {missing}, unexpected {unexpected})")


def _standard(
    arch: str,
    block: Block,
    layers: Sequence[int],
    *,
    weights: str | None,
    image_shape: tuple[int, int, int],
    num_classes: int,
) -> ResNet:
    if weights not in (None, "imagenet"):
        raise ValueError(f"weights must be None or 'imagenet', got {weights!r}")
    model = ResNet(block=block, layers=layers, widths=(64, 128, 256, 512), image_shape=image_shape,
                   num_classes=num_classes, stem="imagenet", stem_channels=64)
    if weights == "imagenet":
        _load_imagenet(model, arch)
    return model


@register_model("resnet18")
def resnet18(
    *,
    weights: str | None = None,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
) -> ResNet:
    """ResNet-18: the paper's 18-layer layout, :class:`~mlcheatsheet.models.resnet.BasicBlock` × (2, 2, 2, 2).

    Args:
        weights: ``None`` for random initialisation, or ``"imagenet"`` to load
            torchvision's ImageNet weights from the local torch cache (never downloaded;
            see :func:`~mlcheatsheet.models.resnet.imagenet_weights_path`). The classifier is always new.
        image_shape: Shape ``(C, H, W)`` of one input image; with ImageNet weights and
            one channel, the first filters are summed over their colour channels.
        num_classes: Number of output logits.

    Raises:
        FileNotFoundError: ``weights="imagenet"`` but the file is not in the cache.
    """
    return _standard("resnet18", BasicBlock, (2, 2, 2, 2), weights=weights, image_shape=image_shape, num_classes=num_classes)


@register_model("resnet50")
def resnet50(
    *,
    weights: str | None = None,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
) -> ResNet:
    """ResNet-50: the paper's 50-layer layout, :class:`~mlcheatsheet.models.resnet.Bottleneck` × (3, 4, 6, 3).

    Args:
        weights: ``None`` or ``"imagenet"``, as for :func:`~mlcheatsheet.models.resnet.resnet18`.
        image_shape: Shape ``(C, H, W)`` of one input image.
        num_classes: Number of output logits.

    Raises:
        FileNotFoundError: ``weights="imagenet"`` but the file is not in the cache.
    """
    return _standard("resnet50", Bottleneck, (3, 4, 6, 3), weights=weights, image_shape=image_shape, num_classes=num_classes)
