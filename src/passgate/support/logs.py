"""Process logging with structlog: one line per record, JSON or for people to read, never a
password, secret or token.

``configure_logging(level, fmt)`` sends every record of the standard library's logging
(passgate's and uvicorn's) through structlog's renderer: ``json`` writes one JSON object a
line (``timestamp``, ``level``, ``logger``, ``event`` and the record's fields), ``console``
a line with the same fields as ``key=value``. Tracebacks are plain text, never with local
variables (those would hold passwords). :func:`access_logger` is the faster writer of the
access lines (one per request): the same format, without the standard library's machinery.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog
from structlog.dev import ConsoleRenderer, plain_traceback
from structlog.processors import JSONRenderer, TimeStamper, format_exc_info
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["LogFormat", "access_logger", "configure_logging", "redact"]

LogFormat = Literal["console", "json"]

#: Fields whose values are never written, whoever logs them.
_SECRET_FIELD = re.compile(
    r"pass(word|wd)|secret|token|authori[sz]ation|cookie|ticket|api[_-]?key|credential",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """Replace the value of any field named like a secret."""
    for key in event:
        if _SECRET_FIELD.search(key):
            event[key] = REDACTED
    return event


def _dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _renderer(fmt: LogFormat) -> Processor:
    if fmt == "json":
        return JSONRenderer(serializer=_dumps)
    return ConsoleRenderer(colors=False, exception_formatter=plain_traceback, sort_keys=False)


def _timestamper() -> TimeStamper:
    return TimeStamper(fmt="iso", utc=True, key="timestamp")


def configure_logging(level: str = "info", fmt: LogFormat = "console") -> None:
    """Route every standard-library log record to stderr in ``fmt`` from ``level`` up."""
    pre_chain: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        _timestamper(),
    ]
    tail: list[Processor] = [redact]
    if fmt == "json":
        tail.append(format_exc_info)
    formatter = ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[ProcessorFormatter.remove_processors_meta, *tail, _renderer(fmt)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre_chain,
            ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _add_level(level: str) -> Processor:
    def add(logger: WrappedLogger, name: str, event: MutableMapping[str, Any]) -> Any:
        event["level"] = level
        return event

    return add


def access_logger(fmt: LogFormat, *, stream: TextIO | None = None) -> Any:
    """A structlog logger for access lines: ``.info(event, **fields)`` writes one line to
    ``stream`` (stderr) in ``fmt``, with ``timestamp`` and ``level``."""
    out = stream if stream is not None else sys.stderr
    processors: list[Processor] = [_timestamper(), _add_level("info")]
    if fmt == "json":
        processors.append(JSONRenderer(serializer=_dumps))
    else:
        processors.append(_renderer(fmt))
    return structlog.wrap_logger(
        structlog.WriteLogger(out),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
