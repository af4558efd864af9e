"""The admin console at ``/admin``: server-rendered pages over the Management API's
services, for administrators (``passgate admins create``)."""

from passgate.web.console.routes import console_routes

__all__ = ["console_routes"]
