"""Log streams: the event log delivered to HTTP receivers (Auth0's log streams).

- ``payload``: each event as Auth0's streams send it, and the request bodies of the three
  formats;
- ``delivery``: the background deliverer (cursor, batches, retries, leases).

The streams' settings are managed by ``management.log_streams`` (the Management API and
the CLI); their rows live in ``storage.log_streams``.
"""
