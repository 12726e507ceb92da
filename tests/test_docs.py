"""The quick-mode docs build: warnings are errors, the gallery runs, the pages show results."""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

import pytest

# quick_site (the session's one quick-mode build) lives in conftest.py.


@pytest.mark.docs
def test_mlp_page_has_math_source_and_build_figures(quick_site: Path) -> None:
    page = (quick_site / "architectures" / "mlp.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    assert "class MLP(nn.Module):" in text and "def forward(self, x: torch.Tensor)" in text
    assert 'class="math' in page
    images = re.findall(r'<img[^>]+src="([^"]+sphx_glr_plot_mlp_\d{3}\.png)"', page)
    assert images, "the MLP page embeds no figure from the gallery run"
    for src in images:
        assert (quick_site / "architectures" / src).resolve().stat().st_size > 0


@pytest.mark.docs
def test_mlp_gallery_page_prints_source_and_accuracy(quick_site: Path) -> None:
    page = (quick_site / "auto_examples" / "plot_mlp.html").read_text()
    assert re.search(r"Held-out accuracy: \d+\.\d% \[\d+\.\d, \d+\.\d\] \(95% interval\)", page)
    assert re.search(r"Result — MLP: test accuracy \d+\.\d% \[\d+\.\d, \d+\.\d\]", page)
    assert "source: embedded" in page
    assert re.search(r'<img[^>]+sphx_glr_plot_mlp_001\.png', page)
    assert (quick_site / "_downloads").exists()


# What belongs to the build, not to the lesson a reader downloads.
_PLUMBING = re.compile(r"report_result|export_demo|Claim\(|budget\.|sphinx_gallery_start_ignore|mlcheatsheet\.site")


@pytest.mark.docs
def test_no_downloaded_script_or_notebook_carries_the_builds_plumbing(quick_site: Path) -> None:
    texts = {}
    for path in sorted((quick_site / "_downloads").glob("*/plot_*")):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                texts |= {f"{path.name}:{name}": archive.read(name).decode() for name in archive.namelist()}
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            texts[path.name] = "\n".join("".join(cell["source"]) for cell in cells)
        else:
            texts[path.name] = path.read_text()
    scripts = [name for name in texts if name.endswith(".py") and ":" not in name]
    notebooks = [name for name in texts if name.endswith(".ipynb") and ":" not in name]
    zipped = [name for name in texts if name.endswith(".py") and ":" in name]
    gallery = len(list((Path(__file__).resolve().parents[1] / "gallery").glob("plot_*.py")))
    assert len(scripts) == len(notebooks) == len(zipped) == gallery, sorted(texts)
    leaks = {name: _PLUMBING.findall(text) for name, text in texts.items() if _PLUMBING.search(text)}
    assert not leaks, leaks
    source = (Path(__file__).resolve().parents[1] / "gallery" / "plot_cnn.py").read_text()
    assert _PLUMBING.search(source)  # the build still runs it
    downloaded = next(text for name, text in texts.items() if name == "plot_cnn.py")
    assert "epochs = 12" in downloaded and "fit_classifier(model, data, config" in downloaded


def test_stripping_a_download_keeps_the_lesson(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
    from lessondownloads import strip_downloads

    script = "x = 1\n# sphinx_gallery_start_ignore\nrecord(x)\n# sphinx_gallery_end_ignore\nprint(x)\n"
    folder = tmp_path / "_downloads" / "abc"
    folder.mkdir(parents=True)
    (folder / "plot_toy.py").write_text(script)
    with zipfile.ZipFile(folder / "plot_toy.zip", "w") as archive:
        archive.writestr("plot_toy.py", script)
        archive.writestr("plot_toy.ipynb", "{}")
    (folder / "plot_toy.py").chmod(0o644)
    assert len(strip_downloads(tmp_path)) == 2
    assert (folder / "plot_toy.py").read_text() == "x = 1\nprint(x)\n"
    assert (folder / "plot_toy.py").stat().st_mode & 0o777 == 0o644
    with zipfile.ZipFile(folder / "plot_toy.zip") as archive:
        assert archive.read("plot_toy.py").decode() == "x = 1\nprint(x)\n" and archive.read("plot_toy.ipynb") == b"{}"
    assert strip_downloads(tmp_path) == []  # nothing left to remove
