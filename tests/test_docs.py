"""The quick-mode docs build: warnings are errors, the gallery runs, the pages show results."""

from __future__ import annotations

import re
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
