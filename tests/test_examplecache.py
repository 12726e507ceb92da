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
from test_buildcheck import _tiny_site  # noqa: E402

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
    (results / f"{stem.removeprefix('plot_')}.pt").write_text(f"trained model of {text}")
    (target / "demos" / stem.removeprefix("plot_")).mkdir(parents=True, exist_ok=True)
    (target / "demos" / stem.removeprefix("plot_") / "model.onnx").write_text(f"model of {text}")


def test_a_stored_run_comes_back_whole_and_replaces_another_runs_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("MLCHEATSHEET_DEMOS", raising=False)
    target, results = tmp_path / "auto_examples", tmp_path / "auto_examples" / "results"
    _fake_run(target, results, "plot_toy.py", "first")
    (target / "images" / "sphx_glr_plot_toy_other_001.png").write_bytes(b"another script's figure")
    entry = examplecache.store_entry("k1", "plot_toy.py", 3.0, target, results, {})
    manifest = json.loads((entry / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["demos/toy/model.onnx", "images/sphx_glr_plot_toy_001.png",
                                         "images/thumb/sphx_glr_plot_toy_thumb.png", "plot_toy.py", "plot_toy.py.md5",
                                         "plot_toy.rst", "results/toy.json", "results/toy.pt"]
    assert examplecache.recorded_times() == {"plot_toy.py": 3.0}
    _fake_run(target, results, "plot_toy.py", "second")
    (target / "images" / "sphx_glr_plot_toy_002.png").write_bytes(b"a figure only the second run drew")
    assert examplecache.restore_entry(entry, target, results, "plot_toy.py")
    assert (target / "plot_toy.rst").read_text() == "page of first"
    assert (target / "demos" / "toy" / "model.onnx").read_text() == "model of first"
    assert json.loads((results / "toy.json").read_text()) == {"value": "first"}
    assert (results / "toy.pt").read_text() == "trained model of first"  # the model its page offers is that run's
    assert not (target / "images" / "sphx_glr_plot_toy_002.png").exists()
    assert (target / "images" / "sphx_glr_plot_toy_other_001.png").exists()  # not this script's


def test_a_damaged_or_unfinished_entry_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("MLCHEATSHEET_DEMOS", raising=False)
    target, results = tmp_path / "auto_examples", tmp_path / "auto_examples" / "results"
    _fake_run(target, results, "plot_toy.py", "first")
    entry = examplecache.store_entry("k1", "plot_toy.py", 3.0, target, results, {})
    (entry / "plot_toy.rst").unlink()
    assert not examplecache.restore_entry(entry, target, results, "plot_toy.py")
    unfinished = examplecache.entries_dir() / ".k2.123.part"  # what a store cut short leaves
    shutil.copytree(entry, unfinished)
    assert not examplecache.restore_entry(examplecache.entries_dir() / "k2", target, results, "plot_toy.py")


def test_an_entry_is_used_only_while_the_package_files_its_run_imported_are_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(examplecache, "_package_dir", lambda: tmp_path / "package")
    (tmp_path / "package" / "models").mkdir(parents=True)
    rnn, cnn = tmp_path / "package" / "models" / "rnn.py", tmp_path / "package" / "models" / "cnn.py"
    rnn.write_text("RNN = 1\n")
    cnn.write_text("CNN = 1\n")

    class Module:
        __file__ = str(rnn)

    recorded = examplecache.module_digests([Module(), sys])  # sys: not a file of the package
    assert list(recorded) == ["models/rnn.py"]
    assert examplecache.modules_unchanged(recorded)
    cnn.write_text("CNN = 2\n")
    assert examplecache.modules_unchanged(recorded)  # not imported by that run
    rnn.write_text("RNN = 2\n")
    assert not examplecache.modules_unchanged(recorded)
    rnn.unlink()
    assert not examplecache.modules_unchanged(recorded)


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
mode = os.environ["MLCHEATSHEET_MODE"]
if os.environ.get("TOY_HOLD") and os.environ.get("TOY_HOLD_IN", mode) == mode:  # the interruption tests: once
    # the other example is stored, say who we are and wait
    entries = pathlib.Path(os.environ["MLCHEATSHEET_CACHE"], "examples")
    while not any(entries.glob("*/manifest.json")):  # an example's run is stored
        time.sleep(0.05)
    def say_who_we_are():
        marker = pathlib.Path(os.environ["TOY_HOLD"])
        marker.with_suffix(".part").write_text(str(os.getpid()))
        os.replace(marker.with_suffix(".part"), marker)
    class Finalizer:
        def __del__(self):  # the signal lands in a finalizer, where Python prints and drops the
            say_who_we_are()  # KeyboardInterrupt it raises: the example then goes on
            time.sleep(60)
    if os.environ.get("TOY_LOST"):
        Finalizer()  # collected at once
    else:
        say_who_we_are()
    time.sleep(3600)  # far longer than any test waits: only a working stop ends this build
'''


def _environment(**env: str) -> dict[str, str]:
    """The build's environment: quick mode on the CPU, nothing of the calling shell's build settings."""
    full_env = {**os.environ, "MLCHEATSHEET_MODE": "quick", "MLCHEATSHEET_DEVICE": "cpu", "MPLBACKEND": "Agg", **env}
    for key in ("MLCHEATSHEET_NOPLOT", "MLCHEATSHEET_RESULTS", "MLCHEATSHEET_DATASET", CACHE_ENV, "MLCHEATSHEET_FRESH"):
        if key not in env:
            full_env.pop(key, None)
    full_env.setdefault("MLCHEATSHEET_EXAMPLES", "")
    return full_env


def _sphinx(docs: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", str(docs),
                             str(docs.parent / "html")], env=_environment(**env), stdout=subprocess.PIPE,
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
    page = docs.parent / "html" / "index.html"
    with (docs / "index.rst").open("a") as fh:  # an edit to a page alone re-runs nothing
        fh.write("\nA sentence added to the page.\n")
    ran, out = _build(docs)
    assert ran == set() and "gallery: 2 examples, 2 from the cache, 0 to run" in out, out[-3000:]
    assert "A sentence added to the page." in page.read_text()
    assert "Result — MLP: test accuracy" in (docs.parent / "html" / "auto_examples" / "plot_good.html").read_text()
    script = docs.parent / "gallery" / "plot_good.py"  # a new import: the run records it
    script.write_text(script.read_text() + "\nimport mlcheatsheet.models.rnn\nprint('one more line')\n")
    ran, out = _build(docs)
    assert ran == {"plot_good.py"}, out[-3000:]
    assert "one more line" in (docs.parent / "html" / "auto_examples" / "plot_good.html").read_text()
    manifests = sorted((json.loads((e / "manifest.json").read_text()) for e in _entries(docs) if (e / "manifest.json").is_file()),
                       key=lambda manifest: manifest["stored_at"])
    imported = {manifest["script"]: manifest["modules"] for manifest in manifests}  # each script's newest run
    assert "models/rnn.py" in imported["plot_good.py"] and "models/rnn.py" not in imported["plot_claim.py"]
    assert "models/cnn.py" not in imported["plot_good.py"]  # the models package loads only what is asked for
    _edit(docs.parent / "mlcheatsheet" / "models" / "rnn.py")  # imported by one of the two
    ran, out = _build(docs)
    assert ran == {"plot_good.py"}, out[-3000:]
    _edit(docs.parent / "mlcheatsheet" / "training" / "engine.py")  # both train through it
    ran, out = _build(docs)
    assert ran == {"plot_good.py", "plot_claim.py"}, out[-3000:]
    ran, out = _build(docs, MLCHEATSHEET_FRESH="1")
    assert ran == {"plot_good.py", "plot_claim.py"}, out[-3000:]
    assert not [p for p in _entries(docs) if p.name.endswith(".part")]


def _edit(module: Path) -> None:
    module.write_text(module.read_text() + "\n# an edit to the package\n")


def _held_site(tmp_path: Path) -> Path:
    """The tiny site with plot_good.py and plot_zslow.py, which holds the build once plot_good.py is stored."""
    docs = _tiny_site(tmp_path, ["plot_good.py"])
    held = docs.parent / "gallery" / "plot_zslow.py"  # after plot_good.py when they run one at a time (by name)
    held.write_text((docs.parent / "gallery" / "plot_good.py").read_text().replace('report_result("good"', 'report_result("zslow"')
                    .replace("An honest example", "A slow example   ").replace('"""\n\nimport torch', '"""\n' + _HOLD + "\nimport torch", 1))
    return docs


def _processes_with(text: str) -> list[int]:
    """Processes whose environment contains ``text`` (Linux's /proc)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if text.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue  # ended, or not ours to read
    return found


# (whom the signal reaches, which signal, workers): Ctrl-C in a terminal reaches the whole
# process group, `kill` and CI's cancel the main process only, the system kills one worker.
# "lost": Ctrl-C arrives while the main thread runs a finalizer (a __del__, a weakref or GC
# callback), which swallows the KeyboardInterrupt: the cause of the old test's rare hang.
_STOPS = {
    "ctrl-c, one example at a time": ("group", signal.SIGINT, "1"),
    "ctrl-c, in a worker": ("group", signal.SIGINT, "2"),
    "sigterm to the main process": ("main", signal.SIGTERM, "2"),
    "a worker killed": ("worker", signal.SIGKILL, "2"),
    "ctrl-c lost in a finalizer": ("group", signal.SIGINT, "1 lost"),
}


def start_held_build(docs: Path, marker: Path, case: str) -> tuple[subprocess.Popen[str], int | None]:
    """Build ``docs`` (a :func:`_held_site`) the way ``case`` runs it, until plot_zslow.py holds.

    Returns the build and the pid of the process running the held example (``None`` when
    the build ended first).
    """
    how = _STOPS[case][2]
    process = _sphinx(docs, TOY_HOLD=str(marker), MLCHEATSHEET_WORKERS=how.split()[0],
                      **({"TOY_LOST": "1"} if how.endswith("lost") else {}))
    while not marker.exists() and process.poll() is None:  # plot_good.py stored, plot_zslow.py holding
        time.sleep(0.05)
    return process, int(marker.read_text()) if marker.exists() else None


def stop_held_build(process: subprocess.Popen[str], held: int, case: str) -> None:
    """Send ``case``'s signal to whom it names."""
    whom, stop, _ = _STOPS[case]
    if whom == "group":  # as a terminal sends Ctrl-C
        os.killpg(process.pid, stop)
    else:
        os.kill(held if whom == "worker" else process.pid, stop)


@pytest.mark.docs
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds left-over processes through /proc")
@pytest.mark.parametrize("case", list(_STOPS))
def test_an_interrupted_build_stops_says_what_it_kept_and_reruns_only_what_was_lost(tmp_path: Path, case: str) -> None:
    docs, marker = _held_site(tmp_path), tmp_path / "held"
    process, held = start_held_build(docs, marker, case)
    assert held is not None, process.communicate()[0][-3000:]
    lost = _STOPS[case][2].endswith("lost")
    assert (held == process.pid) == _STOPS[case][2].startswith("1")  # one at a time: the example runs in the main process
    stop_held_build(process, held, case)
    out, _ = process.communicate(timeout=60)  # the held example alone would take an hour
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert process.returncode != 0, out[-3000:]
    assert "1 of the 2 examples it ran are stored in the cache (plot_good.py); the next build runs 1 again " \
           "(plot_zslow.py)" in out, out[-3000:]
    assert re.search(r"^gallery: build stopped by ", out, re.M), out[-3000:]
    assert ("did not unwind within" in out) == lost, out[-3000:]  # only a lost interrupt needs ending from outside
    assert not _processes_with(str(marker)), "processes of the build outlived it"
    results = docs / "auto_examples" / "results"
    assert not (results / "zslow.json").exists() and not list(results.glob(".*"))
    entries = _entries(docs)
    assert [json.loads((e / "manifest.json").read_text())["script"] for e in entries if (e / "manifest.json").is_file()] \
        == ["plot_good.py"], entries
    assert not [p for p in entries if p.name.endswith(".part")]
    if case in ("sigterm to the main process", "ctrl-c lost in a finalizer"):  # unwound, and ended from outside
        ran, out = _build(docs)
        assert ran == {"plot_zslow.py"}, out[-3000:]


@pytest.mark.docs
def test_a_full_build_out_of_time_falls_back_to_the_quick_site(tmp_path: Path) -> None:
    docs = _held_site(tmp_path)  # its full build holds until it is stopped
    script, out = str(ROOT / "docs" / "build-within.sh"), docs.parent / "html"
    env = _environment(TOY_HOLD=str(tmp_path / "held"), TOY_HOLD_IN="full", PYTHON=sys.executable)
    done = subprocess.run(["bash", script, "5", str(out), str(docs)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "build-within: the full build did not finish within 5 s; building the quick site instead" in done.stderr
    assert json.loads((docs / "auto_examples" / "results" / "zslow.json").read_text())["mode"] == "quick"
    assert (out / "auto_examples" / "plot_zslow.html").is_file()
    # any other failure of the full build is the script's failure, not a reason to publish the quick site
    failed = subprocess.run(["bash", script, "60", str(out), str(tmp_path / "no-docs")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode not in (0, 124) and "building the quick site" not in failed.stderr
    usage = subprocess.run(["bash", script, "soon", str(out)], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")


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
        shutil.copytree(shard, cache, dirs_exist_ok=True, ignore=shutil.ignore_patterns("plans"))
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


def test_examples_run_longest_first_and_the_ablation_first_when_nothing_was_timed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # an empty cache: a fresh clone
    scripts = ["plot_mlp.py", "plot_cnn.py", "plot_gan_techniques.py", "plot_dcgan.py"]
    assert sorted(scripts, key=examplecache.RunOrder("gallery")) == ["plot_gan_techniques.py", "plot_mlp.py", "plot_cnn.py", "plot_dcgan.py"]
    entry = tmp_path / "cache" / "examples" / "abc"
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps({"script": "plot_cnn.py", "stored_at": "2026-12-04T10:00:00", "seconds": 50.0}))
    assert sorted(scripts, key=examplecache.RunOrder("gallery"))[0] == "plot_cnn.py"  # a recorded time comes first
