"""Every table passgate keeps, as SQLAlchemy Core metadata (SQLite and PostgreSQL).

Times are floats of seconds since the Unix epoch. Secrets and tokens are never stored,
only their keyed digests (``*_digest`` columns, hex).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata"]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # Auth0's strategy: "auth0" (a database connection), the only kind passgate has.
    sa.Column("strategy", sa.String(32), nullable=False, server_default="auth0"),
    sa.Column("display_name", sa.String(128), nullable=True),
    # Auth0's options (``domain.connection_options``), a JSON object; NULL: none.
    sa.Column("options", sa.Text, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # "auth0|<hex>"
    sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False),  # lower-cased
    sa.Column("username", sa.String(128), nullable=True),
    sa.Column("username_key", sa.String(128), nullable=True),
    sa.Column("email_verified", sa.Boolean, nullable=False, default=False),
    sa.Column("name", sa.String(256), nullable=True),
    # The profile given at sign-up (``passgate.domain.profiles``), null when not given.
    sa.Column("given_name", sa.String(150), nullable=True),
    sa.Column("family_name", sa.String(150), nullable=True),
    sa.Column("nickname", sa.String(300), nullable=True),
    sa.Column("picture", sa.String(2048), nullable=True),  # an http(s) URL
    sa.Column("user_metadata", sa.Text, nullable=True),  # JSON object, Auth0's rules
    # Set by administrators only (Management API): a JSON object, null when empty.
    sa.Column("app_metadata", sa.Text, nullable=True),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("password_leaked", sa.Boolean, nullable=False, default=False),
    sa.Column("password_changed_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("connection_id", "email_key", name="uq_users_connection_email"),
    sa.UniqueConstraint("connection_id", "username_key", name="uq_users_connection_username"),
    # Lookups across connections (users-by-email, the Management API's user search).
    sa.Index("ix_users_email_key", "email_key"),
    sa.Index("ix_users_username_key", "username_key"),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("app_type", sa.String(32), nullable=False),
    sa.Column("token_endpoint_auth_method", sa.String(32), nullable=False),
    sa.Column("grant_types", sa.Text, nullable=False),  # JSON list
    sa.Column("is_token_endpoint_ip_header_trusted", sa.Boolean, nullable=False, default=False),
    sa.Column("secret_digest", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # description, logo and URLs, client_metadata: a JSON object (NULL: none of them)
    sa.Column("profile", sa.Text, nullable=True),
)

apis = sa.Table(
    "apis",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("identifier", sa.String(600), nullable=False, unique=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),  # JSON list
    sa.Column("token_lifetime", sa.Integer, nullable=False),
    sa.Column("allow_offline_access", sa.Boolean, nullable=False, default=False),
    sa.Column("signing_alg", sa.String(8), nullable=False, default="RS256"),
    sa.Column("created_at", sa.Float, nullable=False),
    # The Management API (true for one API at most; see the index below).
    sa.Column("is_system", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
)
#: At most one system API, even when several processes create it at the same moment.
sa.Index(
    "uq_apis_is_system",
    apis.c.is_system,
    unique=True,
    sqlite_where=apis.c.is_system,
    postgresql_where=apis.c.is_system,
)

#: Which client may get client-credentials tokens for which API, with which scopes (one
#: grant per client and API). Deleting the client or the API deletes its grants.
client_grants = sa.Table(
    "client_grants",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # "cgr_…", in creation order
    sa.Column(
        "client_id",
        sa.String(64),
        sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "api_id", sa.String(40), sa.ForeignKey("apis.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("scope", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("client_id", "api_id", name="uq_client_grants_client_api"),
    sa.Index("ix_client_grants_api_id", "api_id"),
)

#: Which clients may use which connection (Auth0's ``enabled_clients``). Deleting either
#: deletes the pair.
connection_clients = sa.Table(
    "connection_clients",
    metadata,
    sa.Column(
        "connection_id",
        sa.String(40),
        sa.ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "client_id",
        sa.String(64),
        sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Index("ix_connection_clients_client_id", "client_id"),
)

#: A user's previous passwords, as argon2 hashes only (the connection's
#: ``password_history``): the newest ``size - 1`` are kept (the current one is the
#: user's own hash). Deleting the user deletes them.
password_history = sa.Table(
    "password_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_password_history_user_id", "user_id", "created_at"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_digest", sa.String(128), primary_key=True),
    sa.Column("family_id", sa.String(40), nullable=False, index=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("audience", sa.String(600), nullable=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(128), primary_key=True),
    sa.Column("alg", sa.String(8), nullable=False),
    # Sealed under the key-encryption key kek_id (AES-256-GCM); JSON when kek_id is null.
    sa.Column("private_jwk", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("retired_at", sa.Float, nullable=True),  # null = the active key for its alg
    sa.Column("kek_id", sa.String(64), nullable=True),
    # Revoked: no longer published, its tokens refused (a revoked key is retired too).
    sa.Column("revoked_at", sa.Float, nullable=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log_id", sa.String(64), nullable=False, unique=True),
    sa.Column("date", sa.Float, nullable=False, index=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("client_ip", sa.String(64), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("client_name", sa.String(256), nullable=True),
    sa.Column("connection", sa.String(128), nullable=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("user_name", sa.String(320), nullable=True),
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Column("audience", sa.String(600), nullable=True),
    sa.Column("scope", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=False),  # JSON
)

#: The log searches that must stay fast on millions of events (``storage/event_search``):
#: one field's value, newest first (or oldest), with ``seq`` as the tie-break and for
#: checkpoint paging. A date range alone uses ``ix_events_date``. Daily stats count one type
#: over a date range with ``ix_events_type_date``.
for _field in ("type", "ip", "user_id", "client_id"):
    sa.Index(f"ix_events_{_field}_date", events.c[_field], events.c.date, events.c.seq)

# --- attack protection -------------------------------------------------------------

#: Consecutive failures per key. ``key`` is "<mode>:<subject>[:<ip>]"; ``subject`` is the
#: account or canonical identifier counted against (``identifiers.counter_subject``);
#: ``identifier`` the label shown in block listings.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("key", sa.String(800), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False, index=True),
    sa.Column("identifier", sa.String(320), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("reserved", sa.Integer, nullable=False, default=0),
    sa.Column("reserved_until", sa.Float, nullable=False, default=0.0),
    sa.Column("last_failure", sa.Float, nullable=False, default=0.0),
)

#: Suspicious-IP token buckets, as GCRA theoretical arrival times.
ip_buckets = sa.Table(
    "ip_buckets",
    metadata,
    sa.Column("ip", sa.String(64), primary_key=True),
    sa.Column("stage", sa.String(32), primary_key=True),
    sa.Column("tat", sa.Float, nullable=False),
)

#: Rate limits of notifications and events ("at most one per hour per IP").
once_marks = sa.Table(
    "once_marks",
    metadata,
    sa.Column("key", sa.String(800), primary_key=True),
    sa.Column("until", sa.Float, nullable=False),
)

#: Single-use, expiring links (unblock, password reset), stored as digests.
tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("token_digest", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),  # "unblock" | "reset"
    sa.Column("payload", sa.Text, nullable=False),  # JSON
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)

#: Administrator notifications waiting for a digest (breached passwords, throttled IPs).
pending_notifications = sa.Table(
    "pending_notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON
    sa.Column("created_at", sa.Float, nullable=False),
)

# --- log streams -------------------------------------------------------------------

#: Where events are delivered (Auth0's log streams, type ``http``), and how far each got.
#: ``cursor_seq`` is the ``events.seq`` of the last event handled (delivered or filtered
#: out); the event log numbers events in commit order, so nothing is skipped past it.
#: One process delivers a stream at a time: the one named by ``lease_owner`` until
#: ``lease_until``, which it renews while it delivers.
log_streams = sa.Table(
    "log_streams",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # "lst_…", in creation order
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),  # "http"
    sa.Column("status", sa.String(16), nullable=False),  # active | paused | suspended
    sa.Column("filters", sa.Text, nullable=False),  # JSON list of category names
    sa.Column("endpoint", sa.String(2048), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("content_format", sa.String(16), nullable=False),
    # Sealed under the key-encryption key authorization_kek_id (never stored in clear).
    sa.Column("authorization_sealed", sa.Text, nullable=True),
    sa.Column("authorization_kek_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("cursor_seq", sa.Integer, nullable=False, default=0),
    sa.Column("cursor_log_id", sa.String(64), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # consecutive
    sa.Column("failing_since", sa.Float, nullable=True),
    sa.Column("retry_at", sa.Float, nullable=False, default=0.0),
    sa.Column("last_error", sa.String(300), nullable=True),  # never a secret or a URL's
    sa.Column("delivered_at", sa.Float, nullable=True),  # the last delivery that worked
)

# --- the attack dashboard's aggregates (``storage/event_rollups``) -----------------

#: How far each rollup has counted the event log: every event numbered up to ``seq`` is
#: in the aggregates, none after it. Moved in the same transaction as the counts it adds.
rollup_cursors = sa.Table(
    "rollup_cursors",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: Events per hour (hours since the epoch, UTC) and dashboard metric
#: (``domain/rollups``: the series, sign-up attempts, distinct accounts and IPs).
rollup_hourly = sa.Table(
    "rollup_hourly",
    metadata,
    sa.Column("hour", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String(32), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

#: Per IP: counts per hour (``width`` 1, ``bucket`` the hour) and per UTC day (``width``
#: 24, ``bucket`` the day's first hour); ``total`` the sum of the other counts.
rollup_ips = sa.Table(
    "rollup_ips",
    metadata,
    sa.Column("width", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("ip", sa.String(64), primary_key=True),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("signups", sa.Integer, nullable=False),
    sa.Column("blocks", sa.Integer, nullable=False),
    sa.Column("breached", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
)

#: Per account (the canonical identifier tried, else the user id), as ``rollup_ips``.
rollup_accounts = sa.Table(
    "rollup_accounts",
    metadata,
    sa.Column("width", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("account", sa.String(320), primary_key=True),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("blocks", sa.Integer, nullable=False),
    sa.Column("breached", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
)

#: The top IPs and accounts of a window: the sum of ``total`` per key over the window's
#: buckets, read from these indexes alone (then the other counts of the top few).
sa.Index("ix_rollup_ips_ip", rollup_ips.c.width, rollup_ips.c.ip, rollup_ips.c.bucket,
         rollup_ips.c.total)  # fmt: skip
sa.Index("ix_rollup_accounts_account", rollup_accounts.c.width, rollup_accounts.c.account,
         rollup_accounts.c.bucket, rollup_accounts.c.total)  # fmt: skip

#: Security alerts sent: one per kind and hour at most (the row is the claim, taken
#: before anything is sent, so several workers and instances send it once).
security_alerts = sa.Table(
    "security_alerts",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("hour", sa.Integer, primary_key=True),
    sa.Column("fired_at", sa.Float, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON: the counts and the threshold
)

# --- the admin console -------------------------------------------------------------

#: Administrators of the console (not end users: they never reach the token endpoint).
admins = sa.Table(
    "admins",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # "admin|<hex>"
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),  # canonical
    sa.Column("role", sa.String(16), nullable=False),  # "admin" | "viewer"
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_login_at", sa.Float, nullable=True),
)

#: Console sessions, by a keyed digest of the cookie's token (never the token).
admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("token_digest", sa.String(128), primary_key=True),
    sa.Column(
        "admin_id",
        sa.String(64),
        sa.ForeignKey("admins.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

# --- jobs ------------------------------------------------------------------------

#: Long-running Management API work (Auth0's ``/jobs``): user imports and exports.
#: ``options`` holds what the job was asked (JSON), ``summary`` its counts once done.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # "job_<16 letters and digits>"
    sa.Column("type", sa.String(32), nullable=False),  # "users_import" | "users_export"
    sa.Column("status", sa.String(16), nullable=False),  # pending, processing, completed, failed
    sa.Column("connection_id", sa.String(40), nullable=True),
    sa.Column("options", sa.Text, nullable=False),  # JSON
    sa.Column("summary", sa.Text, nullable=True),  # JSON
    sa.Column("status_details", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: The rows a users-import job refused (Auth0's job errors; never a hash), by row number.
job_errors = sa.Table(
    "job_errors",
    metadata,
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("error", sa.Text, nullable=False),  # JSON
)
