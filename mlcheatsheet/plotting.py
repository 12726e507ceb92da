"""Figures for the gallery: training curves, image grids and confusion matrices.

Every function returns the :class:`~matplotlib.figure.Figure` it drew, with a title and
labelled axes, and never calls ``plt.show()``: scripts decide when to show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .training import GanHistory, History
from .training.adversarial import OBJECTIVES

__all__ = [
    "plot_attention_maps",
    "plot_class_coverage",
    "plot_codes_2d",
    "plot_latent_manifold",
    "plot_power_spectra",
    "plot_sampling_cost",
    "plot_seed_spread",
    "plot_vae_history",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_fid_history",
    "plot_filters",
    "plot_gan_history",
    "plot_gradient_per_step",
    "plot_histories",
    "plot_history",
    "plot_snapshots",
    "show_image_rows",
    "show_images",
]

_MISTAKE = "#d62728"


def plot_history(history: History, *, title: str = "Training history", accuracy: str = "test_accuracy") -> Figure:
    """Loss curves (train and test) and, when the history has one, the accuracy curve.

    Args:
        history: A history from :func:`~mlcheatsheet.training.objectives.fit_classifier` or
            :func:`~mlcheatsheet.training.engine.fit`.
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
    _draw_loss_floor(ax, history.train_loss_floor)
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


def _draw_loss_floor(ax: Axes, floor: float) -> None:
    """Mark the lowest training loss a label-smoothed objective allows, so a training curve
    above the (unsmoothed) test curve is not read as underfitting."""
    if floor > 0:
        ax.axhline(floor, color="grey", lw=0.8, ls=":", label=f"smoothing floor ({floor:.2f})")


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


# --- GAN figures -----------------------------------------------------------------------------


