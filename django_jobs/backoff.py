"""Retry delays. A backoff is ``backoff(exception, task_result) -> seconds | None``."""

import random


def exponential(exception, task_result, *, base=2.0, cap=3600.0):
    """
    Exponential backoff with full jitter: after attempt n, wait a random time
    in [base**n / 2, base**n], at most ``cap`` seconds. Random spread keeps a
    burst of failures from retrying in lockstep.
    """
    delay = min(cap, base**task_result.attempts)
    return random.uniform(delay / 2, delay)


def immediately(exception, task_result):
    """Retry as soon as a worker is free."""
    return 0
