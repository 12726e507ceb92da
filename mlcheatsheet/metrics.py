"""Evaluation metrics: functions of tensors and of models already trained.

Classifiers are judged by :func:`accuracy` and :func:`confusion_matrix`. Generative models
are judged by a Fréchet distance (FID) in the feature space of a small classifier trained on
the same data (:class:`FIDScorer`; :func:`mlcheatsheet.training.scorer.fid_scorer` trains it), by
the classes their samples cover and by the classifier's confidence on them. That FID is
*not* Inception-FID; it is always reported with its real-vs-real floor. Nothing here trains
a model or reads the build's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import Dataset
from .findings import Interval, accuracy_interval, mean_interval, share_interval

__all__ = [
    "FIDClassifier",
    "FIDScorer",
    "SampleQuality",
    "accuracy",
    "checkerboard_share",
    "class_coverage",
    "confusion_matrix",
    "feature_statistics",
    "frechet_distance",
    "input_gradient_per_row",
    "mean_pairwise_distance",
    "precision_recall",
    "nearest_neighbour_labels",
    "power_spectrum",
    "reconstruction_mse",
]


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


# --- FID in a small classifier's feature space, class coverage, sample diversity -------------


class FIDClassifier(nn.Module):
    """The small CNN whose penultimate layer supplies the features for FID and coverage.

    ``Conv-BN-ReLU-MaxPool`` twice, an adaptive average pool to 4x4, then a hidden
    ``Linear → ReLU`` layer (the *features*) and the class logits.

    Args:
        image_shape: Shape ``(C, H, W)`` of the images.
        num_classes: Number of classes.
        feature_dim: Size of the feature vector used for FID.

    Shape:
        - Input: :math:`(N, C, H, W)` with pixels in :math:`[0, 1]`.
        - Output: :math:`(N, K)` logits; :meth:`features` gives :math:`(N, F)`.
    """

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10, feature_dim: int = 128) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.body = nn.Sequential(
            nn.Conv2d(image_shape[0], 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (N, 16, H/2, W/2)
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (N, 32, H/4, W/4)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (N, 512)
            nn.Linear(32 * 16, feature_dim), nn.ReLU(inplace=True),  # (N, F): the FID features
        )
        self.classify = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, :math:`(N, F)`."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            c, h, w = self.image_shape
            raise ValueError(f"FIDClassifier expects a batch of images of shape (N, {c}, {h}, {w}), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, :math:`(N, K)`."""
        return self.classify(self.features(x))


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of a set of feature vectors, in float64.

    Shape:
        - ``features``: :math:`(N, F)` with :math:`N \\ge 2`.
        - Output: :math:`(F,)` and :math:`(F, F)`.
    """
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"need at least two feature vectors of shape (N, F), got {tuple(features.shape)}")
    x = features.detach().double().cpu()
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (len(x) - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T


def frechet_distance(mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians :math:`\\mathcal{N}(\\mu_1, \\Sigma_1)` and :math:`\\mathcal{N}(\\mu_2, \\Sigma_2)`.

    .. math::
        d^2 = \\lVert \\mu_1 - \\mu_2 \\rVert^2 + \\operatorname{tr}\\Sigma_1 + \\operatorname{tr}\\Sigma_2
        - 2 \\operatorname{tr}\\big(\\Sigma_1^{1/2} \\Sigma_2 \\Sigma_1^{1/2}\\big)^{1/2}

    The last trace equals :math:`\\operatorname{tr}(\\Sigma_1 \\Sigma_2)^{1/2}` but is computed
    from symmetric matrices only (two ``eigh`` calls in float64), which avoids the complex
    round-off a general matrix square root produces for nearly singular covariances.

    Returns:
        :math:`d^2` (the quantity called FID), never negative.
    """
    mean1, cov1, mean2, cov2 = (t.double().cpu() for t in (mean1, cov1, mean2, cov2))
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    distance = (mean1 - mean2).square().sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * trace_root
    return max(float(distance), 0.0)


