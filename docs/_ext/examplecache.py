"""A Sphinx extension: each gallery example runs only when what it depends on changed, side by side with the others.

Before sphinx-gallery executes the gallery (``builder-inited``, early), every script gets a
*content key* (:func:`example_key`): a hash of the script, the build mode and dataset, the
device, the library versions and the notebook settings. Under
``$MLCHEATSHEET_CACHE/examples/<key>/`` lies the complete output of an earlier run with
exactly those inputs — its page, figures, notebook, printed output and results record — and
the package modules that run imported, with their digests, recorded from the run
(:func:`track_example` empties ``sys.modules`` of the package before each example and
reads back what the example loaded). The entry is used only while every one of those
modules is unchanged: editing ``models/rnn.py`` re-runs the examples that imported it and no
other. When the entry is usable it is copied back (only files that differ are written, so Sphinx re-reads
nothing that did not change) and sphinx-gallery, finding the script's checksum current,
skips it. Otherwise the example's checksum and results record are removed and it runs.
``$MLCHEATSHEET_FRESH=1`` (``make html FRESH=1``) ignores every entry.

The examples that run are spread over ``$MLCHEATSHEET_WORKERS`` processes (sphinx-gallery's
``parallel``; default one per usable core on the CPU, one on a GPU, never more than there
are examples to run), longest first
(:class:`RunOrder`, from the times of the last runs). A hook that sphinx-gallery calls in
the worker before and after each example (:func:`track_example`) gives the run its key
(recorded by :func:`mlcheatsheet.site.report.report_result` as ``run_key``), prints when each
example starts, is expected to end and ends, and stores the finished run as a new entry —
built in a temporary folder and renamed into place, so an interrupted build leaves whole
entries or none. :mod:`buildcheck` then checks every record, run now or restored, against
its key. Ctrl-C, SIGTERM or a dead worker end the whole build within seconds and say which
of its runs were stored (:mod:`buildstop`).

On the CPU every example runs with one torch thread (``$MLCHEATSHEET_THREADS`` overrides it),
however many run at once: the thread count changes a run's floating-point results, so it
is part of the key, and fixing it makes a run the same whether it ran alone, beside
another example or on another CI runner.

``python docs/_ext/examplecache.py shards N`` splits the gallery into N groups of about equal
recorded time, for a CI matrix whose jobs fill one cache that a last job assembles;
``... prune`` keeps only the runs the newest build used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import buildstop
from resultsdir import gallery_executed, result_name

from mlcheatsheet.cache import cache_root, content_key, library_versions, write_atomically
from mlcheatsheet.data import OFFLINE_ENV, default_data_root
from mlcheatsheet.runtime import THREADS_ENV, forced_threads, get_device, usable_cpus
from mlcheatsheet.site.budgets import build_dataset, build_mode
from mlcheatsheet.site.export import DEMOS_ENV
from mlcheatsheet.site.report import RESULTS_ENV, RUN_KEY_ENV

__all__ = ["FRESH_ENV", "PLAN_ENV", "WORKERS_ENV", "Planned", "RunOrder", "example_key", "gallery_plan", "shards",
           "track_example"]

#: ``1`` ignores the cache: every selected example runs again (and replaces its entry).
FRESH_ENV = "MLCHEATSHEET_FRESH"
#: How many examples run at once (default: one per usable core on the CPU, one on a GPU).
WORKERS_ENV = "MLCHEATSHEET_WORKERS"
#: Where the build's plan is, for the worker processes (set by this extension).
PLAN_ENV = "MLCHEATSHEET_GALLERY_PLAN"
#: The files an example writes to the results folder: its record (report_result) and its model.
RECORD_SUFFIXES = (".json", ".pt")



@dataclass(frozen=True)
class Planned:
    """What this build does with one gallery script.

    Attributes:
        script: File name, e.g. ``plot_cnn.py``.
        key: Its content key.
        status: ``"cached"`` (restored from an entry), ``"run"`` (executes in this build) or
            ``"skipped"`` (not selected by ``$MLCHEATSHEET_EXAMPLES`` and never run with
            these inputs: its page shows the code only).
        expected_seconds: How long its last run took, or ``None`` when it never ran here.
    """

    script: str
    key: str
    status: str
    expected_seconds: float | None


# -- Keys --------------------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _data_state() -> str:
    """The datasets on disk (names and sizes) and whether downloads are allowed: which data a run would load."""
    root = default_data_root()
    listing = sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file()) \
        if root.is_dir() else []
    return content_key({"files": listing, "offline": os.environ.get(OFFLINE_ENV, "")})


def _device_name() -> str:
    device = get_device()
    if device.type == "cuda":
        import torch

        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def example_threads() -> int:
    """torch threads per example: ``$MLCHEATSHEET_THREADS``, else one on the CPU (every core on a GPU build)."""
    forced = forced_threads()
    if forced is not None:
        return forced
    return 1 if get_device().type == "cpu" else usable_cpus()


def common_inputs(gallery_conf: dict[str, Any]) -> dict[str, object]:
    """What every example of this build depends on besides its own script."""
    import sphinx_gallery

    notebook = re.sub(r"@[0-9a-f]{7,40}", "@<commit>", str(gallery_conf.get("first_notebook_cell") or ""))
    return {
        "versions": library_versions(), "sphinx_gallery": sphinx_gallery.__version__,
        "mode": build_mode(), "dataset": build_dataset() or "", "data": _data_state(), "device": _device_name(),
        "threads": example_threads(),
        "notebook": notebook, "capture_repr": list(gallery_conf.get("capture_repr", ())),
    }


def example_key(script: Path, common: dict[str, object]) -> str:
    """The content key of ``script`` given the build's :func:`common_inputs` (the package
    modules it uses are checked separately, from its entry: :func:`modules_unchanged`)."""
    return content_key({**common, "script": _file_digest(script)})


_PACKAGE = "mlcheatsheet"


def _package_dir() -> Path:
    import mlcheatsheet

    return Path(mlcheatsheet.__file__).resolve().parent


def _is_package_module(name: str) -> bool:
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def module_digests(modules: list[Any]) -> dict[str, str]:
    """``{path inside the package: SHA-256}`` of the package's source files among ``modules``."""
    root = _package_dir()
    files = {Path(m.__file__).resolve() for m in modules if getattr(m, "__file__", None)}
    return {f.relative_to(root).as_posix(): _file_digest(f) for f in sorted(files) if f.is_relative_to(root)}


