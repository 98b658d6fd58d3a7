"""The import contract between the layers (docs/architecture.md, STYLE.md "Layers you can see in the tree").

- ``player/core`` is pure: no module in it imports sqlite3, asyncio, threading, socket, sounddevice or
  another I/O module, and nothing it reaches, directly or through other project modules, is a shell
  (``player.server``, ``player.desktop``, ``player.client``, ``player.library`` store/scan/commands,
  ``player.app``, ``player.cli``).
- ``mood/`` imports nothing from ``player`` or ``models``.
- ``models/simulate.py`` imports no serving code: of ``player`` only the records in
  ``player.core.track`` and ``player.core.records``.

Each rule is checked twice: statically, by walking the AST of every project module and following
project-internal imports (so an import inside a function or under ``TYPE_CHECKING`` counts too), and at
run time, by importing the modules in a fresh interpreter and reading ``sys.modules`` (so an import
made by ``importlib`` counts too). Standard-library ``logging`` imports ``threading`` itself, so the
run-time check leaves ``threading`` to the static one.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROJECT_PACKAGES = ("player", "mood", "models")

SHELLS = (
    "player.server",
    "player.desktop",
    "player.client",
    "player.library.store",
    "player.library.scan",
    "player.library.commands",
    "player.app",
    "player.cli",
)
"""Modules (and packages, with everything under them) that do I/O for the core: none is reachable from it."""

IO_MODULES = (
    "sqlite3",
    "asyncio",
    "socket",
    "selectors",
    "ssl",
    "subprocess",
    "multiprocessing",
    "concurrent.futures",
    "sounddevice",
    "websockets",
)
"""Modules that open sockets, files of a database, devices, processes or event loops."""

CORE_FORBIDDEN = (*IO_MODULES, "threading")
"""What no module of ``player`` reached from the core may import, statically."""

SIMULATOR_MAY_USE = frozenset({"player", "player.core", "player.core.track", "player.core.records"})
"""The only ``player`` modules ``models.simulate`` may reach (the packages, and the two record modules)."""


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to an absolute module name."""

    module: str
    """Dotted name, e.g. ``player.core.records``."""
    line: int
    """Line of the statement in the importing file."""
    typing_only: bool
    """True under ``if TYPE_CHECKING:`` (never executed)."""


def project_modules(root: Path) -> dict[str, Path]:
    """Every module of the project packages under ``root``: dotted name → file (a package → __init__.py)."""
    modules: dict[str, Path] = {}
    for package in PROJECT_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: Iterable[ast.stmt], typing_only: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every statement in ``body``, nested ones included, with whether it sits under TYPE_CHECKING."""
    for statement in body:
        yield statement, typing_only
        if isinstance(statement, ast.If) and _is_type_checking(statement.test):
            yield from _statements(statement.body, True)
            yield from _statements(statement.orelse, typing_only)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(statement, field, ()):
                if isinstance(child, ast.stmt):
                    yield from _statements([child], typing_only)
                elif hasattr(child, "body"):  # except handlers and match cases hold statements
                    yield from _statements(child.body, typing_only)


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """What module ``name`` (file ``path``) imports, anywhere in the file (functions included).

    ``from package import sub`` counts as importing ``package.sub`` when that is a project module;
    relative imports are resolved against ``name``'s package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for statement, typing_only in _statements(tree.body, False):
        if isinstance(statement, ast.Import):
            found += [Import(alias.name, statement.lineno, typing_only) for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom):
            if statement.level:
                base = package.split(".")
                base = base[: len(base) - (statement.level - 1)]
                target = ".".join([*base, statement.module] if statement.module else base)
            else:
                target = statement.module or ""
            found.append(Import(target, statement.lineno, typing_only))
            for alias in statement.names:
                if f"{target}.{alias.name}" in known:
                    found.append(Import(f"{target}.{alias.name}", statement.lineno, typing_only))
    return found


def _with_packages(module: str) -> list[str]:
    """``a.b.c`` → ``["a", "a.b", "a.b.c"]``: importing a module runs its packages' __init__ first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _matches(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@dataclass
class ImportGraph:
    """Project modules and what each imports, read from the source without importing anything."""

    modules: dict[str, Path]
    imports: dict[str, list[Import]]

    @classmethod
    def read(cls, root: Path) -> ImportGraph:
        """The graph of every module under ``root``'s project packages."""
        modules = project_modules(root)
        return cls(modules, {name: imports_of(name, path, modules) for name, path in modules.items()})

    def reachable(self, start: Iterable[str]) -> dict[str, list[str]]:
        """Every project module ``start`` reaches through executed imports → one import chain to it.

        Imports inside functions are followed (they run when the function is called); imports under
        ``TYPE_CHECKING`` are not (they never run).
        """
        chains: dict[str, list[str]] = {}
        todo: list[list[str]] = []
        for module in start:
            for package in _with_packages(module):
                if package in self.modules and package not in chains:
                    chains[package] = [package]
                    todo.append([package])
        while todo:
            chain = todo.pop()
            for imported in self.imports[chain[-1]]:
                if imported.typing_only:
                    continue
                for target in _with_packages(imported.module):
                    if target in self.modules and target not in chains:
                        chains[target] = [*chain, target]
                        todo.append(chains[target])
        return chains

    def offending_imports(self, modules: Iterable[str], forbidden: Iterable[str]) -> list[str]:
        """``"module:line imports X"`` for every import of a ``forbidden`` module (or one under it)."""
        forbidden = tuple(forbidden)
        return [
            f"{module}:{imported.line} imports {imported.module}"
            for module in sorted(modules)
            for imported in self.imports[module]
            if _matches(imported.module, forbidden)
        ]


