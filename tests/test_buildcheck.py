"""The build cannot lie: failing, untrained or implausibly fast gallery examples fail the build.

The end-to-end tests build a tiny site in a temporary folder with the real ``docs/conf.py``
and extensions, an index page and a temporary gallery of deliberately good and bad
scripts that train a small network for a few steps at most.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

from buildcheck import check_results, result_name, target_notes  # noqa: E402

from mlcheatsheet.site import report  # noqa: E402
from mlcheatsheet.site.budgets import Target, get_target, targets_enforced  # noqa: E402

# -- check_results, the rule itself ------------------------------------------------------------


def _write_result(directory: Path, stem: str, **changes: object) -> Path:
    result = {"example": stem, "title": "MLP", "dataset": "mnist-5k", "source": "embedded", "device": "cpu",
              "parameters": 100, "train_seconds": 12.5, "steps": 300, "metric": "test accuracy", "value": 0.97,
              "unit": "%", "higher_is_better": True, "mode": "full", "extra": {}}
    result.update(changes)
    path = directory / f"{stem}.json"
    path.write_text(json.dumps(result))
    return path


def _problems(tmp_path: Path, *, build: str = "full", **changes: object) -> list[str]:
    """The problems of one example ``plot_mlp.py`` whose result differs from an honest one by ``changes``."""
    _write_result(tmp_path, "mlp", **changes)
    return check_results([str(tmp_path / "gallery" / "plot_mlp.py")], tmp_path, mode=build, min_seconds=1.0)


def test_an_honest_result_passes(tmp_path: Path) -> None:
    assert _problems(tmp_path) == []
    assert _problems(tmp_path, build="quick", mode="quick", train_seconds=0.05, steps=4) == []  # quick runs may be fast


def test_zero_steps_fail(tmp_path: Path) -> None:
    assert _problems(tmp_path, steps=0) == ["plot_mlp.py trained for 0 steps: its page would show an untrained model"]


def test_a_suspiciously_fast_full_run_fails(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, train_seconds=0.2, steps=3)
    assert problem.startswith("plot_mlp.py trained for only 0.200 s (3 steps) in a full build, below the 1 s plausibility floor")


def test_steps_that_were_not_trained_fail(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, steps=300, trained_steps=0)
    assert problem.startswith("plot_mlp.py reported 300 training steps, but mlcheatsheet's training loops took only 0 while it ran")
    assert _problems(tmp_path, steps=300, trained_steps=300) == []
    assert _problems(tmp_path, steps=300, trained_steps=350) == []  # e.g. a shared FID classifier trained too


def test_a_quick_result_in_a_full_build_fails(tmp_path: Path) -> None:
    assert _problems(tmp_path, build="full", mode="quick") == ["plot_mlp.py ran with the 'quick' budget in a 'full' build"]


@pytest.mark.parametrize("field,value", [("value", float("nan")), ("train_seconds", 0.0), ("example", "cnn")])
def test_nonsense_results_fail(tmp_path: Path, field: str, value: object) -> None:
    assert len(_problems(tmp_path, **{field: value})) == 1


def test_a_missing_result_or_one_from_other_inputs_fails(tmp_path: Path) -> None:
    script = str(tmp_path / "plot_cnn.py")
    keys = {"plot_cnn.py": "key-of-this-build"}
    (missing,) = check_results([script], tmp_path, mode="quick", min_seconds=1.0, keys=keys)
    assert missing.startswith("plot_cnn.py ran but recorded no result") and "report_result('cnn', ...)" in missing
    _write_result(tmp_path, "cnn", mode="quick", run_key="key-of-an-older-run")
    (other,) = check_results([script], tmp_path, mode="quick", min_seconds=1.0, keys=keys)
    assert "is from another run (run key 'key-of-an-older-run', this build's inputs 'key-of-this-build')" in other
    _write_result(tmp_path, "cnn", mode="quick", run_key="key-of-this-build")
    assert check_results([], tmp_path, mode="quick", min_seconds=1.0, keys=keys, restored=[script]) == []
    # a restored run is checked like one that ran now
    _write_result(tmp_path, "cnn", mode="quick", run_key="key-of-this-build", steps=0)
    (untrained,) = check_results([], tmp_path, mode="quick", min_seconds=1.0, keys=keys, restored=[script])
    assert untrained.startswith("plot_cnn.py trained for 0 steps")
    (skipped,) = check_results([], tmp_path, mode="quick", min_seconds=1.0, keys=keys, stale=[script])
    assert skipped.startswith("plot_cnn.py was not executed in this build and no run with this build's inputs")


# -- targets: enforced where they were measured, reported elsewhere ---------------------------

_MLP_TARGET = {"value": 0.96, "higher_is_better": True, "metric": "test accuracy", "key": "", "unit": "%"}


def test_a_missed_target_fails_a_full_cpu_build_on_the_embedded_digits(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, target=_MLP_TARGET, value=0.95)
    assert problem == ("plot_mlp.py missed its quality target: test accuracy = 95.00%, target ≥ 96% "
                       "(trained on cpu, data mnist-5k)")
    assert _problems(tmp_path, target=_MLP_TARGET, value=0.96) == []  # reaching the bound is meeting it
    assert _problems(tmp_path, build="quick", mode="quick", target=_MLP_TARGET, value=0.5) == []  # quick: not meaningful


def test_a_missed_target_elsewhere_is_a_note_not_a_problem(tmp_path: Path) -> None:
    script = str(tmp_path / "gallery" / "plot_mlp.py")
    for changes in ({"dataset": "fashion-mnist"}, {"device": "cuda:0"}):
        assert _problems(tmp_path, target=_MLP_TARGET, value=0.90, **changes) == []
        (note,) = target_notes([script], tmp_path)
        assert note.startswith("plot_mlp.py missed its quality target: test accuracy = 90.00%, target ≥ 96%")
        assert "measured on another configuration" in note
    _write_result(tmp_path, "mlp", target=_MLP_TARGET, value=0.97, dataset="fashion-mnist")
    assert target_notes([script], tmp_path) == []


def test_a_gan_target_compares_the_recorded_fid_ratio(tmp_path: Path) -> None:
    target = {"value": 10.0, "higher_is_better": False, "metric": "FID / floor", "key": "ratio", "unit": "×"}
    (problem,) = _problems(tmp_path, target=target, value=3.0, extra={"ratio": 12.5}, higher_is_better=False)
    assert problem.startswith("plot_mlp.py missed its quality target: FID / floor = 12.5×, target ≤ 10×")
    assert _problems(tmp_path, target=target, value=3.0, extra={"ratio": 9.0}) == []
    assert len(_problems(tmp_path, target=target, value=3.0, extra={})) == 1  # a ratio not recorded is not met


def test_every_example_has_a_full_target_and_quick_mode_none() -> None:
    expected = {"mlp": 0.96, "cnn": 0.985, "resnet": 0.985, "rnn": 0.97, "autoencoder": 0.011, "vae": 105.0,
                "gan": 30.0, "dcgan": 16.0, "wgan_gp": 8.0, "conditional_dcgan": 0.95}
    for example, value in expected.items():
        target = get_target(example, device="cpu", mode="full")
        assert target is not None and target.value == value, example
        assert target == get_target(example, device="cuda", mode="full")  # the GPU is held to it, unenforced
        assert get_target(example, device="cpu", mode="quick") is None
    assert get_target("gan", mode="full").key == "ratio"  # type: ignore[union-attr]
    assert get_target("not-an-example", mode="full") is None
    assert targets_enforced("cpu", "mnist-5k") and not targets_enforced("cuda:0", "mnist-5k")
    assert not targets_enforced("cpu", "fashion-mnist")
    assert Target(0.011, higher_is_better=False).bound() == "≤ 0.011" and Target(0.96, unit="%").bound() == "≥ 96%"


# -- the stamp of a result: commit, time, device, versions; old records stay loadable -------------


def test_a_result_written_before_the_stamp_still_loads(tmp_path: Path) -> None:
    path = _write_result(tmp_path, "mlp")  # the fields of a record from before the stamp and the targets
    result = report.load_result(path)
    assert (result.commit, result.run_at, result.target, result.torch_version) == ("unknown", "", None, "")
    assert result.target_met() is None and result.target_summary() == ""


def test_the_commit_is_unknown_without_git_and_never_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    assert re.fullmatch(r"([0-9a-f]{4,}(\+changes)?|unknown)", report.source_commit())

    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(report.subprocess, "run", no_git)
    assert report.source_commit() == "unknown"
    not_a_checkout = subprocess.CompletedProcess([], 128, "", "fatal: not a git repository")
    monkeypatch.setattr(report.subprocess, "run", lambda *a, **k: not_a_checkout)
    assert report.source_commit() == "unknown"


def test_an_installed_copy_inside_another_repository_names_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "project"
    (repo / "site-packages" / "mlcheatsheet").mkdir(parents=True)
    (repo / "README").write_text("someone else's project\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "theirs"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    installed = repo / "site-packages" / "mlcheatsheet" / "report.py"
    installed.write_text("# an installed copy, not tracked by the enclosing repository\n")
    monkeypatch.setattr(report, "__file__", str(installed))
    assert report.source_commit() == "unknown"


def test_report_result_records_the_stamp_and_the_budgets_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from mlcheatsheet.data import Dataset

    monkeypatch.setenv(report.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv("MLCHEATSHEET_MODE", "full")
    data = Dataset(name="mnist-5k", source="random tensors", x_train=torch.rand(4, 1, 28, 28), y_train=torch.arange(4),
                   x_test=torch.rand(2, 1, 28, 28), y_test=torch.arange(2), classes=tuple("0123"))
    result = report.report_result("mlp", title="MLP", data=data, device="cpu", model=torch.nn.Linear(2, 2),
                                  metric="test accuracy", value=0.97, unit="%", train_seconds=2.0, steps=10)
    assert result.target == {"value": 0.96, "higher_is_better": True, "metric": "test accuracy", "key": "", "unit": "%"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result.run_at)
    assert re.fullmatch(r"cpu \(\d+ threads?\)", result.device_description)
    assert result.torch_version == torch.__version__ and result.commit
    assert "Target: test accuracy ≥ 96% — met (97%)" in capsys.readouterr().out
    assert report.load_result(tmp_path / "mlp.json") == result


def test_result_names_follow_the_script_names() -> None:
    assert result_name("gallery/plot_dcgan.py") == "dcgan" and result_name("other.py") == "other"


# -- Warnings are errors, in every build command ---------------------------------------------


def test_every_build_command_treats_warnings_as_errors() -> None:
    makefile = (ROOT / "Makefile").read_text()
    options = re.search(r"^SPHINXOPTS \?=(.*)$", makefile, re.M)
    assert options and "-W" in options.group(1).split() and "--keep-going" in options.group(1).split()
    html_rules = re.findall(r"^(html[\w-]*):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert {name for name, _ in html_rules} >= {"html", "html-quick", "html-noplot"}
    for name, recipe in html_rules:
        if "sphinx" in recipe:
            assert "$(SPHINXOPTS)" in recipe, f"make {name} does not pass $(SPHINXOPTS)"
    sitebuild = (ROOT / "tests" / "sitebuild.py").read_text()
    assert '"-W", "--keep-going", "-n"' in sitebuild


# -- End to end: a tiny site in a temporary folder ----------------------------------------------

_HEADER = '''"""
{title}
{underline}

