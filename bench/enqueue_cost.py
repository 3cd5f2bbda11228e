"""
W1's gap, measured in one process: an enqueue against the same row's bare INSERT, interleaved,
on the benchmark's PostgreSQL cluster (not part of ``scripts/bench``'s table).

    bench/.venv/bin/python -m bench.enqueue_cost [--n 300] [--rounds 3]

Per round, the median wall time of each loop, each call in its own ``transaction.atomic()``:

- ours: ``task.enqueue()`` of a no-op task;
- bare: the same row's INSERT through Django's cursor into a copy of the job table
  (``LIKE … INCLUDING ALL``: same indexes, no trigger);
- bare into the job table: the same INSERT into the job table itself (its NOTIFY trigger too).

Then the CPU time per call of each (``time.process_time()``): what is Python's, not the server's.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.project.settings")
DBNAME = "bench_enqueue_cost"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from bench import pg

    pg.start(fresh=False)
    os.environ.update(pg.env())
    os.environ["BENCH_DBNAME"] = DBNAME
    os.environ["BENCH_SYSTEM"] = "ours"
    pg.recreate(DBNAME)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from bench import jobs

    call_command("migrate", verbosity=0)
    for _ in range(20):  # connection, function id, imports
        with transaction.atomic():
            jobs.noop.enqueue()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (LIKE django_jobs_job INCLUDING ALL)")
        cursor.execute("SELECT * FROM django_jobs_job LIMIT 0")
        columns = ", ".join(c.name for c in cursor.description if c.name != "id")

    def ours():
        with transaction.atomic():
            jobs.noop.enqueue()

    def insert_into(table):
        sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM django_jobs_job LIMIT 1"

        def insert():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)

        return insert

    loops = {"ours": ours, "bare": insert_into("bench_bare"), "bare into the job table": insert_into("django_jobs_job")}
    for _ in range(args.rounds):
        print("   ".join(f"{name} {_median_ms(loop, args.n):.3f} ms" for name, loop in loops.items()))
    print("CPU per call: " + "   ".join(f"{name} {_cpu_ms(loop, args.n):.3f} ms" for name, loop in loops.items()))
    connection.close()
    pg.drop(DBNAME)


def _median_ms(loop, n):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        loop()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _cpu_ms(loop, n):
    started = time.process_time()
    for _ in range(n):
        loop()
    return (time.process_time() - started) / n * 1000


if __name__ == "__main__":
    main()
