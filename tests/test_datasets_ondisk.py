"""The torchvision datasets, read from files written in torchvision's real on-disk formats.

MNIST and Fashion-MNIST are IDX files in ``<root>/<Class>/raw``; CIFAR-10 and CIFAR-100 are
pickled batches in ``cifar-10-batches-py`` / ``cifar-100-python``. torchvision MD5-checks the
CIFAR files against the originals, so the tests register the checksums of the files they
write in torchvision's own ``train_list`` / ``test_list`` / ``meta`` (restored afterwards):
the package's real reading code, checksum included, runs on them. No network is used: the
download path is exercised with a stand-in torchvision class.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets as tv

from mlcheatsheet import data as data_module
from mlcheatsheet.data import CorruptDatasetError, DataUnavailableError, available_datasets, load_dataset

N_TRAIN, N_TEST = 10, 4  # per split (CIFAR-10: per training batch x 5)


@pytest.fixture(autouse=True)
def _fresh_download_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts as a new process would: no remembered download failures.
    monkeypatch.setattr(data_module, "_FAILED_DOWNLOADS", {})
    monkeypatch.delenv("MLCHEATSHEET_DATASET", raising=False)


# --- writers of the real formats ---------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic 00 00 08 <ndim>, big-endian sizes, the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_idx_dataset(root: Path, class_name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The four files torchvision's MNIST/FashionMNIST read, uncompressed, in <root>/<Class>/raw."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST),
    }
    raw = root / class_name / "raw"
    for name, array in arrays.items():
        write_idx(raw / name, array)
    return arrays


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


CIFAR = {
    # name: (torchvision class, folder, label key, classes, meta file, meta key)
    "cifar10": (tv.CIFAR10, "cifar-10-batches-py", "labels", 10, "batches.meta", "label_names"),
    "cifar100": (tv.CIFAR100, "cifar-100-python", "fine_labels", 100, "meta", "fine_label_names"),
}


def make_cifar_dataset(root: Path, name: str, monkeypatch: pytest.MonkeyPatch, seed: int = 0) -> dict[str, dict]:
    """Pickled batches as in the published archives, with their MD5s registered in torchvision."""
    cls, folder, label_key, num_classes, meta_name, meta_key = CIFAR[name]
    rng = np.random.default_rng(seed)
    base = root / folder
    base.mkdir(parents=True)
    train_names = [n for n, _ in cls.train_list]  # data_batch_1..5, or "train"
    batches = {}
    for filename in [*train_names, "test"] if name == "cifar100" else [*train_names, "test_batch"]:
        n = N_TEST if filename in ("test", "test_batch") else N_TRAIN
        entry = {
            "batch_label": f"{filename} of the test",
            "data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),  # rows: 1024 R, 1024 G, 1024 B
            label_key: rng.integers(0, num_classes, n).tolist(),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        if name == "cifar100":
            entry["coarse_labels"] = rng.integers(0, 20, n).tolist()
        with (base / filename).open("wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        batches[filename] = entry
    classes = [f"class_{k}" for k in range(num_classes)]
    with (base / meta_name).open("wb") as fh:
        pickle.dump({meta_key: classes, "num_cases_per_batch": N_TRAIN}, fh, protocol=2)
    register_cifar_checksums(root, name, monkeypatch)
    return batches


def register_cifar_checksums(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record the MD5s of the files on disk where torchvision records those of the originals."""
    cls, folder, _, _, meta_name, meta_key = CIFAR[name]
    base = root / folder
    monkeypatch.setattr(cls, "train_list", [[n, _md5(base / n)] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, _md5(base / n)] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {"filename": meta_name, "key": meta_key, "md5": _md5(base / meta_name)})


def truncate(path: Path, keep: float = 0.5) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "class_name"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_datasets_are_read_exactly(tmp_path: Path, name: str, class_name: str) -> None:
    arrays = make_idx_dataset(tmp_path, class_name)
    data = load_dataset(name, root=tmp_path, download=False, fallback=False, verbose=False)
    assert data.name == name and f"torchvision {class_name} files in {tmp_path / class_name / 'raw'}" in data.source
    assert data.x_train.shape == (N_TRAIN, 1, 28, 28) and data.x_test.shape == (N_TEST, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.float32) / 255.0)
    assert torch.equal(data.x_train[:, 0], expected)
    assert data.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.classes == (tuple(str(d) for d in range(10)) if name == "mnist" else tuple(tv.FashionMNIST.classes))
    assert data.classes[0] == ("0" if name == "mnist" else "T-shirt/top")