{text}
"""

import torch

from mlcheatsheet.data import Dataset
from mlcheatsheet.models import MLP
from mlcheatsheet.site.report import report_result
from mlcheatsheet.training import History, TrainConfig, fit_classifier

generator = torch.Generator().manual_seed(0)
data = Dataset(
    name="toy", source="random tensors shaped like digits",
    x_train=torch.rand(64, 1, 28, 28, generator=generator), y_train=torch.arange(64) % 10,
    x_test=torch.rand(20, 1, 28, 28, generator=generator), y_test=torch.arange(20) % 10,
    classes=tuple(str(k) for k in range(10)),
)
torch.manual_seed(0)  # like every gallery script: the same run in whichever process runs it
model = MLP(hidden_dims=(8,))
'''

_SCRIPTS = {
    "plot_good.py": ("An honest example", "It trains for four steps and says so.", """
history = fit_classifier(model, data, TrainConfig(epochs=1, batch_size=16), device="cpu")
_ = report_result("good", title="MLP", data=data, device="cpu", model=model, train_seconds=history.total_seconds,
                  steps=history.steps, metric="test accuracy", value=history.test_accuracy[-1], unit="%")
"""),
    "plot_zero.py": ("An example that never trains", "It reports a result without a single step.", """
history = History()
_ = report_result("zero", title="MLP", data=data, device="cpu", model=model, train_seconds=0.5,
                  steps=history.steps, metric="test accuracy", value=0.1, unit="%")
