"""What a reader of each gallery script gets: code cells and lines, and how many are the build's plumbing.

``python -m benchmarks.lessons [GALLERY]`` prints one row per script: the code cells and the
code lines a reader sees (sphinx-gallery's own parser, ignore blocks removed), the lines the
build runs but hides (``sphinx_gallery_start_ignore`` blocks), and the visible lines that
still name the build's machinery (:data:`PLUMBING`). A comment or blank line is not code.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sphinx_gallery.py_source_parser import (
    remove_ignore_blocks,
    split_code_and_text_blocks,
)

#: Names that belong to the docs build, not to the lesson.
PLUMBING = re.compile(r"report_result|export_demo|Claim\(|budget\.|get_budget|build_mode\b|mlcheatsheet\.site\b")
_GALLERY = Path(__file__).resolve().parents[1] / "gallery"


@dataclass(frozen=True)
class Lesson:
    script: str
    cells: int
    lines: int
    hidden_lines: int
    plumbing_lines: int


def _code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def count(script: Path) -> Lesson:
    _, blocks = split_code_and_text_blocks(str(script))
    code = [block.content for block in blocks if block.type == "code"]
    shown = [remove_ignore_blocks(text) for text in code]
    visible = [_code_lines(text) for text in shown if _code_lines(text)]
    hidden = sum(len(_code_lines(full)) - len(_code_lines(cut)) for full, cut in zip(code, shown))
    lines = [line for cell in visible for line in cell]
    return Lesson(script.name, len(visible), len(lines), hidden, sum(bool(PLUMBING.search(line)) for line in lines))


def main(argv: list[str]) -> int:
    gallery = Path(argv[0]) if argv else _GALLERY
    lessons = [count(path) for path in sorted(gallery.glob("plot_*.py"))]
    print(f"{'script':<28}{'code cells':>11}{'code lines':>11}{'hidden lines':>13}{'plumbing lines':>15}")
    for lesson in lessons:
        print(f"{lesson.script:<28}{lesson.cells:>11}{lesson.lines:>11}{lesson.hidden_lines:>13}{lesson.plumbing_lines:>15}")
    total = [sum(getattr(lesson, field) for lesson in lessons) for field in ("cells", "lines", "hidden_lines", "plumbing_lines")]
    print(f"{'all ' + str(len(lessons)):<28}{total[0]:>11}{total[1]:>11}{total[2]:>13}{total[3]:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
