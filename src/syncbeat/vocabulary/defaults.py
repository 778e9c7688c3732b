"""Every default syncbeat uses, in one place, each with the reason for its value.

Relations that must hold: ``LEASE_TTL`` is several ``HEARTBEAT_INTERVAL``s, so that a
worker misses a few heartbeats (a slow store, a GC pause) before it can lose its job;
``BATCH_TIMEOUT`` is well above the time a healthy batch takes.
"""

from __future__ import annotations

STORE_URL = "sqlite:///syncbeat.db"
"""The embedded store: one SQLite file in the working directory, enough for one machine."""

BATCH_SIZE = 5_000
"""Rows in the first batch; later batches adapt (see ``BATCH_TARGET_SECONDS``) unless
``--batch-size`` pins the size."""

BATCH_TARGET_SECONDS = 1.5
"""How long a batch should take. Long enough that per-batch costs (a bound query, a
commit, a checkpoint) stay a few percent of the work; short enough that a crash redoes
little, progress moves every second or two, and Ctrl-C stops promptly."""

BATCH_SIZE_MIN = 500
"""The smallest adaptive batch: below this, per-batch costs dominate."""

MODE = "upsert"
"""Upsert is idempotent on the key, so even a redone batch cannot duplicate a row."""

BATCH_MAX_RETRIES = 5
"""Retries of one batch on transient errors before the job fails (its checkpoint stays
on that batch, so running it again continues there)."""

RETRY_INITIAL_SECONDS = 0.5
"""First backoff; each retry doubles it, with jitter, up to ``RETRY_MAX_SECONDS``."""

RETRY_MAX_SECONDS = 30.0
"""Cap on one backoff, so a long outage is retried at a steady pace, not ever slower."""

HEARTBEAT_INTERVAL = 30.0
"""Seconds between lease renewals. The value users of hand-rolled job tables expect."""

LEASE_TTL = 300.0
"""Seconds a lease lives without a renewal: ten heartbeats. A job whose worker died is
taken over after at most ``LEASE_TTL + HEARTBEAT_INTERVAL`` (the reaper's period)."""

MAX_ATTEMPTS = 5
"""Claims of one job (first run, takeovers, retries) before the reaper fails it, so a job
that kills every worker that touches it cannot loop forever."""

BATCH_TIMEOUT = 600.0
"""Seconds a batch may make no progress before it is abandoned as stuck."""

RATE_SMOOTHING = 0.3
"""Weight of the newest batch in the EWMA of rows/s: reacts within a few batches but
ignores one slow commit."""

STATE_TABLE = "_syncbeat_state"
"""The table in each SQL destination that holds, per job, the last committed key and the
fencing token, written in the same transaction as the batch's rows."""

POLL_INTERVAL = 1.0
"""Seconds an idle worker waits before asking the store for work again: a claim is one
cheap indexed statement, so a second is responsive without loading the store."""

WORKER_CONCURRENCY = 1
"""Jobs one worker runs at once (``syncbeat worker --concurrency``). Each job is mostly
waiting on databases, so a few per core is fine; one keeps a worker's footprint
predictable."""

SWAP_LOCK_TIMEOUT_SECONDS = 2.0
"""How long replace mode's swap waits for the lock on the old table before it gives up
and tries again later (with the batches' backoff). A swap waiting on a long reader
queues every later reader of the table behind it; giving up after a few seconds caps
that stall, and the readers run on while the swap backs off."""

# -- `syncbeat serve`: what a request may cost before it is answered ---------------------

MAX_BODY_BYTES = 1024 * 1024
"""Bytes a request body to the REST API may hold. A pipeline definition is a few hundred
bytes; a megabyte leaves room for long queries while a few parallel requests cannot
exhaust the server's memory."""

BODY_TIMEOUT = 30.0
"""Seconds a request body may take to arrive in full, from the end of its headers. A
client that sends a byte now and then (a slow-loris) holds a connection no longer."""

MIN_PUBLIC_TOKEN_LENGTH = 32
"""Characters an API token needs when the API listens on a non-loopback address: what
``secrets.token_urlsafe(24)`` gives, out of reach of guessing over the network."""

SIGN_IN_FAILURES = 5
"""Failed dashboard sign-ins one client address may make per ``SIGN_IN_WINDOW`` before it
is told to wait (429): enough for typos, too few for guessing."""

