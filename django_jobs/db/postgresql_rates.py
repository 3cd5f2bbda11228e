"""
PostgreSQL: the statements of a claim that serve rate limits (``db.rates``
has the arithmetic). They run in the limited claim's transaction
(``PostgreSQLOps.claim``), the key's counts and buckets while it holds the
key's advisory lock.
"""

from . import rates
from .base import CLAIM_COLUMNS

#: Rate keys full now: their claims still counted reach their limit.
FULL_KEYS = """
    SELECT key, min(counts_until) AS until FROM {bucket}
    WHERE counts_until > clock_timestamp()
    GROUP BY key HAVING sum(claims) >= min(rate_limit)
"""

#: Of the full rate keys, those with due jobs waiting, and how soon each frees a claim.
FULL_RATE_KEYS = """
    SELECT key, until - clock_timestamp() FROM ({full_keys}) AS full_key
    WHERE EXISTS (SELECT 1 FROM {job} WHERE rate_key = full_key.key AND state = 'ready'
                  AND run_after <= clock_timestamp() {filters})
"""

#: Whether due rate-limited jobs wait, for a claim that came back short with no full key.
RATE_JOBS_DUE = """
    SELECT EXISTS (SELECT 1 FROM {job} WHERE state = 'ready' AND rate_key IS NOT NULL
                   AND run_after <= clock_timestamp() {filters})
"""

#: The claims still counted of each rate key (read once the claim holds the keys' locks).
RATE_COUNTED = """
    SELECT key, sum(claims) FROM {bucket}
    WHERE key = ANY(%s) AND counts_until > clock_timestamp() GROUP BY key
"""

#: Adds a claim's rate-limited jobs to their buckets, and drops those keys' buckets that no longer count.
COUNT_RATE_CLAIMS = """
    WITH spent AS (
        DELETE FROM {bucket} WHERE key = ANY(%s) AND counts_until <= statement_timestamp()
    )
    INSERT INTO {bucket} (key, start, claims, rate_limit, counts_until)
    SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::integer[], %s::integer[], %s::timestamptz[])
    ON CONFLICT (key, start) DO UPDATE SET claims = {bucket}.claims + excluded.claims, rate_limit = excluded.rate_limit
"""


def rate_wait(cursor, tables, filters, params):
    """Seconds until the first full rate key with due jobs this claimer serves frees a claim (None: none)."""
    cursor.execute(FULL_RATE_KEYS.format(full_keys=FULL_KEYS.format(**tables), filters=filters, **tables), params)
    waits = [wait.total_seconds() for _key, wait in cursor.fetchall()]
    return max(min(waits), 0.0) if waits else None


def rate_jobs_due(cursor, tables, filters, params):
    """Whether due rate-limited jobs this claimer serves are waiting (asked when rate_wait found no full key)."""
    cursor.execute(RATE_JOBS_DUE.format(filters=filters, **tables), params)
    return cursor.fetchone()[0]


def count_rate_claims(cursor, tables, rows, limits):
    """Adds the rate-limited jobs among the claimed ``rows`` to their buckets, at their claim's time."""
    at = CLAIM_COLUMNS.index("last_attempted_at")
    buckets = rates.bucket_rows([(row[0], row[at]) for row in rows], limits)
    if buckets:
        keys = sorted({b[0] for b in buckets})
        cursor.execute(COUNT_RATE_CLAIMS.format(**tables), [keys, *(list(column) for column in zip(*buckets))])
