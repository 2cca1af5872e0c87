"""CSV injection as a class: one writer guards every cell, and nothing else writes CSV."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest

from kldialog.kernel.csv import FORMULA_STARTS, csv_text, unescape_cell

PACKAGE = Path(__file__).resolve().parent.parent / "kldialog"


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_cell_that_would_run_as_a_formula_is_defused(start: str) -> None:
    cell = f'{start}HYPERLINK("https://evil.example","Klick")'
    [row] = list(csv.reader(io.StringIO(csv_text([["Titel", cell, 3]]))))
    assert row == ["Titel", "'" + cell, "3"]
    assert unescape_cell(row[1]) == cell  # an exported roadmap imports back unchanged


def test_no_module_but_the_kernel_writes_csv() -> None:
    writers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "kernel" / "csv.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter"):
                if isinstance(node.value, ast.Name) and node.value.id == "csv":
                    writers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "csv":
                names = {alias.name for alias in node.names}
                if names & {"writer", "DictWriter"}:
                    writers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert writers == []
