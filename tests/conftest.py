"""Shared test settings: offline, CPU, quick budgets, seeded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests never touch the network and never depend on a GPU being present.
os.environ.setdefault("MLCHEATSHEET_OFFLINE", "1")
os.environ.setdefault("MLCHEATSHEET_DEVICE", "cpu")
os.environ.setdefault("MLCHEATSHEET_MODE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def quick_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once per session in quick mode from a copy of docs/ and gallery/.

    Shared by test_docs, test_site and test_browser; the working tree stays clean.
    ``MLCHEATSHEET_SITE=<html dir>`` tests an existing build instead (for iterating on tests).
    """
    from sitebuild import build_site

    if os.environ.get("MLCHEATSHEET_SITE"):
        return Path(os.environ["MLCHEATSHEET_SITE"])
    if "out" not in _QUICK_SITE:  # pytest re-runs a failed session fixture per test: build once
        out = tmp_path_factory.mktemp("site") / "html"
        result = build_site(out, mode="quick")
        _QUICK_SITE.update(out=out, ok=result.returncode == 0,
                           log=f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    assert _QUICK_SITE["ok"], f"docs build failed:\n{_QUICK_SITE['log']}"
    return Path(str(_QUICK_SITE["out"]))


_QUICK_SITE: dict[str, object] = {}


@pytest.fixture(scope="session")
def mnist5k():
    from mlcheatsheet.data import load_dataset

    return load_dataset("mnist-5k", verbose=False)
