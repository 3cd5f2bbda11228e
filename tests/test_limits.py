"""django_jobs.limits: what each kind of value may be, and the error that names a bad one."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

import django_jobs
from django_jobs import limits
from django_jobs.exceptions import InvalidJobArguments, InvalidJobType
from django_jobs.models import FuncMap, Job

NAN, INF = float("nan"), float("inf")


# -- duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (0, timedelta(0)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(days=3), timedelta(days=3)),
        (limits.MAX_DURATION, limits.MAX_DURATION),
    ],
)
def test_duration_accepts(value, expected):
    assert limits.duration(value, "keep_for") == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (NAN, r"keep_for must be a finite number of seconds, not nan"),
        (INF, r"keep_for must be a finite number of seconds, not inf"),
        (-INF, r"keep_for must be a finite number of seconds, not -inf"),
        (10**400, r"keep_for must be a finite number of seconds"),
        (-1, r"keep_for must be >= 0 seconds, not -1"),
        (1e12, r"keep_for must be at most 3155760000 seconds, not 1000000000000.0"),
        (timedelta(seconds=-1), r"keep_for must not be negative"),
        (timedelta(days=36526), r"keep_for must be at most 36525 days"),
        (True, r"keep_for must be a timedelta or a number of seconds, not True"),
        ("10", r"keep_for must be a timedelta or a number of seconds, not '10'"),
    ],
)
def test_duration_refuses(value, message):
    with pytest.raises(InvalidJobArguments, match=message):
        limits.duration(value, "keep_for")


def test_now_plus_the_longest_duration_is_far_from_year_9999():
    assert (datetime.now(UTC) + limits.MAX_DURATION).year < limits.MAX_YEAR


# -- delay ------------------------------------------------------------------------


def test_delay_gives_float_seconds():
    assert limits.delay(3, "backoff") == 3.0


@pytest.mark.parametrize(
    "value, message",
    [
        (NAN, r"backoff must be a finite number of seconds, not nan"),
        (1e15, r"backoff must be at most 31622400 seconds, not 1000000000000000.0"),
        (1e12, r"backoff must be at most 31622400 seconds"),
        (-100, r"backoff must be >= 0 seconds, not -100"),
        (False, r"backoff must be a number of seconds, not False"),
        (None, r"backoff must be a number of seconds, not None"),
        (timedelta(seconds=1), r"backoff must be a number of seconds"),
    ],
)
def test_delay_refuses(value, message):
    with pytest.raises(InvalidJobArguments, match=message):
        limits.delay(value, "backoff")


# -- moment -----------------------------------------------------------------------


def test_moment_accepts_an_aware_datetime():
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert limits.moment(when, "expires_at") is when


@pytest.mark.parametrize(
    "value, message",
    [
        (datetime(2030, 1, 1), r"expires_at must be an aware datetime .* not naive 2030-01-01T00:00:00"),
        (datetime(9001, 1, 1, tzinfo=UTC), r"expires_at must fall within years 1 to 9000 \(UTC\)"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), r"expires_at must fall within years 1 to 9000"),
        ("2030-01-01", r"expires_at must be a datetime, not '2030-01-01'"),
        (1e9, r"expires_at must be a datetime"),
    ],
)
def test_moment_refuses(value, message):
    with pytest.raises(InvalidJobArguments, match=message):
        limits.moment(value, "expires_at")


# -- attempts and priority ---------------------------------------------------------


@pytest.mark.parametrize("value", [1, 5, 2**31 - 1])
def test_attempts_accepts(value):
    assert limits.attempts(value) == value


@pytest.mark.parametrize(
    "value, message",
    [
        (0, r"max_attempts must be between 1 and 2147483647, not 0"),
        (10**12, r"max_attempts must be between 1 and 2147483647, not 1000000000000"),
        (True, r"max_attempts must be an integer, not True"),
        (2.0, r"max_attempts must be an integer, not 2.0"),
        ("3", r"max_attempts must be an integer, not '3'"),
    ],
)
def test_attempts_refuses(value, message):
    with pytest.raises(InvalidJobArguments, match=message):
        limits.attempts(value)


@pytest.mark.parametrize("value", [-100, 0, 100])
def test_priority_accepts(value):
    assert limits.priority(value) == value


@pytest.mark.parametrize(
    "value, message",
    [
        ("5", r"priority must be an integer, not '5'"),
        (NAN, r"priority must be an integer, not nan"),
        (True, r"priority must be an integer, not True"),
        (101, r"priority must be between -100 and 100, not 101"),
        (-101, r"priority must be between -100 and 100, not -101"),
    ],
)
def test_priority_refuses(value, message):
    with pytest.raises(InvalidJobArguments, match=message):
        limits.priority(value)


# -- task_path --------------------------------------------------------------------


def test_task_path_accepts_a_dotted_path():
    assert limits.task_path("tests.testapp.jobs.add") == "tests.testapp.jobs.add"


@pytest.mark.parametrize(
    "value, message",
    [
        (None, r"task path must be a dotted path string, not None"),
        ("...", r"task path must be a dotted path of Python names \(module.function\), not '...'"),
        ("add", r"task path must be a dotted path of Python names"),
        ("tests.class.add", r"task path must be a dotted path of Python names"),
        ("tests.testapp.jobs.add ", r"task path must be a dotted path of Python names"),
        ("a" * 10_000, r"task path must be at most 255 characters, not 10000"),
    ],
)
def test_task_path_refuses(value, message):
    with pytest.raises(InvalidJobType, match=message):
        limits.task_path(value)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path, message",
    [
        (None, r"task path must be a dotted path string, not None"),
        ("...", r"task path must be a dotted path of Python names"),
        ("x." * 5_000 + "y", r"task path must be at most 255 characters"),
    ],
)
def test_enqueue_by_path_refuses_a_malformed_path_and_writes_nothing(path, message):
    with pytest.raises(InvalidJobType, match=message):
        django_jobs.enqueue(path, args=(1, 2))
    assert not Job.objects.exists()
    assert not FuncMap.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_refuses_a_malformed_path():
    with pytest.raises(InvalidJobType, match=r"task path must be a dotted path string, not 42"):
        django_jobs.enqueue_many([("tests.testapp.jobs.add", (1, 2)), (42, ())])
    assert not Job.objects.exists()
