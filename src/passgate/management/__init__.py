"""The Management API's services, one per resource, shared by ``web.management``
(``/api/v2``) and the command line: who calls (``access``), per-token rate limits
(``rate_limit``), the attack-protection policies, user blocks and IP blocks. Each is
blocking (database, counters) and raises ``management.errors`` refusals."""
