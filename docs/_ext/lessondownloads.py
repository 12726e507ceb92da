"""A Sphinx extension: what a reader downloads is the lesson, without the build's plumbing.

A gallery script records its result and exports its demo inside
``# sphinx_gallery_start_ignore`` / ``# sphinx_gallery_end_ignore`` blocks. sphinx-gallery
runs them and leaves them out of the page and the notebook, but offers the script itself,
as written, for download (the ``.py`` and the ``.zip`` beside the notebook). Once the site
is written (``build-finished``) this removes the same blocks, with sphinx-gallery's own
parser, from every downloadable copy of a gallery script; the sources and the cache keep
them.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from sphinx_gallery.py_source_parser import remove_ignore_blocks

from mlcheatsheet.cache import write_atomically

__all__ = ["strip_downloads"]


def _stripped_zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            content = old.read(item)
            if item.filename.endswith(".py"):
                content = remove_ignore_blocks(content.decode()).encode()
            new.writestr(item, content)
    return out.getvalue()


def strip_downloads(outdir: Path) -> list[Path]:
    """Rewrite each downloadable gallery script under ``outdir/_downloads``; return those that changed."""
    changed = []
    for path in sorted((outdir / "_downloads").glob("*/plot_*")):
        data = path.read_bytes()
        if path.suffix == ".py":
            new = remove_ignore_blocks(data.decode()).encode()
        elif path.suffix == ".zip":
            new = _stripped_zip(data)
        else:
            continue
        if new != data:
            mode = path.stat().st_mode & 0o777
            write_atomically(path, lambda fh, new=new: fh.write(new))
            os.chmod(path, mode)
            changed.append(path)
    return changed


def _on_finished(app: Any, exception: BaseException | None) -> None:
    if exception is None and app.builder.format == "html":
        strip_downloads(Path(app.outdir))


def setup(app: Any) -> dict[str, object]:
    app.connect("build-finished", _on_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