def _kth_neighbour_distance(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its ``k``-th nearest other row, :math:`(N,)`."""
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # the first "neighbour" is the point itself, at 0


def precision_recall(real: torch.Tensor, generated: torch.Tensor, *, k: int = 3,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    r"""Improved precision and recall of ``generated`` against ``real`` features (Kynkäänniemi et al. 2019).

    Each set stands for its distribution by the union of balls around its points, each ball
    reaching the point's ``k``-th nearest neighbour in its own set. **Precision** is the share
    of generated points inside the real set's balls — how many samples look like real ones;
    **recall** the share of real points inside the generated set's balls — how much of the
    real data the samples cover:

    .. math::

        \text{precision} = \frac{1}{M}\sum_{j} \big[\exists i: \lVert g_j - r_i \rVert \le \rho_k(r_i)\big],
        \qquad
        \text{recall} = \frac{1}{N}\sum_{i} \big[\exists j: \lVert r_i - g_j \rVert \le \rho_k(g_j)\big].

    Pure noise lands outside the real balls (precision near 0); one image repeated has balls of
    radius 0 (recall near 0, however real it looks). Unlike the classifier's confidence, which
    is high for anything far from its decision boundaries, neither rewards noise.

    Args:
        real: Features of real images, :math:`(N, F)`.
        generated: Features of generated images, :math:`(M, F)`; use as many as ``real``, since
            both numbers depend on the set sizes.
        k: The neighbour that sets each ball's radius (3 in the paper).
        real_radii: The real points' radii, when already computed for this ``k`` (a scorer
            scores many sets against one reference).

    Raises:
        ValueError: A set has ``k`` points or fewer.
    """
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision and recall with k={k} need more than {k} points in each set, "
                         f"got {len(real)} real and {len(generated)} generated")
    real, generated = real.float(), generated.float()
    between = torch.cdist(generated, real)  # (M, N)
    radii = _kth_neighbour_distance(real, k) if real_radii is None else real_radii
    precision = (between <= radii[None, :]).any(dim=1).float().mean()
    recall = (between <= _kth_neighbour_distance(generated, k)[:, None]).any(dim=0).float().mean()
    return float(precision), float(recall)


def class_coverage(predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of the samples predicted as each class (sums to 1); a collapsed generator leaves zeros.

    Shape:
        - ``predictions``: :math:`(N,)` integer classes. Output: :math:`(K,)` float.
    """
    counts = torch.bincount(predictions.long().cpu(), minlength=num_classes).double()
    return (counts / max(len(predictions), 1)).float()


def mean_pairwise_distance(images: torch.Tensor, *, max_images: int = 256) -> float:
    """Mean Euclidean distance between two images of a set (its first ``max_images``).

    Divided by the same quantity for real images it measures sample diversity: near 0, the
    generator draws (almost) one image whatever the noise.
    """
    flat = images[:max_images].detach().float().flatten(1)
    if len(flat) < 2:
        raise ValueError("need at least two images to measure their diversity")
    return float(torch.pdist(flat).mean())