def test_gzipped_idx_files_alone_are_read(tmp_path: Path) -> None:
    arrays = make_idx_dataset(tmp_path, "MNIST")
    for path in (tmp_path / "MNIST" / "raw").iterdir():  # keep only the downloaded .gz files
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    data = load_dataset("mnist", root=tmp_path, download=False, fallback=False, verbose=False)
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_batches_are_read_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    batches = make_cifar_dataset(tmp_path, name, monkeypatch)
    data = load_dataset(name, root=tmp_path, download=False, fallback=False, verbose=False)
    n_train = N_TRAIN * (5 if name == "cifar10" else 1)
    assert data.x_train.shape == (n_train, 3, 32, 32) and data.x_test.shape == (N_TEST, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    first = batches["data_batch_1" if name == "cifar10" else "train"]
    # The first 1,024 bytes of a row are the red plane, row-major: channel 0 of the image.
    red = torch.from_numpy(first["data"][3, :1024].reshape(32, 32).astype(np.float32) / 255.0)
    blue = torch.from_numpy(first["data"][3, 2048:].reshape(32, 32).astype(np.float32) / 255.0)
    assert torch.equal(data.x_train[3, 0], red) and torch.equal(data.x_train[3, 2], blue)
    label_key = CIFAR[name][2]
    assert data.y_train[:N_TRAIN].tolist() == first[label_key]
    test_batch = batches["test_batch" if name == "cifar10" else "test"]
    assert data.y_test.tolist() == test_batch[label_key]
    assert data.num_classes == CIFAR[name][3] and data.classes[7] == "class_7"
    if name == "cifar10":  # batches are concatenated in order
        assert data.y_train[4 * N_TRAIN :].tolist() == batches["data_batch_5"]["labels"]


def test_mean_std_and_normalized_use_the_training_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cifar_dataset(tmp_path, "cifar10", monkeypatch)
    data = load_dataset("cifar10", root=tmp_path, download=False, fallback=False, verbose=False)
    assert len(data.mean) == 3 and len(data.std) == 3
    assert data.mean[1] == pytest.approx(data.x_train[:, 1].mean().item(), abs=1e-6)
    assert data.std[2] == pytest.approx(data.x_train[:, 2].std(correction=0).item(), abs=1e-6)
    standard = data.normalized()
    per_channel = standard.x_train.transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel.std(1, correction=0), torch.ones(3), atol=1e-4)
    expected_test = (data.x_test[:, 0] - data.mean[0]) / data.std[0]
    assert torch.allclose(standard.x_test[:, 0], expected_test, atol=1e-6)
    assert "standardised" in standard.source and torch.equal(standard.y_train, data.y_train)
    assert data.x_train.min() >= 0.0  # the original is untouched


# --- damaged files: a clear error naming the file, even when fallback is allowed ------------


