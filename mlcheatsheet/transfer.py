"""Model surgery for transfer learning: a fresh classifier head, a frozen backbone.

Fine-tuning starts from :func:`with_new_head`; feature extraction also calls
:func:`freeze_backbone`, which turns every BatchNorm layer outside the head into the fixed
affine map it computes in evaluation mode.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["freeze_backbone", "with_new_head"]


def with_new_head(model: nn.Module, num_classes: int, *, head: str = "fc") -> nn.Module:
    """A deep copy of a trained model whose classifier ``head`` is a freshly initialised linear layer.

    The starting point of transfer learning: keep what the network learned about images,
    forget what it learned about the old labels.

    Args:
        model: A trained model with a :class:`~torch.nn.Linear` attribute named ``head``.
        num_classes: Outputs of the new head.
        head: Attribute name of the classifier layer.

    Returns:
        The copy (the original model is untouched).

    Raises:
        ValueError: ``model`` has no linear layer called ``head``.
    """
    old = getattr(model, head, None)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{type(model).__name__} has no nn.Linear attribute {head!r} to replace")
    copy_ = copy.deepcopy(model)
    device = old.weight.device
    setattr(copy_, head, nn.Linear(old.in_features, num_classes, device=device))
    return copy_


class _FrozenBatchNorm(nn.Module):
    """A BatchNorm layer turned into the fixed affine map it computes in eval mode."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias.detach() if bn.affine else 0) - bn.running_mean * scale
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", shift.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.scale.view(shape) + self.shift.view(shape)


def freeze_backbone(model: nn.Module, *, head: str = "fc") -> nn.Module:
    """Freeze everything but the classifier ``head``, in place, for feature extraction.

    Every parameter outside ``head`` stops receiving gradients, and every BatchNorm layer
    outside it is replaced by the fixed affine map it computes in evaluation mode. Without
    that second step the backbone would still change: in training mode BatchNorm
    normalises with the statistics of the current batch and keeps updating its running
    averages, even when its parameters are frozen.

    Args:
        model: The model; modified in place.
        head: Attribute name of the part that stays trainable.

    Returns:
        ``model``, for chaining.

    Raises:
        ValueError: ``model`` has no attribute ``head``.
    """
    if not isinstance(getattr(model, head, None), nn.Module):
        raise ValueError(f"{type(model).__name__} has no module {head!r} to keep trainable")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(f"{head}."))
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(f"{head}."):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, _FrozenBatchNorm(module))
    return model
