"""``passgate doctor``: what is wrong with this deployment, in plain words with the fix.

The same checks as ``GET /api/v2/passgate/doctor`` (:mod:`passgate.management.doctor`),
over the configured database and this process's settings: run it with the servers'
``PASSGATE_…`` environment. Exit status 1 when a finding is an error or a warning, 0 when
there are none (info findings only say what was checked); 2 for refused settings or
options.
"""

from __future__ import annotations

import click

from passgate.cli.support import emit, json_option, open_stores, plural, refusals
from passgate.domain.clock import system_clock
from passgate.domain.doctor import Finding, exit_status
from passgate.errors import ManagementError
from passgate.management.doctor import DEFAULT_SINCE, doctor_for

__all__ = ["doctor"]

_MARKS = {"error": "ERROR", "warning": "WARNING", "info": "info"}


def _text(findings: list[Finding]) -> str:
    if not findings:
        return "No problems found."
    blocks = []
    for finding in findings:
        about = f" [{finding.client_id}]" if finding.client_id else ""
        blocks.append(
            f"{_MARKS[finding.severity]}: {finding.code}{about}\n"
            f"  {finding.message}\n  Fix: {finding.fix}"
        )
    counts = {severity: 0 for severity in _MARKS}
    for finding in findings:
        counts[finding.severity] += 1
    summary = ", ".join(plural(count, name, f"{name}s") for name, count in counts.items() if count)
    return "\n\n".join([*blocks, summary])


@click.command()
@click.option(
    "--since",
    default=DEFAULT_SINCE,
    show_default=True,
    help="How far back to read the events: a duration (30m, 12h, 7d, 2w) or an ISO 8601 "
    "date or time.",
)
@json_option
def doctor(since: str, as_json: bool) -> None:
    """Check this deployment: whose IP logins count against (from recent events), and the
    configuration. Exit status 1 when something needs fixing (an error or a warning)."""
    with open_stores() as stores, refusals():
        checker = doctor_for(
            stores.settings,
            stores.engine,
            clients=stores.applications.list_clients,
            clock=system_clock,
        )
        try:
            moment = checker.since(since)
        except ManagementError as exc:
            raise click.BadParameter(exc.message, param_hint="'--since'") from None
        findings = checker.findings(moment)
    emit(
        as_json, {"findings": [finding.to_json() for finding in findings]}, lambda: _text(findings)
    )
    click.get_current_context().exit(exit_status(findings))
