"""How long each architecture page reads, and where its summary ends.

``python -m benchmarks.wordcount HTML_DIR`` reads the built pages ``architectures/*.html`` of
a site and prints one row per page: the words of its article (what a reader scrolls past;
a folded ``<details>`` block is not),
the words of its prose alone (without code, tables, math and figures), and how many of
the article's words come before the end of its summary box (``cheatsheet-summary``):
the part a reader takes in first. A page without a summary box shows ``—``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["PageLength", "page_length"]

_SKIPPED = {"script", "style", "nav", "footer", "details"}  # not read: code, or folded away
_NOT_PROSE = {"pre", "table", "math", "figure", "svg"}  # read, but not prose
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(frozen=True)
class PageLength:
    page: str
    words: int
    prose_words: int
    words_before_summary_end: int | None


class _ArticleText(HTMLParser):
    """Counts the words inside ``<article>``, by kind, and where the summary box closes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, opens the summary box)
        self.in_article = 0
        self.words = self.prose = 0
        self.summary_end: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        # Sphinx writes math as text in elements of class "math" (MathJax typesets it in the browser).
        self.stack.append(("math" if "math" in classes else tag, "cheatsheet-summary" in classes))
        self.in_article += tag == "article"

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:  # "<col ... />" arrives as a start and an end tag; neither opened anything
            return
        while self.stack:
            opened, summary = self.stack.pop()
            self.in_article -= opened == "article"
            if summary and self.summary_end is None:
                self.summary_end = self.words
            if opened in (tag, "math"):
                break

    def handle_data(self, data: str) -> None:
        tags = {tag for tag, _ in self.stack}
        if not self.in_article or tags & _SKIPPED:
            return
        count = len(re.findall(r"[\w’'-]+", data))
        self.words += count
        if not tags & _NOT_PROSE:
            self.prose += count


def page_length(path: Path) -> PageLength:
    parser = _ArticleText()
    parser.feed(path.read_text(encoding="utf-8"))
    return PageLength(path.stem, parser.words, parser.prose, parser.summary_end)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.wordcount HTML_DIR (a built site, e.g. docs/_build/html)", file=sys.stderr)
        return 2
    pages = sorted(Path(argv[0]).glob("architectures/*.html"))
    if not pages:
        print(f"no architectures/*.html under {argv[0]}: build the site first (make html)", file=sys.stderr)
        return 1
    print(f"{'page':<14}{'words':>8}{'prose':>8}{'summary ends at word':>22}")
    for length in map(page_length, pages):
        end = "—" if length.words_before_summary_end is None else f"{length.words_before_summary_end:,}"
        print(f"{length.page:<14}{length.words:>8,}{length.prose_words:>8,}{end:>22}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
