"""The model each gallery run trained, offered on its page as a file to download and use.

:func:`mlcheatsheet.site.report.report_result` saves the run's headline model beside its
record (``<results>/<example>.pt``). Each gallery page with such a file gets a line in its
stamp and, before sphinx-gallery's download boxes, a section with the link, the file's
size, the run's key and the lines that load it (:func:`mlcheatsheet.site.pretrained.usage_lines`,
written from the file). The files are published under ``_checkpoints/`` at the end of the
build, like the demos' exports; a file of a run this build did not show is not published.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.osutil import relative_uri

from mlcheatsheet.checkpoint import CheckpointError, read_checkpoint
from mlcheatsheet.site.pretrained import PRETRAINED_KEY, usage, usage_lines
from resultsdir import gallery_executed, result_name, results_dir
from summaries import format_count

CHECKPOINTS_OUT = "_checkpoints"  # in the HTML output: _checkpoints/<example>.pt
SECTION_ID = "trained-model"
_NOUNS = {"classifier": "classifier", "generator": "generator", "conditional-generator": "conditional generator",
          "vae": "VAE", "autoencoder": "autoencoder", "diffusion": "denoising network", "discriminator": "discriminator"}


def size_text(size: int) -> str:
    """A file size as a reader reads it: ``812 kB``, ``1.4 MB``."""
    return f"{format_count(size)}B"


def _checkpoint_of(app: Sphinx, docname: str) -> Path | None:
    gallery = str(app.config.sphinx_gallery_conf["gallery_dirs"])
    if not docname.startswith(f"{gallery}/plot_") or not gallery_executed(app.config):
        return None
    path = results_dir(app.config) / f"{result_name(docname)}.pt"
    return path if path.is_file() else None


def _section(path: Path, url: str) -> nodes.section:
    checkpoint = read_checkpoint(path)
    info = checkpoint.extra[PRETRAINED_KEY]
    section = nodes.section(ids=[SECTION_ID], names=[SECTION_ID])
    section += nodes.title(text="The trained model")
    intro = nodes.paragraph()
    intro += nodes.Text(f"The {_NOUNS[usage(checkpoint.name)]} behind this run's headline result, trained on "
                        f"{info['dataset']} (registered as {checkpoint.name}): ")
    intro += nodes.reference("", "", nodes.literal(text=path.name), refuri=url)
    intro += nodes.Text(f" ({size_text(path.stat().st_size)}, run key ")
    intro += nodes.literal(text=str(info.get("run_key") or "none: not run by the docs build"))
    intro += nodes.Text("). Saved in the package's checkpoint format, which loads tensors and plain data only "
                        "(torch.load with weights_only), so loading it cannot run code. With the package "
                        "installed and the file in the working folder:")
    section += intro
    code = "\n".join(usage_lines(path.name, checkpoint))
    section += nodes.literal_block(code, code, language="python", classes=["cheatsheet-pretrained"])
    return section


def _offer_model(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A stamp line and a section offering the page's trained model, when its run saved one."""
    path = _checkpoint_of(app, docname)
    page = doctree.next_node(nodes.section)
    if path is None or page is None:
        return
    url = relative_uri(app.builder.get_target_uri(docname), f"{CHECKPOINTS_OUT}/{path.name}")
    try:
        section = _section(path, url)
    except (CheckpointError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{docname}: the trained model {path} cannot be offered: {exc}") from None
    # Before sphinx-gallery's download boxes (inside an ``only`` node of the page), else last.
    footer = next((c for c in page.findall(nodes.container) if "sphx-glr-footer" in c["classes"]), None)
    while footer is not None and footer.parent is not page:
        footer = footer.parent
    if footer is not None:
        page.insert(page.index(footer), section)
    else:
        page += section
    stamp = next((a for a in page.findall(nodes.admonition) if "cheatsheet-stamp" in a["classes"]), None)
    lines = stamp.next_node(nodes.bullet_list) if stamp is not None else None
    if lines is not None:
        line = nodes.paragraph("", "", nodes.strong(text="Trained model: "),
                               nodes.reference("", "", nodes.literal(text=path.name), refuri=url),
                               nodes.Text(f" ({size_text(path.stat().st_size)}) — "),
                               nodes.reference("", "how to load it", refuri=f"#{SECTION_ID}"))
        lines += nodes.list_item("", line)


def _publish(app: Sphinx, exception: Exception | None) -> None:
    """Copy this build's trained models to ``_checkpoints/`` in the HTML output."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / CHECKPOINTS_OUT
    shutil.rmtree(target, ignore_errors=True)  # a model of an earlier build is not this build's
    if not gallery_executed(app.config):
        return
    gallery = str(app.config.sphinx_gallery_conf["gallery_dirs"])
    for path in sorted(results_dir(app.config).glob("*.pt")):
        if f"{gallery}/plot_{path.stem}" in app.env.all_docs:  # offered by a page of this build
            target.mkdir(exist_ok=True)
            shutil.copyfile(path, target / path.name)


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("resultsdir")
    app.connect("doctree-resolved", _offer_model, priority=600)  # after gallerypages has stamped the page
    app.connect("build-finished", _publish)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
