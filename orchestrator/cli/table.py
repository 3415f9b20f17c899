"""Plain-text tables for the CLI: a header over rows, each column as wide as its widest cell."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def aligned(
    columns: Sequence[str], rows: Iterable[Sequence[str]], right: Collection[str] = ()
) -> list[str]:
    """The header line, then one line per row; the columns named in ``right`` (numbers) are
    right-aligned, the others left-aligned."""
    table = [tuple(columns), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return [
        "  ".join(
            cell.rjust(width) if name in right else cell.ljust(width)
            for name, cell, width in zip(columns, row, widths, strict=True)
        ).rstrip()
        for row in table
    ]