@dataclass(frozen=True)
class SampleQuality:
    """How a set of generated images looks to the package's classifier.

    Attributes:
        fid: Fréchet distance to the reference real images in the classifier's feature space.
        floor: The same distance between two sets of *real* images that the classifier never
            trained on, of the same size as the reference: what a perfect generator scores.
        class_shares: Share of the samples classified as each class, :math:`(K,)`.
        mean_confidence: Mean of the classifier's top softmax probability.
        conditional_accuracy: Share classified as the requested class (conditional models;
            ``nan`` otherwise).
        fid_interval: The mean FID of several independent draws with its t-interval
            (:meth:`FIDScorer.score_draws`), or ``None`` for a single draw.
        conditional_interval: The conditional accuracy with its Wilson interval (conditional models).
        fid_draws: The FID of each independent draw (empty for a single draw), for comparisons
            (:func:`~mlcheatsheet.findings.compare_fids`).
        real_confidence: The classifier's mean top probability on real held-out images, the
            scale for ``mean_confidence`` (``nan`` when unknown).
        num_samples: How many samples the shares pool (0 when unknown).
        precision: Share of the samples that fall where real images are, in the classifier's
            feature space (:func:`precision_recall`; the mean over the draws).
        recall: Share of the real reference images that the samples cover.
        real_precision: The precision of one set of real images against the other reference:
            what a perfect generator scores at this sample size (``nan`` when unknown).
        real_recall: Its recall.
    """

    fid: float
    floor: float
    class_shares: torch.Tensor
    mean_confidence: float
    conditional_accuracy: float = float("nan")
    fid_interval: Interval | None = None
    conditional_interval: Interval | None = None
    fid_draws: tuple[float, ...] = ()
    real_confidence: float = float("nan")
    num_samples: int = 0
    precision: float = float("nan")
    recall: float = float("nan")
    real_precision: float = float("nan")
    real_recall: float = float("nan")

    @property
    def ratio(self) -> float:
        """FID divided by the floor; 1 means as close to the reference as other real images are."""
        return self.fid / self.floor

    @property
    def min_class_share(self) -> float:
        """Share of the rarest class (0.1 for 10 evenly covered classes)."""
        return float(self.class_shares.min())

    def class_intervals(self) -> list[Interval]:
        """Each class's share of the pooled samples with its Wilson interval.

        Raises:
            ValueError: The number of samples is not known (a quality built by hand without ``num_samples``).
        """
        if self.num_samples < 1:
            raise ValueError("class intervals need num_samples, the number of samples the shares pool")
        return [share_interval(round(float(share) * self.num_samples), self.num_samples) for share in self.class_shares]

    def rare_classes(self, classes: Sequence[str], *, threshold: float = 0.05) -> list[tuple[str, float]]:
        """The classes holding less than ``threshold`` of the samples, with their shares."""
        return [(name, float(share)) for name, share in zip(classes, self.class_shares) if share < threshold]

    def record(self) -> dict[str, float]:
        """The numbers a results record keeps (``extra`` of :func:`~mlcheatsheet.site.report.report_result`)."""
        numbers = {"FID": self.fid, "floor": self.floor, "ratio": self.ratio,
                   "min class share": self.min_class_share, "mean confidence": self.mean_confidence}
        if self.fid_interval is not None:
            numbers |= {"FID low": self.fid_interval.low, "FID high": self.fid_interval.high}
        if not math.isnan(self.conditional_accuracy):
            numbers["conditional accuracy"] = self.conditional_accuracy
        if not math.isnan(self.real_confidence):
            numbers |= {"real confidence": self.real_confidence, "confidence / real": self.mean_confidence / self.real_confidence}
        if not math.isnan(self.precision):
            numbers |= {"precision": self.precision, "recall": self.recall,
                        "real precision": self.real_precision, "real recall": self.real_recall}
        return numbers

    def summary(self) -> str:
        """One line for a report: FID with its interval, floor and ratio, precision and recall, the rarest class."""
        fid = self.fid_interval.format() if self.fid_interval is not None else f"{self.fid:.3f}"
        line = f"FID {fid} (floor {self.floor:.3f}, ratio {self.ratio:.1f}x)"
        if not math.isnan(self.precision):
            line += (f" — precision {self.precision:.3f}, recall {self.recall:.3f} "
                     f"(real images: {self.real_precision:.3f}, {self.real_recall:.3f})")
        return line + f" — rarest class {100 * self.min_class_share:.1f}%"


