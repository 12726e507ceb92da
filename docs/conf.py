"""Sphinx configuration of the mlcheatsheet site.

Build modes come from the environment (see ``mlcheatsheet.budgets``): ``make html`` runs
every gallery script with its full budget, ``make html-quick`` with tiny budgets, and
``make html-noplot`` runs nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the package, when it is not installed

import mlcheatsheet  # noqa: E402
from mlcheatsheet.report import RESULTS_ENV  # noqa: E402

# Each gallery script records its headline result here; the results table and the check
# that every example really trained read them. Cleared so no result outlives its run.
RESULTS_DIR = HERE / "auto_examples" / "results"
if os.environ.get("MLCHEATSHEET_NOPLOT") != "1":
    for stale in RESULTS_DIR.glob("*.json"):
        stale.unlink()
os.environ[RESULTS_ENV] = str(RESULTS_DIR)

project = "mlcheatsheet"
author = "the mlcheatsheet authors"
copyright = "2026, the mlcheatsheet authors"  # noqa: A001 - Sphinx's name
release = mlcheatsheet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "cheatsheet",
]

exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
html_static_path = ["_static"]
html_css_files = ["cheatsheet.css"]

# -- Warnings are errors (the Makefile passes -W --keep-going); be exact about references.
nitpicky = True
# Third-party and standard-library types that appear in signatures. They cannot be
# resolved offline without an inventory, so they are rendered as plain text.
nitpick_ignore_regex = [
    ("py:class", r"(torch|numpy|np|matplotlib|pathlib|os|collections\.abc|typing|contextlib)(\..*)?"),
    ("py:.*", r"torch\..*"),
    ("py:class", r"(Tensor|Figure|nn\.Module|Path|Dataset|LossFn|EvalFn|B|Builder)"),
    ("py:class", r"mlcheatsheet\.models\.registry\.B"),  # the TypeVar of register_model
]

# -- autodoc / napoleon
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shape", "params_style")]

# -- HTML
html_theme = "furo"
html_title = "mlcheatsheet"
pygments_style = "friendly"
pygments_dark_style = "monokai"

# -- Copy buttons skip prompts and outputs
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = False
copybutton_exclude = ".linenos, .gp, .go"

# -- sphinx-gallery: every plot_*.py in ../gallery is executed during the build.
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": True,
    # Every build re-executes every example: a page never shows numbers from an older run.
    "run_stale_examples": True,
}
if os.environ.get("MLCHEATSHEET_NOPLOT") == "1":
    sphinx_gallery_conf["plot_gallery"] = "False"
if os.environ.get("MLCHEATSHEET_EXAMPLES"):  # run only some examples: make html EXAMPLES=plot_cnn
    sphinx_gallery_conf["filename_pattern"] = os.environ["MLCHEATSHEET_EXAMPLES"]
