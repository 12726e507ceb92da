"""Gallery scripts are lessons: literal recipes a reader copies, the build's lines out of sight."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.lessons import count
from mlcheatsheet.data import load_dataset
from mlcheatsheet.site.budgets import MODE_ENV, build_data, build_length, get_budget

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
SCRIPTS = sorted(GALLERY.glob("plot_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_a_reader_sees_no_line_of_the_builds_plumbing(script: Path) -> None:
    lesson = count(script)
    assert lesson.plumbing_lines == 0, lesson
    assert 0 < lesson.hidden_lines <= 25, lesson  # few and short


def _recipes(script: Path) -> list[tuple[str, str, object]]:
    """(budget name, field, the literal the script assigns before handing it to build_length)."""
    tree = ast.parse(script.read_text())
    literals: dict[str, object] = {}
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "build_length":
                example = ast.literal_eval(value.args[0])
                for keyword in value.keywords:
                    found.append((example, keyword.arg, literals[keyword.value.id]))  # type: ignore[attr-defined]
                continue
            targets = node.targets[0]
            pairs = zip(targets.elts, value.elts) if isinstance(targets, ast.Tuple) and isinstance(value, ast.Tuple) \
                else [(targets, value)]
            for target, expression in pairs:
                try:
                    literals[getattr(target, "id", "")] = ast.literal_eval(expression)
                except ValueError:
                    continue
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_each_recipe_is_the_full_cpu_budget(script: Path) -> None:
    recipes = _recipes(script)
    assert recipes, f"{script.name} hands no length to build_length"
    for example, field, written in recipes:
        assert getattr(get_budget(example, device="cpu", mode="full"), field) == written, (example, field)


def test_a_full_cpu_build_runs_the_recipe_and_refuses_one_that_drifted(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(MODE_ENV, "full")
    monkeypatch.delenv("MLCHEATSHEET_DATASET", raising=False)
    assert build_length("cnn", "cpu", epochs=12) == 12
    assert build_length("resnet", "cpu", epochs=14, transfer_steps=120) == (14, 120)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match=r"recipe says epochs=10, its full budget 12"):
        build_length("cnn", "cpu", epochs=10)
    with pytest.raises(ValueError, match="'dataset' is not a training length"):
        build_length("cnn", "cpu", dataset=1)
    assert build_length("dcgan", torch.device("cuda"), steps=2500) == get_budget("dcgan", device="cuda").steps
    assert "GPU build: steps=10,000 (the recipe: 2,500)" in capsys.readouterr().out


def test_a_quick_build_shortens_the_run_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(MODE_ENV, "quick")
    monkeypatch.delenv("MLCHEATSHEET_DATASET", raising=False)
    assert build_length("cnn", "cpu", epochs=12) == get_budget("cnn", mode="quick").epochs
    data = build_data("rnn", "cpu", load_dataset("mnist-5k", verbose=False))
    assert len(data.x_train) == get_budget("rnn", mode="quick").max_train
    out = capsys.readouterr().out
    assert "Quick build: epochs=2 (the recipe: 12)" in out and "Quick build: 500 of the 4,000 training images." in out


def test_the_models_package_loads_only_the_family_asked_for() -> None:
    code = ("import sys; from mlcheatsheet.models import CNN; import mlcheatsheet.models.gan; "
            "print(sorted(m for m in sys.modules if m.startswith('mlcheatsheet.models.')))\n"
            "from mlcheatsheet.models import available_models, build_model; print(len(available_models()), type(build_model('gru')).__name__)")
    loaded, listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "mlcheatsheet.models.cnn" in loaded and "mlcheatsheet.models.rnn" not in loaded, loaded
    assert re.match(r"2\d RecurrentClassifier", listed), listed  # the registry still finds every family


def test_each_name_of_the_models_package_comes_from_the_module_it_names() -> None:
    import mlcheatsheet.models as models

    for name, home in models._HOMES.items():
        assert getattr(models, name).__module__ == f"mlcheatsheet.models.{home}", name
    with pytest.raises(AttributeError, match="has no attribute 'Transformer'"):
        models.Transformer  # noqa: B018


# -- Recipes are printed from the configs, never typed -----------------------------------
_RATE = re.compile(r"learning rates?|\brates?\b", re.I)
_AMOUNT = re.compile(r"\d|\b(twice|half|ten times|five times|four times|as fast|faster|slower)\b", re.I)
_SOURCE = re.compile(r"paper|published|et al", re.I)


def _prose(path: Path) -> str:
    """The reader-facing text of a gallery script (its text cells) or an rst page (without math, code and roles)."""
    if path.suffix == ".py":
        from sphinx_gallery.py_source_parser import split_code_and_text_blocks

        blocks = split_code_and_text_blocks(str(path))[1]
        text = " ".join(block[1] for block in blocks if block[0] == "text")
    else:
        kept, skipping = [], False
        for line in path.read_text().splitlines():
            if re.match(r"\.\. (math|code-block|literalinclude|autoclass|autofunction)::", line):
                skipping = True
            elif not skipping or (line.strip() and not line.startswith(" ")):
                skipping = False
                kept.append(line)
        text = " ".join(kept)
    text = re.sub(r":\w+:`[^`]*`|\b(19|20)\d\d\b", " ", text)  # roles and citation years carry no recipe
    return re.sub(r"\s+", " ", text)


PAGES = sorted((GALLERY.parent / "docs" / "architectures").glob("*.rst")) + [GALLERY.parent / "docs" / "index.rst"]


@pytest.mark.parametrize("path", SCRIPTS + PAGES, ids=lambda p: p.name)
def test_no_sentence_types_this_builds_learning_rates(path: Path) -> None:
    """A rate or a ratio of rates typed in prose drifts from the config ("twice as fast" when both are 2e-3):
    this build's rates reach the page only through ``config.recipe()``; a paper's may be quoted."""
    sentences = re.split(r"(?<=[.;:])\s+|\s[-*]\s+|\s-{4,}\s", _prose(path))  # sentences, list items, headings
    typed = [sentence for sentence in sentences
             if _RATE.search(sentence) and _AMOUNT.search(sentence) and not _SOURCE.search(sentence)]
    assert not typed, f"{path.name} types a learning rate: print it from the config instead: {typed}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_config_a_script_trains_with_is_printed_and_recorded(script: Path) -> None:
    """The recipe a reader sees is the config's own sentence, and the record the summary quotes holds it."""
    source = script.read_text()
    tree = ast.parse(source)
    headline = {"plot_gan_techniques": "base"}.get(script.stem, "config")
    configs = [node.targets[0].id for node in tree.body  # type: ignore[attr-defined]
               if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
               and getattr(node.value.func, "id", "") in ("TrainConfig", "GanConfig")]
    assert headline in configs, f"{script.name} trains with no config named {headline!r}"
    # The sentence may go on with a choice the config does not hold (a diffusion model's noise levels).
    assert re.search(rf'print\(f"Recipe[^"]*: {{{headline}\.recipe\(\)}}[^"]*"\)', source), f"{script.name} does not print its recipe"
    assert re.search(rf'recipe=(f"{{)?{headline}\.recipe\(\)', source), f"{script.name} does not record its recipe"
