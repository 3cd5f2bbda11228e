"""
Rate limits: the arithmetic both databases share.

A rate limit ``N/period`` is held with buckets (``models.RateBucket``): each
counts the claims of one rate key in one slice of the period (a tenth of it,
``RATE_SLICES``). A claim counts, for a key, the buckets that may still hold a
claim of the last period: those whose ``counts_until`` (start + period +
slice) has not passed. That over-counts by at most one slice, never under:
no window of the period ever holds more than N claims, and a saturated key
gets at least N per period and a tenth.

Only the claimer holding a key's lock (PostgreSQL: an advisory lock; SQLite:
its single write lock) reads and writes that key's buckets.
"""

from datetime import UTC, datetime, timedelta

#: Slices per period: a saturated key gets N claims per 1.1 periods at worst.
RATE_SLICES = 10

#: A claim that found a rate key's lock held by another claimer says to try again this soon (seconds).
CONTENDED_WAIT = 0.05

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def bucket_of(claimed_at, period):
    """The (start, counts_until) of the bucket a claim at ``claimed_at`` (aware) falls in, for a period in seconds."""
    width = period * 1_000_000 // RATE_SLICES
    since = (claimed_at - _EPOCH) // _MICROSECOND
    start = _EPOCH + timedelta(microseconds=since - since % width)
    return start, start + timedelta(seconds=period, microseconds=width)


def bucket_rows(claimed, limits):
    """
    The bucket increments of a claim: ``claimed`` are (job id, claimed at),
    ``limits`` maps a job id to its (rate key, limit, period). Returns
    ``(key, start, claims, limit, counts_until)`` rows, one per bucket.
    """
    buckets: dict = {}
    for job_id, claimed_at in claimed:
        if (rate := limits.get(job_id)) is None or rate[0] is None:
            continue
        key, limit, period = rate
        start, until = bucket_of(claimed_at, period)
        count, _limit, _until = buckets.get((key, start), (0, limit, until))
        buckets[(key, start)] = (count + 1, min(limit, _limit), until)
    return [(key, start, count, limit, until) for (key, start), (count, limit, until) in sorted(buckets.items())]


def rate_limits(candidates):
    """{job id: (rate key, limit, period)} of limited candidates (see ``DatabaseOps.choose_limited``)."""
    return {c[0]: (c[4], c[5], c[6]) for c in candidates if len(c) > 4 and c[4] is not None}
