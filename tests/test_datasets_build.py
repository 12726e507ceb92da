"""The whole site built on the datasets a GPU build reads: the examples run, every page speaks of those images.

A GPU build trains on torchvision's datasets (Fashion-MNIST for the MLP, CIFAR-10 for the
SAGAN, ``$MLCHEATSHEET_DATASET`` for all). This builds the quick site on small files in
torchvision's own on-disk formats, written here — 1×28×28 clothing images and 3×32×32 colour
photos of random pixels with balanced labels — and checks that the examples executed on
them (every one on CIFAR-10) and that no page calls them digits: titles, prose, printed output, code, captions and
demo prompts follow :attr:`mlcheatsheet.data.Dataset.kind`. The phrase "MNIST digit(s)"
names a dataset, so it may appear anywhere; the API reference documents the package, not
the run, and is not checked.

torchvision MD5-checks the CIFAR files against the published archives: the build's Python
processes import a ``sitecustomize`` that registers the checksums of the files written here
in torchvision's own lists, so the package's real reading code, checksum included, runs.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sitebuild import copy_sources, start_sphinx
from test_datasets_ondisk import write_idx

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PER_CLASS, TEST_PER_CLASS = 60, 30  # enough for every example's subsets; small enough to build quickly

# "digit" as a word, in any form, unless the words before name MNIST (a dataset, true on any build)
_DIGIT = re.compile(r"(?<!MNIST )(?<!MNIST-5k )\bdigits?\b", re.I)


def _labels(per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(10), per_class))


def write_fashion_mnist(root: Path, rng: np.random.Generator) -> None:
    raw = root / "FashionMNIST" / "raw"
    for prefix, per_class in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        labels = _labels(per_class, rng)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (len(labels), 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def write_cifar10(root: Path, rng: np.random.Generator) -> dict[str, str]:
    """The five training batches, the test batch and the meta file; returns their MD5s by name."""
    import hashlib

    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    train = _labels(TRAIN_PER_CLASS, rng)
    batches = {f"data_batch_{i + 1}": part for i, part in enumerate(np.array_split(train, 5))}
    batches["test_batch"] = _labels(TEST_PER_CLASS, rng)
    for name, labels in batches.items():
        entry = {"batch_label": name, "data": rng.integers(0, 256, (len(labels), 3072)).astype(np.uint8),
                 "labels": labels.tolist(), "filenames": [f"{name}_{i}.png" for i in range(len(labels))]}
        (base / name).write_bytes(pickle.dumps(entry, protocol=2))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": classes, "num_cases_per_batch": 10}, protocol=2))
    return {p.name: hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest() for p in base.iterdir()}


def _register_checksums(folder: Path, md5s: dict[str, str]) -> None:
    """A sitecustomize that puts ``md5s`` where torchvision keeps the published files' checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(f"""\
        from torchvision.datasets import CIFAR10
        _MD5 = {md5s!r}
        CIFAR10.train_list = [[name, _MD5[name]] for name, _ in CIFAR10.train_list]
        CIFAR10.test_list = [[name, _MD5[name]] for name, _ in CIFAR10.test_list]
        CIFAR10.meta = {{**CIFAR10.meta, "md5": _MD5[CIFAR10.meta["filename"]]}}
        """))


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&nbsp;", " ")


def pages_calling_them_digits(html: Path) -> dict[str, list[str]]:
    """Every checked page that says "digit" of images that are not digits, with the words around it."""
    found = {}
    for page in sorted(html.rglob("*.html")):
        name = page.relative_to(html).as_posix()
        if name in ("api.html", "genindex.html", "search.html", "py-modindex.html") or name.startswith("_modules/"):
            continue
        text = _visible_text(page.read_text(encoding="utf-8"))
        hits = [text[max(0, m.start() - 50): m.end() + 30] for m in _DIGIT.finditer(text)]
        if hits:
            found[name] = hits
    return found


_DATASETS = {"cifar10": ("small colour photos in 10 classes", 3), "fashion-mnist": ("clothing images", 1)}
# CIFAR-10 runs every example: three channels and 32x32 images are where a script's code can
# break. Fashion-MNIST has MNIST's shape, so only the words can go wrong; it runs the
# examples whose pages offer a drawing demo (which must ask for clothing) and the MLP, whose
# GPU build learns it, and leaves the second core to the CIFAR-10 build.
_EXAMPLES = {"cifar10": None, "fashion-mnist": r"/plot_(mlp|cnn|autoencoder)\.py"}


def _start(tmp_path: Path, dataset: str) -> subprocess.Popen[str]:
    """Write ``dataset``'s files and start the quick site's build on them, one example at a time."""
    data_root, rng = tmp_path / "data", np.random.default_rng(0)
    env = {"MLCHEATSHEET_DATASET": dataset, "MLCHEATSHEET_DATA": str(data_root), "MLCHEATSHEET_OFFLINE": "1",
           "MLCHEATSHEET_DEVICE": "cpu", "MPLBACKEND": "Agg", "MLCHEATSHEET_WORKERS": "1" if _EXAMPLES[dataset] else "2"}
    if dataset == "cifar10":
        _register_checksums(tmp_path / "site-hooks", write_cifar10(data_root, rng))
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site-hooks"), os.environ.get("PYTHONPATH", "")])
    else:
        write_fashion_mnist(data_root, rng)
    return start_sphinx(copy_sources(tmp_path), tmp_path / "html", mode="quick", examples=_EXAMPLES[dataset], env=env)


@pytest.fixture(scope="module")
def dataset_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Both sites, built at once: each build's single-threaded reading and writing overlaps the other's examples."""
    folders = {name: tmp_path_factory.mktemp(name) for name in _DATASETS}
    started = {name: _start(folder, name) for name, folder in folders.items()}
    with ThreadPoolExecutor(len(started)) as pool:  # read both builds' output as it comes
        outputs = dict(zip(started, pool.map(lambda process: process.communicate(timeout=1800), started.values())))
    return {name: (folders[name], subprocess.CompletedProcess(process.args, process.returncode, *outputs[name]))
            for name, process in started.items()}


