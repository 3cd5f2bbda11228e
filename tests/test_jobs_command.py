"""``manage.py jobs``: its subcommands' effects, output and exit codes, in process and as a real command."""

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_jobs import queue
from django_jobs.models import Job, JobLog, JobRun, QueueState
from django_jobs.states import JobState
from tests.conftest import ROOT, drain
from tests.factories import JobFactory, JobRunFactory
from tests.testapp import jobs, limited_jobs

pytestmark = pytest.mark.django_db

SUBCOMMANDS = ["stats", "list", "show", "pause", "resume", "cancel", "retry", "run-now", "enqueue", "prune", "clear"]


def run(*args):
    """call_command('jobs', ...): (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("jobs", *args, stdout=out, stderr=err)
    except CommandError as e:
        return e.returncode, out.getvalue(), err.getvalue() + str(e)
    return 0, out.getvalue(), err.getvalue()


def ok(*args):
    code, out, err = run(*args)
    assert code == 0, err
    return out


def state(job_id):
    return Job.objects.get(pk=job_id).state


# -- help and usage ------------------------------------------------------------------


def test_help_lists_every_subcommand_and_the_exit_codes():
    from django_jobs.management.commands.jobs import Command

    parser = Command().create_parser("manage.py", "jobs")
    text = parser.format_help()
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in text
    for line in ("0  success", "2  bad command line", "3  no such job", "4  the job's state", "5  invalid input"):
        assert line in text
    subparsers = next(a for a in parser._actions if a.dest == "action")
    assert sorted(subparsers.choices) == sorted(SUBCOMMANDS)
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.dest} has no help"
        assert "3  no such job" in sub.format_help()


def test_usage_errors_exit_2():
    assert run()[0] == 2
    assert run("bogus")[0] == 2
    assert run("list", "--state", "sleeping")[0] == 2
    assert run("clear", "default")[0] == 2  # --yes is required
    assert run("list", "--per-page", "0")[0] == 2
    assert run("enqueue", "tests.testapp.jobs.add", "--run-after", "tomorrow")[0] == 2
    assert run("enqueue", "tests.testapp.jobs.add", "--delay", "1", "--run-after", "2030-01-01T00:00")[0] == 2


@pytest.mark.parametrize("backend", ["nope", "immediate"])
def test_an_unknown_or_foreign_backend_exits_3(backend):
    code, _, err = run("list", "--backend", backend)
    assert code == 3 and repr(backend) in err


# -- stats ---------------------------------------------------------------------------


def test_stats_per_queue_with_paused_state_as_a_table_and_json():
    now = timezone.now()
    JobFactory.create_batch(2, run_after=now - timedelta(seconds=90))
    JobFactory(run_after=now + timedelta(hours=1))
    JobFactory(queue_name="emails", state=JobState.RUNNING, attempts=1, worker_id="w")
    for finished in (JobState.SUCCEEDED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        JobFactory(queue_name="reports", state=finished, finished_at=now)
    JobFactory(queue_name="legacy")  # a queue no longer in QUEUES, still holding a job
    ok("pause", "emails")

    rows = {row["queue"]: row for row in json.loads(ok("stats", "--json"))}
    assert list(rows) == ["default", "emails", "legacy", "reports"]
    default = rows["default"]
    assert (default["ready"], default["due"], default["scheduled"], default["running"]) == (3, 2, 1, 0)
    assert 89 <= default["oldest_due_age"] < 300 and default["paused"] is False
    assert (rows["emails"]["running"], rows["emails"]["paused"], rows["emails"]["oldest_due_age"]) == (1, True, None)
    assert {k: rows["reports"][k] for k in ("succeeded", "failed", "cancelled", "expired", "waiting")} == {
        "succeeded": 2,
        "failed": 1,
        "cancelled": 1,
        "expired": 1,
        "waiting": 0,
    }

    lines = ok("stats").splitlines()
    assert lines[0].split() == [
        "QUEUE",
        "STATUS",
        "READY",
        "DUE",
        "SCHEDULED",
        "WAITING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "CANCELLED",
        "EXPIRED",
        "OLDEST",
        "DUE",
    ]
    default_row = lines[1].split()
    assert default_row[:7] == ["default", "running", "3", "2", "1", "0", "0"] and default_row[-1].startswith("1m")
    assert lines[2].split() == ["emails", "paused", "0", "0", "0", "0", "1", "0", "0", "0", "0", "-"]

    only = json.loads(ok("stats", "-q", "reports", "-q", "emails", "--json"))
    assert [row["queue"] for row in only] == ["reports", "emails"]
    code, _, err = run("stats", "--queue", "nowhere")
    assert code == 3 and "'nowhere' is not in" in err


# -- enqueue -------------------------------------------------------------------------


def test_enqueue_by_path_with_json_arguments_and_options():
    out = ok(
        "enqueue",
        "tests.testapp.jobs.send_email",
        "--args",
        '["a@example.com"]',
        "--kwargs",
        '{"subject": "yo"}',
        "--queue",
        "default",
        "--priority",
        "-3",
        "--max-attempts",
        "4",
        "--delay",
        "60",
    )
    job = Job.objects.select_related("func").get(pk=int(out))
    assert job.func.path == "tests.testapp.jobs.send_email"
    assert (job.args, job.kwargs, job.queue_name, job.priority) == (["a@example.com"], {"subject": "yo"}, "default", -3)
    assert (job.max_attempts, job.state) == (4, JobState.READY)
    assert job.run_after > timezone.now() + timedelta(seconds=50)


def test_enqueue_json_output_and_an_existing_uniqkey():
    first = json.loads(ok("enqueue", "tests.testapp.jobs.add", "--args", "[1, 2]", "--uniqkey", "k", "--json"))
    assert first["created"] is True and first["state"] == "ready"
    code, out, err = run("enqueue", "tests.testapp.jobs.add", "--args", "[3, 4]", "--uniqkey", "k", "--json")
    assert code == 0 and json.loads(out) == {**first, "created": False}
    code, out, err = run("enqueue", "tests.testapp.jobs.add", "--args", "[3, 4]", "--uniqkey", "k")
    assert (code, out) == (0, f"{first['id']}\n") and "already existed" in err
    assert Job.objects.count() == 1


def test_enqueue_run_after():
    out = ok("enqueue", "tests.testapp.jobs.add", "--args", "[1, 2]", "--run-after", "2030-01-02T03:04:05+00:00")
    assert Job.objects.get(pk=int(out)).run_after.isoformat() == "2030-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["tests.testapp.jobs.nope"], 3, "cannot be imported"),
        (["tests.testapp.jobs.not_a_task"], 3, "is not a task"),
        (["tests.testapp.jobs.add", "--args", "[1, 2]", "--queue", "nowhere"], 3, "'nowhere' is not in"),
        (["tests.testapp.jobs.add", "--args", "[1,"], 5, "--args is not valid JSON"),
        (["tests.testapp.jobs.add", "--args", '{"a": 1}'], 5, "--args must be a JSON array"),
        (["tests.testapp.jobs.add", "--kwargs", "[1]"], 5, "--kwargs must be a JSON object"),
        (["tests.testapp.jobs.add", "--args", "[1]"], 5, "Arguments do not fit"),
        (["tests.testapp.jobs.add", "--args", '["\\u0000", 1]'], 5, "NUL"),
        (["tests.testapp.jobs.add", "--args", "[1, 2]", "--priority", "101"], 5, "priority"),
        (
            ["tests.testapp.jobs.add", "--args", "[1, 2]", "--max-attempts", "0"],
            5,
            "--max-attempts must be between 1 and",
        ),
    ],
)
def test_enqueue_refuses_bad_input_with_its_exit_code(args, code, message):
    got, _, err = run("enqueue", *args)
    assert got == code and message in err
    assert not Job.objects.exists()


# -- list and show ---------------------------------------------------------------------


def test_list_filters_pages_and_prints_json():
    ready = [jobs.add.enqueue(i, i).id for i in range(3)]
    email = jobs.send_email.enqueue("x@example.com").id
    failed = JobFactory(state=JobState.FAILED, queue_name="reports").pk
    text = ok("list")
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATE", "QUEUE", "FUNCTION"]
    assert [int(line.split()[0]) for line in lines[1:]] == sorted(map(int, [*ready, email, failed]), reverse=True)
    assert [j["id"] for j in json.loads(ok("list", "--state", "failed", "--json"))] == [failed]
    assert [j["id"] for j in json.loads(ok("list", "--queue", "emails", "--json"))] == [int(email)]
    both = json.loads(ok("list", "-s", "failed", "-s", "ready", "--per-page", "2", "--page", "2", "--json"))
    assert [j["id"] for j in both] == sorted(map(int, [*ready, email, failed]), reverse=True)[2:4]
    assert ok("list", "--state", "expired") == "No jobs.\n"
    assert run("list", "--queue", "nowhere")[0] == 3


def test_displays_keep_redacted_arguments_out():
    result = limited_jobs.charge_card.enqueue("4111 1111 1111 1111", 10)
    listed = json.loads(ok("list", "--json"))[0]
    assert listed["args"] == "[redacted]" and listed["kwargs"] == "[redacted]"
    assert "4111" not in ok("show", str(result.id))
    assert "4111" not in ok("show", str(result.id), "--json")


@pytest.mark.django_db(transaction=True)
def test_show_gives_the_job_its_runs_and_logs():
    flaky = jobs.chatty.enqueue(7).id
    boom = jobs.boom.using(priority=3).enqueue("kaput").id
    drain()
    text = ok("show", str(flaky))
    assert text.startswith(f"Job {flaky}: tests.testapp.jobs.chatty\n")
    assert "state         succeeded" in text and "return value  7" in text
    assert "Runs (1):\n  #1 succeeded" in text
    assert (
        "Logs (2):" in text
        and "INFO     tests.jobs: starting with 7" in text
        and "WARNING  tests.jobs: halfway" in text
    )

    text = ok("show", str(boom))
    assert "state         failed" in text and "priority      3" in text
    assert "#1 failed" in text and "builtins.ValueError: kaput" in text
    assert "| ValueError: kaput" in text  # the traceback
    assert "Logs: none" in text

    data = json.loads(ok("show", str(flaky), "--json"))
    assert (data["id"], data["state"], data["function"], data["args"]) == (
        int(flaky),
        "succeeded",
        "tests.testapp.jobs.chatty",
        [7],
    )
    assert [r["outcome"] for r in data["runs"]] == ["succeeded"]
    assert [line["message"] for line in data["logs"]] == ["starting with 7", "halfway"]
    assert json.loads(ok("show", str(flaky), "--attempt", "2", "--json"))["logs"] == []


def test_show_a_missing_job_exits_3():
    code, _, err = run("show", "12345")
    assert code == 3 and "No job with id '12345'" in err
    assert run("show", "not-a-number")[0] == 3


def test_show_lists_every_attempt():
    job = JobFactory(state=JobState.FAILED, attempts=2, max_attempts=2, attempts_left=0)
    JobRunFactory(job=job, attempt=1, outcome="lost", message="Lease expired")
    run2 = JobRunFactory(job=job, attempt=2, outcome="failed", exception_class_path="builtins.KeyError", message="'x'")
    JobLog.objects.create(run=run2, created_at=timezone.now(), level=40, logger="app", message="second try")
    text = ok("show", str(job.pk))
    assert "Runs (2):" in text and "#1 lost" in text and "#2 failed" in text and "builtins.KeyError: 'x'" in text
    assert "[#2]" in text and "ERROR    app: second try" in text
    assert "Logs of attempt 1: none" in ok("show", str(job.pk), "--attempt", "1")


# -- changing jobs ---------------------------------------------------------------------


def test_cancel_retry_and_run_now():
    later = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2).id
    assert ok("run-now", str(later)) == f"Job {later} is due now.\n"
    assert Job.objects.get(pk=later).run_after <= timezone.now()
    assert ok("cancel", str(later)) == f"Cancelled job {later}.\n"
    assert state(later) == JobState.CANCELLED
    code, _, err = run("cancel", str(later))
    assert code == 4 and "only waiting, ready or running jobs can be cancelled" in err
    assert run("run-now", str(later))[0] == 4
    assert ok("retry", str(later)) == f"Job {later} is ready again (1 attempt(s)).\n"
    assert state(later) == JobState.READY
    code, _, err = run("retry", str(later))
    assert code == 4 and "only failed, cancelled or expired jobs can be retried" in err
    assert run("cancel", "999999")[0] == 3
    assert run("retry", "999999")[0] == 3
    assert run("run-now", "999999")[0] == 3


def test_cancelling_a_running_job_says_its_worker_is_asked_to_stop():
    job = JobFactory(state=JobState.RUNNING, attempts=1, worker_id="w1", grabbed_until=timezone.now())
    JobRunFactory(job=job, attempt=1, worker_id="w1")
    assert ok("cancel", str(job.pk)) == f"Cancelled job {job.pk} (its worker is asked to stop it).\n"
    assert state(job.pk) == JobState.CANCELLED
    assert JobRun.objects.get(job=job).outcome == "cancelled"


def test_several_ids_each_tried_the_first_failure_sets_the_exit_code():
    a, b = jobs.add.enqueue(1, 1).id, jobs.add.enqueue(2, 2).id
    done = JobFactory(state=JobState.SUCCEEDED).pk
    code, out, err = run("cancel", str(a), str(done), "999999", str(b))
    assert code == 4
    assert out == f"Cancelled job {a}.\nCancelled job {b}.\n"
    assert f"Job {done} is succeeded" in err and "No job with id '999999'" in err
    assert "2 of 4 jobs could not be cancelled." in err
    assert state(a) == state(b) == JobState.CANCELLED


# -- queues -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pause_and_resume_queues():
    email = jobs.send_email.enqueue("x@example.com").id
    other = jobs.add.enqueue(1, 2).id
    assert ok("pause", "emails", "reports") == "Paused queue emails.\nPaused queue reports.\n"
    assert queue.paused_queues(using="default") == {"emails", "reports"}
    drain()
    assert (state(email), state(other)) == (JobState.READY, JobState.SUCCEEDED)
    assert ok("resume", "emails") == "Resumed queue emails.\n"
    assert queue.paused_queues(using="default") == {"reports"}
    drain()
    assert state(email) == JobState.SUCCEEDED


def test_pausing_an_unknown_queue_exits_3_and_pauses_nothing():
    code, _, err = run("pause", "emails", "nowhere")
    assert code == 3 and "'nowhere' is not in TASKS['default']['QUEUES']" in err
    assert not QueueState.objects.exists()
    assert run("resume", "nowhere")[0] == 3


def test_clear_deletes_a_queues_waiting_jobs():
    waiting = [jobs.send_email.enqueue(f"{i}@example.com").id for i in range(3)]
    kept = jobs.add.enqueue(1, 2).id
    finished = JobFactory(queue_name="emails", state=JobState.FAILED).pk
    assert ok("clear", "emails", "--yes") == "Deleted 3 waiting job(s) from queue emails.\n"
    assert set(Job.objects.values_list("pk", flat=True)) == {int(kept), finished}
    assert not Job.objects.filter(pk__in=waiting).exists()
    assert run("clear", "nowhere", "--yes")[0] == 3


def test_prune_deletes_finished_jobs_past_their_time():
    past = timezone.now() - timedelta(minutes=1)
    old = JobFactory(state=JobState.SUCCEEDED, keep_until=past)
    JobRunFactory(job=old)
    young = JobFactory(state=JobState.SUCCEEDED, keep_until=timezone.now() + timedelta(days=1))
    waiting = JobFactory()
    assert ok("prune") == "Pruned 1 finished job(s).\n"
    assert set(Job.objects.values_list("pk", flat=True)) == {young.pk, waiting.pk}
    assert not JobRun.objects.exists()
    assert json.loads(ok("prune", "--json")) == {"pruned": 0}


# -- as a real command ------------------------------------------------------------------------


def command(worker_env, *args):
    return subprocess.run(
        [sys.executable, "-m", "django", "jobs", *args],
        env=worker_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_exit_codes_of_the_real_command(worker_env):
    proc = command(worker_env, "enqueue", "tests.testapp.jobs.add", "--args", "[20, 22]")
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout)
    assert Job.objects.get(pk=job_id).args == [20, 22]
    proc = command(worker_env, "cancel", str(job_id))
    assert (proc.returncode, proc.stdout) == (0, f"Cancelled job {job_id}.\n")
    proc = command(worker_env, "cancel", str(job_id))
    assert proc.returncode == 4 and f"Job {job_id} is cancelled" in proc.stderr
    proc = command(worker_env, "show", "999999")
    assert proc.returncode == 3 and "No job with id '999999'" in proc.stderr
    proc = command(worker_env, "enqueue", "tests.testapp.jobs.add", "--args", "nope")
    assert proc.returncode == 5 and "--args is not valid JSON" in proc.stderr
    proc = command(worker_env, "list", "--state", "asleep")
    assert proc.returncode == 2 and "invalid choice: 'asleep'" in proc.stderr
    proc = command(worker_env, "stats", "--json")
    assert proc.returncode == 0 and {row["queue"] for row in json.loads(proc.stdout)} >= {"default", "emails"}
    proc = command(worker_env, "--help")
    assert proc.returncode == 0 and "exit status:" in proc.stdout and "run-now" in proc.stdout
    proc = command(worker_env)
    assert proc.returncode == 2 and "required: SUBCOMMAND" in proc.stderr
