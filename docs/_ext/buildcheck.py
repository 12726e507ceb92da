"""A Sphinx extension that fails the build when a gallery example did not really train.

sphinx-gallery already fails the build, naming the script, when an example raises (with
``abort_on_example_error`` and ``only_warn_on_example_error`` both ``False`` in conf.py).
This extension catches the examples that *succeed* without doing what their page claims.
Right after sphinx-gallery has executed the gallery (``builder-inited``, at a later
priority), it takes the scripts that ran in this build from sphinx-gallery's own record,
``sphinx_gallery_conf["passing_examples"]``, and those restored from the cache of earlier
runs (:mod:`examplecache`), and reads the result each one recorded with
:func:`mlcheatsheet.site.report.report_result`. Every check applies to a restored run as it did
when it ran. The build fails when such an example

* recorded no result, or one that cannot be read, or one whose ``run_key`` is not the
  content key of this build's inputs for that script (a record of another run: other code,
  another script, mode, dataset or device);
* trained for zero steps, or reported a non-finite value or training time;
* reported more training steps than the package's training loops (``fit``, ``fit_gan``)
  actually took while it ran, as :func:`~mlcheatsheet.site.report.report_result` records: a
  number typed by hand, or one carried over from a model that was loaded rather than trained;
* ran in another build mode than the build's (a quick run inside a full build);
* in a full build, trained for less than ``buildcheck_min_seconds`` (default 1 s), which no
  honest training run on the site's data does;
* was skipped by sphinx-gallery without being restored from a run with this build's inputs
  (its page would show an older run);
* in a full build, recorded a claim — an outcome its page's explanation depends on — that
  this run does not support (:class:`mlcheatsheet.findings.Claim`); the problem names the
  page and the claim. A quick build's numbers are not meaningful, so its claims only print;
* in a full build on the configuration the targets were measured for (the CPU and the
  embedded digits, :func:`mlcheatsheet.site.budgets.targets_enforced`), missed the quality target
  of its budget (:class:`mlcheatsheet.site.budgets.Target`); the problem names the example, the
  metric, its value and the target. On another configuration (another dataset, a GPU) the
  target was never measured, so a miss is logged as a message (:func:`target_notes`) and
  marked in the results table, and the build goes on.

Each problem is logged as a warning (the build runs with ``-W``, so warnings are errors)
and the build then stops with an :class:`~sphinx.errors.ExtensionError` that lists them,
so it fails even without ``-W``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

from mlcheatsheet.site.budgets import build_mode, targets_enforced
from mlcheatsheet.site.report import Result
from examplecache import gallery_plan
from resultsdir import result_name, results_dir

logger = logging.getLogger(__name__)

#: Key under which this build's problems are kept on the application between events.
_PROBLEMS = "_buildcheck_problems"


def _script_problems(script: str, path: Path, *, mode: str, min_seconds: float, key: str | None) -> list[str]:
    """The problems of one executed (or restored) script whose result should be at ``path``."""
    name, expected = Path(script).name, result_name(script)
    if not path.is_file():
        return [f"{name} ran but recorded no result (expected {path}); every gallery script must end with "
                f"report_result({expected!r}, ...)"]
    try:
        result: dict[str, Any] = json.loads(path.read_text())
        steps, seconds, value = int(result["steps"]), float(result["train_seconds"]), float(result["value"])
        trained = int(result.get("trained_steps", -1))  # -1: written by a report_result that did not count
        result_mode = str(result["mode"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{name}: its result {path} cannot be read ({type(exc).__name__}: {exc})"]
    if key is not None and result.get("run_key", "") != key:
        return [f"{name}: its result {path} is from another run (run key {result.get('run_key') or 'none'!r}, "
                f"this build's inputs {key!r}), so its page would not show this build's numbers"]
    problems = []
    if result.get("example") != expected:
        problems.append(f"{name} recorded its result under the name {result.get('example')!r}, not {expected!r}")
    if steps <= 0:
        problems.append(f"{name} trained for {steps} steps: its page would show an untrained model")
    elif 0 <= trained < steps:
        problems.append(
            f"{name} reported {steps} training steps, but mlcheatsheet's training loops took only {trained} "
            "while it ran: the reported steps must come from the History that fit or fit_gan returned"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        problems.append(f"{name} reported a training time of {seconds} s")
    elif mode == "full" and seconds < min_seconds:
        problems.append(
            f"{name} trained for only {seconds:.3f} s ({steps} steps) in a full build, below the "
            f"{min_seconds:g} s plausibility floor: suspiciously fast for a real training run"
        )
    if result_mode != mode:
        problems.append(f"{name} ran with the {result_mode!r} budget in a {mode!r} build")
    if not math.isfinite(value):
        problems.append(f"{name} reported {result.get('metric', 'its metric')} = {value}")
    if mode == "full":
        problems += _claim_problems(name, result.get("claims", []))
        miss = missed_target(name, result)
        if miss is not None and miss[1]:
            problems.append(miss[0])
    return problems


def _claim_problems(name: str, claims: list[dict[str, Any]]) -> list[str]:
    return [
        f"{name}: the page {claim.get('page')} depends on the claim \"{claim.get('statement')}\", which this run "
        f"does not support: {claim.get('evidence')}"
        for claim in claims
        if claim.get("holds") is not True
    ]


def missed_target(name: str, record: dict[str, Any]) -> tuple[str, bool] | None:
    """The sentence for a target that the result ``record`` of script ``name`` missed, and
    whether the miss fails the build on the configuration that produced it; ``None`` when the
    result has no target or met it.
    """
    try:
        result = Result(**record)
        target = result.quality_target()
    except (TypeError, ValueError):
        return (f"{name}: its result records a target that cannot be read: {record.get('target')!r}", True)
    if target is None or result.target_met():
        return None
    # The headline number with its interval; another recorded number (a GAN's FID / floor) in the target's unit.
    value = result.formatted_value() if not target.key else target.format_number(result.target_measured())
    sentence = (f"{name} missed its quality target: {target.metric} = {value}, target {target.bound()} "
                f"(trained on {result.device}, data {result.dataset})")
    return sentence, targets_enforced(result.device, result.dataset)


def target_notes(executed: list[str], results_dir: str | os.PathLike[str]) -> list[str]:
    """The missed targets of this full build that do not fail it: each was measured on
    another configuration (another device or dataset) than the one these results ran on.
    """
    notes = []
    for script in sorted(executed):
        path = Path(results_dir) / f"{result_name(script)}.json"
        try:
            miss = missed_target(Path(script).name, json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # check_results reports a result that cannot be read
        if miss is not None and not miss[1]:
            notes.append(miss[0] + "; its target was measured on another configuration, so the build goes on")
    return notes


def check_results(
    executed: list[str],
    results_dir: str | os.PathLike[str],
    *,
    mode: str,
    min_seconds: float,
    keys: dict[str, str] | None = None,
    restored: list[str] | None = None,
    stale: list[str] | None = None,
) -> list[str]:
    """The problems of this build's examples, one sentence each (empty when honest).

    Args:
        executed: Paths of the gallery scripts that ran successfully in this build.
        results_dir: Where the scripts wrote their results.
        mode: The build mode, ``"quick"`` or ``"full"``.
        min_seconds: Shortest plausible training time of an example in a full build.
        keys: Each script's content key in this build (by file name); a record must carry
            its script's key. ``None`` skips that check.
        restored: Scripts whose earlier run with these inputs was restored from the cache.
        stale: Scripts that sphinx-gallery skipped because they had not changed.
    """
    restored = list(restored or [])
    restored_names = {Path(script).name for script in restored}
    problems = [
        f"{Path(script).name} was not executed in this build and no run with this build's inputs was restored, "
        "so its page would show an older run's numbers"
        for script in stale or []
        if Path(script).name not in restored_names
    ]
    for script in sorted({*executed, *restored}):
        path = Path(results_dir) / f"{result_name(script)}.json"
        key = None if keys is None else keys.get(Path(script).name, "")
        problems += _script_problems(script, path, mode=mode, min_seconds=min_seconds, key=key)
    return problems


def _check_gallery(app: Sphinx) -> None:
    """After sphinx-gallery executed the examples: check what each one recorded."""
    conf = getattr(app.config, "sphinx_gallery_conf", None)
    if not conf or not conf.get("plot_gallery"):
        return  # nothing was executed (make html-noplot): no numbers to vouch for
    plan = gallery_plan(app)
    restored = [p.script for p in plan if p.status == "cached"]
    problems = check_results(
        list(conf.get("passing_examples", [])),
        results_dir(app.config),
        mode=build_mode(),
        min_seconds=float(app.config.buildcheck_min_seconds),
        keys={p.script: p.key for p in plan},
        restored=restored,
        stale=list(conf.get("stale_examples", [])),
    )
    setattr(app, _PROBLEMS, problems)
    for problem in problems:
        logger.warning(problem, type="buildcheck", subtype="example")
    if build_mode() == "full":
        for note in target_notes([*conf.get("passing_examples", []), *restored], results_dir(app.config)):
            logger.info(note, color="darkred")  # a message, not a warning: -W would fail the build on it


def _fail_if_dishonest(app: Sphinx, exception: Exception | None) -> None:
    problems = getattr(app, _PROBLEMS, [])
    if exception is None and problems:
        raise ExtensionError(
            "these gallery examples did not really train, or missed their targets, so their pages would not "
            "tell the truth:\n  - "
            + "\n  - ".join(problems)
        )


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("buildcheck_min_seconds", 1.0, "env", types=(float, int))
    app.setup_extension("resultsdir")
    app.setup_extension("examplecache")
    # sphinx-gallery executes the gallery at builder-inited with the default priority 500.
    app.connect("builder-inited", _check_gallery, priority=900)
    app.connect("build-finished", _fail_if_dishonest, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