"""),
    "plot_invented.py": ("An example that invents its steps", "It reports steps that it never trained.", """
_ = report_result("invented", title="MLP", data=data, device="cpu", model=model, train_seconds=2.0,
                  steps=300, metric="test accuracy", value=0.97, unit="%")
"""),
    "plot_silent.py": ("An example that reports nothing", "It trains, then forgets to report.", """
history = fit_classifier(model, data, TrainConfig(epochs=1, batch_size=16), device="cpu")
"""),
    "plot_claim.py": ("An example whose page's story fails", "It records a claim its run does not support.", """
from mlcheatsheet.findings import Claim

history = fit_classifier(model, data, TrainConfig(epochs=1, batch_size=16), device="cpu")
accuracy = history.test_accuracy[-1]
claim = Claim("architectures/toy", "the toy model beats chance by 50 points", accuracy > 0.6, f"accuracy {accuracy:.2f}")
_ = report_result("claim", title="MLP", data=data, device="cpu", model=model, histories=[history],
                  metric="test accuracy", value=accuracy, unit="%", claims=[claim])
"""),
    "plot_target.py": ("An example that misses its target", "It trains four steps against a bar it cannot clear.", """
from mlcheatsheet.site.budgets import Target, build_dataset

data = Dataset(name=build_dataset() or "mnist-5k", source=data.source, x_train=data.x_train, y_train=data.y_train,
               x_test=data.x_test, y_test=data.y_test, classes=data.classes)
