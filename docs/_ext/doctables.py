"""The docutils table that the site's directives render (results, shapes)."""

from __future__ import annotations

from collections.abc import Sequence

from docutils import nodes

#: What a table cell may hold: text, one node, or a run of inline nodes.
Cell = str | nodes.Node | Sequence[nodes.Node]


def _row(cells: Sequence[Cell]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        if isinstance(cell, str):
            entry += nodes.paragraph(text=cell)
        elif isinstance(cell, nodes.Node):
            # An entry holds body elements: inline nodes need a paragraph around them.
            inline = isinstance(cell, (nodes.Inline, nodes.Text)) or not isinstance(cell, nodes.Body)
            entry += nodes.paragraph("", "", cell) if inline else cell
        else:
            entry += nodes.paragraph("", "", *cell)
        row += entry
    return row


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], *, classes: Sequence[str] = (),
          widths: Sequence[int] | None = None, title: str | None = None) -> nodes.table:
    """A docutils table from rows of strings or nodes."""
    result = nodes.table(classes=["cheatsheet-table", *classes])
    if title:
        result += nodes.title(text=title)
    group = nodes.tgroup(cols=len(headers))
    result += group
    for width in widths or [1] * len(headers):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += _row(headers)
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += _row(cells)
    group += body
    return result