class FIDScorer:
    """FID, class coverage and confidence of generated images, judged by a trained :class:`FIDClassifier`.

    This is **not** Inception-FID: the features come from a small classifier trained on the
    same data, so values are only comparable within this package and this dataset. Both
    references are real images the classifier never trained on, of one size: ``"test"``,
    the held-out images (the final score), and ``"selection"``, training images kept out of
    the classifier's training set (model selection during GAN training, so the held-out
    images stay unseen until the end). Their distance to each other is the :attr:`floor`:
    what a perfect generator, drawing new real digits, would score against either.

    Args:
        classifier: A trained classifier (put in eval mode).
        data: The dataset whose held-out images are the ``"test"`` reference.
        selection: Real images the classifier did not train on, as many as ``data.x_test``.
        device: Where to run the classifier.

    Attributes:
        accuracy: The classifier's held-out accuracy.
        real_confidence: Its mean top softmax probability on the held-out images.
        floor: FID between the two references.
        num_reference: Images in each reference; score as many generated images.
        train_seconds: Seconds spent training the classifier (set by :func:`~mlcheatsheet.training.scorer.fid_scorer`).
    """

    @torch.inference_mode()
    def __init__(self, classifier: FIDClassifier, data: Dataset, *, selection: torch.Tensor, device: torch.device) -> None:
        if len(selection) != len(data.x_test):
            raise ValueError(f"the selection reference has {len(selection)} images and the held-out one {len(data.x_test)}: "
                             "the floor compares sets of one size")
        self.classifier = classifier.to(device).eval()
        self.device = device
        self.num_classes = data.num_classes
        self.num_reference = len(data.x_test)
        self.train_seconds = 0.0  # set by fid_scorer: seconds spent training the classifier
        test_features = self.features(data.x_test)
        self.reference_features = {"test": test_features, "selection": self.features(selection)}
        self.reference = {name: feature_statistics(f) for name, f in self.reference_features.items()}
        self._radii = {name: _kth_neighbour_distance(f.float(), 3) for name, f in self.reference_features.items()}
        logits = self.classifier.classify(test_features.to(device)).float().cpu()
        self.accuracy = accuracy(logits, data.y_test.cpu())
        self.real_confidence = float(logits.softmax(dim=1).max(dim=1).values.mean())
        self.floor = frechet_distance(*self.reference["selection"], *self.reference["test"])
        self.real_precision, self.real_recall = precision_recall(test_features, self.reference_features["selection"],
                                                                 real_radii=self._radii["test"])

    @torch.inference_mode()
    def features(self, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Classifier features of images with pixels in :math:`[0, 1]`, :math:`(N, F)`, on the CPU."""
        chunks = [self.classifier.features(images[i : i + batch_size].to(self.device)).float().cpu()
                  for i in range(0, len(images), batch_size)]
        return torch.cat(chunks)

    @torch.inference_mode()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's predicted class of each image (pixels in :math:`[0, 1]`), :math:`(N,)`, on the CPU."""
        return self.classifier.classify(self.features(images).to(self.device)).argmax(dim=1).cpu()

    def _reference(self, reference: str) -> tuple[torch.Tensor, torch.Tensor]:
        if reference not in self.reference:
            raise ValueError(f"reference must be 'test' or 'selection', got {reference!r}")
        return self.reference[reference]

    def fid(self, images: torch.Tensor, *, reference: str = "test") -> float:
        """FID of images (pixels in :math:`[0, 1]`) to the ``"test"`` or ``"selection"`` images."""
        return frechet_distance(*feature_statistics(self.features(images)), *self._reference(reference))

    @torch.inference_mode()
    def score(self, images: torch.Tensor, *, labels: torch.Tensor | None = None, reference: str = "test") -> SampleQuality:
        """FID, coverage and confidence of generated images (pixels in :math:`[0, 1]`).

        Args:
            images: Generated images, :math:`(N, C, H, W)`; use ``num_reference`` of them so
                the score is comparable with the floor.
            labels: Requested classes, for a conditional generator.
            reference: ``"test"`` (held-out) or ``"selection"`` (see the class docstring).
        """
        return self.score_draws([images], labels=None if labels is None else [labels], reference=reference)

    @torch.inference_mode()
    def score_draws(self, draws: Sequence[torch.Tensor], *, labels: Sequence[torch.Tensor] | None = None,
                    reference: str = "test") -> SampleQuality:
        """Score several independent draws of generated images, each of ``num_reference`` images.

        FID is the mean over the draws with its t-interval (with two or more draws): how well
        this run knows the generator's FID at this sample size. Independent draws rather than
        a bootstrap of one draw, because a bootstrap resample holds only about 63% distinct
        images and FID grows as distinct images shrink: its resamples all score above the
        draw they came from. Coverage, confidence and conditional accuracy (with a Wilson
        interval) are pooled over every draw.
        """
        mean_ref, cov_ref = self._reference(reference)
        features = [self.features(images) for images in draws]
        fids = [frechet_distance(*feature_statistics(f), mean_ref, cov_ref) for f in features]
        pr = [precision_recall(self.reference_features[reference], f, real_radii=self._radii[reference]) for f in features]
        pooled = torch.cat(features)
        probabilities = self.classifier.classify(pooled.to(self.device)).float().softmax(dim=1).cpu()
        confidence, predictions = probabilities.max(dim=1)
        hits = None if labels is None else predictions == torch.cat([y.cpu() for y in labels])
        return SampleQuality(
            fid=sum(fids) / len(fids),
            floor=self.floor,
            class_shares=class_coverage(predictions, self.num_classes),
            mean_confidence=float(confidence.mean()),
            conditional_accuracy=float("nan") if hits is None else float(hits.float().mean()),
            fid_interval=mean_interval(fids) if len(fids) > 1 else None,
            conditional_interval=accuracy_interval(hits) if hits is not None else None,
            fid_draws=tuple(fids) if len(fids) > 1 else (),
            real_confidence=self.real_confidence,
            num_samples=len(pooled),
            precision=sum(p for p, _ in pr) / len(pr),
            recall=sum(r for _, r in pr) / len(pr),
            real_precision=self.real_precision,
            real_recall=self.real_recall,
        )


def nearest_neighbour_labels(train_points: torch.Tensor, train_labels: torch.Tensor, points: torch.Tensor, *, k: int = 5) -> torch.Tensor:
    """The majority label of each point's ``k`` nearest training points (Euclidean distance).

    Compared with the true labels, a measure of how well a representation (a 2-D code, raw
    pixels) separates the classes without training anything on it. Ties between labels go
    to the smallest label.

    Shape:
        - ``train_points``: :math:`(M, \\ldots)`; ``points``: :math:`(N, \\ldots)`; ``train_labels``: :math:`(M,)`.
        - Output: :math:`(N,)` labels, on the CPU.
    """
    if not 1 <= k <= len(train_points):
        raise ValueError(f"k must be between 1 and the {len(train_points)} training points, got {k}")
    train_points, points = train_points.float().flatten(1).cpu(), points.float().flatten(1).cpu()
    nearest = torch.cdist(points, train_points).topk(k, largest=False).indices  # (N, k)
    votes = torch.nn.functional.one_hot(train_labels.cpu()[nearest], int(train_labels.max()) + 1).sum(dim=1)  # (N, K)
    return votes.argmax(dim=1)


def power_spectrum(images: torch.Tensor) -> torch.Tensor:
    """The 2-D power spectrum of each image, its mean removed, zero frequency in the centre.

    :math:`P(u, v) = |\\mathcal{F}[x - \\bar x](u, v)|^2 / (HW)`, averaged over the channels.
    For an even side :math:`H` the first row and column hold the highest frequency,
    :math:`u = H/2`: a pattern that alternates every pixel.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: :math:`(N, H, W)`, on the CPU.
    """
    if images.dim() != 4:
        raise ValueError(f"power_spectrum expects images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.detach().float().cpu()
    x = x - x.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.fft2(x).abs().square().mean(dim=1) / (x.shape[2] * x.shape[3])  # (N, H, W)
    return torch.fft.fftshift(power, dim=(1, 2))


def checkerboard_share(images: torch.Tensor) -> torch.Tensor:
    """Share of each image's power at the highest frequency of either axis: the period-2 checkerboard.

    A stride-2 upsampling that overlaps unevenly leaves a pattern repeating every two
    pixels; its power lands in the row :math:`u = H/2` and the column :math:`v = W/2` of
    :func:`power_spectrum`. Natural images (and digits) put little power there.

    Shape:
        - Input: :math:`(N, C, H, W)` with even :math:`H` and :math:`W`.
        - Output: :math:`(N,)` shares in :math:`[0, 1]`, on the CPU.
    """
    if images.dim() != 4 or images.shape[2] % 2 or images.shape[3] % 2:
        raise ValueError(f"checkerboard_share expects images (N, C, H, W) with an even side, got {tuple(images.shape)}")
    power = power_spectrum(images)  # after fftshift the highest frequency is row 0 and column 0
    highest = power[:, 0, :].sum(dim=1) + power[:, :, 0].sum(dim=1) - power[:, 0, 0]
    return highest / power.sum(dim=(1, 2)).clamp_min(1e-12)


def reconstruction_mse(reconstructions: torch.Tensor, images: torch.Tensor) -> float:
    """Mean squared error per pixel between reconstructions and the original images.

    With pixels in :math:`[0, 1]`, ``0.01`` means a typical error of about 0.1 per pixel.

    Shape:
        - ``reconstructions``, ``images``: :math:`(N, C, H, W)`, pixels in :math:`[0, 1]`.
    """
    if reconstructions.shape != images.shape:
        raise ValueError(f"reconstructions {tuple(reconstructions.shape)} and images {tuple(images.shape)} differ in shape")
    return torch.mean((reconstructions.float() - images.float()) ** 2).item()


def input_gradient_per_row(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, blank_rows: int = 0) -> torch.Tensor:
    """How strongly the loss depends on each row of the input: :math:`\\|\\partial \\mathcal{L} / \\partial x_t\\|`.

    For a model that reads an image row by row
    (:class:`~mlcheatsheet.models.rnn.RecurrentClassifier`), row :math:`t` is the input of
    time step :math:`t`, so this is the gradient that reaches step :math:`t` from the loss at
    the last step. A vanishing gradient shows as norms that fall exponentially towards the
    first rows.

    Args:
        model: An image classifier (switched to eval mode).
        images: Images on the model's device, :math:`(N, C, H, W)`.
        labels: Their labels, :math:`(N,)`.
        blank_rows: Append this many rows of zeros after each image, so the gradient has to
            cross that many more steps to reach the image (needs a model with a
            ``classify_sequence`` method, such as
            :class:`~mlcheatsheet.models.rnn.RecurrentClassifier`).

    Returns:
        The norm of the gradient of each image's cross-entropy with respect to each of its
        rows (blank rows included), averaged over the images, :math:`(H + \\text{blank\\_rows},)`,
        on the CPU.
    """
    if blank_rows < 0:
        raise ValueError(f"blank_rows must be at least 0, got {blank_rows}")
    if blank_rows and not hasattr(model, "classify_sequence"):
        raise ValueError(f"{type(model).__name__} cannot read extra rows: it has no classify_sequence method")
    model.eval()
    n, c, h, w = images.shape
    rows = images.detach().permute(0, 2, 1, 3).reshape(n, h, c * w)  # (N, H, C*W)
    rows = torch.cat([rows, rows.new_zeros(n, blank_rows, c * w)], dim=1).requires_grad_(True)  # (N, H + B, C*W)
    # cuDNN refuses to backpropagate through an RNN in eval mode; the native kernels do not.
    with torch.backends.cudnn.flags(enabled=False), torch.enable_grad():
        if blank_rows:
            logits = model.classify_sequence(rows)  # type: ignore[operator]
        else:
            logits = model(rows.reshape(n, h, c, w).permute(0, 2, 1, 3))
        loss = F.cross_entropy(logits, labels, reduction="sum")  # sum: per-image gradients
        (grad,) = torch.autograd.grad(loss, rows)
    return grad.norm(dim=2).mean(dim=0).cpu()  # (N, T, C*W) -> (N, T) -> (T,)
