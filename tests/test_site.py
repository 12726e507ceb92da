"""The reader's site: landing page, generated tables, downloads, notebooks, offline assets.

Static checks of the session's quick-mode build (``conftest.quick_site``) plus unit tests of
the helpers in ``docs/_ext/`` (``sitemap``, ``gallerypages``) and ``docs/_ext/shapetables.py``;
tests/test_browser.py opens the same build in Chromium.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import gallerypages  # noqa: E402
import sitemap  # noqa: E402
import shapetables  # noqa: E402
from trainedmodels import size_text  # noqa: E402


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _table(page: str, css_class: str) -> list[list[str]]:
    """The body rows of the first table with ``css_class``, as lists of cell texts."""
    match = re.search(rf'<table class="[^"]*{css_class}[^"]*"[^>]*>(.*?)</table>', page, re.S)
    assert match, f"no table.{css_class}"
    body = match.group(1).split("<tbody>", 1)[1]
    return [[_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


# -- the built site -------------------------------------------------------------------
@pytest.mark.docs
def test_results_table_has_a_row_per_example_from_this_build(quick_site: Path) -> None:
    page = (quick_site / "index.html").read_text()
    rows = _table(page, "cheatsheet-results")
    scripts = sorted(p.stem.removeprefix("plot_") for p in (ROOT / "gallery").glob("plot_*.py"))
    assert len(rows) == len(scripts), rows
    for row in rows:
        example, result, target, training, parameters, data, device = row
        assert device == "cpu"
        assert re.fullmatch(r"[\d,]+", parameters) and int(parameters.replace(",", "")) > 0
        # \s: no-break spaces too; an ablation's variants and seeds as "4 × 2 × 12 steps"
        assert re.fullmatch(r"\d+\.\d\ss\s\((\d\s×\s\d\s×\s)?[\d,]+\ssteps\)", training), training
        if example.startswith("GAN techniques"):
            assert re.search(r"\d\s×\s2\s×\s12\ssteps", training), training  # every variant from the quick budget's two seeds
        assert re.search(r"\d", result), result
        assert re.fullmatch(r"mnist-5k|mnist|fashion-mnist|cifar10|cifar100", data), data  # the name; the source below
        assert target == "no target in quick mode", target  # quick budgets have no targets
    references = _table(page, "cheatsheet-references")
    published = {title: r[1:] for r in references for title in re.split(r"\s*,\s*", r[0])}
    assert set(published) == {r[0] for r in rows}  # every example has its published figure, or says why not
    assert len(references) == len({tuple(r[1:]) for r in references}), references  # each note once, for all its examples
    assert published["CNN"] == ["99.17% top-1 accuracy", "a small CNN, 10 epochs on the 60,000 MNIST images", "Flax MNIST example"]
    assert published["DCGAN"][0] == "—" and "Inception-FIDs: not comparable" in published["DCGAN"][1]
    assert 'href="https://arxiv.org/abs/1512.03385"' in page  # each figure links its source
    mlp = next(r for r in rows if r[0] == "MLP")
    assert re.search(r"test accuracy \d+\.\d% \[\d+\.\d, \d+\.\d\]", mlp[1])  # with its 95% interval
    assert "In brackets: the 95% confidence interval" in page
    # The seed spread, from the ablation's seeds, beside the intervals that leave it out.
    assert re.search(r"trained from 2 seeds for 12 steps each, scored \d+\.\d× to \d+\.\d× the FID floor", _text(page))
    assert "sphx_glr_auto_examples_plot_mlp.py" in page or "auto_examples/plot_mlp.html" in page
    assert "Built in quick mode" in page
    # The long source line once, below the table (and as the tooltip of each data cell).
    assert _text(page).count("the 5,000 real MNIST digits") == 1
    assert re.search(r'<abbr title="embedded[^"]*">mnist-5k</abbr>', page)
    stamp = re.search(r'<p class="cheatsheet-stamp-line">(.*?)</p>', page, re.S)
    assert stamp, "no build stamp above the results table"
    assert re.search(r"This build: commit ([0-9a-f]{4,}(\+changes)?|unknown) , trained \d{4}-\d\d-\d\d \d\d:\d\d"
                     r".* on cpu \(\d+ threads?\) with torch \d+\.\d+.*, quick mode\.", _text(stamp.group(1))), stamp.group(1)
    assert page.index("cheatsheet-stamp-line") < page.index('class="cheatsheet-table cheatsheet-results')


@pytest.mark.docs
def test_the_gan_comparison_lists_every_generator_and_each_ablation_variant_per_run(quick_site: Path) -> None:
    page = (quick_site / "architectures" / "gan.html").read_text()
    rows = {row[0]: row[1:] for row in _table(page, "cheatsheet-gans")}
    assert {"DCGAN", "WGAN-GP", "SAGAN", "DCGAN (GAN techniques)", "DiffAugment (GAN techniques)"} <= set(rows), list(rows)
    steps, seconds, fid, ratio, _, rarest = rows["DiffAugment (GAN techniques)"]
    assert re.fullmatch(r"2\s×\s12", steps) and re.fullmatch(r"\d+\.\d\ss each", seconds)  # per run, over the quick budget's seeds
    assert re.fullmatch(r"[\d.]+ \[-?[\d.]+, [\d.]+\]", fid) and ratio.endswith("×") and rarest.endswith("%")
    assert re.fullmatch(r"[\d,]+", rows["SAGAN"][0])  # a single run: its steps alone
    notes = _text(page)
    assert re.search(r"an ablation.s rows: the mean over its training seeds", notes)  # the apostrophe may be typographic
    assert re.search(r"the DCGAN of the GAN techniques example, trained from 2 seeds for 12 steps each", notes)


@pytest.mark.docs
@pytest.mark.parametrize("example", sorted(p.stem.removeprefix("plot_") for p in (ROOT / "gallery").glob("plot_*.py")))
def test_every_gallery_page_opens_with_its_stamp_and_architecture_link(quick_site: Path, example: str) -> None:
    page = (quick_site / "auto_examples" / f"plot_{example}.html").read_text()
    stamp = re.search(r'<div class="[^"]*cheatsheet-stamp[^"]*">(.*?)</div>', page, re.S)
    assert stamp, f"plot_{example}.html has no stamp"
    assert page.index("</h1>") < stamp.start() < page.index('class="sphx-glr-script-out')  # right under the title
    text = _text(stamp.group(1))
    assert re.search(r"Trained while this site was built: \d{4}-\d\d-\d\d \d\d:\d\d UTC ?, quick mode", text), text
    assert re.search(r"commit ([0-9a-f]{4,}(\+changes)?|unknown)", text), text
    assert re.search(r"Device: cpu \(\d+ threads?\), torch \d+\.\d+", text), text
    assert "Data: mnist-5k — embedded" in text and "Target: no target in quick mode" in text, text
    architecture = sitemap.architecture_of(example)
    assert f'href="../architectures/{architecture}.html"' in stamp.group(1), "no link to the architecture page"


@pytest.mark.docs
def test_architecture_pages_list_their_gallery_examples(quick_site: Path) -> None:
    for rst in sorted((ROOT / "docs" / "architectures").glob("*.rst")):
        page = (quick_site / "architectures" / f"{rst.stem}.html").read_text()
        line = re.search(r'<p class="cheatsheet-examples">(.*?)</p>', page, re.S)
        assert line, f"{rst.stem}.html lists no gallery example"
        linked = re.findall(r'href="\.\./auto_examples/plot_(\w+)\.html', line.group(1))
        assert linked == sitemap.examples_of(rst.stem), (rst.stem, linked)
    assert sitemap.examples_of("dcgan") == ["dcgan", "wgan_gp", "conditional_dcgan", "sagan", "gan_techniques"]


@pytest.mark.docs
def test_gallery_index_groups_examples_by_family(quick_site: Path) -> None:
    page = (quick_site / "auto_examples" / "index.html").read_text()
    headings = [_text(h).strip().rstrip("¶").strip() for h in re.findall(r"<h2>(.*?)</h2>", page, re.S)]
    assert headings == [name for name, _ in sitemap.FAMILIES], headings
    sections = page.split("<h2>")[1:]
    for (name, keys), section in zip(sitemap.FAMILIES, sections):
        thumbs = re.findall(r'sphx_glr_plot_(\w+?)_thumb\.png', section)
        assert thumbs and all(sitemap.architecture_of(t) in keys for t in thumbs), (name, thumbs)
    every = re.findall(r'sphx_glr_plot_(\w+?)_thumb\.png', page)
    assert sorted(every) == sorted(p.stem.removeprefix("plot_") for p in (ROOT / "gallery").glob("plot_*.py"))


@pytest.mark.docs
def test_landing_page_cards_and_decision_table(quick_site: Path) -> None:
    page = (quick_site / "index.html").read_text()
    pages = sorted(p.stem for p in (ROOT / "docs" / "architectures").glob("*.rst"))
    cards = re.findall(r'<div class="cheatsheet-card docutils container">(.*?)</div>', page, re.S)
    assert len(cards) == len(pages)
    assert any("sphx_glr_plot_mlp_thumb.png" in card for card in cards)
    decisions = _table(page, "cheatsheet-decisions")
    assert [row[0] for row in decisions][:3] == ["MLP", "CNN", "ResNet : ResNet-20"]
    named = {row[0].split(":")[0].strip() for row in decisions}
    assert named == {sitemap.SHORT_NAMES[page] for page in pages}
    assert page.index("cheatsheet-decisions") < page.index("cheatsheet-card")  # the table first
    assert 'href="architectures/mlp.html"' in page


def _script_gan_loss(script: str) -> str:
    """The ``loss=`` of the GanConfig a gallery script trains with (the default when it passes none)."""
    import ast

    from mlcheatsheet.training import GanConfig

    tree = ast.parse((ROOT / "gallery" / f"plot_{script}.py").read_text())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "GanConfig")
    given = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg == "loss"}
    return given.get("loss", GanConfig.loss)


@pytest.mark.docs
@pytest.mark.parametrize("example", ["gan", "dcgan", "wgan_gp", "conditional_dcgan", "sagan"])
def test_the_landing_page_states_each_gans_loss_from_its_config(quick_site: Path, example: str) -> None:
    """The loss a row names is the one the script's config trains with (the DCGAN's is the hinge loss)."""
    from mlcheatsheet.training import GanConfig

    source = (ROOT / "docs" / "index.rst").read_text().split(".. decision-table::", 1)[1]
    order = re.findall(r"^   (\w+) \|", source.split("\n\n", 2)[1], re.M)  # the rows as index.rst lists them
    cells = _table((quick_site / "index.html").read_text(), "cheatsheet-decisions")[order.index(example)]
    stated = GanConfig(steps=1, loss=_script_gan_loss(example)).recipe().split("; ")[1].split(" (")[0]
    assert stated in cells[2], (example, stated, cells[2])


@pytest.mark.docs
@pytest.mark.parametrize("page", sitemap.ARCHITECTURES)
def test_each_summary_states_the_recipe_its_example_printed(quick_site: Path, page: str) -> None:
    """The recipe at the top of an architecture page is the config's own sentence, as the gallery page printed it."""
    html = (quick_site / "architectures" / f"{page}.html").read_text()
    assert html.index("cheatsheet-summary") < html.index("<h2"), f"{page}: the summary is not the first thing on the page"
    card = _table(html, "cheatsheet-recipe")
    recipe = _plain(next(row[1] for row in card if row[0] == "Recipe"))
    printed = (quick_site / "auto_examples" / f"plot_{page}.html").read_text()
    lines = [_plain(line) for line in re.findall(r"Recipe[^:<]*: ([^\n<]+)", printed)]
    assert recipe in lines, (page, recipe, lines)