def modules_unchanged(recorded: dict[str, str]) -> bool:
    """Whether every package file a run imported still has the digest it had then."""
    root = _package_dir()
    return all((root / name).is_file() and _file_digest(root / name) == digest for name, digest in recorded.items())


# -- Entries -----------------------------------------------------------------------------------------


def entries_dir() -> Path:
    return cache_root() / "examples"


def _demos_dir(target_dir: Path) -> Path:
    return Path(os.environ.get(DEMOS_ENV) or target_dir / "demos")


def example_outputs(target_dir: Path, results: Path, script: str) -> list[Path]:
    """Every file sphinx-gallery and the script wrote for ``script``: page, sources, notebook,
    checksum, figures, thumbnail, results record, trained model and exported demo models."""
    stem = Path(script).stem
    own = re.compile(rf"sphx_glr_{re.escape(stem)}_(\d{{3}}|thumb)(_[^.]*)?\.\w+")
    files = [p for p in target_dir.glob(f"{stem}.*") if p.is_file() and not p.name.endswith(".part")]
    for folder in (target_dir / "images", target_dir / "images" / "thumb"):
        files += [p for p in folder.glob(f"sphx_glr_{stem}_*") if own.fullmatch(p.name)]
    demo = _demos_dir(target_dir) / result_name(script)
    files += [p for p in demo.rglob("*") if p.is_file()] if demo.is_dir() else []
    return sorted(files) + [p for p in _records(results, script) if p.is_file()]


def _records(results: Path, script: str) -> list[Path]:
    """What ``script`` leaves in the results folder: its result record and its trained model."""
    return [results / f"{result_name(script)}{suffix}" for suffix in RECORD_SUFFIXES]


