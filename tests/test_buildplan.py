"""``make plan``: a dry estimate of a docs build, for this machine and for a device it does not have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import buildplan  # noqa: E402

from mlcheatsheet.site.budgets import Budget  # noqa: E402
from mlcheatsheet.cache import CACHE_ENV  # noqa: E402


def test_budgets_read_as_a_reader_would_say_them() -> None:
    assert buildplan.describe_budget(Budget(steps=2500, batch_size=64)) == "2,500 steps of 64"
    assert buildplan.describe_budget(Budget(epochs=1, max_train=500, transfer_steps=10)) == \
        "1 epoch of 128 on 500 images (+ 10 transfer steps)"


def test_a_script_trains_with_its_own_budget_and_its_variants(tmp_path: Path) -> None:
    script = tmp_path / "plot_x.py"
    script.write_text('data = build_data("vae", device, data)\nepochs = build_length("vae", device, epochs=epochs)\n'
                      'epochs_2d = build_length("vae_2d", device, epochs=epochs_2d)\n'
                      'dcgan_steps = build_length("dcgan", device, steps=dcgan_steps)  # a number for a sentence\n')
    assert list(buildplan.script_budgets(script, "cpu")) == ["vae", "vae_2d"]
    assert buildplan.script_budgets(script, "cuda")["vae"] == buildplan.get_budget("vae", device="cuda")


def test_recorded_runs_are_matched_by_device_mode_and_data(tmp_path: Path) -> None:
    def entry(key: str, device: str, dataset: str, seconds: float, stored_at: str) -> None:
        (tmp_path / key / "results").mkdir(parents=True)
        (tmp_path / key / "results" / "cnn.json").write_text(json.dumps({"device": device, "mode": "full", "dataset": dataset}))
        (tmp_path / key / "manifest.json").write_text(json.dumps(
            {"script": "plot_cnn.py", "seconds": seconds, "stored_at": stored_at, "files": ["results/cnn.json"]}))

    entry("a", "cpu", "mnist-5k", 100.0, "2026-12-01T10:00:00Z")
    entry("b", "cpu", "mnist-5k", 90.0, "2026-12-02T10:00:00Z")  # newer: wins
    entry("c", "cuda:0", "mnist", 12.0, "2026-12-02T10:00:00Z")
    (tmp_path / "d").mkdir()  # an entry without a manifest says nothing
    assert buildplan.recorded_runs(tmp_path) == {("plot_cnn.py", "cpu", "full", "mnist-5k"): 90.0,
                                                 ("plot_cnn.py", "cuda", "full", "mnist"): 12.0}


@pytest.mark.parametrize("device", ["", "cuda"])
def test_make_plan_lists_every_example_for_this_machine_and_for_a_gpu(tmp_path: Path, device: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCHEATSHEET_")}
    env.update({CACHE_ENV: str(tmp_path / "cache"), "MLCHEATSHEET_DATA": str(tmp_path / "data"), "MLCHEATSHEET_OFFLINE": "1"})
    args = [sys.executable, str(ROOT / "docs" / "_ext" / "buildplan.py")] + (["--device", device] if device else [])
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    scripts = sorted(p.name for p in (ROOT / "gallery").glob("plot_*.py"))
    assert all(script in done.stdout for script in scripts)
    assert f"{len(scripts)} of {len(scripts)} examples to run" in done.stdout
    if device == "cuda":  # the GPU budgets, their datasets, and honesty about what this machine cannot know
        assert "sagan: 20,000 steps of 64 — cifar10 (not on disk, offline: the embedded mnist-5k stands in)" in done.stdout
        assert "no cuda on this machine" in done.stdout and "bfloat16" in done.stdout
    else:
        assert "plan of a full build on cpu" in done.stdout and "sagan: 1,000 steps of 64 — mnist-5k (embedded)" in done.stdout


def test_make_plan_refuses_an_unknown_device_in_one_line() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "_ext" / "buildplan.py"), "--device", "tpu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "'tpu' is not a device" in done.stderr and "Traceback" not in done.stderr