@functools.cache
def _project_graph() -> ImportGraph:
    """The graph of this repository, read once per test run."""
    return ImportGraph.read(ROOT)


def _core_modules(graph: ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules if _matches(m, ("player.core",)))


def _loaded_in_fresh_interpreter(code: str) -> set[str]:
    """``sys.modules`` after running ``code`` in a new interpreter started at the repository root."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


# --- the contract ---------------------------------------------------------------------------------


def test_core_modules_import_no_io() -> None:
    """No module under player/core imports sqlite3, asyncio, threading, socket, sounddevice or other I/O,
    not even inside a function or for type checking."""
    graph = _project_graph()
    assert graph.offending_imports(_core_modules(graph), CORE_FORBIDDEN) == []


def test_core_reaches_no_shell_and_no_io_through_other_modules() -> None:
    """Following every project import from player/core reaches no shell; no player module on the way
    imports I/O or threads, and no mood module on the way imports I/O."""
    graph = _project_graph()
    reached = graph.reachable(_core_modules(graph))
    shells = {m: " → ".join(chain) for m, chain in reached.items() if _matches(m, SHELLS)}
    assert shells == {}
    player_side = [m for m in reached if _matches(m, ("player",))]
    mood_side = [m for m in reached if _matches(m, ("mood",))]
    # mood is the layer below; a mood record may guard its state with a lock (SpeakerBaseline), which
    # runs no thread, so threading is checked on the player side only.
    assert graph.offending_imports(player_side, CORE_FORBIDDEN) == []
    assert graph.offending_imports(mood_side, IO_MODULES) == []
    assert [m for m in reached if _matches(m, ("models",))] == []


def test_core_loads_no_shell_and_no_io_at_run_time() -> None:
    """Importing every player/core module in a fresh interpreter loads no shell and no I/O module."""
    loaded = _loaded_in_fresh_interpreter(
        "import importlib, pkgutil, player.core\n"
        "for m in pkgutil.walk_packages(player.core.__path__, 'player.core.'):\n"
        "    importlib.import_module(m.name)"
    )
    assert "player.core.session" in loaded and "player.core.ranking.recommender" in loaded
    assert sorted(m for m in loaded if _matches(m, (*SHELLS, *IO_MODULES, "models"))) == []


def test_mood_imports_nothing_from_player_or_models() -> None:
    """No module under mood/ imports player or models, anywhere in the file."""
    graph = _project_graph()
    mood_modules = [m for m in graph.modules if _matches(m, ("mood",))]
    assert len(mood_modules) > 5
    assert graph.offending_imports(mood_modules, ("player", "models")) == []


def test_simulator_reaches_only_the_records_of_player() -> None:
    """models.simulate reaches, of player, only player.core.track and player.core.records (nothing of
    ranking, listener or session), statically and in a fresh interpreter."""
    graph = _project_graph()
    static = {
        m: " → ".join(chain)
        for m, chain in graph.reachable(["models.simulate"]).items()
        if _matches(m, ("player",)) and m not in SIMULATOR_MAY_USE
    }
    typed = graph.offending_imports(["models.simulate"], ("player",))
    assert static == {}
    assert [t for t in typed if t.rpartition(" imports ")[2] not in SIMULATOR_MAY_USE] == []
    loaded = _loaded_in_fresh_interpreter("import models.simulate")
    assert sorted(m for m in loaded if _matches(m, ("player",)) and m not in SIMULATOR_MAY_USE) == []


# --- the checker itself ---------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_follows_indirect_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The static walk finds a shell reached from the core through a mood module, a relative import and a
    function-level import, and ignores imports under TYPE_CHECKING."""
    _write(
        tmp_path,
        {
            "player/__init__.py": "",
            "player/core/__init__.py": "",
            "player/core/a.py": "from . import b\n",
            "player/core/b.py": "def f():\n    from mood import helper\n",
            "player/core/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from player.desktop import loop\n"
            ),
            "player/server/__init__.py": "",
            "player/server/shell.py": "import asyncio\n",
            "player/desktop/__init__.py": "",
            "player/desktop/loop.py": "",
            "mood/__init__.py": "",
            "mood/helper.py": "try:\n    import player.server.shell\nexcept ImportError:\n    pass\n",
            "models/__init__.py": "",
        },
    )
    graph = ImportGraph.read(tmp_path)
    reached = graph.reachable(["player.core.a", "player.core.c"])
    assert reached["player.server.shell"] == [
        "player.core.a",
        "player.core.b",
        "mood.helper",
        "player.server.shell",
    ]
    assert "player.desktop.loop" not in reached  # only named for type checking
    assert graph.offending_imports(["mood.helper"], ("player",)) == [
        "mood.helper:2 imports player.server.shell"
    ]
    assert graph.offending_imports(["player.core.c"], SHELLS) == [
        "player.core.c:3 imports player.desktop",
        "player.core.c:3 imports player.desktop.loop",
    ]
    assert graph.offending_imports(["player.server.shell"], CORE_FORBIDDEN) == [
        "player.server.shell:1 imports asyncio"
    ]
