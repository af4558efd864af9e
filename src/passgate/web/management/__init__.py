"""``/api/v2``: the Management API over HTTP. ``operations`` declares an endpoint,
``routes`` serves a table of them (token, rate limit, scopes, inputs, audit events),
``openapi`` documents them; one module per resource declares its operations."""