def _relative(path: Path, target_dir: Path, results: Path) -> str:
    if path.parent == results:
        return f"results/{path.name}"
    if path.is_relative_to(_demos_dir(target_dir)):
        return f"demos/{path.relative_to(_demos_dir(target_dir)).as_posix()}"
    return path.relative_to(target_dir).as_posix()


def _destination(name: str, target_dir: Path, results: Path) -> Path:
    if name.startswith("results/"):
        return results / name.split("/", 1)[1]
    if name.startswith("demos/"):
        return _demos_dir(target_dir) / name.split("/", 1)[1]
    return target_dir / name


def store_entry(key: str, script: str, seconds: float, target_dir: Path, results: Path,
                modules: dict[str, str]) -> Path:
    """Copy the finished run of ``script`` into the entry ``key`` (whole, or not at all), with
    the digests of the package ``modules`` it imported (:func:`module_digests`).

    An existing entry of the same key (a ``FRESH=1`` build ran it again) is replaced, so the
    cache always holds the run the pages show.
    """
    entry = entries_dir() / key
    tmp = entries_dir() / f".{key}.{os.getpid()}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        names = []
        for path in example_outputs(target_dir, results, script):
            name = _relative(path, target_dir, results)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tmp / name)
            names.append(name)
        manifest = {"key": key, "script": script, "seconds": round(seconds, 2), "files": names, "modules": modules,
                    "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if entry.is_dir():  # out of the way first: a cut here leaves no entry, never a mixed one
            old = entries_dir() / f".{key}.{os.getpid()}.old"
            os.rename(entry, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, entry)  # the commit point: before it there is no entry, after it a whole one
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


def _manifest(entry: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
        if all((entry / name).is_file() for name in manifest["files"]) and isinstance(manifest["modules"], dict):
            return manifest
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None  # no entry, or a damaged one: the example runs again


def _usable(entry: Path) -> bool:
    """An entry that is whole and whose run imported only package files that are unchanged."""
    manifest = _manifest(entry)
    return manifest is not None and modules_unchanged(manifest["modules"])


def restore_entry(entry: Path, target_dir: Path, results: Path, script: str) -> bool:
    """Put the run stored in ``entry`` back in place; ``False`` when it is damaged or missing.

    The checksum goes last: until it is written sphinx-gallery would re-run the example,
    so an interrupted restore is never mistaken for a finished one.
    """
    manifest = _manifest(entry)
    if manifest is None:
        return False
    wanted = {_destination(name, target_dir, results): entry / name for name in manifest["files"]}
    for stale in example_outputs(target_dir, results, script):
        if stale not in wanted:
            stale.unlink()  # a figure or record of another run of this script
    checksums = [dest for dest in wanted if dest.name.endswith(".md5")]
    for dest, source in sorted(wanted.items(), key=lambda item: item[0] in checksums):
        data = source.read_bytes()
        if not dest.is_file() or dest.read_bytes() != data:  # unchanged files keep their times
            write_atomically(dest, lambda fh, data=data: fh.write(data))
    return True


def _forget(target_dir: Path, results: Path, script: str) -> None:
    """Make sphinx-gallery run ``script`` again, and let no record or demo of an older run survive."""
    (target_dir / f"{script}.md5").unlink(missing_ok=True)
    for record in _records(results, script):
        record.unlink(missing_ok=True)
    shutil.rmtree(_demos_dir(target_dir) / result_name(script), ignore_errors=True)


def recorded_times() -> dict[str, float]:
    """Seconds of each script's last run in this cache, read from its newest entry (empty when it never ran here).

    The entries are the one record of how long a run took; sphinx-gallery's own
    ``sg_execution_times`` knows only the runs of the last build.
    """
    newest: dict[str, tuple[str, float]] = {}
    for path in entries_dir().glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text())
            script, stored, seconds = str(manifest["script"]), str(manifest["stored_at"]), float(manifest["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if script not in newest or stored > newest[script][0]:
            newest[script] = (stored, seconds)
    return {script: seconds for script, (_, seconds) in newest.items()}


# -- The build's plan --------------------------------------------------------------------------------


def _dirs(gallery_conf: dict[str, Any], srcdir: str | Path) -> tuple[Path, Path, Path]:
    def first(value: Any) -> str:
        return str(value[0] if isinstance(value, (list, tuple)) else value)

    examples = Path(srcdir, first(gallery_conf["examples_dirs"])).resolve()
    target = Path(srcdir, first(gallery_conf["gallery_dirs"])).resolve()
    results = Path(os.environ.get(RESULTS_ENV) or target / "results")
    return examples, target, results


def dry_plan(gallery_conf: dict[str, Any], srcdir: str | Path) -> list[Planned]:
    """What :func:`plan_examples` would decide, with nothing restored, forgotten or removed (``make plan``)."""
    examples, _, _ = _dirs(gallery_conf, srcdir)
    common, fresh = common_inputs(gallery_conf), os.environ.get(FRESH_ENV, "") == "1"
    selected = re.compile(gallery_conf["filename_pattern"])
    times = recorded_times()
    plan = []
    for script in sorted(examples.glob("*.py")):
        key = example_key(script, common)
        if not fresh and _usable(entries_dir() / key):
            status = "cached"
        else:
            status = "run" if selected.search(os.path.normpath(script)) else "skipped"
        plan.append(Planned(script.name, key, status, times.get(script.name)))
    return plan


def plan_examples(gallery_conf: dict[str, Any], srcdir: str | Path) -> list[Planned]:
    """Decide, restore and forget: after this, sphinx-gallery runs exactly the ``"run"`` scripts."""
    examples, target, results = _dirs(gallery_conf, srcdir)
    target.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    for leftover in [*entries_dir().glob(".*.part"), *entries_dir().glob(".*.old")]:
        shutil.rmtree(leftover, ignore_errors=True)  # what a killed build left half-copied
    selected = re.compile(gallery_conf["filename_pattern"])
    plan = []
    for planned in dry_plan(gallery_conf, srcdir):
        if planned.status == "cached" and not restore_entry(entries_dir() / planned.key, target, results, planned.script):
            # damaged since it was looked at: as if there were no entry
            selected_now = selected.search(os.path.normpath(examples / planned.script))
            planned = replace(planned, status="run" if selected_now else "skipped")
        if planned.status != "cached":
            _forget(target, results, planned.script)
        plan.append(planned)
    known = {result_name(p.script) for p in plan}
    for record in (p for suffix in RECORD_SUFFIXES for p in results.glob(f"*{suffix}")):
        if record.stem not in known:
            record.unlink()  # the record of a script that no longer exists
    return plan


def worker_count(to_run: int, device_type: str | None = None) -> int:
    """Examples run at once: ``$MLCHEATSHEET_WORKERS``, else one per core on the CPU and one on a GPU.

    ``device_type`` (default: this machine's device) lets ``make plan`` count for another device.
    """
    forced = os.environ.get(WORKERS_ENV, "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"{WORKERS_ENV}={forced!r} is not a positive number of worker processes")
        wanted = int(forced)
    else:
        on_cpu = (device_type or get_device().type) == "cpu"
        wanted = usable_cpus() if on_cpu else 1  # examples on one GPU would contend for it
    return max(1, min(wanted, to_run))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never timed here"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} m {rest:02d} s" if minutes else f"{rest} s"


def _expected_makespan(seconds: list[float], workers: int) -> float:
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):  # longest first, each to the least loaded worker
        loads[loads.index(min(loads))] += s
    return max(loads)


def gallery_plan(app: Any) -> list[Planned]:
    """The plan this build made (empty before ``builder-inited`` or when nothing executes)."""
    return list(getattr(app, "_examplecache_plan", []))


def _plan_build(app: Any) -> None:
    conf = app.config.sphinx_gallery_conf
    if not gallery_executed(app.config):
        return  # make html-noplot: no example runs and no stored run is shown
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    buildstop.guard(lambda: _what_was_kept(gallery_plan(app), started))
    plan = plan_examples(conf, app.srcdir)
    app._examplecache_plan = plan
    to_run = [p for p in plan if p.status == "run"]
    workers = worker_count(len(to_run))
    conf["parallel"] = workers if workers > 1 else False
    os.environ[THREADS_ENV] = str(example_threads())  # the same for every run of this key (see above)
    path = entries_dir() / "plans" / f"plan-{os.getpid()}.json"
    write_atomically(path, lambda fh: fh.write(json.dumps([asdict(p) for p in plan]).encode()))
    os.environ[PLAN_ENV] = str(path)  # the workers inherit it
    _announce(plan, workers)


def _what_was_kept(plan: list[Planned], started: str) -> str:
    """For a build that stopped early: which of its runs are in the cache, which the next build repeats."""
    if not plan:
        return "no example had started"
    to_run = [p for p in plan if p.status == "run"]
    stored = [p.script for p in to_run if (m := _manifest(entries_dir() / p.key)) and str(m["stored_at"]) >= started]
    again = [p.script for p in to_run if p.script not in stored]
    if not to_run:
        return "every example came from the cache; nothing will run again"
    kept = f"{len(stored)} of the {len(to_run)} examples it ran are stored in the cache" + (f" ({', '.join(stored)})" if stored else "")
    return kept + f"; the next build runs {len(again)} again" + (f" ({', '.join(again)})" if again else "")


def _announce(plan: list[Planned], workers: int) -> None:
    to_run = [p for p in plan if p.status == "run"]
    cached = sum(p.status == "cached" for p in plan)
    line = f"gallery: {len(plan)} examples, {cached} from the cache, {len(to_run)} to run"
    if to_run:
        threads = os.environ.get(THREADS_ENV) or "all"
        known = [p.expected_seconds for p in to_run if p.expected_seconds is not None]
        line += f" on {workers} worker{'s' * (workers > 1)} ({threads} torch thread{'s' * (threads != '1')} each)"
        if len(known) == len(to_run):
            line += f", expected {_duration(_expected_makespan(known, workers))} from their last runs"
    _progress(line)


def _progress(line: str) -> None:
    stream = sys.__stderr__ or sys.stderr  # the terminal, also from a worker whose stdout the page captures
    print(line, file=stream, flush=True)


class RunOrder:
    """sphinx-gallery's ``within_subsection_order``: the order the examples *run* in — the
    longest first, by their last recorded times, so that the slowest one does not start
    last. The gallery index shows them in architecture order whatever this order is
    (:mod:`gallerypages` sorts it back)."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir
        self.times = recorded_times()

    def __call__(self, filename: str) -> tuple[float, bool, int, str]:
        from sitemap import RUN_FIRST, example_rank

        rank = example_rank(filename)
        return (-self.times.get(Path(filename).name, 0.0), Path(filename).stem.removeprefix("plot_") not in RUN_FIRST, *rank)

    def __repr__(self) -> str:  # part of the configuration Sphinx compares between builds: keep it fixed
        return f"<{type(self).__name__}: longest first>"


# -- In the worker: around each example ---------------------------------------------------------------

_STARTED: dict[str, float] = {}
_HELD: dict[str, Any] = {}  # the package's modules loaded before the example, put back after it


def _set_package_aside() -> None:
    """Empty ``sys.modules`` of the package, so the example imports (and so names) every
    module it uses, whatever ran before it in this process."""
    _HELD.clear()
    _HELD.update({name: module for name, module in sys.modules.items() if _is_package_module(name)})
    for name in _HELD:
        del sys.modules[name]


def _take_package_back() -> dict[str, str]:
    """The digests of the package files the example imported; the modules held aside are restored."""
    used = [module for name, module in sys.modules.items() if _is_package_module(name)]
    for name in [name for name in sys.modules if _is_package_module(name)]:
        del sys.modules[name]
    sys.modules.update(_HELD)  # the build's own code keeps the modules it imported
    _HELD.clear()
    return module_digests(used)


def _planned(fname: str) -> Planned | None:
    path = os.environ.get(PLAN_ENV)
    if not path:
        return None
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return next((Planned(**e) for e in entries if e["script"] == Path(fname).name), None)


def track_example(gallery_conf: dict[str, Any], fname: str, when: str) -> None:
    """sphinx-gallery's ``reset_modules`` hook, called before and after each example runs."""
    planned = _planned(str(fname)) if fname else None
    if planned is None:
        return
    if when == "before":
        buildstop.watch_parent()  # in a worker process: end with the build, however it ends
        os.environ[RUN_KEY_ENV] = planned.key
        _STARTED[planned.script] = time.time()
        _set_package_aside()
        expected = planned.expected_seconds
        ends = f", expected to end at {time.strftime('%H:%M:%S', time.localtime(time.time() + expected))}" if expected else ""
        _progress(f"gallery: {planned.script} started (last run {_duration(expected)}{ends})")
        return
    os.environ.pop(RUN_KEY_ENV, None)
    modules = _take_package_back()
    seconds = time.time() - _STARTED.pop(planned.script, time.time())
    _, target, results = _dirs(gallery_conf, gallery_conf["src_dir"])
    checksum = target / f"{planned.script}.md5"
    source = target / planned.script
    passed = checksum.is_file() and source.is_file() and checksum.read_text() == _md5_text(source)
    if passed:
        store_entry(planned.key, planned.script, seconds, target, results, modules)
        _progress(f"gallery: {planned.script} finished in {_duration(seconds)}, stored in the cache "
                  f"with the {len(modules)} package files it imported")
    else:
        _progress(f"gallery: {planned.script} failed after {_duration(seconds)} (nothing stored)")


def _md5_text(path: Path) -> str:
    from sphinx_gallery.utils import get_md5sum

    return str(get_md5sum(path, mode="t"))


# -- Shards for CI -------------------------------------------------------------------------------------


def shards(scripts: list[str], count: int, times: dict[str, float]) -> list[list[str]]:
    """``scripts`` in ``count`` groups of about equal recorded time (longest first to the
    lightest group; a script never timed weighs as much as the slowest one that was)."""
    if count < 1:
        raise ValueError(f"a gallery cannot be split into {count} shards")
    default = max(times.values(), default=1.0)
    groups: list[list[str]] = [[] for _ in range(min(count, max(1, len(scripts))))]
    loads = [0.0] * len(groups)
    for script in sorted(scripts, key=lambda s: (-times.get(s, default), s)):
        lightest = loads.index(min(loads))
        groups[lightest].append(script)
        loads[lightest] += times.get(script, default)
    return [sorted(group) for group in groups]


def prune() -> list[str]:
    """Remove the entries that the newest build's plan does not name (and older plans); return their keys.

    Keeps a cache that CI carries from run to run at the size of one build.
    """
    plans = sorted((entries_dir() / "plans").glob("plan-*.json"), key=lambda p: p.stat().st_mtime)
    if not plans:
        return []
    keep = {entry["key"] for entry in json.loads(plans[-1].read_text())}
    removed = [e.name for e in entries_dir().iterdir() if e.is_dir() and e.name != "plans" and e.name not in keep]
    for name in removed:
        shutil.rmtree(entries_dir() / name)
    for old in plans[:-1]:
        old.unlink()
    return removed


_USAGE = """usage: python docs/_ext/examplecache.py shards N   the EXAMPLES patterns of N groups of equal recorded time (JSON)
       python docs/_ext/examplecache.py prune      keep only the runs of the newest build"""


def _main(argv: list[str]) -> int:
    if argv == ["prune"]:
        removed = prune()
        print(f"removed {len(removed)} cache entr{'y' if len(removed) == 1 else 'ies'} that the newest build does not use")
        return 0
    if len(argv) != 2 or argv[0] != "shards" or not argv[1].isdigit() or int(argv[1]) < 1:
        print(_USAGE, file=sys.stderr)
        return 2
    gallery = Path(__file__).resolve().parents[2] / "gallery"
    scripts = sorted(p.name for p in gallery.glob("plot_*.py"))
    groups = shards(scripts, int(argv[1]), recorded_times())
    print(json.dumps(["(" + "|".join(re.escape(Path(s).stem) for s in group) + r")\.py$" for group in groups]))
    return 0


def setup(app: Any) -> dict[str, object]:
    # After sphinx-gallery's own set-up at builder-inited (priority 10), before it runs the gallery (500).
    app.connect("builder-inited", _plan_build, priority=100)
    app.connect("builder-inited", lambda app: buildstop.gallery_finished(), priority=900)  # after the gallery ran
    buildstop.end_quietly_when_a_worker_dies(app)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