SIGN_IN_WINDOW = 60.0
"""Seconds over which failed sign-ins are counted."""


# -- tunables of the engine and its ends: each is read where it applies -----------------

STORE_RETRIES = 8
"""Tries of a store write that failed transiently (a failover) before the run gives up."""

LEASE_TRUST = 0.8
"""Fraction of the TTL after the last renewal beyond which the runner stops writing.
The remaining fifth covers the time between that check and the write."""

STORE_OPEN_TRIES = 4
"""Tries to open the store while it drops connections: 0.1 + 0.3 + 0.9 s of waiting."""

ESTIMATE_ABOVE = 1_000_000
"""Rows above which PostgreSQL's estimate replaces COUNT(*) for progress."""

ESTIMATE_SLACK = 0.1
"""The share of a table its estimated row count may be off by without meaning anything."""

RELAY_CHUNK = 8192
"""Bytes gathered before one write into the destination's COPY. libpq hands COPY data
out one row at a time and psycopg sends each write at once, so a write per row costs
more than the row. Small chunks (libpq's own buffer size) keep both servers streaming;
measured on 1M rows: per row 4.1 s, 8 KB 3.5 s, 64 KB 3.8 s, 1 MB 5.1 s."""

MAX_TRACKED_CLIENTS = 10_000
"""Addresses remembered at once; past that the one that failed longest ago is forgotten,
so a flood of addresses costs a bounded amount of memory (about a megabyte)."""

DASHBOARD_PAGE_SIZE = 50
"""Jobs in the dashboard's table, newest first."""

CLOCK_TOLERANCE = 1.0
"""Seconds a heartbeat may lie ahead of the store's now before it counts as stamped by a
clock that has since stepped back (more than the jitter of concurrent statements)."""

ROW_BATCH_FIRST, ROW_BATCH_MAX = 5_000, 20_000
"""Rows of the first adaptive batch, and of the largest, when rows pass through Python
values: about 1-2 KB each as objects, so a batch stays within a few tens of MB whatever
the table's size."""

COPY_BATCH_FIRST, COPY_BATCH_MAX = 50_000, 1_000_000
"""The same for PostgreSQL's binary COPY relay: no Python values, so a batch this size
takes a fraction of a second and memory is one COPY block."""

RELAY_BATCH_FIRST, RELAY_BATCH_MAX = 5_000, 500_000
"""The same for the cross-engine relays (engine.relay), whose batch is bytes in memory:
capped further by RELAY_BATCH_BYTES from the second batch on, once a batch has shown
how wide a row is. The first is as small as the row path's, so a table of very wide
rows costs no more memory here than there; the sizer grows it 4x a batch."""

RELAY_BATCH_BYTES = 16 * 1024 * 1024
"""Bytes of formatted rows one relay batch may hold (two are in memory at once, one
written while the next is read). 16 MiB is about 75k rows of 220 bytes: well under a
second per batch, and within MariaDB's default max_allowed_packet for one value."""

VERIFY_SEGMENT_ROWS = 20_000
"""Source rows per range that verify checksums first. Smaller finds a difference with
less bisection but costs one more pair of queries per range."""

VERIFY_LEAF_ROWS = 256
"""A range this small (on both sides) is compared row by row rather than split again:
fetching 256 rows' texts costs about what one more pair of checksums does."""

VERIFY_FANOUT = 16
"""Sub-ranges a differing range is split into: 16 levels out of a million rows in two
steps below a segment."""

VERIFY_DENSE_ROWS = 20_000
"""A range at most this large, most of whose sub-ranges differ, is compared row by row
at once: with damage everywhere (a destination half-loaded, a column rewritten), cutting
it further costs more queries than its rows do. Memory: this many rows' texts."""

VERIFY_KEYS_SHOWN = 100
"""Keys of each kind of difference that verify lists (it counts them all)."""

REPAIR_SCAN_SECONDS = 2.0
"""How long one repair batch compares equal segments before it commits its checkpoint
anyway: a pause, a cancel or a crash then costs at most this much comparing again."""

API_VERIFIES_AT_ONCE = 2
"""Verifies one API server runs at once (each holds two connections and two threads
until it is done); one more is answered 429."""
