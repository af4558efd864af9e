"""``GET/DELETE /api/v2/anomaly/blocks/ips/{id}``: suspicious IP throttling of one IP,
through ``management.ip_blocks`` (as ``passgate ip-blocks show|remove``)."""

from __future__ import annotations

from passgate.domain.client_ip import ip_text
from passgate.management.errors import InvalidUri, NotFound
from passgate.management.ip_blocks import IpBlocks
from passgate.web.management.operations import Answer, Call, Operation, PathParam, Reply

__all__ = ["anomaly_operations"]

READ = ("read:anomaly_blocks",)
DELETE = ("delete:anomaly_blocks",)
NOT_BLOCKED = "IP address specified is not currently blocked."
_IP = PathParam(
    "id",
    "An IPv4 or IPv6 address.",
    {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
)
_SHOWN = 100
#: Longer path values are no address (the longest IPv6 text is 45 characters).
_MAX_IP_TEXT = 100


def _ip(call: Call) -> str:
    text = call.path["id"]
    address = ip_text(text) if len(text) <= _MAX_IP_TEXT else None
    if address is None:
        shown = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
        raise InvalidUri(f"Path validation error: '{shown}' is not an IP address on property id.")
    return address


def anomaly_operations(service: IpBlocks) -> list[Operation]:
    """Check and lift the suspicious-IP block of one address."""

    def check(call: Call) -> Reply:
        if not service.status(_ip(call)).blocked:
            raise NotFound(NOT_BLOCKED, code="ip_not_blocked")
        return Reply(status=200)

    def unblock(call: Call) -> Reply:
        done = service.unblock(_ip(call))
        changes = {
            "ip": done.ip,
            "was_throttled": bool(done.throttled_stages),
            "throttled_stages": done.throttled_stages,
            "refilled": done.refilled,
        }
        return Reply(status=204, changes=changes)

    path = "/anomaly/blocks/ips/{id}"
    return [
        Operation(
            method="GET",
            path=path,
            scopes=READ,
            summary="Check if an IP address is blocked",
            description="200 when suspicious IP throttling refuses this IP now (a stage's "
            "bucket is empty, throttling is enabled with the block shield, the IP is not "
            "allowlisted), 404 when it does not.",
            operation_id="get_ips_by_id",
            tag="anomaly",
            handler=check,
            answer=Answer(200, "The IP address is blocked."),
            path_params=(_IP,),
            not_found=NOT_BLOCKED,
        ),
        Operation(
            method="DELETE",
            path=path,
            scopes=DELETE,
            summary="Remove the blocked IP address",
            description="Refills every throttling bucket of the IP (also when it was not blocked).",
            operation_id="delete_ips_by_id",
            tag="anomaly",
            handler=unblock,
            answer=Answer(204, "The IP address is unblocked."),
            path_params=(_IP,),
        ),
    ]
