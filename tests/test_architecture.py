"""The package's shape (docs/architecture.md): each folder is a layer that imports only
from layers below it, nothing imports the composition root, no module grows past 500
lines, and the package root holds only the few modules listed here.

Every import counts: at the top of a module, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "passgate"

#: From the bottom up. A module of a layer imports only modules of its own layer or of
#: layers listed before it.
LAYERS = [
    "errors",
    "domain",
    "support",
    "settings",
    "observability",
    "storage",
    "migrations",
    "mail",
    "keys",
    "accounts",
    "oauth",
    "protection",
    "breached",
    "streams",
    "management",
    "web",
    "cli",
    "testing",
    "app",
    "__main__",
]
#: The modules the package root may hold (folders are layers of their own).
ROOT_MODULES = {"__init__", "__main__", "app", "settings", "errors", "testing"}
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_layers(path: Path) -> list[tuple[int, str]]:
    """(line, layer) of every passgate module that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names = [module]
            if module == "passgate":  # from passgate import x
                names = [f"passgate.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "passgate" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def test_every_folder_and_root_module_is_a_layer() -> None:
    unplaced = {_layer(path) for path in _modules()} - set(LAYERS) - {"__init__"}
    assert not unplaced, f"place these in LAYERS (tests/test_architecture.py): {unplaced}"


def test_the_package_root_holds_only_the_listed_modules() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert not loose, f"modules loose at the package root: {sorted(loose)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    here = _layer(path)
    rank = LAYERS.index(here) if here in LAYERS else len(LAYERS)
    upward = [
        f"line {line}: {here} imports {there}"
        for line, there in _imported_layers(path)
        if there != here and there in LAYERS and LAYERS.index(there) > rank
    ]
    assert not upward, upward


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_imports_the_composition_root(path: Path) -> None:
    if _layer(path) in ("app",):
        return
    assert "app" not in [there for _, there in _imported_layers(path)]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{lines} lines"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The passgate modules ``path`` imports (a name imported from a package counts as its
    submodule when there is one), anywhere in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return found & known


def test_no_circle_between_modules() -> None:
    """Not only folders: no two modules import each other, directly or around a loop
    (an import inside a function, put there to dodge a circle, counts too)."""
    paths = {_module_name(path): path for path in _modules()}
    known = set(paths)
    graph = {name: _imported_modules(path, known) - {name} for name, path in paths.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []
