"""Spreadsheet files: every CSV the platform writes goes through here, with the formula guard."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from flask import Response

# A cell starting with one of these runs as a formula in Excel or LibreOffice (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Defuse a spreadsheet formula by prefixing an apostrophe; numbers pass unchanged."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def unescape_cell(value: str | None) -> str | None:
    """Undo safe_cell, so an exported CSV imports back to the same text."""
    if value and value[:1] == "'" and value[1:2] in FORMULA_STARTS:
        return value[1:]
    return value


def csv_text(
    rows: Iterable[Iterable[Any]],
    *,
    delimiter: str = ",",
    bom: bool = False,
    lineterminator: str = "\r\n",
) -> str:
    """Return rows as CSV text, every cell guarded; with bom, German Excel reads UTF-8."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def csv_response(rows: Iterable[Iterable[Any]], filename: str, **options: Any) -> Response:
    """Return a CSV download (text/csv; charset=utf-8) with the given file name."""
    response = Response(csv_text(rows, **options), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
