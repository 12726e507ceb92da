"""The one model the metrics need trained: the classifier whose features define FID.

:mod:`mlcheatsheet.metrics` only *uses* a trained :class:`~mlcheatsheet.metrics.FIDClassifier`;
this module trains it, once per process and dataset, so the GAN examples of one docs
build share one classifier and one floor. The classifier never sees the images FID is
measured against: a slice of the training images is kept out for model selection, and
the held-out images for the final score.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..budgets import get_budget
from ..data import Dataset
from ..metrics import FIDClassifier, FIDScorer
from ..runtime import get_device, seed_everything
from .engine import TrainConfig
from .objectives import fit_classifier

__all__ = ["fid_scorer"]

_SCORERS: dict[tuple[object, ...], FIDScorer] = {}


def fid_scorer(data: Dataset, *, device: torch.device | str | None = None, epochs: int | None = None) -> FIDScorer:
    """The :class:`~mlcheatsheet.metrics.FIDScorer` of ``data``, training its classifier the first time it is asked for.

    The trained scorer is cached for the rest of the process, so the GAN examples of one
    docs build share one classifier (and one floor).

    Args:
        data: Training images for the classifier; its held-out images are the reference.
        device: Where to train and run the classifier.
        epochs: Training epochs; defaults to the ``"fid-classifier"`` budget of the build mode.
    """
    device = get_device(device)
    budget = get_budget("fid-classifier", device=device)
    epochs = epochs or budget.epochs
    key = (data.name, data.source, tuple(data.x_train.shape), tuple(data.x_test.shape),
           float(data.x_train.sum()), str(device), epochs)
    if key not in _SCORERS:
        seed_everything(0)
        references, classifier_data = _split_off_references(data)
        classifier = FIDClassifier(data.image_shape, data.num_classes)
        config = TrainConfig(epochs=epochs, batch_size=min(budget.batch_size, len(classifier_data.x_train)), lr=3e-3, augment=True)
        history = fit_classifier(classifier, classifier_data, config, device=device)
        scorer = FIDScorer(classifier, references, selection=references.x_train, device=device)
        scorer.train_seconds = history.total_seconds
        _SCORERS[key] = scorer
    return _SCORERS[key]


def _split_off_references(data: Dataset) -> tuple[Dataset, Dataset]:
    """(references, classifier data): two reference sets of one size that the classifier never sees.

    The last ``n`` training images become the selection reference and the first ``n``
    held-out images the final one (the embedded digits are interleaved by class, so both
    are balanced); ``n`` is the held-out count, or a quarter of the training images when
    that is smaller, so the classifier keeps most of them.
    """
    n = min(len(data.x_test), len(data.x_train) // 4)
    if n < 2:
        raise ValueError(f"{data.name} has too few images for an FID reference: {len(data.x_train)} training, {len(data.x_test)} held-out")
    references = replace(data, x_train=data.x_train[-n:], y_train=data.y_train[-n:], x_test=data.x_test[:n], y_test=data.y_test[:n])
    classifier_data = replace(data, x_train=data.x_train[:-n], y_train=data.y_train[:-n])
    return references, classifier_data
