"""
One workload against one system, in a process of its own (Django is set up
once per process, with that system's settings). The orchestrator
(``python -m bench``) runs it and reads the last line: ``RESULT {json}``.

    python -m bench.driver SYSTEM WORKLOAD [--n N] [--slots S] [--poll P] [--seconds T] ...
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.project.settings")


#: py-spy sampling: 200 Hz, without pausing the process, idle threads too (time blocked on the database counts).
SPY_OPTS = ["-r", "200", "--nonblocking", "--idle"]


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("system")
    p.add_argument(
        "workload", choices=["setup", "fill_sql", "w1", "w1b", "w2", "w2r", "fair", "fair0", "w3", "w4", "w5a", "w5b"]
    )
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--gap", type=float, default=0.02)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--logdir", default=tempfile.gettempdir())
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--profile-out", default="", help="w2/w5: run each worker under py-spy record (speedscope)")
    p.add_argument(
        "--worker-user", default="", help="PostgreSQL role of the workers (the SQL-count run logs its statements)"
    )
    args = p.parse_args()
    # The settings (and so every worker process started from here) read these.
    os.environ["BENCH_SLOTS"] = str(args.slots)
    os.environ["BENCH_POLL"] = str(args.poll)
    return args


class Fleet:
    """The worker processes of one system: started in their own sessions, RSS sampled, stopped by pid."""

    def __init__(self, cmds, logpath, env=None, profiled=False):
        self.cmds = cmds
        self.profiled = profiled
        self.logpath = logpath
        self.env = env or dict(os.environ)
        self.procs = []
        self.samples = []  # (time, total RSS bytes)
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        import psutil

        self.log = open(self.logpath, "ab")
        for cmd in self.cmds:
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=os.environ["BENCH_ROOT"],
                    start_new_session=True,
                )
            )
        self.ps = [psutil.Process(p.pid) for p in self.procs]
        self.started = time.time()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        import psutil

        while not self._stop.wait(0.1):
            total = 0
            for p in self.ps:
                try:
                    procs = [p, *p.children(recursive=True)]
                except psutil.Error:
                    continue
                for q in procs:
                    try:
                        total += q.memory_info().rss
                    except psutil.Error:
                        pass
            if total:
                self.samples.append((time.time(), total))

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def stop(self, timeout=60):
        import psutil

        for p, ps in zip(self.procs, self.ps):
            if p.poll() is None:
                if self.profiled:
                    # py-spy writes its profile when the program it runs exits: stop that one.
                    for child in ps.children():
                        child.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout)
                        continue
                    except (subprocess.TimeoutExpired, psutil.Error):
                        pass
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the session we started for it
                except ProcessLookupError:
                    pass
                p.wait()
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.log.close()

    def memory(self, since=None):
        samples = [s for t, s in self.samples if since is None or t >= since]
        if not samples:
            return {}
        mb = 1024 * 1024
        return {"rss_peak_mb": max(samples) / mb, "rss_first_mb": samples[0] / mb, "rss_last_mb": samples[-1] / mb}


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def main():
    args = parse()
    import django

    django.setup()
    from django.db import connection, transaction

    from . import systems

    system = systems.adapter(args.system, args.slots, args.poll)
    log = os.path.join(args.logdir, f"{args.system}-{args.workload}-{os.getpid()}.log")
    result = {"system": args.system, "workload": args.workload, "n": args.n, "slots": args.slots}

    if args.workload == "setup":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if args.system == "bare":
            # The same columns, defaults, constraints and indexes as django_jobs' job table
            # (LIKE copies neither the NOTIFY trigger nor the foreign keys).
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS bench_bare (LIKE django_jobs_job INCLUDING ALL)")
        result["settings"] = system.settings
        result["bulk_note"] = system.bulk_note
        result["versions"] = versions()

    elif args.workload == "fill_sql":
        t0 = time.time()
        with transaction.atomic():
            system.fill_sql(args.n)
        result["seconds"] = time.time() - t0

    elif args.workload == "w1":
        result.update(w1(system, args.n))

    elif args.workload == "w1b":
        t0 = time.time()
        done = 0
        for _ in range(max(1, args.n // args.batch)):
            got = system.enqueue_bulk(args.batch)
            if got is None:
                result["unsupported"] = system.bulk_note
                break
            done += got
        else:
            result["rate"] = done / (time.time() - t0)
            result["note"] = system.bulk_note

    elif args.workload in ("w2", "w2r", "fair", "fair0", "w5a", "w5b"):
        kinds = {"w2": "noop", "w2r": "rated", "fair": "fair", "fair0": "noop", "w5a": "flaky", "w5b": "sleepy"}
        kind = kinds[args.workload]
        markdir = tempfile.mkdtemp(prefix="bench-marks-")
        os.environ["BENCH_MARK_DIR"] = markdir
        t0 = time.time()
        system.fill(kind, args.n)
        result["fill_seconds"] = time.time() - t0
        connection.close()
        cmds = system.worker_cmds()
        if args.profile_out:
            spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
            cmds = [
                [spy, "record", "-o", f"{args.profile_out}.{k}.json", "-f", "speedscope", *SPY_OPTS, "--", *c]
                for k, c in enumerate(cmds)
            ]
        env = dict(os.environ, PGUSER=args.worker_user) if args.worker_user else None
        fleet = Fleet(cmds, log, env=env, profiled=bool(args.profile_out))
        fleet.start()
        ok = wait_until(lambda: system.done_count() >= args.n or not fleet.alive(), args.timeout, 0.05)
        seen_all = time.time()
        connection.close()
        fleet.stop()
        succeeded, failed, first, last = system.outcome()
        result.update(succeeded=succeeded, failed=failed, complete=ok and succeeded + failed >= args.n)
        if first is not None and last is not None:
            # From the first job finished to the last one recorded: worker start-up is left out.
            last = max(float(last), seen_all - 0.05)
            result["rate"] = (succeeded + failed - 1) / (last - float(first))
            result["wall_rate"] = (succeeded + failed) / (seen_all - fleet.started)
        result.update(fleet.memory())
        result["retried"] = len(os.listdir(markdir))

    elif args.workload == "w3":
        result.update(w3(system, args, log))

    elif args.workload == "w4":
        connection.close()
        fleet = Fleet(system.worker_cmds(), log)
        fleet.start()
        time.sleep(args.seconds)
        stop_at = time.time()
        recorded = system.recorded_now() if hasattr(system, "recorded_now") else None
        connection.close()
        fleet.stop()
        succeeded, failed, first, last = system.outcome()
        if recorded is None:
            done, end = system.finished_before(stop_at)
        else:
            done, end = recorded, stop_at
        result.update(done_in_window=done)
        if first is not None and done > 1:
            result["rate"] = (done - 1) / (float(end) - float(first))
        first_t = float(first) if first is not None else None
        result.update(fleet.memory(since=first_t))
        result["rss_peak_all_mb"] = fleet.memory().get("rss_peak_mb")

    print("RESULT " + json.dumps(result, default=str), flush=True)


def w1(system, n):
    from django.db import connection, transaction

    if system.name == "bare":
        # What PostgreSQL costs for the same row through the same (Django, psycopg 3) connection:
        # one INSERT of a no-op job's column values, in its own transaction, in a loop.
        with transaction.atomic():
            job_id = system.enqueue_one("noop").id
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM django_jobs_job WHERE id = %s", [int(job_id)])
            cols = [c.name for c in cursor.description]
            row = dict(zip(cols, cursor.fetchone()))
        from psycopg.types.json import Jsonb

        cols = [c for c in cols if c != "id"]
        values = [Jsonb(row[c]) if isinstance(row[c], (dict, list)) else row[c] for c in cols]
        sql = f"INSERT INTO bench_bare ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"

        def insert():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, values)

        for _ in range(20):
            insert()
        t0 = time.perf_counter()
        for _ in range(n):
            insert()
        return {"rate": n / (time.perf_counter() - t0)}
    for _ in range(20):  # connection, function ids, imports: not what W1 measures
        with transaction.atomic():
            system.enqueue_one("noop")
    t0 = time.perf_counter()
    for _ in range(n):
        with transaction.atomic():  # as a view would (ATOMIC_REQUESTS)
            system.enqueue_one("noop")
    return {"rate": n / (time.perf_counter() - t0)}


def w3(system, args, log):
    from django.db import connection, transaction

    stampfile = tempfile.mktemp(prefix="bench-stamps-")
    os.environ["BENCH_STAMP_FILE"] = stampfile
    connection.close()
    fleet = Fleet(system.worker_cmds(), log)
    fleet.start()

    def stamps():
        try:
            with open(stampfile) as f:
                return {int(a): float(b) for a, b in (line.split() for line in f if line.strip())}
        except FileNotFoundError:
            return {}

    # Warm up: every worker process has imported the job and is idle again.
    warm = max(2, args.slots * 2)
    for k in range(warm):
        with transaction.atomic():
            system.enqueue_one("stamp", -1 - k)
    if not wait_until(lambda: len(stamps()) >= warm, 120, 0.05):
        fleet.stop()
        return {"error": "workers did not start"}
    time.sleep(1.5)
    commits = {}
    before = {}
    next_t = time.time()
    for i in range(args.n):
        delay = next_t - time.time()
        if delay > 0:
            time.sleep(delay)
        before[i] = time.time()
        with transaction.atomic():
            system.enqueue_one("stamp", i)
        commits[i] = time.time()
        next_t += args.gap
    wait_until(lambda: all(i in stamps() for i in range(args.n)), 60, 0.05)
    fleet.stop()
    started = stamps()
    lat = sorted((started[i] - commits[i]) * 1000 for i in range(args.n) if i in started)
    lat_before = sorted((started[i] - before[i]) * 1000 for i in range(args.n) if i in started)
    os.unlink(stampfile)
    if not lat:
        return {"error": "no job started"}
    return {
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "max": lat[-1],
        "started": len(lat),
        "p50_from_call": pct(lat_before, 50),
        "p99_from_call": pct(lat_before, 99),
        "mean": statistics.mean(lat),
    }


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("django", "django-jobs-db", "django-tasks-db", "procrastinate", "django-q2", "psycopg"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


if __name__ == "__main__":
    main()
