"""Evaluation metrics computed on tensors."""

from __future__ import annotations

import torch

__all__ = ["accuracy", "confusion_matrix"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the true label.

    Shape:
        - ``logits``: :math:`(N, K)`; ``labels``: :math:`(N,)`.
    """
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} predictions for {labels.shape[0]} labels")
    return (logits.argmax(dim=1) == labels).float().mean().item()


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count matrix ``C`` with ``C[i, j]`` = images of true class ``i`` predicted as ``j``.

    Shape:
        - ``predictions``, ``labels``: :math:`(N,)` integer classes.
        - Output: :math:`(K, K)`, ``int64``.
    """
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    flat = labels.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
