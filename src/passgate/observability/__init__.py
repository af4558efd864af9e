"""Observability: Prometheus metrics (``metrics``, ``events``, ``sampling``, ``multiproc``,
``listener``) and the access log (``access_log``). Below storage, so that any layer can
report to it; it knows nothing of HTTP routes or the services it counts."""
