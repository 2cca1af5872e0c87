"""Read an SQLite file the way someone with a copy of it would: pages, cells, byte offsets.

Only what the survey privacy tests need: the leaf cells of one WITHOUT ROWID table (an index
b-tree), each with its page number, its byte offset on the page and its decoded record. The
byte offset matters because SQLite fills a page's content area from the end towards the
front, so on a page the cells written later sit at lower offsets: the layout can betray the
order of writing even when the key order is random.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEAF_INDEX, INTERIOR_INDEX = 10, 2


@dataclass(frozen=True)
class Cell:
    """One stored row: where it is, and its values in record order (primary key first)."""

    page: int
    offset: int
    values: tuple[Any, ...]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError("unreachable")


def _record(data: bytes) -> tuple[Any, ...]:
    header_size, pos = _varint(data, 0)
    types = []
    while pos < header_size:
        serial, pos = _varint(data, pos)
        types.append(serial)
    values: list[Any] = []
    body = header_size
    sizes = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}
    for serial in types:
        if serial in sizes:
            size = sizes[serial]
            if serial == 0:
                values.append(None)
            elif serial in (8, 9):
                values.append(serial - 8)
            elif serial == 7:
                values.append(data[body : body + 8])
            else:
                values.append(int.from_bytes(data[body : body + size], "big", signed=True))
        else:
            size = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            raw = data[body : body + size]
            values.append(raw.decode("utf-8") if serial % 2 else raw)
        body += size
    return tuple(values)


def leaf_cells(path: Path, table: str) -> list[Cell]:
    """Return every leaf cell of a WITHOUT ROWID table, read from the file's raw bytes."""
    with sqlite3.connect(path) as conn:
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big") or 65536
    cells: list[Cell] = []
    todo = [root]
    while todo:
        number = todo.pop()
        page = data[(number - 1) * page_size : number * page_size]
        start = 100 if number == 1 else 0
        kind = page[start]
        count = int.from_bytes(page[start + 3 : start + 5], "big")
        header = 12 if kind == INTERIOR_INDEX else 8
        pointers = start + header
        if kind == INTERIOR_INDEX:
            todo.append(int.from_bytes(page[start + 8 : start + 12], "big"))
        for i in range(count):
            offset = int.from_bytes(page[pointers + 2 * i : pointers + 2 * i + 2], "big")
            if kind == INTERIOR_INDEX:
                todo.append(int.from_bytes(page[offset : offset + 4], "big"))
                continue
            assert kind == LEAF_INDEX, f"page {number} of {table} has type {kind}"
            size, pos = _varint(page, offset)
            cells.append(Cell(number, offset, _record(page[pos : pos + size])))
    return cells


def singled_out(cells: list[Cell], chosen: set[Any], column: int) -> bool:
    """Return whether the layout singles out the chosen rows as a group.

    True when, on every page they are on, they are alone or take the page's lowest offsets
    (they were written after everything else on it).
    """
    pages = {cell.page for cell in cells if cell.values[column] in chosen}
    for page in pages:
        on_page = sorted((c for c in cells if c.page == page), key=lambda c: c.offset)
        mine = [c.values[column] in chosen for c in on_page]
        if mine[: sum(mine)] != [True] * sum(mine):
            return False
    return bool(pages)
