"""The config value ``mlcheatsheet_results_dir``: where this build's gallery scripts write their results.

conf.py decides the directory, once: it needs it before Sphinx starts, to clear the results
of earlier builds and to point ``$MLCHEATSHEET_RESULTS`` (which
:func:`mlcheatsheet.site.report.report_result` writes to) at it. The extensions that read the
results (the results table, the build check) ask :func:`results_dir` instead of deriving
the path again, so the scripts and the readers cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

CONFIG_NAME = "mlcheatsheet_results_dir"


def result_name(script: str | os.PathLike[str]) -> str:
    """The ``example`` name a gallery script reports under: ``plot_mlp.py`` -> ``mlp``."""
    stem = Path(script).stem
    return stem[len("plot_"):] if stem.startswith("plot_") else stem


def gallery_executed(config: Config) -> bool:
    """Whether this build runs the gallery scripts (``make html-noplot`` does not)."""
    conf = getattr(config, "sphinx_gallery_conf", None) or {}
    return str(conf.get("plot_gallery", True)).strip().lower() not in {"false", "0", "no"}


def results_dir(config: Config) -> Path:
    """The results directory that conf.py set as ``mlcheatsheet_results_dir``."""
    configured = getattr(config, CONFIG_NAME)
    if not configured:
        # Without it the scripts were never told where to write, so there is nothing to read.
        raise ConfigError(f"conf.py must set {CONFIG_NAME}, the directory of the gallery's results")
    return Path(configured)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value(CONFIG_NAME, "", "env", types=(str,))
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