def _plain(text: str) -> str:
    """Text as printed: entities decoded, the typographic apostrophe Sphinx sets in prose undone."""
    import html

    return html.unescape(_text(text)).replace("\u2019", "'").strip()


@pytest.mark.docs
def test_mlp_page_shape_table_matches_the_model(quick_site: Path) -> None:
    from mlcheatsheet.models import build_model

    page = (quick_site / "architectures" / "mlp.html").read_text()
    rows = _table(page, "cheatsheet-shapes")
    assert rows[0][0] == "input" and rows[0][2] == "1 × 1 × 28 × 28"
    assert rows[-1][0] == "total" and rows[-1][2] == "1 × 10"
    model = build_model("mlp", hidden_dims=(1024, 512), dropout=0.3)
    total = sum(p.numel() for p in model.parameters())
    assert rows[-1][3] == f"{total:,}"
    layer_sum = sum(int(r[3].replace(",", "")) for r in rows[1:-1] if r[3].replace(",", "").isdigit())
    assert layer_sum == total
    assert any(r[2] == "1 × 1024" for r in rows) and any(r[2] == "1 × 784" for r in rows)


@pytest.mark.docs
def test_mlp_page_links_script_and_notebook(quick_site: Path) -> None:
    page = (quick_site / "architectures" / "mlp.html").read_text()
    for suffix in (".py", ".ipynb"):
        href = re.search(rf'href="(\.\./_downloads/[0-9a-f]+/plot_mlp{re.escape(suffix)})"', page)
        assert href, f"no download link for plot_mlp{suffix}"
        assert (quick_site / "architectures" / href.group(1)).resolve().stat().st_size > 0
    assert "colab.research.google.com" not in page  # no repository configured in tests


