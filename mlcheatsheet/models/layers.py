"""Building blocks shared by the models that ``torch.nn`` does not provide in the form we need."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

__all__ = ["FastDropout", "spectral_norm_at_start", "with_spectral_norm"]


class FastDropout(nn.Dropout):
    """:class:`~torch.nn.Dropout` with a mask that is faster to draw on the CPU.

    Training zeroes each element with probability :math:`p` and scales the survivors by
    :math:`1 / (1 - p)`, as :class:`~torch.nn.Dropout` does, with :math:`p` rounded to a
    multiple of :math:`2^{-16}`. Only the way the mask is drawn differs. On the CPU, torch's
    dropout samples it with ``bernoulli_``, one random number per element, and that took a
    fifth of an MLP's training step at a batch of 512 here. This layer draws one 64-bit
    random integer per four elements and compares its 16-bit slices with
    :math:`p \\cdot 2^{16}`: about four times faster. On other devices, for in-place dropout
    and for dtypes other than float32 and float64, it is :class:`~torch.nn.Dropout` itself.

    Args:
        p: Probability of zeroing an element.
        inplace: Overwrite the input (always torch's own implementation).

    Shape:
        - Input: any.
        - Output: the same as the input.

    Example:
        >>> layer = FastDropout(0.5).train()
        >>> y = layer(torch.ones(1000))
        >>> sorted(y.unique().tolist())
        [0.0, 2.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop elements in training mode; the identity in eval mode."""
        fast = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not self.inplace
        if not self.training or not fast or self.p in (0.0, 1.0):
            return super().forward(x)
        # 64 random bits give the coin flips of four elements: each 16-bit slice is uniform on
        # [-2^15, 2^15), and it keeps its element when at least -2^15 + round(p * 2^16).
        slices = torch.randint(-(2**63), 2**63 - 1, ((x.numel() + 3) // 4,), dtype=torch.int64, device=x.device)
        keep = slices.view(torch.int16)[: x.numel()].view(x.shape) >= round(self.p * 2**16) - 2**15
        return x * (keep * (1.0 / (1.0 - self.p)))  # 0 or 1/(1-p), in x's dtype


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """``module`` with its ``weight`` spectrally normalised, by :func:`torch.nn.utils.parametrizations.spectral_norm`.

    The weight is stored as ``module.parametrizations.weight.original`` and read as
    :math:`W / \\sigma(W)`. In training mode every read of ``module.weight`` runs one
    power-iteration step that refines the singular-vector estimates (buffers ``_u`` and
    ``_v``, kept in the state dict); in evaluation mode the stored estimates are used as they
    are, so outputs are deterministic.

    The initial scale of the weight does not change what the layer computes (it cancels in
    :math:`W / \\sigma(W)`), so layers keep PyTorch's default initialisation.

    Example:
        >>> layer = with_spectral_norm(nn.Linear(8, 4))
        >>> round(torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item(), 2)
        1.0
    """
    return parametrizations.spectral_norm(module)


def spectral_norm_at_start(module: nn.Module) -> nn.Module:
    """``module`` with its ``weight`` divided by its largest singular value once, now.

    The layer starts where :func:`with_spectral_norm` would start it, :math:`W_0 / \\sigma(W_0)`,
    and then trains without the bound. A model that offers spectral normalisation as an
    option uses this when it is off, so the two choices differ in one thing only: whether
    the bound holds during training. (With Adam, a smaller weight also moves faster
    relative to its size, so the starting scale is part of the recipe.)

    Example:
        >>> layer = spectral_norm_at_start(nn.Linear(8, 4))
        >>> round(torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item(), 2)
        1.0
    """
    with torch.no_grad():
        weight = module.weight
        weight.div_(torch.linalg.matrix_norm(weight.flatten(1), ord=2))  # as spectral_norm reads it: (out, everything else)
    return module