@pytest.mark.parametrize(("name", "class_name"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_truncated_idx_file_names_the_file(tmp_path: Path, name: str, class_name: str) -> None:
    make_idx_dataset(tmp_path, class_name)
    bad = tmp_path / class_name / "raw" / "t10k-images-idx3-ubyte"
    truncate(bad, 0.7)
    with pytest.raises(CorruptDatasetError, match=r"t10k-images-idx3-ubyte is corrupt: it is truncated.*Delete it") as info:
        load_dataset(name, root=tmp_path, download=False)  # fallback allowed, still an error
    assert info.value.path == bad and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes([0, 0, 0x0D, 3]) + b"\0" * 12, "magic number 00000d03"),  # float32 IDX, not bytes
        (b"\0\0", "fewer than an IDX header"),
    ],
)
def test_malformed_idx_file_names_the_problem(tmp_path: Path, content: bytes, message: str) -> None:
    make_idx_dataset(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(content)
    with pytest.raises(CorruptDatasetError, match=message):
        load_dataset("mnist", root=tmp_path, download=False, fallback=False)


def test_labels_that_do_not_match_the_images_are_refused(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", np.zeros(N_TRAIN - 1))
    with pytest.raises(CorruptDatasetError, match=f"{N_TRAIN - 1} labels for {N_TRAIN} images"):
        load_dataset("mnist", root=tmp_path, download=False, fallback=False)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_truncated_cifar_batch_fails_its_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    make_cifar_dataset(tmp_path, name, monkeypatch)
    bad = tmp_path / CIFAR[name][1] / ("test_batch" if name == "cifar10" else "test")
    truncate(bad)
    with pytest.raises(CorruptDatasetError, match=r"is corrupt: its MD5 is .*torchvision expects .*Delete it") as info:
        load_dataset(name, root=tmp_path, download=False)
    assert info.value.path == bad


def test_cifar_batch_that_passes_its_checksum_but_is_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: the reader checks the structure too, e.g. against a wrong checksum list.
    make_cifar_dataset(tmp_path, "cifar10", monkeypatch)
    truncate(tmp_path / "cifar-10-batches-py" / "data_batch_2")
    register_cifar_checksums(tmp_path, "cifar10", monkeypatch)
    with pytest.raises(CorruptDatasetError, match=r"data_batch_2 is corrupt: it cannot be unpickled"):
        load_dataset("cifar10", root=tmp_path, download=False, fallback=False)
    batch = {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    register_cifar_checksums(tmp_path, "cifar10", monkeypatch)
    with pytest.raises(CorruptDatasetError, match=r"not uint8 rows of 3x32x32"):
        load_dataset("cifar10", root=tmp_path, download=False, fallback=False)


# --- missing data, unknown names, unusable roots, the download path ------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_missing_dataset_falls_back_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Falling back must not wait on a network: it never reaches the downloader (not "is quick", which is load)
    monkeypatch.setattr(data_module, "_download", lambda *args: pytest.fail("tried to download"))
    data = load_dataset(name, root=tmp_path, download=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"{name} is not in {tmp_path} and downloading is disabled ($MLCHEATSHEET_OFFLINE=1 or download=False); "
        "falling back to the embedded mnist-5k."
    )
    assert lines[1].startswith("Dataset mnist-5k (handwritten digits): 4,000 training + 1,000 test") and len(lines) == 2
    assert data.name == "mnist-5k" and data.source.endswith(f"standing in for {name}")
    with pytest.raises(DataUnavailableError, match="downloading is disabled"):
        load_dataset(name, root=tmp_path, download=False, fallback=False)


def test_environment_variable_chooses_the_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dataset(tmp_path, "FashionMNIST")
    monkeypatch.setenv("MLCHEATSHEET_DATASET", "Fashion_MNIST")  # case and aliases are forgiven
    monkeypatch.setenv("MLCHEATSHEET_DATA", str(tmp_path))
    from mlcheatsheet.site.budgets import build_dataset

    assert load_dataset(build_dataset(), download=False, fallback=False, verbose=False).name == "fashion-mnist"
    assert load_dataset(verbose=False).name == "mnist-5k"  # load_dataset itself reads no build setting
    monkeypatch.delenv("MLCHEATSHEET_DATASET")
    assert build_dataset() is None


def test_unknown_dataset_lists_every_valid_name() -> None:
    assert set(available_datasets()) == {"mnist-5k", "mnist", "fashion-mnist", "cifar10", "cifar100"}
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; choose one of: mnist-5k, mnist, fashion-mnist, cifar10, cifar100"):
        load_dataset("svhn")


def test_a_file_in_place_of_the_data_root_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "not-a-dir"
    root.write_text("oops")
    with pytest.raises(DataUnavailableError, match=r"the data root .*not-a-dir is a file, not a directory; set \$MLCHEATSHEET_DATA"):
        load_dataset("cifar10", root=root, download=True, fallback=False)
    load_dataset("cifar10", root=root, download=True)
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"cifar10 is not in {root} and could not be downloaded (the data root {root} is a file")
    assert line.endswith("set $MLCHEATSHEET_DATA to a writable directory); falling back to the embedded mnist-5k.")
    assert root.read_text() == "oops"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_data_root_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(DataUnavailableError, match="cannot be written"):
            load_dataset("mnist", root=root, download=True, fallback=False)
        assert list(root.iterdir()) == []
    finally:
        root.chmod(0o755)


def test_an_unwritable_data_root_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same branch as a read-only directory, reachable when the tests run as root.
    def refuse(**kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data_module.tempfile, "mkdtemp", refuse)
    with pytest.raises(DataUnavailableError, match=r"the data root .* cannot be written \(Permission denied\)"):
        load_dataset("fashion-mnist", root=tmp_path, download=True, fallback=False)


def _fake_mnist(monkeypatch: pytest.MonkeyPatch, *, fail: bool) -> list[str]:
    """Replace torchvision's MNIST by a class whose download writes the files (or dies halfway)."""
    calls: list[str] = []

    def download(self: tv.MNIST) -> None:
        calls.append(self.root)
        make_idx_dataset(Path(self.root), "MNIST", seed=1)
        if fail:
            truncate(Path(self.raw_folder) / "train-images-idx3-ubyte")
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://mirror/, got:\n<urlopen error timed out>")

    fake = type("MNIST", (tv.MNIST,), {"download": download})
    monkeypatch.setattr(data_module._TorchvisionSpec, "torchvision_class", lambda spec: fake)
    return calls


def test_download_lands_atomically_and_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_mnist(monkeypatch, fail=False)
    data = load_dataset("mnist", root=tmp_path, download=True, fallback=False, verbose=False)
    assert data.name == "mnist" and len(data.x_train) == N_TRAIN
    assert len(calls) == 1 and Path(calls[0]).parent == tmp_path and Path(calls[0]).name.startswith(".download-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MNIST"]  # the temporary folder is gone
    assert len(list((tmp_path / "MNIST" / "raw").iterdir())) == 4
    load_dataset("mnist", root=tmp_path, download=True, fallback=False, verbose=False)
    assert len(calls) == 1  # on disk now: no second download


def test_failed_download_leaves_nothing_and_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_mnist(monkeypatch, fail=True)
    for _ in range(2):
        data = load_dataset("mnist", root=tmp_path, download=True)
        assert data.name == "mnist-5k"
    out = capsys.readouterr().out
    assert out.count("mnist is not in") == 2 and len(calls) == 1  # one attempt per process
    assert f"mnist is not in {tmp_path} and could not be downloaded (no answer from the mirror within 20 s); falling back" in out
    assert list(tmp_path.iterdir()) == []  # the half-written file went with the temporary folder


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_dataset_env_in_a_gallery_budget_falls_back_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str) -> None:
    # What every gallery script does, for each dataset a build can be asked for.
    from mlcheatsheet.site.budgets import get_budget

    monkeypatch.setenv("MLCHEATSHEET_DATASET", name)
    monkeypatch.setenv("MLCHEATSHEET_DATA", str(tmp_path))
    budget = get_budget("mlp", device="cpu")
    data = load_dataset(budget.dataset).subset(max_train=budget.max_train)
    assert data.name == "mnist-5k"
    assert f"{name} is not in {tmp_path} and downloading is disabled" in capsys.readouterr().out


@pytest.mark.docs
def test_dataset_env_builds_offline_with_the_fallback_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sitebuild import build_site

    monkeypatch.setenv("MLCHEATSHEET_DATASET", "cifar10")
    monkeypatch.setenv("MLCHEATSHEET_OFFLINE", "1")
    monkeypatch.setenv("MLCHEATSHEET_DATA", str(tmp_path / "empty-data-root"))
    out = tmp_path / "html"
    result = build_site(out, mode="quick", examples="plot_mlp")
    assert result.returncode == 0, f"docs build failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    page = (out / "auto_examples" / "plot_mlp.html").read_text()
    assert f"cifar10 is not in {tmp_path / 'empty-data-root'} and downloading is disabled" in page
    assert "falling back to the embedded mnist-5k." in page
    assert "standing in for cifar10" in page  # the describe() line names the stand-in too
