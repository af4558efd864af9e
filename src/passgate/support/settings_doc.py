"""Settings as environment variables: the reference page, and refusals that name them.

Both come from the fields of a pydantic-settings model (their type, constraints,
``description`` and ``json_schema_extra``), so the page and the messages cannot disagree
with the model. Regenerate the page after changing a setting (from the repository root)::

    .venv/bin/python -m passgate.settings            # writes docs/settings.md
    .venv/bin/python -m passgate.settings --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsError

__all__ = [
    "DEFAULT_PATH",
    "REGENERATE",
    "default_text",
    "env_name",
    "expects",
    "explain_settings_error",
    "main",
    "render",
]

DEFAULT_PATH = Path("docs/settings.md")
REGENERATE = ".venv/bin/python -m passgate.settings"
#: The longest piece of a refused value quoted back in a message.
_SHOWN = 40
_NONE = type(None)


def env_name(model: type[BaseSettings], name: str) -> str:
    """The environment variable of field ``name``, e.g. ``PASSGATE_DATA_DIR``."""
    prefix = str(model.model_config.get("env_prefix") or "")
    return f"{prefix}{name}".upper()


def _extra(field: FieldInfo, key: str) -> str | None:
    extra = field.json_schema_extra
    value = extra.get(key) if isinstance(extra, dict) else None
    return str(value) if value is not None else None


def _bare(annotation: Any) -> Any:
    """``X`` for ``X | None``."""
    args = [arg for arg in typing.get_args(annotation) if arg is not _NONE]
    if typing.get_origin(annotation) in (typing.Union, type(int | None)) and len(args) == 1:
        return args[0]
    return annotation


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bounds(field: FieldInfo) -> str:
    low = high = ""
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"at least {_number(item.ge)}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low = f"greater than {_number(item.gt)}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = f"at most {_number(item.le)}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = f"less than {_number(item.lt)}"  # type: ignore[arg-type]
    if low.startswith("at least") and high.startswith("at most"):
        return f"from {low.removeprefix('at least ')} to {high.removeprefix('at most ')}"
    return " and ".join(part for part in (low, high) if part)


def expects(field: FieldInfo) -> str:
    """What a field accepts, in words: its ``expects`` extra, or what its type says."""
    stated = _extra(field, "expects")
    if stated is not None:
        return stated
    annotation = _bare(field.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return "one of: " + ", ".join(str(arg) for arg in typing.get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int or annotation is float:
        kind = "an integer" if annotation is int else "a number"
        bounds = _bounds(field)
        return f"{kind} {bounds}" if bounds else kind
    if annotation is Path:
        return "a file system path"
    if annotation is SecretStr:
        return "a secret"
    if typing.get_origin(annotation) is list:
        return "comma-separated values"
    return "text"


def default_text(field: FieldInfo) -> str:
    """The default, as the reference shows it (``doc_default`` for computed ones)."""
    stated = _extra(field, "doc_default")
    if stated is not None:
        return stated
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{_number(value)}`"
    if isinstance(value, list | tuple):
        return "empty" if not value else f"`{','.join(str(item) for item in value)}`"
    return f"`{value}`"


# -- refusals -----------------------------------------------------------------------------


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def _problem(error: Any, field: FieldInfo) -> str:
    if error.get("type") == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    if _bare(field.annotation) is SecretStr:
        return "the value is not valid"
    return f"{_shown(error.get('input'))} is not valid"


_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "(\w+)"')


def explain_settings_error(model: type[BaseSettings], exc: ValidationError | SettingsError) -> str:
    """One line per refused variable: its name, what is wrong, what it expects. The value
    of a secret setting is never shown."""
    problems: dict[str, str] = {}
    if isinstance(exc, SettingsError):
        found = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
        name = found.group(1) if found else ""
        if name in model.model_fields:
            problems[name] = "the value cannot be parsed"
        else:
            return f"invalid settings: {exc}"
    else:
        for error in exc.errors():
            loc = error.get("loc") or ("",)
            name = str(loc[0])
            if name in model.model_fields and name not in problems:
                problems[name] = _problem(error, model.model_fields[name])
    return "\n".join(
        f"{env_name(model, name)}: {problem}; expected {expects(model.model_fields[name])}"
        for name, problem in problems.items()
    )


# -- the reference page -------------------------------------------------------------------

_INTRO = """\
# Settings reference

<!-- Generated from src/passgate/settings.py by `{regenerate}`; do not edit by hand. -->

passgate reads its process settings from environment variables, each `PASSGATE_` and the
setting's name (any letter case). Tenant settings (the protection policies, the default
directory) live in the database and change with `passgate` commands. A refused value
stops `passgate serve`, `passgate quickstart` and every other command before it does
anything, with exit status 2 and one line per refused variable that names it and what it
expects (a secret's value is never repeated).

"""


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


def render(model: type[BaseSettings]) -> str:
    """The Markdown reference of ``model``'s settings, in the order they are declared."""
    parts = [_INTRO.format(regenerate=REGENERATE)]
    parts.append("| Variable | Default |\n|---|---|\n")
    for name, field in model.model_fields.items():
        parts.append(f"| [`{env_name(model, name)}`](#{name}) | {default_text(field)} |\n")
    for name, field in model.model_fields.items():
        secret = (
            " (secret: never shown in a message)" if _bare(field.annotation) is SecretStr else ""
        )
        parts.append(
            f'\n<a id="{name}"></a>\n'
            f"## `{env_name(model, name)}`\n\n"
            f"{_one_paragraph(field.description or '')}\n\n"
            f"- Type: {expects(field)}{secret}\n"
            f"- Default: {default_text(field)}\n"
        )
    return "".join(parts)


def main(model: type[BaseSettings], argv: Sequence[str] | None = None) -> int:
    """``python -m passgate.settings [--check] [PATH]`` (PATH: docs/settings.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [arg for arg in args if arg != "--check"]
    if len(paths) > 1 or any(arg.startswith("-") for arg in paths):
        print("usage: python -m passgate.settings [--check] [PATH]", file=sys.stderr)
        return 2
    path = Path(paths[0]) if paths else DEFAULT_PATH
    text = render(model)
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is out of date; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0
