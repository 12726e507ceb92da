"""Figures for the gallery: training curves, image grids and confusion matrices.

Every function returns the :class:`~matplotlib.figure.Figure` it drew, with a title and
labelled axes, and never calls ``plt.show()``: scripts decide when to show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .training import History

__all__ = ["plot_confusion_matrix", "plot_history", "show_images"]

_MISTAKE = "#d62728"


def plot_history(history: History, *, title: str = "Training history", accuracy: str = "test_accuracy") -> Figure:
    """Loss curves (train and test) and, when the history has one, the accuracy curve.

    Args:
        history: A history from :func:`~mlcheatsheet.training.fit_classifier` or
            :func:`~mlcheatsheet.training.fit`.
        title: Figure title.
        accuracy: Name of the accuracy series to plot on the right, if present.

    Returns:
        The figure.
    """
    has_accuracy = accuracy in history.metrics
    fig, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(10 if has_accuracy else 5.5, 3.6), squeeze=False)
    epochs = np.arange(1, history.epochs + 1)
    ax = axes[0, 0]
    ax.plot(epochs, history.train_loss, marker=".", label="train")
    if "test_loss" in history.metrics:
        ax.plot(epochs, history.metrics["test_loss"], marker=".", label="test")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    if has_accuracy:
        ax = axes[0, 1]
        ax.plot(epochs, 100 * np.asarray(history.metrics[accuracy]), marker=".", color="C2")
        best = int(np.argmax(history.metrics[accuracy]))
        ax.annotate(
            f"{100 * history.metrics[accuracy][-1]:.2f}% (last)",
            xy=(epochs[-1], 100 * history.metrics[accuracy][-1]),
            xytext=(-10, -25),
            textcoords="offset points",
            ha="right",
        )
        ax.axhline(100 * history.metrics[accuracy][best], color="grey", lw=0.8, ls="--")
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Held-out accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _to_numpy_image(image: torch.Tensor) -> np.ndarray:
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))


def show_images(
    images: torch.Tensor,
    *,
    labels: torch.Tensor | Sequence[int] | None = None,
    predictions: torch.Tensor | Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    ncols: int = 10,
    title: str = "",
    size: float = 1.0,
) -> Figure:
    """A grid of images, captioned with labels and, when given, predictions.

    A wrong prediction is captioned in red as ``predicted (true)`` and framed in red.

    Args:
        images: Images with pixels in ``[0, 1]``, :math:`(N, C, H, W)` with ``C`` 1 or 3.
        labels: True labels, :math:`(N,)`.
        predictions: Predicted labels, :math:`(N,)`.
        classes: Names of the labels; defaults to the label numbers.
        ncols: Images per row.
        title: Figure title.
        size: Inches per image.

    Returns:
        The figure.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    captioned = labels is not None or predictions is not None
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.25 * captioned) * nrows + 0.4), squeeze=False)
    name = (lambda k: classes[int(k)]) if classes is not None else (lambda k: str(int(k)))
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(_to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1)
        if predictions is not None:
            pred = int(predictions[i])
            wrong = labels is not None and pred != int(labels[i])
            caption = f"{name(pred)} ({name(labels[i])})" if wrong else name(pred)
            ax.set_title(caption, fontsize=8, color=_MISTAKE if wrong else "black", pad=2)
            if wrong:
                for spine in ax.spines.values():
                    spine.set(color=_MISTAKE, linewidth=2)
        elif labels is not None:
            ax.set_title(name(labels[i]), fontsize=8, pad=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: torch.Tensor, classes: Sequence[str], *, title: str = "Confusion matrix") -> Figure:
    """A confusion matrix as a heat map with the counts written in each cell.

    Args:
        matrix: Counts, :math:`(K, K)`, rows = true class, columns = prediction.
        classes: The ``K`` class names.
        title: Figure title.

    Returns:
        The figure.
    """
    counts = matrix.cpu().numpy()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2))
    image = ax.imshow(counts, cmap="Blues")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > threshold else "black")
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    fig.tight_layout()
    return fig
