"""
Data for the browser tests and the screenshots in docs/screenshots: an hour of
finished jobs (for the throughput charts), and jobs in every state, with the
attempts and tracebacks real jobs would have left.
"""

import random
from datetime import timedelta

from django.contrib.auth.models import Permission, User
from django.utils import timezone

from django_jobs.models import FuncMap, Job, JobLog, JobRun, Worker
from django_jobs.states import JobState, RunOutcome
from tests.factories import FuncMapFactory

TRACEBACK = """Traceback (most recent call last):
  File "/srv/shop/django_jobs/runner.py", line 141, in run_attempt
    value = task.call(*args, **kwargs)
  File "/srv/shop/shop/tasks.py", line 58, in {function}
    response = client.post(url, json=payload, timeout=10)
  File "/srv/shop/shop/clients.py", line 22, in post
    raise {exception}({message!r})
{exception}: {message}
"""

FUNCTIONS = {
    "default": ["shop.tasks.sync_inventory", "shop.tasks.charge_order", "shop.tasks.rebuild_search_index"],
    "emails": ["shop.tasks.send_receipt", "shop.tasks.send_newsletter"],
    "reports": ["shop.tasks.monthly_report"],
}
ERRORS = [
    ("builtins.TimeoutError", "TimeoutError", "payment gateway did not answer in 10s"),
    ("builtins.ConnectionError", "ConnectionError", "smtp.example.com:587 refused the connection"),
    ("builtins.ValueError", "ValueError", "order 8812 has no billing address"),
]


def user(username, *permissions, superuser=False):
    """A staff user (password: the username) with these django_jobs permissions."""
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", username)
    u = User.objects.create_user(username, f"{username}@example.com", username, is_staff=True)
    u.user_permissions.set(Permission.objects.filter(content_type__app_label="django_jobs", codename__in=permissions))
    return u


def history(minutes=60, seed=5):
    """Finished jobs spread over the last ``minutes``, each with its attempt: the charts' data."""
    rng = random.Random(seed)
    now = timezone.now()
    funcs = {path: FuncMapFactory(path=path) for paths in FUNCTIONS.values() for path in paths}
    jobs, outcomes = [], []
    for minute in range(minutes, 0, -1):
        busy = 1 + (3 if 20 < minute < 35 else 0)
        for queue_name, paths in FUNCTIONS.items():
            for _ in range(rng.randint(0, 3) * busy if queue_name != "reports" else rng.randint(0, 1)):
                finished = now - timedelta(minutes=minute, seconds=rng.uniform(0, 59))
                took = timedelta(seconds=rng.uniform(0.05, 4))
                # Pick-up latency: a few ms, seconds in the busy quarter of an hour (the dashboard's timings).
                waited = timedelta(seconds=rng.uniform(0.002, 0.08) * busy**3)
                failed = rng.random() < (0.25 if 20 < minute < 35 and queue_name == "default" else 0.03)
                jobs.append(
                    Job(
                        queue_name=queue_name,
                        func=funcs[rng.choice(paths)],
                        args=[rng.randint(1, 9999)],
                        state=JobState.FAILED if failed else JobState.SUCCEEDED,
                        attempts=1,
                        max_attempts=1,
                        attempts_left=0,
                        enqueued_at=finished - took - waited,
                        run_after=finished - took - waited,
                        started_at=finished - took,
                        last_attempted_at=finished - took,
                        finished_at=finished,
                        exit_status=1 if failed else 0,
                        return_value=None if failed else "ok",
                    )
                )
                outcomes.append((failed, took))
    jobs = Job.objects.bulk_create(jobs)
    runs = []
    for job, (failed, _took) in zip(jobs, outcomes):
        error = rng.choice(ERRORS) if failed else None
        runs.append(
            JobRun(
                job=job,
                attempt=1,
                worker_id=rng.choice(["web-1:4242:a1b2c3", "web-2:5151:d4e5f6"]),
                started_at=job.started_at,
                finished_at=job.finished_at,
                outcome=RunOutcome.FAILED if failed else RunOutcome.SUCCEEDED,
                exception_class_path=error[0] if error else "",
                message=error[2] if error else "",
                traceback=TRACEBACK.format(
                    function=job.func.path.rpartition(".")[2], exception=error[1], message=error[2]
                )
                if error
                else "",
                exit_status=job.exit_status,
            )
        )
    JobRun.objects.bulk_create(runs)
    return jobs


def waiting(count=12, seed=7):
    """Ready jobs: some due for a while, some scheduled for later."""
    rng = random.Random(seed)
    now = timezone.now()
    jobs = []
    for i in range(count):
        queue_name = rng.choice(["default", "default", "emails"])
        due = i % 3 != 0
        jobs.append(
            Job(
                queue_name=queue_name,
                func=FuncMap.objects.get_or_create(path=rng.choice(FUNCTIONS[queue_name]))[0],
                args=[rng.randint(1, 9999)],
                state=JobState.READY,
                max_attempts=3,
                attempts_left=3,
                run_after=now - timedelta(seconds=rng.uniform(5, 200))
                if due
                else now + timedelta(minutes=rng.randint(5, 90)),
                enqueued_at=now - timedelta(seconds=rng.uniform(200, 400)),
            )
        )
    return Job.objects.bulk_create(jobs)


def logged_failure():
    """A failed job with two attempts: the first lost with its worker, the second raised; both logged."""
    now = timezone.now()
    func = FuncMapFactory(path="shop.tasks.charge_order")
    job = Job.objects.create(
        queue_name="default",
        func=func,
        args=[8812],
        kwargs={"amount": "49.90", "currency": "EUR", "retry": True},
        state=JobState.FAILED,
        attempts=2,
        max_attempts=2,
        attempts_left=0,
        uniqkey="charge-8812",
        started_at=now - timedelta(minutes=9),
        last_attempted_at=now - timedelta(minutes=3, seconds=12),
        finished_at=now - timedelta(minutes=3, seconds=2),
        exit_status=1,
    )
    Job.objects.filter(pk=job.pk).update(
        enqueued_at=now - timedelta(minutes=9, seconds=30), run_after=now - timedelta(minutes=3, seconds=12)
    )
    lost = JobRun.objects.create(
        job=job,
        attempt=1,
        worker_id="web-1:4242:a1b2c3",
        started_at=now - timedelta(minutes=9),
        finished_at=now - timedelta(minutes=8),
        outcome=RunOutcome.LOST,
        exception_class_path="django_jobs.exceptions.WorkerLost",
        message="Lease expired: worker web-1:4242:a1b2c3 died, stopped renewing, "
        "or the attempt overran max_work_duration.",
    )
    failed = JobRun.objects.create(
        job=job,
        attempt=2,
        worker_id="web-2:5151:d4e5f6",
        started_at=now - timedelta(minutes=3, seconds=12),
        finished_at=now - timedelta(minutes=3, seconds=2),
        outcome=RunOutcome.FAILED,
        exception_class_path="builtins.TimeoutError",
        message="payment gateway did not answer in 10s",
        traceback=TRACEBACK.format(
            function="charge_order", exception="TimeoutError", message="payment gateway did not answer in 10s"
        ),
        exit_status=1,
    )
    JobLog.objects.bulk_create(
        [
            JobLog(
                run=lost,
                created_at=now - timedelta(minutes=9),
                level=20,
                logger="shop.tasks",
                message="charging order 8812: 49.90 EUR",
            ),
            JobLog(
                run=failed,
                created_at=now - timedelta(minutes=3, seconds=12),
                level=20,
                logger="shop.tasks",
                message="charging order 8812: 49.90 EUR",
            ),
            JobLog(
                run=failed,
                created_at=now - timedelta(minutes=3, seconds=7),
                level=30,
                logger="shop.clients",
                message="gateway slow to answer, retrying once",
            ),
            JobLog(
                run=failed,
                created_at=now - timedelta(minutes=3, seconds=2),
                level=40,
                logger="shop.clients",
                message="gateway timed out after 10s",
            ),
        ]
    )
    return job


def running(count=3):
    """Jobs held by two workers whose heartbeats are recent (in the worker registry)."""
    now = timezone.now()
    for worker_id in ("web-1:4242:a1b2c3", "web-2:5151:d4e5f6"):
        host, pid, _ = worker_id.split(":")
        Worker.objects.create(
            worker_id=worker_id,
            host=host,
            pid=int(pid),
            queues=[],
            concurrency=4,
            running=(count + 1) // 2 if worker_id.startswith("web-1") else count // 2,
            started_at=now - timedelta(hours=2),
            last_heartbeat=now - timedelta(seconds=1),
        )
    jobs = []
    for i in range(count):
        worker = ["web-1:4242:a1b2c3", "web-2:5151:d4e5f6"][i % 2]
        func = FuncMapFactory(path=FUNCTIONS["default"][i % 3] if i else "shop.tasks.monthly_report")
        job = Job.objects.create(
            queue_name="reports" if i == 0 else "default",
            func=func,
            args=[i],
            state=JobState.RUNNING,
            attempts=1,
            max_attempts=3,
            attempts_left=2,
            worker_id=worker,
            enqueued_at=now - timedelta(seconds=45 + 30 * i),
            run_after=now - timedelta(seconds=45 + 30 * i),
            started_at=now - timedelta(seconds=40 + 30 * i),
            last_attempted_at=now - timedelta(seconds=40 + 30 * i),
            grabbed_until=now + timedelta(seconds=22 - 4 * i),
        )
        JobRun.objects.create(job=job, attempt=1, worker_id=worker, started_at=job.started_at)
        jobs.append(job)
    return jobs
