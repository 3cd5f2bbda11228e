"""
What values django_jobs accepts, in one place.

Each function checks one kind of value and returns it normalized, or raises
InvalidJobArguments (InvalidJobType for a task path) with a message naming
the option (``what``) and the value. Nothing here touches the database: call
them before anything is written, so that bad input writes nothing.

The maxima are not tastes: each keeps a value inside what Python's
``datetime``, SQLite's and PostgreSQL's columns, and a worker's loops can hold.
"""

import keyword
import math
import numbers
from datetime import UTC, datetime, timedelta

from .compat import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from .exceptions import InvalidJobArguments, InvalidJobType

#: Longest duration accepted (``expires_in``, ``keep_for``, ``max_work_duration``,
#: KEEP_FINISHED_FOR, a command's ``--delay``): 100 years. Durations are added
#: to the current time and stored; Python's ``datetime`` (which reads both
#: databases' timestamps back) stops at year 9999, and PostgreSQL's intervals
#: and SQLite's text timestamps are read through it. Now + 100 years stays
#: about 7,800 years below that limit, and further from PostgreSQL's own
#: (year 294276), while no real job waits, runs or is kept for a century.
MAX_DURATION = timedelta(days=36525)

#: Longest retry or decline delay (a backoff's result, ``Decline(run_after=seconds)``),
#: and longest interval option (POLL_INTERVAL, LEASE_SECONDS, GRACE_PERIOD, ...):
#: one year, in seconds. Such a value is waited on or added to now on every
#: attempt; one beyond a year is almost always a runaway computation (an
#: exponential backoff without a cap gives 2**50 s after 50 attempts) and
#: ``threading.Event.wait`` refuses timeouts past ``threading.TIMEOUT_MAX``.
#: Wait longer by enqueuing a new job with ``run_after``.
MAX_DELAY = 366 * 86400.0

#: Latest year a datetime option (``run_after``, ``expires_at``) may fall in.
#: Year 9999 is Python's last; a margin of a millennium leaves room to add
#: MAX_DURATION and to convert to any time zone (UTC+14) without overflowing.
MAX_YEAR = 9000

#: Most attempts a job may have: PostgreSQL's ``integer`` (the attempt
#: counters' column type) holds at most 2**31 - 1.
MAX_ATTEMPTS = 2**31 - 1

#: Longest task path: the length of FuncMap's ``path`` column.
MAX_TASK_PATH_LENGTH = 255

#: Priorities are Django's Tasks' range (-100 to 100).
MIN_PRIORITY, MAX_PRIORITY = TASK_MIN_PRIORITY, TASK_MAX_PRIORITY


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _seconds(value, what, maximum):
    """A finite number of seconds in [0, maximum], as a float."""
    if not _is_number(value):
        raise InvalidJobArguments(f"{what} must be a number of seconds, not {value!r}.")
    try:
        seconds = float(value)
    except OverflowError:  # an int past float's range
        seconds = math.inf
    if not math.isfinite(seconds):
        raise InvalidJobArguments(f"{what} must be a finite number of seconds, not {value!r}.")
    if seconds < 0:
        raise InvalidJobArguments(f"{what} must be >= 0 seconds, not {value!r}.")
    if seconds > maximum:
        raise InvalidJobArguments(f"{what} must be at most {maximum:.0f} seconds, not {value!r}.")
    return seconds


