"""A build reruns exactly what changed: the content-addressed cache of gallery runs.

Unit tests drive :mod:`examplecache`'s entries directly; the end-to-end tests build the tiny
site of ``test_buildcheck`` (real conf.py and extensions, toy scripts that train a few
steps) again and again in one folder, and read the build's own progress lines to see what ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import examplecache  # noqa: E402
from test_buildcheck import _SCRIPTS, _output, _tiny_site  # noqa: E402

from mlcheatsheet.cache import CACHE_ENV  # noqa: E402


# -- Entries -----------------------------------------------------------------------------------------


def _fake_run(target: Path, results: Path, script: str, text: str) -> None:
    stem = Path(script).stem
    (target / "images" / "thumb").mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    (target / script).write_text(text)
    (target / f"{stem}.rst").write_text(f"page of {text}")
    (target / "images" / f"sphx_glr_{stem}_001.png").write_bytes(text.encode())
    (target / "images" / "thumb" / f"sphx_glr_{stem}_thumb.png").write_bytes(b"thumb")
    (target / f"{script}.md5").write_text("checksum")
    (results / f"{stem.removeprefix('plot_')}.json").write_text(json.dumps({"value": text}))
    (target / "demos" / stem.removeprefix("plot_")).mkdir(parents=True, exist_ok=True)
    (target / "demos" / stem.removeprefix("plot_") / "model.onnx").write_text(f"model of {text}")


def test_a_stored_run_comes_back_whole_and_replaces_another_runs_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("MLCHEATSHEET_DEMOS", raising=False)
    target, results = tmp_path / "auto_examples", tmp_path / "auto_examples" / "results"
    _fake_run(target, results, "plot_toy.py", "first")
    (target / "images" / "sphx_glr_plot_toy_other_001.png").write_bytes(b"another script's figure")
    entry = examplecache.store_entry("k1", "plot_toy.py", 3.0, target, results)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["demos/toy/model.onnx", "images/sphx_glr_plot_toy_001.png",
                                         "images/thumb/sphx_glr_plot_toy_thumb.png", "plot_toy.py", "plot_toy.py.md5",
                                         "plot_toy.rst", "results/toy.json"]
    assert examplecache.recorded_times() == {"plot_toy.py": 3.0}
    _fake_run(target, results, "plot_toy.py", "second")
    (target / "images" / "sphx_glr_plot_toy_002.png").write_bytes(b"a figure only the second run drew")
    assert examplecache.restore_entry(entry, target, results, "plot_toy.py")
    assert (target / "plot_toy.rst").read_text() == "page of first"
    assert (target / "demos" / "toy" / "model.onnx").read_text() == "model of first"
    assert json.loads((results / "toy.json").read_text()) == {"value": "first"}
    assert not (target / "images" / "sphx_glr_plot_toy_002.png").exists()
    assert (target / "images" / "sphx_glr_plot_toy_other_001.png").exists()  # not this script's


def test_a_damaged_or_unfinished_entry_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("MLCHEATSHEET_DEMOS", raising=False)
    target, results = tmp_path / "auto_examples", tmp_path / "auto_examples" / "results"
    _fake_run(target, results, "plot_toy.py", "first")
    entry = examplecache.store_entry("k1", "plot_toy.py", 3.0, target, results)
    (entry / "plot_toy.rst").unlink()
    assert not examplecache.restore_entry(entry, target, results, "plot_toy.py")
    unfinished = examplecache.entries_dir() / ".k2.123.part"  # what a store cut short leaves
    shutil.copytree(entry, unfinished)
    assert not examplecache.restore_entry(examplecache.entries_dir() / "k2", target, results, "plot_toy.py")


def test_shards_balance_the_recorded_times() -> None:
    times = {"a.py": 100.0, "b.py": 60.0, "c.py": 50.0, "d.py": 10.0}
    assert examplecache.shards(list(times), 2, times) == [["a.py", "d.py"], ["b.py", "c.py"]]
    assert examplecache.shards(["a.py", "new.py"], 2, {"a.py": 5.0}) == [["a.py"], ["new.py"]]
    assert examplecache.shards(["a.py"], 3, {}) == [["a.py"]]
    with pytest.raises(ValueError, match="cannot be split into 0 shards"):
        examplecache.shards(["a.py"], 0, {})


def test_the_worker_count_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(examplecache.WORKERS_ENV, "3")
    assert examplecache.worker_count(10) == 3 and examplecache.worker_count(2) == 2
    monkeypatch.setenv(examplecache.WORKERS_ENV, "zero")
    with pytest.raises(ValueError, match="MLCHEATSHEET_WORKERS='zero' is not a positive number"):
        examplecache.worker_count(4)


# -- End to end ----------------------------------------------------------------------------------------

_HOLD = '''
import os, pathlib, time
if os.environ.get("TOY_HOLD"):  # the interruption test: say we started, then wait to be stopped
    pathlib.Path(os.environ["TOY_HOLD"]).write_text("started")
    time.sleep(120)
'''


def _sphinx(docs: Path, **env: str) -> subprocess.Popen[str]:
    full_env = {**os.environ, "MLCHEATSHEET_MODE": "quick", "MLCHEATSHEET_DEVICE": "cpu", "MPLBACKEND": "Agg", **env}
    for key in ("MLCHEATSHEET_NOPLOT", "MLCHEATSHEET_RESULTS", "MLCHEATSHEET_DATASET", CACHE_ENV, "MLCHEATSHEET_FRESH"):
        if key not in env:
            full_env.pop(key, None)
    full_env.setdefault("MLCHEATSHEET_EXAMPLES", "")
    return subprocess.Popen([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", str(docs),
                             str(docs.parent / "html")], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _build(docs: Path, **env: str) -> tuple[set[str], str]:
    """Build; return the scripts that ran and the log."""
    process = _sphinx(docs, **env)
    out, _ = process.communicate(timeout=600)
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert process.returncode == 0, out[-4000:]
    return set(re.findall(r"gallery: (plot_\w+\.py) started", out)), out


def _entries(docs: Path) -> list[Path]:
    return sorted((docs.parent / ".cache" / "build" / "examples").glob("*"))


@pytest.mark.docs
def test_only_what_changed_runs_again(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_good.py", "plot_claim.py"], index_extra="\n.. results-table::\n", copy_package=True)
    ran, out = _build(docs)
    assert ran == {"plot_good.py", "plot_claim.py"}, out[-3000:]
    assert "gallery: 2 examples, 0 from the cache, 2 to run on 2 workers" in out
    ran, out = _build(docs)
    assert ran == set() and "gallery: 2 examples, 2 from the cache, 0 to run" in out, out[-3000:]
    page = docs.parent / "html" / "index.html"
    with (docs / "index.rst").open("a") as fh:
        fh.write("\nA sentence added to the page.\n")
    ran, out = _build(docs)
    assert ran == set() and "A sentence added to the page." in page.read_text()
    assert "Result — MLP: test accuracy" in (docs.parent / "html" / "auto_examples" / "plot_good.html").read_text()
    script = docs.parent / "gallery" / "plot_good.py"
    script.write_text(script.read_text() + "\nprint('one more line')\n")
    ran, out = _build(docs)
    assert ran == {"plot_good.py"}, out[-3000:]
    assert "one more line" in (docs.parent / "html" / "auto_examples" / "plot_good.html").read_text()
    module = docs.parent / "mlcheatsheet" / "metrics.py"
    module.write_text(module.read_text() + "\n# an edit to the package\n")
    ran, out = _build(docs)
    assert ran == {"plot_good.py", "plot_claim.py"}, out[-3000:]
    ran, out = _build(docs, MLCHEATSHEET_FRESH="1")
    assert ran == {"plot_good.py", "plot_claim.py"}, out[-3000:]
    assert not [p for p in _entries(docs) if p.name.endswith(".part")]


@pytest.mark.docs
def test_an_interrupted_build_reruns_what_was_lost_and_nothing_else(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_good.py"])
    title, text, body = _SCRIPTS["plot_good.py"]
    held = docs.parent / "gallery" / "plot_zslow.py"  # runs after plot_good.py (no times yet: by name)
    held.write_text((docs.parent / "gallery" / "plot_good.py").read_text().replace('report_result("good"', 'report_result("zslow"')
                    .replace("An honest example", "A slow example   ").replace('"""\n\nimport torch', '"""\n' + _HOLD + "\nimport torch", 1))
    marker = tmp_path / "started"
    process = _sphinx(docs, TOY_HOLD=str(marker), MLCHEATSHEET_WORKERS="1")
    deadline = time.time() + 300
    while not marker.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), process.communicate()[0][-3000:]
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the whole build
    out, _ = process.communicate(timeout=120)
    assert process.returncode != 0, out[-3000:]
    results = docs / "auto_examples" / "results"
    assert not (results / "zslow.json").exists() and not list(results.glob(".*"))
    entries = _entries(docs)
    assert [json.loads((e / "manifest.json").read_text())["script"] for e in entries if (e / "manifest.json").is_file()] \
        == ["plot_good.py"], entries
    assert not [p for p in entries if p.name.endswith(".part")]
    ran, out = _build(docs)
    assert ran == {"plot_zslow.py"}, out[-3000:]


@pytest.mark.docs
def test_shards_built_apart_then_assembled_match_one_build(tmp_path: Path) -> None:
    scripts = ["plot_good.py", "plot_claim.py"]
    whole = _tiny_site(tmp_path / "whole", scripts)
    _build(whole)
    shard_caches = []
    for i, pattern in enumerate((r"plot_good\.py$", r"plot_claim\.py$")):
        docs = _tiny_site(tmp_path / f"shard{i}", scripts)
        ran, _ = _build(docs, MLCHEATSHEET_EXAMPLES=pattern)
        assert len(ran) == 1
        shard_caches.append(docs.parent / ".cache" / "build" / "examples")
    assembled = _tiny_site(tmp_path / "assembled", scripts)
    cache = assembled.parent / ".cache" / "build" / "examples"
    for shard in shard_caches:
        shutil.copytree(shard, cache, dirs_exist_ok=True, ignore=shutil.ignore_patterns("plans", "times.json*"))
    ran, out = _build(assembled)
    assert ran == set() and "2 from the cache, 0 to run" in out, out[-3000:]
    for name in ("good", "claim"):
        one, parts = (json.loads((d / "auto_examples" / "results" / f"{name}.json").read_text()) for d in (whole, assembled))
        for record in (one, parts):
            for timing in ("train_seconds", "run_at"):
                record.pop(timing)
        assert one == parts
        pages = [re.sub(r"[\d.]+ s(ec)?", "<time>", (d / "auto_examples" / f"plot_{name}.rst").read_text())
                 for d in (whole, assembled)]
        assert pages[0] == pages[1]


def test_the_pages_workflow_runs_every_shard_then_assembles() -> None:
    workflow = (ROOT / ".github" / "workflows" / "docs.yml").read_text()
    shards = int(re.search(r"^  SHARDS: (\d+)$", workflow, re.M).group(1))
    matrix = re.search(r"^\s+shard: \[([\d, ]+)\]", workflow, re.M).group(1)
    assert [int(x) for x in matrix.split(",")] == list(range(shards))
    assert "make -s shards N=$SHARDS" in workflow and 'make html EXAMPLES="$PATTERN"' in workflow
    assert "needs: shard" in workflow and "examplecache.py prune" in workflow
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^shards:", makefile, re.M) and "MLCHEATSHEET_FRESH := $(FRESH)" in makefile


def test_the_shards_command_prints_patterns_that_cover_the_gallery(tmp_path: Path) -> None:
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "_ext" / "examplecache.py"), "shards", "3"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    patterns = json.loads(done.stdout)
    scripts = sorted(p.name for p in (ROOT / "gallery").glob("plot_*.py"))
    matched = [[s for s in scripts if re.search(p, s)] for p in patterns]
    assert len(patterns) == 3 and sorted(sum(matched, [])) == scripts
    bad = subprocess.run([sys.executable, str(ROOT / "docs" / "_ext" / "examplecache.py"), "shards", "0"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "usage:" in bad.stderr
