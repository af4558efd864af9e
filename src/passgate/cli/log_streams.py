"""``passgate log-streams …``: where running servers deliver the event log (Auth0's log
streams, type ``http``), over the Management API's service.

A stream delivers the events logged after its creation, at least once and in order; a
server process picks a change up within half a second. The authorization header is a
secret: it is sealed before it is stored and shown only as ``********``. A refusal (a URL
that is not http(s), an unknown category, no such stream) is one line on stderr and exit
code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from passgate.cli.support import BadValue, Stores, emit, fields, json_option, open_stores, table
from passgate.domain.log_streams import CATEGORIES, FORMATS, expand_categories
from passgate.errors import ManagementError
from passgate.management.log_streams import LogStreamsService, NewLogStream
from passgate.storage.log_streams import LogStreams
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import KeyEncryptionKeys

__all__ = ["log_streams"]

_HEADERS = ("ID", "NAME", "STATUS", "FORMAT", "ENDPOINT", "CATEGORIES", "DELIVERY")


def _service(stores: Stores) -> LogStreamsService:
    from passgate.keys.startup import key_encryption_keys

    def sealer() -> KeyEncryptionKeys:
        return key_encryption_keys(stores.settings, SigningKeys(stores.engine))

    return LogStreamsService(LogStreams(stores.engine), sealer=sealer)


def _categories(stream: dict[str, Any]) -> str:
    return ", ".join(f["name"] for f in stream["filters"]) or "all"


def _delivery(stream: dict[str, Any]) -> str:
    state = stream["delivery"]
    if state["failures"]:
        return f"failing ({state['failures']}x: {state['last_error']})"
    if state["delivered_at"]:
        return f"ok, last at {state['delivered_at']}"
    return "nothing sent yet"


def _stream_text(stream: dict[str, Any]) -> str:
    sink = stream["sink"]
    return fields(
        [
            ("id", stream["id"]),
            ("name", stream["name"]),
            ("status", stream["status"]),
            ("endpoint", sink["httpEndpoint"]),
            ("content type", sink["httpContentType"]),
            ("format", sink["httpContentFormat"]),
            ("authorization", sink.get("httpAuthorization", "-")),
            ("categories", _categories(stream)),
            ("delivery", _delivery(stream)),
        ]
    )


@click.group("log-streams")
def log_streams() -> None:
    """Deliver the event log to an HTTP receiver (Auth0's log streams, type http)."""


@log_streams.command("create")
@click.option("--name", required=True, help="A name to tell the stream by.")
@click.option("--endpoint", required=True, help="The receiver's http:// or https:// URL.")
@click.option(
    "--format",
    "content_format",
    type=click.Choice(FORMATS, case_sensitive=False),
    default="JSONLINES",
    show_default=True,
    help="JSONLINES or JSONARRAY: a batch per request; JSONOBJECT: one event per request.",
)
@click.option(
    "--content-type", default="application/json", show_default=True, help="The media type sent."
)
@click.option(
    "--authorization",
    default=None,
    metavar="VALUE",
    help="The Authorization header to send, e.g. 'Bearer TOKEN' (stored encrypted). "
    "--authorization-stdin keeps it out of the shell's history.",
)
@click.option(
    "--authorization-stdin",
    is_flag=True,
    help="Read the Authorization header's value from the first line of stdin.",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="CATEGORY",
    help="Deliver only this Auth0 event category (repeatable; family.* for a family, "
    "e.g. auth.signup.*); none: every event.",
)
@click.option("--paused", is_flag=True, help="Create it paused.")
@json_option
def create(
    name: str,
    endpoint: str,
    content_format: str,
    content_type: str,
    authorization: str | None,
    authorization_stdin: bool,
    categories: tuple[str, ...],
    paused: bool,
    as_json: bool,
) -> None:
    """Create a log stream: running servers deliver the events logged from now on."""
    if authorization is not None and authorization_stdin:
        raise click.UsageError("give --authorization or --authorization-stdin, not both")
    if authorization_stdin:
        authorization = sys.stdin.readline().rstrip("\r\n")
    sink: dict[str, Any] = {
        "httpEndpoint": endpoint,
        "httpContentType": content_type,
        "httpContentFormat": content_format.upper(),
    }
    if authorization is not None:
        sink["httpAuthorization"] = authorization
    body: dict[str, Any] = {
        "name": name,
        "type": "http",
        "status": "paused" if paused else "active",
        "sink": sink,
        "filters": [{"type": "category", "name": c} for c in expand_categories(categories)],
    }
    with open_stores() as stores:
        try:
            new = NewLogStream.from_body(body)
        except ManagementError as exc:
            raise _for_options(exc) from None
        stream = _service(stores).create(new)
    emit(as_json, stream, lambda: _stream_text(stream))


def _for_options(exc: ManagementError) -> click.ClickException:
    """A body refusal, worded with the command's options."""
    message = exc.message
    for property_name, option in (
        ("sink.httpEndpoint", "--endpoint"),
        ("sink.httpContentType", "--content-type"),
        ("sink.httpAuthorization", "--authorization"),
        ("filters", "--category"),
        ("name", "--name"),
    ):
        if f"on property {property_name}" in message:
            message = message.replace(f"on property {property_name}", f"for {option}")
            break
    if "--category" in message:
        message += f" (categories: {', '.join(CATEGORIES)})"
    return BadValue(message)


@log_streams.command("list")
@json_option
def list_streams(as_json: bool) -> None:
    """List the log streams, oldest first, with how their delivery fares."""
    with open_stores() as stores:
        found = _service(stores).list_streams()
    rows = [
        (
            s["id"],
            s["name"],
            s["status"],
            s["sink"]["httpContentFormat"],
            s["sink"]["httpEndpoint"],
            _categories(s),
            _delivery(s),
        )
        for s in found
    ]
    emit(as_json, found, lambda: table(_HEADERS, rows, empty="no log streams"))


@log_streams.command("show")
@click.argument("stream_id", metavar="ID")
@json_option
def show(stream_id: str, as_json: bool) -> None:
    """Show the log stream ID and how its delivery fares."""
    with open_stores() as stores:
        stream = _service(stores).get(stream_id)
    emit(as_json, stream, lambda: _stream_text(stream))


def _status_command(name: str, status: str, doc: str) -> Callable[..., None]:
    @log_streams.command(name, help=doc)
    @click.argument("stream_id", metavar="ID")
    @json_option
    def command(stream_id: str, as_json: bool) -> None:
        with open_stores() as stores:
            stream = _service(stores).set_status(stream_id, status)
        emit(as_json, stream, lambda: f"log stream {stream_id} is {stream['status']}")

    return command


pause = _status_command(
    "pause",
    "paused",
    "Pause the log stream ID: nothing is sent until it is resumed, and then what was "
    "logged meanwhile is (as far as the event log keeps it).",
)
resume = _status_command(
    "resume",
    "active",
    "Resume the paused or suspended log stream ID from where it stopped; a failing "
    "receiver is tried again at once.",
)


@log_streams.command("delete")
@click.argument("stream_id", metavar="ID")
@json_option
def delete(stream_id: str, as_json: bool) -> None:
    """Delete the log stream ID: nothing more is sent to its receiver."""
    with open_stores() as stores:
        service = _service(stores)
        stream = service.get(stream_id)
        service.delete(stream_id)
    emit(as_json, {"deleted": stream}, f"deleted log stream {stream_id} ({stream['name']})")
