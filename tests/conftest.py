"""Shared test settings: offline, CPU, quick budgets, seeded."""

from __future__ import annotations

import os

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
def mnist5k():
    from mlcheatsheet.data import load_dataset

    return load_dataset("mnist-5k", verbose=False)