def duration(value, what):
    """
    ``value`` (None, a timedelta, or a number of seconds) as None or a
    timedelta in [0, MAX_DURATION]. NaN, infinities, negative values and
    booleans are refused.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise InvalidJobArguments(f"{what} must not be negative, not {value!r}.")
        if value > MAX_DURATION:
            raise InvalidJobArguments(f"{what} must be at most {MAX_DURATION.days} days, not {value!r}.")
        return value
    if not _is_number(value):
        raise InvalidJobArguments(f"{what} must be a timedelta or a number of seconds, not {value!r}.")
    return timedelta(seconds=_seconds(value, what, MAX_DURATION.total_seconds()))


def delay(value, what):
    """
    A retry or decline delay (a backoff's result, ``Decline.run_after`` given
    in seconds) as float seconds in [0, MAX_DELAY].

    Out-of-range delays are refused, not clamped: the caller records the
    attempt as failed with this error as its message (a backoff returning
    1e15 or NaN, or ``Decline(run_after=-100)``, is a bug to be seen, and
    clamping -100 to 0 would make the job decline again at once, forever).
    """
    return _seconds(value, what, MAX_DELAY)


def moment(value, what):
    """
    ``value``, an aware datetime whose UTC time falls within year 1 to
    MAX_YEAR. Naive datetimes are refused: which time zone they meant is a guess.
    """
    if not isinstance(value, datetime):
        raise InvalidJobArguments(f"{what} must be a datetime, not {value!r}.")
    if value.utcoffset() is None:
        raise InvalidJobArguments(
            f"{what} must be an aware datetime (with a time zone), not naive {value.isoformat()}."
        )
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1 <= year <= MAX_YEAR:
        raise InvalidJobArguments(f"{what} must fall within years 1 to {MAX_YEAR} (UTC), not {value.isoformat()}.")
    return value


def attempts(value, what="max_attempts"):
    """An attempt budget: an int (not a bool) from 1 to MAX_ATTEMPTS."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJobArguments(f"{what} must be an integer, not {value!r}.")
    if not 1 <= value <= MAX_ATTEMPTS:
        raise InvalidJobArguments(f"{what} must be between 1 and {MAX_ATTEMPTS}, not {value!r}.")
    return value


def priority(value, what="priority"):
    """A priority: an int (not a bool, not ``"5"``) from MIN_PRIORITY to MAX_PRIORITY."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJobArguments(f"{what} must be an integer, not {value!r}.")
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidJobArguments(f"{what} must be between {MIN_PRIORITY} and {MAX_PRIORITY}, not {value!r}.")
    return value


def task_path(value, what="task path"):
    """
    A task's dotted path (``"myapp.tasks.send"``): a str of at least two
    Python identifiers joined by dots, at most MAX_TASK_PATH_LENGTH long.
    Raises InvalidJobType. Whether it names a task is for ``resolve_task`` to say.
    """
    if not isinstance(value, str):
        raise InvalidJobType(f"{what} must be a dotted path string, not {value!r}.")
    if len(value) > MAX_TASK_PATH_LENGTH:
        raise InvalidJobType(
            f"{what} must be at most {MAX_TASK_PATH_LENGTH} characters, not {len(value)} ({value[:40]!r}...)."
        )
    parts = value.split(".")
    if len(parts) < 2 or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise InvalidJobType(f"{what} must be a dotted path of Python names (module.function), not {value!r}.")
    return value


#: The periods a rate limit may count over: ``"100/m"`` is 100 per 60 seconds.
RATE_PERIODS = {"s": 1, "m": 60, "h": 3600}


def rate(value, what="rate_limit"):
    """
    A rate limit ``"N/s"``, ``"N/m"`` or ``"N/h"`` (N an integer from 1 to
    MAX_ATTEMPTS) as ``(N, seconds in the period)``. Raises InvalidJobType: a
    rate limit is an option of the task, checked when it is declared.
    """
    if not isinstance(value, str):
        raise InvalidJobType(f"{what} must be a string such as '100/m' (N/s, N/m or N/h), not {value!r}.")
    count, slash, unit = value.strip().partition("/")
    if not slash or unit not in RATE_PERIODS or not (count.isascii() and count.isdigit()):
        raise InvalidJobType(f"{what} must be N/s, N/m or N/h with N a whole number, such as '100/m', not {value!r}.")
    if not 1 <= int(count) <= MAX_ATTEMPTS:
        raise InvalidJobType(f"{what} must allow between 1 and {MAX_ATTEMPTS} jobs per period, not {value!r}.")
    return int(count), RATE_PERIODS[unit]
