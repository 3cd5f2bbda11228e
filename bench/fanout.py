"""
What a workflow costs against plain jobs (docs/workflows.md): a fan-out of
``--jobs`` no-op jobs with one fan-in job after them all, enqueued as one
``chain(group(...), call(...))``, then drained by one
``runworker --burst --concurrency 2`` on PostgreSQL; against W2, as many
plain no-op jobs written by ``enqueue_many`` and drained alike. Interleaved,
``--reps`` times each; medians printed.

Figures: the enqueue (seconds, and statements sent, from the database's
pg_stat_statements-free count of Django's queries), the drain rate (jobs
per second between the first start and the last finish, on the database's
clock), and the fan-in's wait (its start minus the last fan-out job's end).

    eval "$(scripts/pgcluster start)"
    .venv/bin/python -m bench.fanout --jobs 10000 --reps 3
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DBNAME = "bench_fanout"

ENQUEUE = """
import time
from django.db import connection
from django.test.utils import CaptureQueriesContext
import django_jobs
from bench import jobs
with connection.cursor() as c:
    c.execute("TRUNCATE django_jobs_dependency, django_jobs_joblog, django_jobs_jobrun, django_jobs_job CASCADE")
started = time.perf_counter()
with CaptureQueriesContext(connection) as queries:
    if {graph}:
        fan_out = django_jobs.group(*[django_jobs.call(jobs.noop)] * {n})
        django_jobs.chain(fan_out, django_jobs.call(jobs.noop)).enqueue()
    else:
        django_jobs.enqueue_many([(jobs.noop,)] * {n})
print("ENQUEUE", time.perf_counter() - started, len(queries))
"""

RATE = """
from django.db.models import Max, Min, Count
from django_jobs.models import Job
done = Job.objects.filter(state="succeeded")
r = done.aggregate(n=Count("id"), a=Min("started_at"), b=Max("finished_at"))
last = done.order_by("-id").values_list("started_at", flat=True).first()
fanned = done.exclude(pk=done.order_by("-id").values("pk")[:1]).aggregate(b=Max("finished_at"))["b"]
print("RATE", r["n"], (r["b"] - r["a"]).total_seconds(), (last - fanned).total_seconds())
"""


def django(*args, **kwargs):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.project.settings", BENCH_SYSTEM="ours", BENCH_DB="pg")
    env["BENCH_DBNAME"] = DBNAME
    return subprocess.run([sys.executable, "-m", "django", *args], env=env, cwd=ROOT, check=True, **kwargs)


def figures(out, tag):
    return [float(x) for x in out[out.index(tag) :].split("\n")[0].split()[1:]]


def run(graph, n):
    """(enqueue seconds, enqueue statements, drain jobs/s, fan-in wait seconds or None)."""
    out = django("shell", "-c", ENQUEUE.format(graph=graph, n=n), capture_output=True, text=True).stdout
    seconds, statements = figures(out, "ENQUEUE")
    django("runworker", "--burst", "--concurrency", "2", capture_output=True)
    out = django("shell", "-c", RATE, capture_output=True, text=True).stdout
    done, drained, wait = figures(out, "RATE")
    total = n + 1 if graph else n
    assert int(done) == total, f"{done:.0f} of {total} jobs succeeded"
    return seconds, int(statements), done / drained, wait if graph else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    subprocess.run(["createdb", DBNAME], env=os.environ, capture_output=True)  # exists already: fine
    django("migrate", "-v", "0")
    results: dict[str, list[tuple]] = {"plain (W2)": [], "fan-out/fan-in": []}
    for rep in range(args.reps):
        for name, graph in (("plain (W2)", False), ("fan-out/fan-in", True)):
            seconds, statements, rate, wait = run(graph, args.jobs)
            results[name].append((seconds, statements, rate, wait))
            fan_in = "" if wait is None else f", fan-in started {wait:.3f}s after the last fan-out job"
            print(
                f"rep {rep + 1} {name:15} enqueue {seconds:6.2f}s in {statements} statements, "
                f"drain {rate:6.0f} jobs/s{fan_in}",
                flush=True,
            )
    plain = statistics.median(r[2] for r in results["plain (W2)"])
    for name, runs in results.items():
        rate = statistics.median(r[2] for r in runs)
        enqueue = statistics.median(r[0] for r in runs)
        print(
            f"median {name:15} enqueue {enqueue:6.2f}s ({runs[0][1]} statements), "
            f"drain {rate:6.0f} jobs/s ({100 * (rate / plain - 1):+.1f}% against W2; "
            + ", ".join(f"{r[2]:.0f}" for r in runs)
            + ")"
        )


if __name__ == "__main__":
    main()
