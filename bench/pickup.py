"""
W3's path, step by step: where the time from an enqueue's commit to its job's start goes, for
django_jobs on the benchmark's PostgreSQL cluster (not part of ``scripts/bench``'s table).

    bench/.venv/bin/python -m bench.pickup [--n 200] [--gap 0.02]

One idle worker (``runworker --concurrency 2``) whose listener, claim and job record the wall
clock of each step to a file; the enqueuer records each job's commit. Printed per step: p50 and
p99 over the jobs, in milliseconds:

- commit → woken: NOTIFY's delivery, until the worker's ``listener.wait`` returns;
- woken → claim sent: the worker loop's own work before it claims (scheduler tick, checks);
- claim: the claim's round trips and commit;
- claimed → started: the hand-over to a job thread and the runner's work before the function.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.project.settings")
DBNAME = "bench_pickup"


def worker(steps):
    """The worker process: runworker with its listener and claim timed into ``steps``."""
    import django

    django.setup()
    from django.core.management import call_command

    from django_jobs import queue
    from django_jobs.db.postgresql_sessions import PostgreSQLListener

    out = open(steps, "a", buffering=1)  # open for the process's life
    wait, claim = PostgreSQLListener.wait, queue.complete_and_claim

    def timed_wait(self, timeout):
        cancelled = wait(self, timeout)
        out.write(f"woken {time.time():.6f}\n")
        return cancelled

    def timed_claim(succeeded, **options):
        sent = time.time()
        recorded, claimed = claim(succeeded, **options)
        done = time.time()
        for job in claimed:
            out.write(f"claimed {job.id} {sent:.6f} {done:.6f}\n")
        return recorded, claimed

    PostgreSQLListener.wait, queue.complete_and_claim = timed_wait, timed_claim
    call_command("runworker", "--concurrency", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    from bench import pg

    pg.start(fresh=False)
    os.environ.update(pg.env())
    os.environ["BENCH_DBNAME"] = DBNAME
    pg.recreate(DBNAME)
    workdir = tempfile.mkdtemp(prefix="bench-pickup-")
    steps, stamps = os.path.join(workdir, "steps"), os.path.join(workdir, "stamps")
    os.environ["BENCH_STAMP_FILE"] = stamps

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from bench import jobs

    call_command("migrate", verbosity=0)
    connection.close()
    proc = subprocess.Popen([sys.executable, "-m", "bench.pickup", "--worker", steps], stderr=subprocess.DEVNULL)
    try:
        for k in range(4):  # warm-up: imports, connections, function ids
            jobs.stamp.enqueue(-1 - k)
        while len(_lines(stamps)) < 4:
            time.sleep(0.05)
        time.sleep(1.5)
        commits, ids = {}, {}
        for i in range(args.n):
            with transaction.atomic():
                ids[i] = int(jobs.stamp.enqueue(i).id)
            commits[i] = time.time()
            time.sleep(args.gap)
        deadline = time.time() + 30
        while len([x for x in _lines(stamps) if int(x[0]) >= 0]) < args.n and time.time() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    report(commits, ids, steps, stamps)


def _lines(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def report(commits, ids, steps, stamps):
    started = {int(i): float(t) for i, t in _lines(stamps)}
    wakes = sorted(float(x[1]) for x in _lines(steps) if x[0] == "woken")
    claims = {int(x[1]): (float(x[2]), float(x[3])) for x in _lines(steps) if x[0] == "claimed"}
    spans = {"commit → woken": [], "woken → claim sent": [], "claim": [], "claimed → started": [], "total": []}
    for i, commit in commits.items():
        if i not in started or ids[i] not in claims:
            continue
        sent, done = claims[ids[i]]
        woken = next((t for t in wakes if commit <= t <= sent), None)
        if woken is None:
            continue  # claimed without a wake-up of its own (the loop was already going)
        for name, value in (
            ("commit → woken", woken - commit),
            ("woken → claim sent", sent - woken),
            ("claim", done - sent),
            ("claimed → started", started[i] - done),
            ("total", started[i] - commit),
        ):
            spans[name].append(value * 1000)
    result = {}
    for name, values in spans.items():
        values.sort()
        if values:
            result[name] = {
                "p50": round(statistics.median(values), 3),
                "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 3),
                "n": len(values),
            }
            p50, p99 = result[name]["p50"], result[name]["p99"]
            print(f"{name:22} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   ({len(values)} jobs)")
    print("RESULT " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
