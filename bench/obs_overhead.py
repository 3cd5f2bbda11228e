"""
What observability costs a worker: W2 (drain 10,000 waiting no-op jobs, one
`runworker --burst --concurrency 2` on PostgreSQL) without, and with both
`--metrics-port` and OpenTelemetry tracing through the SDK to a no-op
exporter (bench/otel_noop.py; the jobs are enqueued traced too, so each
attempt's span has its enqueue's as parent). The variants are interleaved
and each is run ``--reps`` times; the medians are printed, of two figures:
the drain rate (jobs per second of the database's clock: what the issue
asks, but on a shared machine it swings with the other load) and the
worker's CPU time per 1,000 jobs (user + system of the runworker process,
from getrusage: what the instrumentation itself costs, far steadier under
load).

Uses the running cluster of scripts/pgcluster (PGHOST, PGPORT in the
environment) and this checkout's .venv (the otel and metrics extras):

    eval "$(scripts/pgcluster start)"
    .venv/bin/python -m bench.obs_overhead --jobs 10000 --reps 3
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DBNAME = "bench_obs"


#: The variants measured: name -> (metrics, tracing).
VARIANTS = {"plain": (False, False), "metrics+tracing": (True, True)}
#: With --split, each one alone too.
SPLIT = {"metrics": (True, False), "tracing": (False, True)}


def env(tracing):
    e = dict(os.environ)
    e.update(DJANGO_SETTINGS_MODULE="bench.project.settings", BENCH_SYSTEM="ours", BENCH_DB="pg", BENCH_DBNAME=DBNAME)
    e.pop("BENCH_OTEL", None)
    if tracing:
        e["BENCH_OTEL"] = "noop"
    return e


def django(tracing, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "django", *args], env=env(tracing), cwd=ROOT, check=True, **kwargs)


FILL = """
from django.db import connection
import django_jobs
from bench import jobs
with connection.cursor() as c:
    c.execute("TRUNCATE django_jobs_joblog, django_jobs_jobrun, django_jobs_job CASCADE")
for start in range(0, {n}, 5000):
    django_jobs.enqueue_many([(jobs.noop,)] * min(5000, {n} - start))
"""

RATE = """
from django.db.models import Max, Min, Count
from django_jobs.models import Job
r = Job.objects.filter(state="succeeded").aggregate(n=Count("id"), a=Min("started_at"), b=Max("finished_at"))
print("RATE", r["n"], (r["b"] - r["a"]).total_seconds())
"""


def drain(metrics, tracing):
    """Run one burst worker until the queue is empty: (wall seconds, CPU seconds of its process)."""
    worker = ["runworker", "--burst", "--concurrency", "2"]
    if metrics:
        worker += ["--metrics-port", "19337"]
    started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    django(tracing, *worker, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - started, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run(metrics, tracing, n):
    # What the process costs with no job (start-up: Django, the SDK, the metrics server) is not per job.
    django(tracing, "shell", "-c", FILL.format(n=0))
    _, idle = drain(metrics, tracing)
    django(tracing, "shell", "-c", FILL.format(n=n))
    wall, cpu = drain(metrics, tracing)
    cpu -= idle
    out = django(tracing, "shell", "-c", RATE, capture_output=True, text=True).stdout
    done, seconds = out[out.index("RATE") :].split()[1:3]
    assert int(done) == n, f"{done} of {n} jobs succeeded"
    return n / float(seconds), wall, 1000 * cpu / n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--split", action="store_true", help="also metrics alone and tracing alone")
    args = p.parse_args()
    variants = {**VARIANTS, **(SPLIT if args.split else {})}
    subprocess.run(["createdb", DBNAME], env=os.environ, capture_output=True)  # exists already: fine
    django(False, "migrate", "-v", "0")
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(args.reps):
        for name, (metrics, tracing) in variants.items():
            rate, wall, cpu = run(metrics, tracing, args.jobs)
            rates[name].append(rate)
            cpus[name].append(cpu)
            print(
                f"rep {rep + 1} {name:16} {rate:8.0f} jobs/s  {cpu:6.3f} CPU s per 1,000 jobs (process {wall:.1f}s)",
                flush=True,
            )
    report("jobs/s", rates, "{:.0f}")
    report("worker CPU s per 1,000 jobs", cpus, "{:.3f}")


def report(what, figures, form):
    plain = statistics.median(figures["plain"])
    for name, measured in figures.items():
        median = statistics.median(measured)
        each = ", ".join(form.format(f) for f in measured)
        print(f"median {what}: {name:16} {form.format(median):>8}  {100 * (median / plain - 1):+6.1f}%  ({each})")


if __name__ == "__main__":
    main()
