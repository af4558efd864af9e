"""One error tree (passgate.errors): every exception class passgate defines derives from
PassgateError, and none of them knows how it is answered over HTTP (that is
passgate.web.errors' job).

The classes are found by importing every module of the package; classes defined inside
functions would escape that walk, so the source is also read to make sure there are none.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import click
import pytest

from passgate.errors import PassgateError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "passgate"
#: Modules that run something when imported: the alembic environment, ``python -m``.
NOT_IMPORTED = {"passgate.migrations.env", "passgate.__main__"}
#: Names an error's attributes and methods must not have: an error carries meaning and
#: data; its status, headers and body are the web layer's.
HTTP_NAMES = re.compile(r"status|header|body|http|response|challenge|authenticate", re.I)
HTTP_PACKAGES = {"starlette", "uvicorn", "httpx", "h11", "httptools"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _paths() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for path in _paths():
        name = _module_name(path)
        if name in NOT_IMPORTED:
            continue
        module = importlib.import_module(name)
        found.extend(
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == name
        )
    return found


def _is_cli_answer(kind: type[BaseException]) -> bool:
    """The command line's answers: click prints the message and exits with the class's
    code (the counterpart of an HTTP response, made from passgate's errors in cli/)."""
    return kind.__module__.startswith("passgate.cli.") and issubclass(kind, click.ClickException)


EXCEPTIONS = _exception_classes()
ERRORS = [kind for kind in EXCEPTIONS if not _is_cli_answer(kind)]


def test_the_walk_finds_the_tree() -> None:
    names = {kind.__name__ for kind in ERRORS}
    assert {"PassgateError", "OAuthError", "AccountError", "BreachedError"} <= names
    assert {"InvalidToken", "PolicyError", "MailError", "DuplicateUser"} <= names


@pytest.mark.parametrize("kind", ERRORS, ids=lambda kind: f"{kind.__module__}.{kind.__name__}")
def test_every_error_derives_from_passgate_error(kind: type[BaseException]) -> None:
    assert issubclass(kind, PassgateError)


def test_the_only_other_exceptions_are_the_clis_answers() -> None:
    others = {kind.__qualname__ for kind in EXCEPTIONS if _is_cli_answer(kind)}
    assert others == {"BadValue", "CheckError", "SettingsRefused"}


def _class_nodes(tree: ast.Module) -> list[tuple[ast.ClassDef, bool]]:
    """Every class of a module, and whether it is defined at the top level."""
    top = {id(node) for node in tree.body if isinstance(node, ast.ClassDef)}
    return [(node, id(node) in top) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def test_no_exception_class_is_defined_inside_a_function() -> None:
    names = {kind.__name__ for kind in EXCEPTIONS}
    nested = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
        for path in _paths()
        for node, at_top in _class_nodes(ast.parse(path.read_text(encoding="utf-8")))
        if not at_top
        and any(
            isinstance(base, ast.Name)
            and (base.id in names or base.id.endswith(("Error", "Exception")))
            for base in node.bases
        )
    ]
    assert nested == []


def _defined_names(node: ast.ClassDef) -> set[str]:
    """Attributes and methods a class body defines, and what its methods set on self."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.FunctionDef):
            names.add(child.name)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
        elif (
            isinstance(child, ast.Attribute)
            and isinstance(child.ctx, ast.Store)
            and isinstance(child.value, ast.Name)
            and child.value.id == "self"
        ):
            names.add(child.attr)
    return names


def _error_modules() -> dict[str, set[str]]:
    """Each module that defines errors, and the names of its error classes."""
    modules: dict[str, set[str]] = {}
    for kind in ERRORS:
        modules.setdefault(kind.__module__, set()).add(kind.__name__)
    return modules


def test_no_error_knows_its_http_status_headers_or_body() -> None:
    found: list[str] = []
    for module, classes in _error_modules().items():
        path = PACKAGE.parent / Path(*module.split(".")).with_suffix(".py")
        for node, _ in _class_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if node.name in classes:
                found += [
                    f"{module}.{node.name}.{name}"
                    for name in _defined_names(node)
                    if HTTP_NAMES.search(name)
                ]
    assert found == []


def test_no_module_defining_errors_imports_an_http_framework() -> None:
    found: list[str] = []
    for module in _error_modules():
        path = PACKAGE.parent / Path(*module.split(".")).with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots = [node.module.split(".")[0]]
            else:
                continue
            found += [f"{module}: {root}" for root in roots if root in HTTP_PACKAGES]
    assert found == []