def show_image_rows(
    rows: torch.Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str = "",
    size: float = 0.8,
) -> Figure:
    """A table of images: one row per entry of ``rows`` (snapshots, interpolations, classes).

    Args:
        rows: Images with pixels in :math:`[0, 1]`, :math:`(R, S, C, H, W)`.
        row_labels: A label for each row, written on its left.
        col_labels: A caption above each column.
        title: Figure title.
        size: Inches per image.

    Returns:
        The figure.
    """
    if rows.dim() != 5:
        raise ValueError(f"rows must have shape (R, S, C, H, W), got {tuple(rows.shape)}")
    n_rows, n_cols = rows.shape[:2]
    label_width = 0.2 + 0.075 * max(map(len, row_labels)) if row_labels else 0.0  # inches for the longest label at 8 pt
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols + label_width, size * n_rows + 0.5),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    if row_labels:
        fig.subplots_adjust(left=label_width / (size * n_cols + label_width), right=0.98)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(_to_numpy_image(rows[r, c]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
            if r == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=8, pad=2)
    if title:
        fig.suptitle(title)
    return fig


def plot_gan_history(history: GanHistory, *, title: str = "Adversarial training") -> Figure:
    """Generator and discriminator losses, and :math:`D(x)` / :math:`D(G(z))`, over training.

    For a discriminator that returns unbounded scores (a Wasserstein critic, the hinge
    loss) the right panel shows the mean scores instead of probabilities; for a critic
    their gap is its estimate of the Wasserstein distance. The dashed line on the left is
    the discriminator's loss when it cannot tell real from generated: :math:`2 \\log 2` for
    the cross-entropy game, 2 for the hinge loss (both scores 0).

    Args:
        history: A history from :func:`~mlcheatsheet.training.adversarial.fit_gan`.
        title: Figure title.

    Returns:
        The figure.
    """
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = np.asarray(history.log_steps)
    objective = OBJECTIVES[history.loss]
    wasserstein, probabilities = objective.gradient_penalty, objective.probabilities
    ax_loss.plot(steps, history.generator_loss, label="generator")
    ax_loss.plot(steps, history.discriminator_loss, label="critic (with penalty)" if wasserstein else "discriminator")
    if probabilities:
        ax_loss.axhline(2 * math.log(2), color="grey", lw=0.8, ls="--", label=r"$2\log 2$ (D at chance)")
    elif not wasserstein:
        ax_loss.axhline(2.0, color="grey", lw=0.8, ls="--", label="2 (D scores 0: at chance)")
    ax_loss.set(xlabel="generator step", ylabel="loss", title="Losses")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    ax_d.plot(steps, history.d_real, label="real images", color="C2")
    ax_d.plot(steps, history.d_fake, label="generated images", color="C3")
    if probabilities:
        ax_d.axhline(0.5, color="grey", lw=0.8, ls="--", label="0.5 (cannot tell)")
        ax_d.set(xlabel="generator step", ylabel="mean probability 'real'", title="D(x) and D(G(z))", ylim=(0, 1))
    else:
        what = "critic" if wasserstein else "discriminator"
        if not wasserstein:  # the hinge margins sit at +1 and -1 around it; a critic's scores may shift freely
            ax_d.axhline(0.0, color="grey", lw=0.8, ls="--", label="0 (cannot tell)")
        ax_d.set(xlabel="generator step", ylabel=f"mean {what} score", title=f"{what.capitalize()} scores of real and generated images")
    ax_d.legend(fontsize=8)
    ax_d.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_snapshots(history: GanHistory, *, images: int = 10, max_rows: int = 8, title: str = "The same noise over training") -> Figure:
    """The fixed noise batch rendered at successive evaluations: one row per snapshot.

    Args:
        history: A history from :func:`~mlcheatsheet.training.adversarial.fit_gan`.
        images: Images (columns) per snapshot.
        max_rows: At most this many snapshots, evenly spaced, first and last included.
        title: Figure title.

    Returns:
        The figure.
    """
    count = len(history.snapshots)
    if count == 0:
        raise ValueError("this history has no snapshots")
    picks = sorted({round(i * (count - 1) / max(max_rows - 1, 1)) for i in range(min(max_rows, count))})
    rows = torch.stack([history.snapshots[i][:images] for i in picks])
    labels = [f"step {history.eval_steps[i]:,}" for i in picks]
    return show_image_rows(rows, row_labels=labels, title=title)


def plot_fid_history(history: GanHistory, *, floor: float | None = None, title: str = "Sample quality over training") -> Figure:
    """FID over training (log scale, best step marked), and precision, recall and class coverage.

    Args:
        history: A history from :func:`~mlcheatsheet.training.adversarial.fit_gan` trained with a scorer.
        floor: The real-vs-real FID, drawn as a reference line.
        title: Figure title.

    Returns:
        The figure.
    """
    if not history.fid:
        raise ValueError("this history has no FID values; train with a scorer")
    fig, (ax_fid, ax_cov) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = np.asarray(history.eval_steps)
    ax_fid.plot(steps, history.fid, marker=".", label="generator vs training images")
    if floor is not None:
        ax_fid.axhline(floor, color="grey", lw=0.8, ls="--", label=f"real vs real floor ({floor:.2f})")
    ax_fid.plot([history.best_step], [history.best_fid], "o", color="C3", label=f"kept: step {history.best_step:,}")
    ax_fid.set_yscale("log")
    ax_fid.set(xlabel="generator step", ylabel="FID (classifier features)", title="FID (lower is better)")
    ax_fid.legend(fontsize=8)
    ax_fid.grid(alpha=0.3, which="both")
    ax_cov.plot(steps, 100 * np.asarray(history.precision), marker=".", label="precision (samples that look real)")
    ax_cov.plot(steps, 100 * np.asarray(history.recall), marker=".", label="recall (real images covered)")
    ax_cov.plot(steps, 100 * np.asarray(history.min_class_share), marker=".", label="rarest class share")
    if not all(math.isnan(a) for a in history.conditional_accuracy):
        ax_cov.plot(steps, 100 * np.asarray(history.conditional_accuracy), marker=".", label="classified as requested")
    ax_cov.axhline(5, color="C0", lw=0.8, ls=":", label="5% (a class is present)")
    ax_cov.set(xlabel="generator step", ylabel="%", title="Precision, recall and coverage", ylim=(0, 101))
    ax_cov.legend(fontsize=8)
    ax_cov.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_class_coverage(shares: torch.Tensor, classes: Sequence[str], *, title: str = "Classes of the generated samples") -> Figure:
    """Bar chart of the share of samples the classifier assigns to each class.

    A generator covering every class evenly gives bars at :math:`1/K`; a missing bar is a
    dropped mode.

    Args:
        shares: Share per class, :math:`(K,)`, summing to 1.
        classes: The ``K`` class names.
        title: Figure title.

    Returns:
        The figure.
    """
    values = 100 * shares.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(range(len(classes)), values, color=["C0" if v >= 5 else _MISTAKE for v in values])
    ax.axhline(100 / len(classes), color="grey", lw=0.8, ls="--", label=f"uniform ({100 / len(classes):.0f}%)")
    ax.axhline(5, color=_MISTAKE, lw=0.8, ls=":", label="5%")
    ax.set_xticks(range(len(classes)), classes)
    ax.set(xlabel="predicted class", ylabel="share of samples (%)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- Classifier figures: filters, feature maps, several runs, gradients through time -----------


def plot_filters(weight: torch.Tensor, *, title: str = "First-layer filters", ncols: int = 8) -> Figure:
    """The filters of a convolution as small images, each scaled to its own range.

    Args:
        weight: Convolution weights, :math:`(C_{out}, C_{in}, k, k)`; colour filters are shown
            in colour when :math:`C_{in} = 3`, otherwise the input channels are averaged.
        title: Figure title.
        ncols: Filters per row.

    Returns:
        The figure (bright = positive weight, dark = negative).
    """
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.mean(dim=1, keepdim=True)
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    high = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - low) / (high - low).clamp_min(1e-12)
    n = len(w)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(0.8 * ncols, 0.8 * nrows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(_to_numpy_image(w[i]), cmap="gray", vmin=0, vmax=1)
        else:
            ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_feature_maps(
    image: torch.Tensor, maps: Sequence[torch.Tensor], *, channels: int = 8, title: str = "Feature maps"
) -> Figure:
    """One input image and the first ``channels`` feature maps of each stage, one row per stage.

    Args:
        image: The input, :math:`(C, H, W)`.
        maps: One activation tensor per stage for that image, :math:`(C_s, H_s, W_s)` each.
        channels: Feature maps shown per stage.
        title: Figure title.

    Returns:
        The figure; each map is scaled to its own range (bright = strong activation).
    """
    rows = len(maps)
    fig, axes = plt.subplots(rows, channels + 1, figsize=(0.95 * (channels + 1), 1.0 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for r, stage in enumerate(maps):
        stage = stage.detach().float().cpu()
        if r == 0:
            axes[0, 0].imshow(_to_numpy_image(image), cmap="gray", vmin=0, vmax=1)
            axes[0, 0].set_title("input", fontsize=8)
        else:
            axes[r, 0].axis("off")
        axes[r, 1].set_ylabel(f"stage {r + 1}\n{stage.shape[-2]}×{stage.shape[-1]}", fontsize=8)
        for c in range(channels):
            ax = axes[r, c + 1]
            if c < len(stage):
                ax.imshow(stage[c].numpy(), cmap="magma")
            else:
                ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_histories(
    histories: Mapping[str, History],
    *,
    metric: str = "test_accuracy",
    title: str = "Training runs compared",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Several runs on shared axes: training loss on the left, ``metric`` on the right.

    Args:
        histories: Histories by run name (the legend).
        metric: The per-epoch series to compare on the right (accuracies are shown in %).
        title: Figure title.
        ylim: Limits of the right-hand axis, e.g. ``(90, 100)`` to zoom in on accuracy; the
            lower limit moves down to show every point.

    Returns:
        The figure.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    percent = "accuracy" in metric
    lowest = math.inf
    for i, (name, history) in enumerate(histories.items()):
        epochs = np.arange(1, history.epochs + 1)
        left.plot(epochs, history.train_loss, marker=".", color=f"C{i}", label=name)
        values = np.asarray(history[metric]) * (100 if percent else 1)
        right.plot(epochs, values, marker=".", color=f"C{i}", label=f"{name}: {values[-1]:.2f}{'%' if percent else ''}")
        lowest = min(lowest, float(values.min()))
    floors = {history.train_loss_floor for history in histories.values()}
    if len(floors) == 1:
        _draw_loss_floor(left, floors.pop())
    left.set(xlabel="epoch", ylabel="training loss", title="Training loss", yscale="log")
    label = metric.replace("_", " ") + (" (%)" if percent else "")
    right.set(xlabel="epoch", ylabel=label, title=metric.replace("_", " ").capitalize())
    if ylim is not None:  # zoom in, but never cut a curve off
        span = ylim[1] - ylim[0]
        right.set_ylim(min(ylim[0], lowest - 0.02 * span), ylim[1])
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gradient_per_step(
    norms: Mapping[str, torch.Tensor], *, title: str = "How far back the gradient reaches", image_rows: int | None = None
) -> Figure:
    """Gradient norm of the loss with respect to each time step's input, one line per model.

    Args:
        norms: Per-step gradient norms by model name, :math:`(T,)` each, e.g. from
            :func:`~mlcheatsheet.metrics.input_gradient_per_row`.
        title: Figure title.
        image_rows: When the first steps read an image and the rest are blank rows, how many
            are image: those steps are shaded and labelled, so the two parts are told apart.

    Returns:
        The figure, on a logarithmic scale, where a straight downward slope towards step 1
        is the exponential decay of a vanishing gradient.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    steps = 0
    for i, (name, values) in enumerate(norms.items()):
        values = values.detach().float().cpu().numpy()
        steps = max(steps, len(values))
        ax.plot(np.arange(1, len(values) + 1), values, marker=".", color=f"C{i}", label=name)
    if image_rows is not None and 0 < image_rows < steps:
        ax.axvspan(0.5, image_rows + 0.5, color="0.5", alpha=0.12, lw=0)
        ax.text(image_rows / 2 + 0.5, 0.02, "image rows", transform=ax.get_xaxis_transform(), ha="center", fontsize=10)
        ax.text((image_rows + steps) / 2 + 0.5, 0.02, "blank rows", transform=ax.get_xaxis_transform(), ha="center", fontsize=10)
    ax.set(xlabel="time step t (the input read at step t)", ylabel=r"mean $\|\partial \mathcal{L} / \partial x_t\|$",
           title=title, yscale="log", xlim=(0.5, steps + 0.5))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


# --- Autoencoder and VAE figures ---------------------------------------------------------------


def plot_vae_history(history: History, *, title: str = "VAE training") -> Figure:
    """The negative ELBO and its two parts, reconstruction and KL, per epoch, train and test.

    Args:
        history: A history from :func:`~mlcheatsheet.training.objectives.fit_vae`.
        title: Figure title.

    Returns:
        The figure, three panels in nats per image. The training curves are the parts of the
        loss as trained (the KL part unweighted, even during KL warm-up).
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    epochs = np.arange(1, history.epochs + 1)
    train_total = np.asarray(history["train_reconstruction"]) + np.asarray(history["train_kl"])
    panels = (
        ("Negative ELBO", train_total, history["test_loss"]),
        ("Reconstruction", history["train_reconstruction"], history["test_reconstruction"]),
        ("KL divergence", history["train_kl"], history["test_kl"]),
    )
    for ax, (name, train, test) in zip(axes, panels):
        ax.plot(epochs, train, marker=".", label="train")
        ax.plot(epochs, test, marker=".", label=f"test: {test[-1]:.1f}")
        ax.set(xlabel="epoch", ylabel="nats per image", title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    low = min(np.min(train_total), np.min(history["test_loss"]))
    axes[0].set_ylim(0.95 * low, 1.6 * low)  # the first epochs are far above; zoom on the end
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_codes_2d(
    codes: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    *,
    title: str = "Codes of the held-out images",
    axis_labels: tuple[str, str] = ("$z_1$", "$z_2$"),
) -> Figure:
    """A scatter plot of two-dimensional codes, one colour per class, each class labelled at its median.

    Args:
        codes: Points, :math:`(N, 2)` (a 2-D code, or a 2-D embedding of a larger one).
        labels: Their classes, :math:`(N,)`.
        classes: Names of the classes.
        title: Figure title.
        axis_labels: Labels of the horizontal and vertical axes.

    Returns:
        The figure.
    """
    if codes.dim() != 2 or codes.shape[1] != 2 or codes.shape[0] != labels.shape[0]:
        raise ValueError(f"codes must be (N, 2) with N = {labels.shape[0]} labels, got {tuple(codes.shape)}")
    points = codes.detach().float().cpu().numpy()
    labels_np = labels.cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(classes):
        mine = points[labels_np == k]
        if len(mine) == 0:
            continue
        ax.scatter(mine[:, 0], mine[:, 1], s=6, alpha=0.6, color=cmap(k % 10), label=name)
        x, y = np.median(mine, axis=0)
        ax.text(x, y, name, fontsize=11, weight="bold", ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75, "linewidth": 0})
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    fig.tight_layout()
    return fig


def plot_latent_manifold(images: torch.Tensor, coordinates: torch.Tensor, *, title: str = "The learned 2-D manifold") -> Figure:
    """Images decoded from a regular grid of 2-D codes, tiled at their codes' positions.

    Args:
        images: Decoded images with pixels in :math:`[0, 1]`, :math:`(S, S, C, H, W)`;
            ``images[i, j]`` is the decoding of :math:`(z_1, z_2)` =
            ``(coordinates[j], coordinates[i])``.
        coordinates: The :math:`S` increasing grid values along each axis.
        title: Figure title.

    Returns:
        The figure, with :math:`z_2` increasing upwards.
    """
    if images.dim() != 5 or images.shape[0] != images.shape[1] or images.shape[0] != len(coordinates):
        raise ValueError(f"images must be (S, S, C, H, W) with S = {len(coordinates)} coordinates, got {tuple(images.shape)}")
    s, _, c, h, w = images.shape
    tiles = images.detach().float().cpu().clamp(0, 1).flip(0)  # row 0 at the top = largest z_2
    mosaic = tiles.permute(0, 3, 1, 4, 2).reshape(s * h, s * w, c).numpy()  # (S*H, S*W, C)
    coords = coordinates.detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(6.2, 6.2))
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray", vmin=0, vmax=1, extent=(0, s, 0, s))
    ticks = np.arange(s) + 0.5
    every = max(1, s // 5)
    ax.set_xticks(ticks[::every], [f"{v:.1f}" for v in coords[::every]])
    ax.set_yticks(ticks[::every], [f"{v:.1f}" for v in coords[::every]])
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    fig.tight_layout()
    return fig


def plot_power_spectra(spectra: Mapping[str, torch.Tensor], *, examples: Mapping[str, torch.Tensor] | None = None,
                       title: str = "Mean power spectrum (log scale)") -> Figure:
    """One column per set of images: its mean power spectrum and, below it, one example image enlarged.

    Args:
        spectra: Name -> per-image spectra :math:`(N, H, W)` from
            :func:`~mlcheatsheet.metrics.power_spectrum` (zero frequency in the centre).
        examples: Name -> one image :math:`(C, H, W)` in :math:`[0, 1]` to show under its spectrum.
        title: Figure title.

    Returns:
        The figure.
    """
    names = list(spectra)
    rows = 2 if examples else 1
    fig, axes = plt.subplots(rows, len(names), figsize=(2.0 * len(names) + 0.8, 2.1 * rows + 0.6), squeeze=False,
                             layout="constrained")
    logs = {}
    for name in names:
        mean = spectra[name].mean(dim=0).numpy().copy()
        mean[mean.shape[0] // 2, mean.shape[1] // 2] = np.nan  # zero frequency: the removed mean, no power to show
        logs[name] = np.log10(mean + 1e-12)
    low, high = min(np.nanmin(v) for v in logs.values()), max(np.nanmax(v) for v in logs.values())
    for i, name in enumerate(names):
        ax = axes[0, i]
        shown = ax.imshow(logs[name], cmap="magma", vmin=low, vmax=high)
        ax.set_title(name.replace(", ", "\n"), fontsize=8)
        ax.set_xlabel("horizontal frequency", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_ylabel("vertical frequency", fontsize=7)
        if examples:
            axes[1, i].imshow(_to_numpy_image(examples[name]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[1, i].set_xticks([])
            axes[1, i].set_yticks([])
    fig.colorbar(shown, ax=axes[0, :].tolist(), shrink=0.8, label="log10 power")
    if title:
        fig.suptitle(title)
    return fig


def plot_seed_spread(panels: Mapping[str, Mapping[str, Sequence[float]]], seeds: Sequence[int], *,
                     lines: Mapping[str, float] | None = None, title: str = "Every training seed") -> Figure:
    """One panel per measurement: each variant's value from every seed, the seeds joined across variants.

    A comparison paired by seed reads along the lines: a variant that is better on every
    seed has every line falling towards it, whatever the spread between the seeds.

    Args:
        panels: Measurement (the y-axis label, e.g. ``"FID / floor"``) -> variant -> one value per seed.
        seeds: The seeds, in the order of the values (the legend).
        lines: Measurement -> a reference value drawn as a dashed line (e.g. a 5% class share).
        title: Figure title.

    Returns:
        The figure.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.6, 3.8), squeeze=False, layout="constrained")
    for ax, (measure, variants) in zip(axes[0], panels.items()):
        names = list(variants)
        x = np.arange(len(names))
        values = np.array([list(variants[name]) for name in names], dtype=float)  # (variants, seeds)
        for j, seed in enumerate(seeds):
            ax.plot(x, values[:, j], marker="o", color=f"C{j}", alpha=0.8, lw=1, label=f"seed {seed}")
        ax.scatter(x, values.mean(axis=1), marker="_", s=400, color="black", zorder=3, label="mean")
        if lines and measure in lines:
            ax.axhline(lines[measure], color="0.4", ls="--", lw=1)
        ax.set_xticks(x, [name.replace(" ", "\n", 1) for name in names], fontsize=8)
        ax.set(ylabel=measure, title=measure)
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_sampling_cost(runs: Mapping[str, Sequence[tuple[int, float, float]]], *, reference: float | None = None,
                       reference_label: str = "", title: str = "Sampling steps against quality") -> Figure:
    """A sampler's quality against its cost: FID / floor (log scale) for each number of network evaluations.

    Args:
        runs: Solver name -> ``(network evaluations per image, FID / floor, seconds per 1,000 images)``
            for each step count tried.
        reference: A value to draw as a dashed line (e.g. another model's FID / floor).
        reference_label: Its legend entry.
        title: Figure title.

    Returns:
        The figure, with quality against evaluations on the left and against seconds on the right.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for k, (solver, points) in enumerate(runs.items()):
        evaluations, ratios, seconds = (np.array(column, dtype=float) for column in zip(*points))
        for ax, x in zip(axes, (evaluations, seconds)):
            ax.plot(x, ratios, marker="o", color=f"C{k}", label=solver)
    for ax, label in zip(axes, ("network evaluations per image", "seconds to sample 1,000 images")):
        if reference is not None:
            ax.axhline(reference, color="0.4", ls="--", lw=1, label=reference_label or None)
        ax.set(xlabel=label, ylabel="FID / floor (log scale)", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_attention_maps(images: torch.Tensor, maps: torch.Tensor, queries: Sequence[tuple[int, int]], *,
                        title: str = "Where self-attention looks") -> Figure:
    """For each image, the image and, per query position, its attention map over the image.

    Args:
        images: Images with pixels in :math:`[0, 1]`, :math:`(N, C, H, W)`.
        maps: Attention maps :math:`(N, S^2, S^2)` of an :math:`S \\times S` feature map
            (:meth:`~mlcheatsheet.models.sagan.SelfAttention.attention`): row :math:`j` is where
            position :math:`j` reads from.
        queries: Query positions ``(row, column)`` on the :math:`S \\times S` map.
        title: Figure title.

    Returns:
        The figure, one row per image; a cross marks the query on the image and on its map.
    """
    n, side = len(images), math.isqrt(maps.shape[-1])
    if maps.shape != (n, side * side, side * side):
        raise ValueError(f"maps must have shape (N, S*S, S*S) for N={n} images, got {tuple(maps.shape)}")
    height, width = images.shape[-2:]
    scale = (height / side, width / side)
    fig, axes = plt.subplots(n, 1 + len(queries), figsize=(1.6 * (1 + len(queries)), 1.7 * n + 0.4), squeeze=False)
    for i in range(n):
        picture = _to_numpy_image(images[i])
        axes[i, 0].imshow(picture, cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title("sample" if i == 0 else "", fontsize=8)
        for q, (row, col) in enumerate(queries):
            ax = axes[i, 1 + q]
            weights = maps[i, row * side + col].reshape(side, side).float().numpy()
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1, alpha=0.35)
            ax.imshow(weights, cmap="viridis", alpha=0.75, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
            centre = ((col + 0.5) * scale[1] - 0.5, (row + 0.5) * scale[0] - 0.5)
            for target in (ax, axes[i, 0]):
                target.plot(*centre, marker="x", color="red", markersize=7, mew=2)
            if i == 0:
                ax.set_title(f"query ({row}, {col})", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
