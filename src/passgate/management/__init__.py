"""The Management API's operations, in Auth0's shapes: shared by ``/api/v2`` and the CLI."""
