"""The pure desktop modules (keys, screen, render, deck) stay pure: no sound, threads, event loop or clock.

Two checks. Statically, no import statement in those modules, or in the ``player.desktop`` modules they
import, names an I/O module. At run time, importing them in a fresh interpreter loads no sound
library, no asyncio, no websockets and none of the desktop shells. (``threading`` cannot be checked
at run time: the standard ``logging`` module imports it, so the static check is the one for it.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PURE = ("player.desktop.keys", "player.desktop.screen", "player.desktop.render", "player.desktop.deck")
SHELLS = ("player.desktop.loop", "player.desktop.devices", "player.desktop.playback")
IO_MODULES = frozenset(
    {
        "asyncio", "concurrent", "multiprocessing", "os", "select", "socket", "sounddevice", "soundfile",
        "sqlite3", "subprocess", "termios", "threading", "time", "tty", "websockets",
    }
)  # fmt: skip
"""Top-level modules a pure module may not import: devices, files, threads, the event loop, the clock."""
NOT_LOADED = ("sounddevice", "soundfile", "asyncio", "websockets", "player.server", "player.client", *SHELLS)
"""Modules that must not be in ``sys.modules`` after importing only the pure modules."""

REPO = Path(__file__).resolve().parents[3]


def _imports(module: str) -> set[str]:
    """Every module named by an import statement anywhere in ``module``'s source (absolute names)."""
    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def _desktop_closure(roots: tuple[str, ...]) -> dict[str, set[str]]:
    """The imports of ``roots`` and of every ``player.desktop`` module they reach, by module."""
    seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen[module] = _imports(module)
        todo.extend(m for m in seen[module] if m.startswith("player.desktop.") and m not in seen)
    return seen


def test_pure_modules_import_no_io_modules() -> None:
    """keys, screen, render and deck, and the desktop modules they import, import nothing with I/O."""
    closure = _desktop_closure(PURE)
    assert set(PURE) <= set(closure)
    offending = {
        module: sorted(
            name
            for name in names
            if name.split(".")[0] in IO_MODULES
            or name.startswith((*SHELLS, "player.server", "player.client"))
        )
        for module, names in closure.items()
    }
    assert {m: names for m, names in offending.items() if names} == {}
    assert set(closure) == set(PURE)  # they import one another and nothing else of the desktop package


def test_importing_pure_modules_loads_no_sound_or_event_loop() -> None:
    """In a fresh interpreter, importing the pure modules loads no sound library, asyncio or desktop shell."""
    code = (
        "import sys\n"
        f"for name in {PURE!r}:\n"
        "    __import__(name)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.startswith({NOT_LOADED!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "", result.stdout
