"""Out-of-range command-line values: a CommandError naming the option, nothing written, no traceback or endless loop."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_jobs.models import Job, JobRun
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)

USAGE, INVALID_INPUT = 2, 5


def jobs_command(*args):
    """call_command('jobs', ...) expected to fail: (exit code, message)."""
    with pytest.raises(CommandError) as e:
        call_command("jobs", *args, stdout=StringIO(), stderr=StringIO())
    return e.value.returncode, str(e.value)


def enqueue(*options):
    return jobs_command("enqueue", "tests.testapp.jobs.add", "--args", "[1, 2]", *options)


@pytest.mark.parametrize(
    "delay, message",
    [
        ("nan", "--delay must be a finite number of seconds, not nan"),
        ("inf", "--delay must be a finite number of seconds, not inf"),
        ("-1", "--delay must be >= 0 seconds, not -1.0"),
        ("1e12", "--delay must be at most 3155760000 seconds, not 1000000000000.0"),
    ],
)
def test_enqueue_refuses_a_delay_out_of_range(delay, message):
    assert enqueue("--delay", delay) == (USAGE, message + ".")
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "run_after, message",
    [
        ("2030-02-30T00:00", "--run-after '2030-02-30T00:00' is not a valid date and time: day is out of range"),
        ("2030-01-01T25:00", "--run-after '2030-01-01T25:00' is not a valid date and time"),
        ("9999-12-31T23:59:59+00:00", "--run-after must fall within years 1 to 9000 (UTC)"),
        ("0001-01-01T00:00:00+01:00", "--run-after must fall within years 1 to 9000 (UTC)"),
    ],
)
def test_enqueue_refuses_a_bad_run_after(run_after, message):
    code, error = enqueue("--run-after", run_after)
    assert code == USAGE
    assert error.startswith(message)
    assert not Job.objects.exists()


def test_enqueue_refuses_args_nested_past_the_limit():
    code, error = jobs_command("enqueue", "tests.testapp.jobs.add", "--args", "[" * 100_000 + "]" * 100_000)
    assert (code, error) == (INVALID_INPUT, "--args is nested more than 100 levels deep.")
    assert not Job.objects.exists()


def test_enqueue_refuses_kwargs_nested_past_the_limit():
    deep = '{"a": ' * 5_000 + "1" + "}" * 5_000
    assert jobs_command("enqueue", "tests.testapp.jobs.add", "--kwargs", deep) == (
        INVALID_INPUT,
        "--kwargs is nested more than 100 levels deep.",
    )


def test_brackets_inside_strings_do_not_count_as_nesting():
    out = StringIO()
    call_command("jobs", "enqueue", "tests.testapp.jobs.add", "--args", '["' + "[" * 500 + '", "\\"]"]', stdout=out)
    assert Job.objects.get(pk=int(out.getvalue())).args == ["[" * 500, '"]']


@pytest.mark.parametrize(
    "options, message",
    [
        (["--max-attempts", str(10**12)], "--max-attempts must be between 1 and 2147483647, not 1000000000000."),
        (["--max-attempts", "0"], "--max-attempts must be between 1 and 2147483647, not 0."),
        (["--priority", "1000"], "--priority must be between -100 and 100, not 1000."),
        (["--uniqkey", "k" * 256], "--uniqkey must be at most 255 characters, not 256."),
    ],
)
def test_enqueue_refuses_counts_out_of_range(options, message):
    assert enqueue(*options) == (INVALID_INPUT, message)
    assert not Job.objects.exists()


def test_enqueue_refuses_a_malformed_task_path():
    assert jobs_command("enqueue", "...") == (
        3,
        "task path must be a dotted path of Python names (module.function), not '...'.",
    )


# -- runworker ---------------------------------------------------------------------------


def runworker(*args):
    with pytest.raises(CommandError) as e:
        call_command("runworker", "--burst", *args, stdout=StringIO(), stderr=StringIO())
    return str(e.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--concurrency", "0"], "--concurrency must be at least 1, not 0."),
        (["--concurrency", "100000"], "--concurrency must be at most 1000, not 100000"),
        (["--grace-period", "nan"], "--grace-period must be a finite number of seconds, not nan."),
        (["--grace-period", "-1"], "--grace-period must be >= 0 seconds, not -1.0."),
        (["--worker-id", "w" * 200], "--worker-id must be 1 to 100 characters, not 200."),
        (["--worker-id", ""], "--worker-id must be 1 to 100 characters, not 0."),
    ],
)
def test_runworker_refuses_bad_options_before_claiming(args, message):
    r = jobs.add.enqueue(1, 2)
    assert runworker(*args).startswith(message)
    assert not JobRun.objects.filter(job_id=r.id).exists()
