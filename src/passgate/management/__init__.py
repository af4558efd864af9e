"""The Management API's services, one per resource, shared by ``web.management``
(``/api/v2``) and the command line: who calls (``access``), per-token rate limits
(``rate_limit``), the attack-protection policies, user blocks, IP blocks, the event log's
search (``logs``), client grants. Each is blocking (database, counters) and raises
``ManagementError`` refusals."""
