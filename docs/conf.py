"""Sphinx configuration of the mlcheatsheet site.

Build modes come from the environment (see ``mlcheatsheet.site.budgets``): ``make html`` runs
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
from mlcheatsheet.cache import CACHE_ENV  # noqa: E402
from mlcheatsheet.site.export import DEMOS_ENV  # noqa: E402
from mlcheatsheet.site.report import RESULTS_ENV  # noqa: E402

_GALLERY_DIR = "auto_examples"  # sphinx-gallery's gallery_dirs, below

# Each gallery script records its headline result here; the results table and the check
# that every example really trained read it back from this config value (docs/_ext/resultsdir.py).
# docs/_ext/examplecache.py keeps it in step with the runs: a record is restored with its
# cached run or removed before its example runs again.
mlcheatsheet_results_dir = str(HERE / _GALLERY_DIR / "results")
os.environ[RESULTS_ENV] = mlcheatsheet_results_dir
# ... and exports its trained models for the pages' in-browser demos here (mlcheatsheet.site.export;
# docs/_ext/demos.py shows them and copies them into the site).
mlcheatsheet_demos_dir = str(HERE / _GALLERY_DIR / "demos")
os.environ[DEMOS_ENV] = mlcheatsheet_demos_dir
# Finished runs and the FID classifier are stored by content in the clone (gitignored), so
# CI can keep them between workflow runs; $MLCHEATSHEET_CACHE puts them elsewhere.
os.environ.setdefault(CACHE_ENV, str(HERE.parent / ".cache" / "build"))

project = "mlcheatsheet"
author = "the mlcheatsheet authors"
copyright = "2026, the mlcheatsheet authors"  # noqa: A001 - Sphinx's name
release = mlcheatsheet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "cheatsheet",  # what the site's directives share
    "resultstables",  # this build's results as tables
    "gallerypages",  # the gallery's pages, figures and downloads, and their links to the architecture pages
    "landing",  # the landing page's cards
    "shapetables",  # the layer-by-layer shape tables of the architecture pages
    "tradeoffs",  # the landing page's picture of this build's results
    "families",  # every generative model of the build compared at the CPU time it trained
    "examplecache",  # runs only the examples whose inputs changed, side by side
    "buildcheck",  # fails the build when an executed example did not really train
    "demos",  # the in-browser demos of the models this build trained
    "trainedmodels",  # the models this build trained, to download from their example pages
    "pageimages",  # figures load lazily and open full size when tapped
    "lessondownloads",  # the downloaded scripts without the build's plumbing (its ignore blocks)
    "summaries",  # recipes, costs, findings and the decision table, from the records of this build
    "diagrams",  # the architecture diagrams, drawn as SVG from the real models
]

exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
html_static_path = ["_static"]
html_css_files = ["cheatsheet.css"]
html_js_files = ["cheatsheet.js"]

# -- Warnings are errors (the Makefile passes -W --keep-going); be exact about references.
nitpicky = True
# Python, PyTorch, NumPy and Matplotlib names link to their docs through inventories that
# docs/_inventories/generate.py builds from the installed packages: no download, so the
# offline build resolves them. What is left has no page anywhere:
nitpick_ignore_regex = [
    ("py:class", r"(Tensor|Figure|nn\.Module|Path|Dataset|LossFn|EvalFn|B|Builder)"),
    ("py:class", r"mlcheatsheet\.models\.registry\.B"),  # the TypeVar of register_model
]
intersphinx_mapping = {
    name: (url, str(HERE / "_inventories" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "numpy": "https://numpy.org/doc/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
    }.items()
}

# -- autodoc / napoleon
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Shape:" holds a reST list ("- Input: :math:`(N, C, H, W)`"), as torch.nn's docstrings do:
# a generic section keeps it reST. Read as parameters, each "- Input" became a parameter
# name, printed with its dash and any role in it left raw.
napoleon_custom_sections = ["Shape"]

# -- HTML
html_theme = "furo"
html_title = "mlcheatsheet"
html_favicon = "_static/favicon.svg"  # also spares browsers a request for /favicon.ico

# -- Math renders offline: `make` installs MathJax 3 from npm into _static/mathjax (see the
# Makefile). A bare sphinx-build without it loads the same MathJax from its CDN instead.
if (HERE / "_static" / "mathjax" / "tex-mml-chtml.js").exists():
    mathjax_path = "mathjax/tex-mml-chtml.js"
else:
    mathjax_path = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-mml-chtml.js"


# -- Where the repository lives, in one place: $MLCHEATSHEET_REPOSITORY_URL
# (https://github.com/<owner>/<repo>); GitHub Actions and Read the Docs supply it
# themselves. It makes the notebooks install the package from that repository at the
# commit this site was built from, and with $MLCHEATSHEET_COLAB_BRANCH (the branch the docs
# workflow publishes the site to) adds "Open in Colab" links. Unset: neither is invented.
def _repository_url() -> str:
    url = os.environ.get("MLCHEATSHEET_REPOSITORY_URL", "")
    if not url and os.environ.get("GITHUB_REPOSITORY"):
        url = f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}"
    if not url:
        url = os.environ.get("READTHEDOCS_GIT_CLONE_URL", "")
    url = url.strip().rstrip("/").removesuffix(".git")
    return url if url.startswith("https://") else ""


repository_url = _repository_url()
repository_ref = os.environ.get("GITHUB_SHA") or os.environ.get("READTHEDOCS_GIT_COMMIT_HASH") or ""
colab_branch = os.environ.get("MLCHEATSHEET_COLAB_BRANCH", "")
if repository_url:
    _pin = f"@{repository_ref}" if repository_ref else ""
    _first_cell = (
        "# Install the mlcheatsheet package (Colab or a fresh Jupyter need this; in a clone of the\n"
        "# repository with `pip install -e .` done, skip it).\n"
        f'%pip install --quiet "mlcheatsheet @ git+{repository_url}{_pin}"'
    )
    html_theme_options = {
        "source_repository": repository_url + "/",
        "source_branch": os.environ.get("GITHUB_REF_NAME") or os.environ.get("READTHEDOCS_GIT_IDENTIFIER") or "main",
        "source_directory": "docs/",
    }
else:
    _first_cell = (
        "# The examples need the mlcheatsheet package, which is not on PyPI. This site was built\n"
        "# without a repository address, so install it from your clone: pip install -e <clone>\n"
        "import importlib.util\n\n"
        "if importlib.util.find_spec('mlcheatsheet') is None:\n"
        "    raise ModuleNotFoundError('install mlcheatsheet first: pip install -e <your clone of the repository>')"
    )
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
    "gallery_dirs": _GALLERY_DIR,
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # The order examples *run* in, longest first; the index shows architecture order (docs/_ext/cheatsheet.py).
    "within_subsection_order": "examplecache.RunOrder",
    # Around each example, in whichever process runs it: its content key, progress on the
    # terminal, and the finished run stored in the cache (docs/_ext/examplecache.py).
    "reset_modules": ("matplotlib", "examplecache.track_example"),
    "reset_modules_order": "both",
    "show_memory": False,
    # A failing script fails the build, named, at the end (keep-going shows every failure).
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": True,
    "first_notebook_cell": _first_cell,
    # docs/_ext/examplecache.py decides what runs: an example whose inputs are unchanged is
    # restored from its stored run; anything else has its checksum removed, so it runs.
    "run_stale_examples": False,
    # Set per build by examplecache (the examples to run over the usable cores).
    "parallel": False,
}
if os.environ.get("MLCHEATSHEET_NOPLOT") == "1":
    sphinx_gallery_conf["plot_gallery"] = "False"
if os.environ.get("MLCHEATSHEET_EXAMPLES"):  # run only some examples: make html EXAMPLES=plot_cnn
    sphinx_gallery_conf["filename_pattern"] = os.environ["MLCHEATSHEET_EXAMPLES"]
