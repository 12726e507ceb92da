"""The one model the metrics need trained: the classifier whose features define FID.

:mod:`mlcheatsheet.metrics` only *uses* a trained :class:`~mlcheatsheet.metrics.FIDClassifier`;
this module trains it, once per process and dataset, so the GAN examples of one docs
build share one classifier and one floor.
"""

from __future__ import annotations

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
        classifier = FIDClassifier(data.image_shape, data.num_classes)
        config = TrainConfig(epochs=epochs, batch_size=min(budget.batch_size, len(data.x_train)), lr=3e-3, augment=True)
        history = fit_classifier(classifier, data, config, device=device)
        scorer = FIDScorer(classifier, data, device=device)
        scorer.train_seconds = history.total_seconds
        _SCORERS[key] = scorer
    return _SCORERS[key]