@pytest.mark.docs
@pytest.mark.parametrize("dataset", list(_DATASETS))
def test_the_site_built_on_another_dataset_runs_its_examples_and_names_its_images(
        dataset_sites: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], dataset: str) -> None:
    kind, channels = _DATASETS[dataset]
    folder, result = dataset_sites[dataset]
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    html, results = folder / "html", next(folder.glob("src-*")) / "docs" / "auto_examples" / "results"
    scripts = sorted(p.stem for p in (ROOT / "gallery").glob("plot_*.py") if re.search(_EXAMPLES[dataset] or "/plot_", f"/{p.name}"))
    records = {p.stem: p.read_text() for p in results.glob("*.json")}
    assert sorted(f"plot_{name}" for name in records) == scripts  # every example asked for ran and recorded its result
    assert all(f'"dataset": "{dataset}"' in record for record in records.values())  # on these files, not a stand-in
    for script in scripts:
        page = _visible_text((html / "auto_examples" / f"{script}.html").read_text(encoding="utf-8"))
        assert f"Dataset {dataset} ({kind})" in page, script  # the data line says what the images are
    assert pages_calling_them_digits(html) == {}
    cnn = _visible_text((html / "architectures" / "cnn.html").read_text(encoding="utf-8"))
    if channels == 3:  # a drawing is not a colour photo: the page says so instead of offering a pad
        assert "offers no drawing demo" in cnn and not (html / "_demos" / "cnn").exists()
    else:
        assert f"Draw something like one of the {kind} this model learned from" in cnn
        assert (html / "_demos" / "cnn" / "demo.json").is_file()


def test_the_check_finds_digits_where_the_images_are_not(tmp_path: Path) -> None:
    (tmp_path / "auto_examples").mkdir()
    (tmp_path / "auto_examples" / "plot_x.html").write_text(
        "<h1>CNN on handwritten <em>digits</em></h1><p>As the MNIST digits were prepared.</p>"
        "<script>var digit = 1;</script>")
    (tmp_path / "api.html").write_text("<p>The embedded digits.</p>")
    (tmp_path / "index.html").write_text("<p>Photos in 10 classes, from the 5,000 real MNIST digits' loader.</p>")
    found = pages_calling_them_digits(tmp_path)
    assert list(found) == ["auto_examples/plot_x.html"] and len(found["auto_examples/plot_x.html"]) == 1
    assert "handwritten digits" in found["auto_examples/plot_x.html"][0]
