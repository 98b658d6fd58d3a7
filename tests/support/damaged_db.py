"""Real damaged SQLite files, made from real databases, for the damage tests of library.db and log.db.

Each helper damages a closed, checkpointed database file in place the way disks and careless copies
do: cut short, a header that is not SQLite's, one b-tree page scrambled, nothing left at all. The
page layout follows the file format spec (https://www.sqlite.org/fileformat2.html, section 1.6).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

__all__ = ["damages", "digest", "garble_header", "scramble_table_page", "table_leaf_pages", "truncate_half"]

_LEAF_TABLE = 0x0D
_INTERIOR_TABLE = 0x05


def digest(path: Path) -> str:
    """SHA-256 of the file's bytes, to prove a damaged file was left as it was."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_leaf_pages(path: Path, table: str) -> tuple[list[int], int]:
    """The leaf pages (1-based page numbers) of ``table``'s b-tree, walked from its root, and the page
    size in bytes."""
    with closing(sqlite3.connect(path)) as db:
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    data = path.read_bytes()
    leaves: list[int] = []
    todo = [int(root)]
    while todo:
        number = todo.pop()
        page = data[(number - 1) * page_size : number * page_size]
        if page[0] == _LEAF_TABLE:
            leaves.append(number)
            continue
        assert page[0] == _INTERIOR_TABLE, f"page {number} is not a table b-tree page"
        cells = int.from_bytes(page[3:5], "big")
        todo.append(int.from_bytes(page[8:12], "big"))  # the right-most child
        for i in range(cells):
            offset = int.from_bytes(page[12 + 2 * i : 14 + 2 * i], "big")
            todo.append(int.from_bytes(page[offset : offset + 4], "big"))  # each cell's left child
    return sorted(leaves), page_size


def scramble_table_page(path: Path, table: str) -> int:
    """Invert the cell pointer array of a leaf page in the middle of ``table`` (its rows now point
    outside the page), leaving the file's size and header alone; returns the page number.

    A table of a few hundred rows spans several leaf pages, so the damage is inside the data, where
    opening the file and reading its schema do not notice it and ``PRAGMA quick_check`` does.
    """
    leaves, page_size = table_leaf_pages(path, table)
    assert len(leaves) >= 3, f"{table} has only {len(leaves)} leaf pages: add rows"
    number = leaves[len(leaves) // 2]
    data = bytearray(path.read_bytes())
    start = (number - 1) * page_size
    cells = int.from_bytes(data[start + 3 : start + 5], "big")
    for i in range(start + 8, start + 8 + 2 * cells):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return number


def truncate_half(path: Path) -> None:
    """Cut the file to half its length (a copy or a disk that stopped midway)."""
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def garble_header(path: Path) -> None:
    """Overwrite the 16-byte magic string "SQLite format 3\\0" at the start of the file."""
    with path.open("r+b") as f:
        f.write(b"\x00garbage-header!")


def damages(table: str) -> dict[str, Callable[[Path], object]]:
    """The damages the tests apply, by name: a scrambled page of ``table``, a file cut in half, a
    garbage header."""
    return {
        "scrambled page": lambda path: scramble_table_page(path, table),
        "truncated": truncate_half,
        "garbage header": garble_header,
    }
