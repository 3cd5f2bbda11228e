"""TASKS OPTIONS out of range are refused at start-up, naming the option."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_jobs.conf import Options

NAN, INF = float("nan"), float("inf")


def test_the_defaults_are_accepted():
    assert Options.from_dict("default", {}) == Options()


def test_values_at_their_maxima_are_accepted():
    opts = Options.from_dict(
        "default",
        {"CONCURRENCY": 1000, "MAX_ATTEMPTS": 2**31 - 1, "KEEP_FINISHED_FOR": timedelta(days=36525), "PREFETCH": 0},
    )
    assert opts.CONCURRENCY == 1000


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("MAX_ATTEMPTS", 0, r"\['MAX_ATTEMPTS'\] must be between 1 and 2147483647, not 0"),
        ("MAX_ATTEMPTS", 10**12, r"\['MAX_ATTEMPTS'\] must be between 1 and 2147483647"),
        ("MAX_ATTEMPTS", True, r"\['MAX_ATTEMPTS'\] must be an integer, not True"),
        ("CONCURRENCY", 0, r"\['CONCURRENCY'\] must be an integer from 1 to 1000, not 0"),
        ("CONCURRENCY", 100_000, r"\['CONCURRENCY'\] must be an integer from 1 to 1000, not 100000"),
        ("CONCURRENCY", 4.0, r"\['CONCURRENCY'\] must be an integer from 1 to 1000, not 4.0"),
        ("PREFETCH", -1, r"\['PREFETCH'\] must be an integer from 0 to 32000, not -1"),
        ("PREFETCH", 10**9, r"\['PREFETCH'\] must be an integer from 0 to 32000"),
        ("CHILD_MEMORY_LIMIT_MB", 0, r"\['CHILD_MEMORY_LIMIT_MB'\] must be an integer from 1"),
        ("MAX_ARGUMENTS_BYTES", 0, r"\['MAX_ARGUMENTS_BYTES'\] must be an integer from 1 to 268435455"),
        ("MAX_ARGUMENTS_BYTES", 2**40, r"\['MAX_ARGUMENTS_BYTES'\] must be an integer from 1 to 268435455"),
        ("QUEUE_CONCURRENCY", {"reports": 0}, r"\['QUEUE_CONCURRENCY'\]\['reports'\] must be an integer from 1"),
        ("LEASE_SECONDS", 0, r"\['LEASE_SECONDS'\] must be > 0 seconds, not 0"),
        ("LEASE_SECONDS", NAN, r"\['LEASE_SECONDS'\] must be a finite number of seconds, not nan"),
        ("LEASE_SECONDS", 1e12, r"\['LEASE_SECONDS'\] must be at most 31622400 seconds"),
        ("POLL_INTERVAL", INF, r"\['POLL_INTERVAL'\] must be a finite number of seconds, not inf"),
        ("POLL_INTERVAL", -1, r"\['POLL_INTERVAL'\] must be >= 0 seconds, not -1"),
        ("SCHEDULER_INTERVAL", "1", r"\['SCHEDULER_INTERVAL'\] must be a number of seconds, not '1'"),
        ("PRUNE_INTERVAL", 0, r"\['PRUNE_INTERVAL'\] must be > 0 seconds"),
        ("GRACE_PERIOD", -5, r"\['GRACE_PERIOD'\] must be >= 0 seconds, not -5"),
        ("GRACE_PERIOD", INF, r"\['GRACE_PERIOD'\] must be a finite number of seconds"),
        ("KILL_GRACE", NAN, r"\['KILL_GRACE'\] must be a finite number of seconds"),
        ("KEEP_FINISHED_FOR", -1, r"\['KEEP_FINISHED_FOR'\] must be >= 0 seconds, not -1"),
        ("KEEP_FINISHED_FOR", timedelta(days=10**6), r"\['KEEP_FINISHED_FOR'\] must be at most 36525 days"),
        ("KEEP_FINISHED_FOR", NAN, r"\['KEEP_FINISHED_FOR'\] must be a finite number of seconds"),
        ("MAX_WORK_DURATION", 1e300, r"\['MAX_WORK_DURATION'\] must be at most 3155760000 seconds"),
        ("MAX_WORK_DURATION", -1, r"\['MAX_WORK_DURATION'\] must be >= 0 seconds"),
    ],
)
def test_an_option_out_of_range_is_refused_by_name(option, value, message):
    with pytest.raises(ImproperlyConfigured, match=r"TASKS\['default'\]\['OPTIONS'\]" + message):
        Options.from_dict("default", {option: value})
