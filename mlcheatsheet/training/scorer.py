"""The one model the metrics need trained: the classifier whose features define FID.

:mod:`mlcheatsheet.metrics` only *uses* a trained :class:`~mlcheatsheet.metrics.FIDClassifier`;
this module trains it once per dataset, recipe and package version, and keeps it on disk
(:mod:`mlcheatsheet.cache`), so the GAN examples of a docs build share one classifier and
one floor even when they run in separate worker processes. The classifier never sees the
images FID is measured against: a slice of the training images is kept out for model
selection, and the held-out images for the final score.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import torch

from ..cache import cache_root, content_key, exclusive, library_versions, package_digest, write_atomically
from ..data import Dataset
from ..metrics import FIDClassifier, FIDScorer
from ..runtime import get_device, seed_everything
from ..site.budgets import get_budget
from .engine import TrainConfig
from .objectives import fit_classifier

__all__ = ["fid_scorer"]

_SCORERS: dict[tuple[str, str], FIDScorer] = {}


def fid_scorer(data: Dataset, *, device: torch.device | str | None = None, epochs: int | None = None) -> FIDScorer:
    """The :class:`~mlcheatsheet.metrics.FIDScorer` of ``data``, training its classifier the first time it is asked for.

    The trained classifier is kept for the rest of the process and on disk under
    ``$MLCHEATSHEET_CACHE/artifacts`` (keyed by the data, the recipe, the device type and
    the package's source), so the examples of one docs build share one classifier (and one
    floor) across worker processes, and the next build with the same inputs reuses it.
    Two processes that ask at once take turns: one trains, the other loads its result.

    Args:
        data: Training images for the classifier; its held-out images are the reference.
        device: Where to train and run the classifier.
        epochs: Training epochs; defaults to the ``"fid-classifier"`` budget of the build mode.
    """
    device = get_device(device)
    budget = get_budget("fid-classifier", device=device)
    epochs = epochs or budget.epochs
    key = _classifier_key(data, device, epochs, budget.batch_size, budget.references)
    if (key, str(device)) not in _SCORERS:  # the file is per device type, the scorer per device
        references, classifier_data = _split_off_references(data, budget.references)
        path = cache_root() / "artifacts" / f"fid-classifier-{key}.pt"
        with exclusive(path):
            classifier, seconds = _load_classifier(path, data)
            if classifier is None:
                classifier, seconds = _train_classifier(classifier_data, device, epochs, budget.batch_size)
                buffer = io.BytesIO()
                torch.save({"state_dict": classifier.state_dict(), "train_seconds": seconds}, buffer)
                write_atomically(path, lambda fh: fh.write(buffer.getvalue()))
        scorer = FIDScorer(classifier.to(device), references, selection=references.x_train, device=device)
        scorer.train_seconds = seconds
        _SCORERS[key, str(device)] = scorer
    return _SCORERS[key, str(device)]


def _classifier_key(data: Dataset, device: torch.device, epochs: int, batch_size: int, references: int | None) -> str:
    images = hashlib.sha256()
    for tensor in (data.x_train, data.y_train, data.x_test, data.y_test):
        images.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return content_key({
        "data": [data.name, data.source, images.hexdigest()], "device": device.type, "epochs": epochs,
        "batch_size": batch_size, "references": references, "package": package_digest(), "versions": library_versions(),
    })


def _train_classifier(data: Dataset, device: torch.device, epochs: int, batch_size: int) -> tuple[FIDClassifier, float]:
    seed_everything(0)
    classifier = FIDClassifier(data.image_shape, data.num_classes)
    config = TrainConfig(epochs=epochs, batch_size=min(batch_size, len(data.x_train)), lr=3e-3, augment=True)
    history = fit_classifier(classifier, data, config, device=device)
    return classifier, history.total_seconds


def _load_classifier(path: Path, data: Dataset) -> tuple[FIDClassifier | None, float]:
    """The classifier stored at ``path``, or ``None`` when there is none (or it cannot be read)."""
    if not path.is_file():
        return None, 0.0
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        classifier = FIDClassifier(data.image_shape, data.num_classes)
        classifier.load_state_dict(stored["state_dict"])
        return classifier.eval(), float(stored["train_seconds"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError) as exc:
        # A damaged entry is retrained and replaced, not trusted.
        print(f"fid_scorer: ignoring the unreadable cached classifier {path} ({type(exc).__name__}); retraining")
        return None, 0.0


def _split_off_references(data: Dataset, size: int | None = None) -> tuple[Dataset, Dataset]:
    """(references, classifier data): two reference sets of one size that the classifier never sees.

    The last ``n`` training images become the selection reference and the first ``n``
    held-out images the final one (the embedded digits are interleaved by class, so both
    are balanced); ``n`` is the held-out count, or a quarter of the training images when
    that is smaller, so the classifier keeps most of them, or ``size`` when that is smaller still.
    """
    n = min(len(data.x_test), len(data.x_train) // 4, size or len(data.x_test))
    if n < 2:
        raise ValueError(f"{data.name} has too few images for an FID reference: {len(data.x_train)} training, {len(data.x_test)} held-out")
    references = replace(data, x_train=data.x_train[-n:], y_train=data.y_train[-n:], x_test=data.x_test[:n], y_test=data.y_test[:n])
    classifier_data = replace(data, x_train=data.x_train[:-n], y_train=data.y_train[:-n])
    return references, classifier_data