history = fit_classifier(model, data, TrainConfig(epochs=1, batch_size=16), device="cpu")
_ = report_result("target", title="MLP", data=data, device="cpu", model=model, histories=[history],
                  metric="test accuracy", value=history.test_accuracy[-1], unit="%",
                  target=Target(1.01, metric="test accuracy", unit="%"))
"""),
    "plot_broken.py": ("An example that raises", "Its page must not be published.", """
raise RuntimeError("this example is deliberately broken")
"""),
}


def _tiny_site(tmp_path: Path, scripts: list[str], *, index_extra: str = "", conf_extra: str = "",
               copy_package: bool = False) -> Path:
    """A site with the real conf.py and extensions and the given scripts of :data:`_SCRIPTS`;
    the package is linked, or copied (``copy_package``) for a test that edits it."""
    src = tmp_path / "src"
    docs = src / "docs"
    docs.mkdir(parents=True)
    shutil.copy2(ROOT / "docs" / "conf.py", docs / "conf.py")
    for folder in ("_ext", "_static", "_inventories", "_templates"):
        if (ROOT / "docs" / folder).is_dir():
            shutil.copytree(ROOT / "docs" / folder, docs / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "mathjax"))
    if conf_extra:
        with (docs / "conf.py").open("a") as fh:
            fh.write("\n" + conf_extra + "\n")
    (docs / "index.rst").write_text(textwrap.dedent("""\
        A tiny site
        ===========

        .. toctree::

           auto_examples/index
        """) + index_extra)
    gallery = src / "gallery"
    gallery.mkdir()
    (gallery / "README.rst").write_text("Examples\n========\n\nA temporary gallery.\n")
    for name in scripts:
        title, text, body = _SCRIPTS[name]
        (gallery / name).write_text(_HEADER.format(title=title, underline="=" * len(title), text=text) + body)
    if copy_package:
        shutil.copytree(ROOT / "mlcheatsheet", src / "mlcheatsheet", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (src / "mlcheatsheet").symlink_to(ROOT / "mlcheatsheet")
    return docs


def _build(docs: Path, *, mode: str = "quick", noplot: bool = False, dataset: str | None = None,
           quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """sphinx-build of the tiny site (``quiet=False`` keeps the informational messages in the output)."""
    env = {**os.environ, "MLCHEATSHEET_MODE": mode, "MLCHEATSHEET_DEVICE": "cpu", "MPLBACKEND": "Agg"}
    for key in ("MLCHEATSHEET_NOPLOT", "MLCHEATSHEET_EXAMPLES", "MLCHEATSHEET_RESULTS", "MLCHEATSHEET_DATASET"):
        env.pop(key, None)
    if noplot:
        env["MLCHEATSHEET_NOPLOT"] = "1"
    if dataset:
        env["MLCHEATSHEET_DATASET"] = dataset
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", *(["-q"] if quiet else []),
         str(docs), str(docs.parent / "html")],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # without terminal colours


@pytest.mark.docs
def test_broken_untrained_and_silent_examples_fail_the_build_by_name(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_good.py", "plot_zero.py", "plot_silent.py", "plot_broken.py", "plot_invented.py"])
    done = _build(docs)
    out = _output(done)
    assert done.returncode != 0, out[-4000:]
    assert re.search(r"plot_broken\.py failed leaving traceback", out), out[-4000:]
    assert "RuntimeError: this example is deliberately broken" in out
    assert "plot_zero.py trained for 0 steps" in out, out[-4000:]
    assert "plot_silent.py ran but recorded no result" in out, out[-4000:]
    # (only 0 unless plot_silent.py, which trains without reporting, happened to run just before)
    assert re.search(r"plot_invented\.py reported 300 training steps, but mlcheatsheet's training loops took only [04] ", out), out[-4000:]
    assert not re.search(r"plot_good\.py (trained|ran|failed|recorded)", out), out[-4000:]


@pytest.mark.docs
def test_an_honest_example_builds(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_good.py"])
    done = _build(docs)
    assert done.returncode == 0, _output(done)[-4000:]
    page = (docs.parent / "html" / "auto_examples" / "plot_good.html").read_text()
    assert "Result — MLP: test accuracy" in page and "4 steps" in page


@pytest.mark.docs
def test_a_full_build_refuses_an_implausibly_fast_example(tmp_path: Path) -> None:
    # The floor is raised so that no machine trains this toy example fast enough to pass.
    docs = _tiny_site(tmp_path, ["plot_good.py"], conf_extra="buildcheck_min_seconds = 120.0")
    done = _build(docs, mode="full")
    out = _output(done)
    assert done.returncode != 0, out[-4000:]
    assert re.search(r"plot_good\.py trained for only [\d.]+ s \(4 steps\) in a full build, below the 120 s plausibility floor", out), out[-4000:]
    assert "did not really train" in out


@pytest.mark.docs
def test_a_claim_the_run_does_not_support_fails_a_full_build_by_page_and_claim(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_claim.py"], conf_extra="buildcheck_min_seconds = 0.0")
    done = _build(docs, mode="full")
    out = _output(done)
    assert done.returncode != 0, out[-4000:]
    assert ('plot_claim.py: the page architectures/toy depends on the claim "the toy model beats chance by 50 points", '
            "which this run does not support: accuracy 0.") in out, out[-4000:]
    quick = _build(docs, mode="quick")  # numbers not meaningful: the claim is printed, not enforced
    assert quick.returncode == 0, _output(quick)[-4000:]
    page = (docs.parent / "html" / "auto_examples" / "plot_claim.html").read_text()
    assert "Claim of architectures/toy (the toy model beats chance by 50 points): NOT supported by this run." in page


@pytest.mark.docs
def test_a_missed_target_fails_a_full_cpu_build_and_only_warns_on_another_dataset(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, ["plot_target.py"], index_extra="\n.. results-table::\n",
                      conf_extra="buildcheck_min_seconds = 0.0")
    done = _build(docs, mode="full")
    out = _output(done)
    assert done.returncode != 0, out[-4000:]
    assert re.search(r"plot_target\.py missed its quality target: test accuracy = [\d.]+%, "
                     r"target ≥ 101% \(trained on cpu, data mnist-5k\)", out), out[-4000:]
    elsewhere = _build(docs, mode="full", dataset="fashion-mnist", quiet=False)
    out = _output(elsewhere)
    assert elsewhere.returncode == 0, out[-4000:]
    assert re.search(r"plot_target\.py missed its quality target: .*data fashion-mnist\); its target was measured "
                     r"on another configuration, so the build goes on", out), out[-4000:]
    index = re.sub(r"<[^>]+>", "", (docs.parent / "html" / "index.html").read_text())  # the text the reader sees
    assert "≥ 101% ✗ missed (target set for cpu, mnist-5k)" in index
    page = (docs.parent / "html" / "auto_examples" / "plot_target.html").read_text()
    assert "Verified run" in page and "fashion-mnist" in page and "✗ missed" in page


@pytest.mark.docs
def test_a_warning_fails_the_build(tmp_path: Path) -> None:
    docs = _tiny_site(tmp_path, [], index_extra="\nSee :func:`mlcheatsheet.no_such_function`.\n")
    done = _build(docs, noplot=True)
    out = _output(done)
    assert done.returncode != 0, out[-4000:]
    assert "no_such_function" in out and "reference target not found" in out