@pytest.mark.docs
def test_notebooks_are_published_and_say_how_to_install(quick_site: Path) -> None:
    notebook = json.loads((quick_site / "notebooks" / "plot_mlp.ipynb").read_text())
    first = "".join(notebook["cells"][0]["source"])
    assert "mlcheatsheet" in first
    assert "pip install" in first
    assert "git+" not in first  # no repository URL is configured in the tests: none invented


@pytest.mark.docs
def test_math_and_cross_references_work_offline(quick_site: Path) -> None:
    mlp = (quick_site / "architectures" / "mlp.html").read_text()
    assert 'src="../_static/mathjax/tex-mml-chtml.js' in mlp
    assert "cdn.jsdelivr" not in mlp
    assert (quick_site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    api = (quick_site / "api.html").read_text()
    assert "https://docs.pytorch.org/docs/stable/tensors.html#torch.Tensor" in api
    assert "https://docs.python.org/3/library/" in api


@pytest.mark.docs
def test_gallery_page_shows_device_source_and_time(quick_site: Path) -> None:
    page = _text((quick_site / "auto_examples" / "plot_mlp.html").read_text())
    assert "Device: cpu" in page and "source: embedded" in page
    assert re.search(r"Total running time of the script: \( ?\d+ minutes \d+\.\d+ seconds\)", page)


# -- the directives' helpers ----------------------------------------------------------
def test_parse_kwargs_reads_python_literals_and_rejects_positionals() -> None:
    assert shapetables.parse_kwargs("hidden_dims=(1024, 512), dropout=0.3") == {"hidden_dims": (1024, 512), "dropout": 0.3}
    assert shapetables.parse_kwargs("") == {}
    with pytest.raises(ValueError, match="name=value"):
        shapetables.parse_kwargs("(1024, 512)")
    with pytest.raises(ValueError, match="cannot parse"):
        shapetables.parse_kwargs("hidden_dims=(")


class _Unrolled(nn.Module):
    """A cell applied four times and a shared activation: rows merge, parameters count once."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.Linear(3, 3)
        self.act = nn.ReLU()
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(4):
            x = self.cell(x)
        x = self.act(x)
        y = self.act(self.head(x))
        return x, y


def test_layer_rows_merge_repeated_calls_and_count_each_parameter_once() -> None:
    rows, output = shapetables.layer_rows(_Unrolled(), torch.zeros(1, 3))
    assert [(r.name, r.calls) for r in rows] == [("cell", 4), ("act", 1), ("head", 1), ("act", 1)]
    assert [r.parameters for r in rows] == [12, 0, 8, None]
    assert rows[0].shape == "1 × 3" and output == "(1 × 3, 1 × 2)"
    assert rows[0].module == "Linear(in_features=3, out_features=3)"  # arguments at their defaults left out
    assert shapetables.describe_module(nn.BatchNorm1d(8)) == "BatchNorm1d(8)"
    assert shapetables.describe_module(nn.Conv2d(1, 4, (3, 3), padding=1, bias=False)) == (
        "Conv2d(1, 4, kernel_size=(3, 3), padding=(1, 1), bias=False)")


def test_colab_links_only_for_a_configured_github_repository() -> None:
    config = SimpleNamespace(repository_url="https://github.com/someone/mlcheatsheet.git", colab_branch="gh-pages")
    assert gallerypages.colab_url(config, "plot_mlp") == (
        "https://colab.research.google.com/github/someone/mlcheatsheet/blob/gh-pages/notebooks/plot_mlp.ipynb")
    assert gallerypages.colab_url(SimpleNamespace(repository_url="", colab_branch="gh-pages"), "plot_mlp") is None
    assert gallerypages.colab_url(SimpleNamespace(repository_url="https://github.com/a/b", colab_branch=""), "plot_mlp") is None
    assert gallerypages.colab_url(SimpleNamespace(repository_url="https://gitlab.com/a/b", colab_branch="x"), "plot_mlp") is None


def test_gallery_pages_get_a_colab_link_when_configured(tmp_path: Path) -> None:
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    def page() -> nodes.document:
        document = new_document("page", get_default_settings(Parser))
        section = nodes.section()
        section += nodes.title(text="An example")
        section += nodes.container(classes=["sphx-glr-download", "sphx-glr-download-python"])
        document += section
        return document

    def app(repository_url: str) -> SimpleNamespace:
        config = SimpleNamespace(repository_url=repository_url, colab_branch="gh-pages", mlcheatsheet_results_dir=str(tmp_path),
                                 sphinx_gallery_conf={"gallery_dirs": "auto_examples"})
        return SimpleNamespace(config=config, env=SimpleNamespace(titles={}))

    configured, doctree = app("https://github.com/a/b"), page()
    gallerypages._stamp_gallery_page(configured, doctree, "auto_examples/plot_mlp")  # type: ignore[arg-type]
    links = [ref["refuri"] for ref in doctree.findall(nodes.reference)]
    assert links == ["https://colab.research.google.com/github/a/b/blob/gh-pages/notebooks/plot_mlp.ipynb"] * 2
    box = next(b for b in doctree.findall(nodes.container) if "sphx-glr-download-colab" in b["classes"])
    assert "sphx-glr-download-python" in box.parent[box.parent.index(box) + 1]["classes"]  # beside the downloads
    unconfigured, doctree = app(""), page()
    gallerypages._stamp_gallery_page(unconfigured, doctree, "auto_examples/plot_mlp")  # type: ignore[arg-type]
    assert not list(doctree.findall(nodes.reference))


@pytest.mark.docs
def test_the_landing_page_shows_the_trade_off_figure_of_this_build(quick_site: Path) -> None:
    page = (quick_site / "index.html").read_text()
    assert re.search(r'<img[^>]+src="_images/tradeoffs\.png"', page)
    assert "Drawn from this build" in page and "result records" in page
    image = quick_site / "_images" / "tradeoffs.png"
    assert image.stat().st_size > 10_000


def test_the_trade_off_figure_needs_results_to_draw(tmp_path: Path) -> None:
    import tradeoffs

    assert tradeoffs.draw([], tmp_path / "t.png") is False and not (tmp_path / "t.png").exists()


def test_flops_of_a_recurrent_layer_are_counted_whether_or_not_torch_sees_them() -> None:
    """torch's counter misses the fused LSTM kernel but sees the GRU's products: both come out by their shapes."""
    import summaries

    from mlcheatsheet.models import build_model

    image = torch.rand(1, 1, 28, 28)
    head = 2 * 128 * 10  # the linear read-out of the last state
    per_gate = (summaries.forward_flops(build_model("gru"), image) - head) / 3
    assert per_gate == 28 * 2 * (28 + 128) * 128
    assert summaries.forward_flops(build_model("lstm"), image) == 4 * per_gate + head
    assert summaries.forward_flops(nn.Linear(784, 10), torch.rand(1, 784)) == 2 * 784 * 10
    assert summaries.format_count(4_475_392) == "4.5 M" and summaries.format_count(14_925_312) == "15 M"


@pytest.mark.docs
def test_no_built_page_shows_raw_rest_markup(quick_site: Path) -> None:
    """A double backtick or a :meth:/:func:/:class: role that reaches the reader unrendered, outside code listings."""
    raw = re.compile(r"``|:(?:meth|func|class|attr|mod|data|ref|doc):`")
    found = []
    for page in sorted(quick_site.rglob("*.html")):
        if "_modules" in page.parts or page.name in ("search.html", "genindex.html"):
            continue  # highlighted source listings
        html = re.sub(r"<(pre|script|style|code)[^>]*>.*?</\1>", "", page.read_text(), flags=re.S)
        html = re.sub(r'<div class="highlight[^"]*">.*?</div>', "", html, flags=re.S)
        found += [f"{page.relative_to(quick_site)}: ...{_text(html[max(0, m.start() - 80):m.end() + 40]).strip()}..."
                  for m in raw.finditer(html)]
    assert not found, "\n".join(found[:20])


@pytest.mark.docs
def test_every_file_of_the_site_is_readable_by_a_web_server_that_is_not_root(quick_site: Path) -> None:
    """A host serves the site as a user that owns none of it: every folder needs r-x for others, every file r."""
    hidden = []
    for path in [quick_site, *quick_site.rglob("*")]:
        needed = 0o005 if path.is_dir() else 0o004
        if path.stat().st_mode & needed != needed:
            hidden.append(f"{path.relative_to(quick_site)} ({oct(path.stat().st_mode & 0o777)})")
    assert not hidden, hidden[:10]


_LOADS = '''
import json, os, sys
for folder, code in json.loads(sys.argv[1]):
    os.chdir(folder)
    scope = {}
    exec(code, scope)
    images = scope.get("images")
    print(json.dumps([os.path.basename(folder), None if images is None else list(images.shape)]))
'''


@pytest.mark.docs
def test_each_example_page_offers_its_trained_model_with_lines_that_load_it(quick_site: Path, tmp_path: Path) -> None:
    programs, shapes = [], {}
    for script in sorted((ROOT / "gallery").glob("plot_*.py")):
        example = script.stem.removeprefix("plot_")
        page = (quick_site / "auto_examples" / f"{script.stem}.html").read_text()
        model = quick_site / "_checkpoints" / f"{example}.pt"
        assert model.is_file(), f"{example}: no trained model published"
        link = f'<a class="reference external" href="../_checkpoints/{example}.pt"><code class="docutils literal notranslate"><span class="pre">{example}.pt</span></code></a>'
        assert page.count(link) == 2, f"{example}: the stamp and the section should each link the model"
        section = page[page.index('id="trained-model"'):]
        assert f"({size_text(model.stat().st_size)}, run key" in _text(section), _text(section)[:300]
        code = unescape(re.sub(r"<[^>]+>", "", re.search(r"<pre>(.*?)</pre>", section, re.S).group(1)))
        # What the page says the lines draw, e.g. "16 samples, (16, 1, 28, 28)".
        said = re.search(r"\((\d+(?:, \d+){3})\)$", code.strip())
        shapes[example] = [int(n) for n in said.group(1).split(", ")] if said else None
        folder = tmp_path / example
        folder.mkdir()
        (folder / model.name).write_bytes(model.read_bytes())  # downloaded next to the lines, as the page says
        programs.append([str(folder), code])
    # A fresh interpreter runs the lines exactly as printed, each in the folder holding its file.
    ran = subprocess.run([sys.executable, "-c", _LOADS, json.dumps(programs)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr[-2000:]
    drawn = dict(json.loads(line) for line in ran.stdout.splitlines() if line.startswith("["))
    assert drawn == shapes, (drawn, shapes)
    assert "tensor([" in ran.stdout  # the classifiers' lines print their predictions


@pytest.mark.docs
def test_figures_load_lazily_open_full_size_and_say_what_they_show(quick_site: Path) -> None:
    pages = [quick_site / "index.html", *sorted((quick_site / "architectures").glob("*.html")),
             *sorted((quick_site / "auto_examples").glob("plot_*.html"))]
    for page in pages:
        html = page.read_text()
        eager = [img for img in re.findall(r"<img\b[^>]*>", html) if 'loading="lazy"' not in img]
        assert not eager, f"{page.name}: {eager[:2]}"
        figures = re.findall(r'(<a\b[^>]*>\s*)?(<img\b[^>]*src="([^"]*sphx_glr_\w+_\d{3}\.png)"[^>]*>)', html)
        for anchor, image, source in figures:
            assert 'class="cheatsheet-zoom"' in anchor and f'href="{source}"' in anchor, f"{page.name}: {image}"
            alt = re.search(r'alt="([^"]*)"', image)
            # sphinx-gallery's fallback alt is the script's name ("plot dcgan"); a titled figure says what it shows.
            assert alt and alt.group(1) and not alt.group(1).startswith("plot "), f"{page.name}: {image}"
    dcgan = (quick_site / "architectures" / "dcgan.html").read_text()
    alts = re.findall(r'<img\b[^>]*alt="([^"]*)"[^>]*src="[^"]*sphx_glr_', dcgan)
    assert alts and len(set(alts)) == len(alts), alts  # each figure of the page told apart by its alt text
    assert "WGAN-GP: The same noise over training" in alts  # the example's name before a title others share


def test_the_lines_that_load_a_model_are_written_for_its_kind(tmp_path: Path) -> None:
    from mlcheatsheet.checkpoint import read_checkpoint, save_checkpoint
    from mlcheatsheet.data import load_embedded_mnist
    from mlcheatsheet.models import build_model
    from mlcheatsheet.site.pretrained import save_pretrained, usage, usage_lines

    assert [usage(n) for n in ("cnn", "lstm", "vae", "conv-autoencoder", "dcgan-generator", "sagan-generator",
                               "conditional-dcgan-generator", "wgan-gp-critic")] == [
        "classifier", "classifier", "vae", "autoencoder", "generator", "conditional-generator", "conditional-generator",
        "discriminator"]
    data = load_embedded_mnist()
    path = save_pretrained(tmp_path / "sagan.pt", build_model("sagan-generator"), example="sagan", data=data, stamp={"run_key": "k"})
    lines = usage_lines("sagan.pt", read_checkpoint(path))
    assert lines[-1].startswith("images = generator(torch.randn(10, generator.latent_dim), torch.arange(10))")
    assert lines[-1].endswith("one sample of each class, 0 to 9: (10, 1, 28, 28)")
    assert save_pretrained(tmp_path / "x.pt", nn.Linear(2, 2), example="x", data=data, stamp={}) is None  # cannot be rebuilt
    from mlcheatsheet.models import FlowSampler
    network = build_model("unet", image_shape=data.image_shape, base_channels=8)
    flow = read_checkpoint(save_pretrained(tmp_path / "diffusion.pt", FlowSampler(network, 4, "euler"), example="diffusion",
                                           data=data, stamp={}))
    assert flow.name == "unet"  # the network is what the file holds; the sampler's settings ride along
    assert usage_lines("diffusion.pt", flow)[-1] == (
        'images = (flow_sample(network, 16, steps=4, solver="euler") + 1) / 2  # 16 samples, 4 network evaluations each: (16, 1, 28, 28)')
    bare = read_checkpoint(save_pretrained(tmp_path / "bare.pt", network, example="diffusion", data=data, stamp={}))
    with pytest.raises(ValueError, match="saved without its sampler"):
        usage_lines("bare.pt", bare)
    plain = save_checkpoint(tmp_path / "plain.pt", build_model("cnn"))
    with pytest.raises(ValueError, match="was not saved for an example page"):
        usage_lines("plain.pt", read_checkpoint(plain))
    critic = save_pretrained(tmp_path / "critic.pt", build_model("wgan-gp-critic"), example="w", data=data, stamp={})
    with pytest.raises(ValueError, match="which the site does not offer on its own"):
        usage_lines("critic.pt", read_checkpoint(critic))
