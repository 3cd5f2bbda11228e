"""
Pressure scenarios (issue 17): how each system holds up when PostgreSQL is under the pressures
production queues meet, with jobs flowing at a fixed rate all along.

- ``idle_xact``: a session holds an open transaction with an XID (``BEGIN; SELECT txid_current()``,
  then idle), pinning the xmin horizon: VACUUM can remove no dead row version made since.
- ``rr_readers``: four REPEATABLE READ readers, each holding one snapshot for the whole phase,
  count the job table in a loop (also pinning the horizon, and taking CPU and buffers).
- ``kept_finished``: 1,000,000 finished jobs kept in the job table (KEEP_FINISHED_FOR), inserted
  between the baseline and the pressure, deleted (as a purge would) before the recovery.
- ``overload``: the producer at 1.5x the system's clean drain rate, then back to the flow rate.

Each scenario runs in a fresh database and a process of its own, in three measured phases of the
same flow: a clean baseline, the pressure, the recovery. Per phase: throughput (jobs finished in
the phase / its length), pick-up latency p50/p99 (the enqueue's commit to the job's start, of the
jobs enqueued in the phase), and the job table's dead tuples (``pg_stat_user_tables.n_dead_tup``,
sampled every second: the phase's peak and its last sample).

    scripts/bench --only pressure [--phase-seconds 60] [--rate 200] [--scenarios idle_xact,overload]

The flow is ``stamp`` jobs (each appends its start time to a file), enqueued every 10 ms in batches
through each system's bulk path (one transaction per batch). Its default rate is half the system's
clean drain rate, measured first in the same run (a W2 drain of 3,000 no-ops).
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import threading
import time

from . import pg
from .pressures import Pressure, explain_claim

#: Length of each phase in seconds when --phase-seconds is not given (what issue 17 names).
SCENARIOS = {"idle_xact": 300, "rr_readers": 300, "kept_finished": 300, "overload": 120}
SYSTEMS = ["ours", "procrastinate", "dtdb"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = 0.01  # the producer enqueues what the rate owes every 10 ms

# -- one scenario, in a process of its own ----------------------------------------------------


class Producer(threading.Thread):
    """Enqueues ``stamp`` jobs at ``rate`` jobs/s (changeable), one batch per tick; keeps each batch's commit time."""

    def __init__(self, system, rate):
        super().__init__(daemon=True)
        self.system = system
        self.rate = rate
        self.batches = []  # (first id, count, commit time)
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        from django.db import connection

        sent, owed, last = 0, 0.0, time.time()
        try:
            while not self.stopping.wait(max(0.0, last + TICK - time.time())):
                now = time.time()
                owed += self.rate * (now - last)
                last = now
                k = min(int(owed), 5000)
                if k:
                    self.system.fill("stamp", k, first=sent)
                    self.batches.append((sent, k, time.time()))
                    sent += k
                    owed -= k
        except Exception as e:  # reported in the result, not lost in a thread
            self.error = repr(e)
        finally:
            connection.close()

    def commits(self):
        return {i: t for first, k, t in self.batches for i in range(first, first + k)}


class Monitor(threading.Thread):
    """Samples the job table's dead and live tuples every second, on a connection of its own."""

    def __init__(self, conninfo, table):
        super().__init__(daemon=True)
        self.conninfo, self.table = conninfo, table
        self.samples = []  # (time, n_dead_tup, n_live_tup, table bytes, index bytes, autovacuums)
        self.stopping = threading.Event()

    def run(self):
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stopping.wait(1.0):
                row = conn.execute(
                    "SELECT n_dead_tup, n_live_tup, pg_relation_size(relid), pg_indexes_size(relid), "
                    "autovacuum_count FROM pg_stat_user_tables WHERE relname = %s",
                    [self.table],
                ).fetchone()
                if row:
                    self.samples.append((time.time(), *row))

    def during(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1 + 1.0]


def run_scenario(args):
    import django

    django.setup()
    from django.db import connection

    from . import systems
    from .driver import Fleet, pct, wait_until

    system = systems.adapter(args.system, args.slots, args.poll)
    d = connection.settings_dict
    conninfo = f"host={d['HOST']} port={d['PORT']} user={d['USER']} dbname={d['NAME']}"
    stampfile = tempfile.mktemp(prefix="bench-stamps-")
    os.environ["BENCH_STAMP_FILE"] = stampfile
    result = {"system": args.system, "workload": args.scenario, "flow_rate": args.rate, "drain_rate": args.drain}

    def stamps():
        try:
            with open(stampfile) as f:
                return {int(a): float(b) for a, b in (line.split() for line in f if line.strip())}
        except FileNotFoundError:
            return {}

    system.fill("stamp", 4, first=-4)  # warm-up jobs, finished before the baseline
    connection.close()
    fleet = Fleet(system.worker_cmds(), os.path.join(args.logdir, f"{args.system}-{args.scenario}.log"))
    fleet.start()
    if not wait_until(lambda: len(stamps()) >= 4, 120, 0.05):
        fleet.stop()
        result["error"] = "workers did not start"
        return result
    time.sleep(2.0)
    monitor = Monitor(conninfo, system.table)
    monitor.start()
    producer = Producer(system, args.rate)
    pressure = Pressure(args.scenario, conninfo, system, args)
    t_base = time.time()
    producer.start()
    phases = []
    seconds = args.phase_seconds

    def phase(name):
        t0 = time.time()
        time.sleep(seconds)
        if system.name == "ours" and name != "recovery":
            result[f"explain_{name}"] = explain_claim(conninfo)
        phases.append((name, t0, time.time()))

    try:
        phase("baseline")
        pressure.start(producer, args.drain, t_base)
        phase("pressure")
        pressure.end(producer, args.rate, t_base)
        phase("recovery")
    finally:
        pressure.end(producer, args.rate, t_base, purge=False)  # after an error: nothing left holding
        producer.stopping.set()
        producer.join()
        commits = producer.commits()
        wait_until(lambda: len(stamps()) >= len(commits) + 4, 60, 0.2)
        time.sleep(1.5)  # the last finished jobs' reports
        monitor.stopping.set()
        monitor.join()
        fleet.stop()
    started = stamps()
    os.unlink(stampfile)
    result["phases"] = []
    for name, t0, t1 in phases:
        ids = [i for i, t in commits.items() if t0 <= t < t1]
        lat = sorted((started[i] - commits[i]) * 1000 for i in ids if i in started)
        done = system.finished_before(t1)[0] - system.finished_before(t0)[0]
        samples = monitor.during(t0, t1)
        result["phases"].append(
            {
                "phase": name,
                "seconds": t1 - t0,
                "offered": len(ids) / (t1 - t0),
                "rate": done / (t1 - t0),
                "p50": pct(lat, 50),
                "p99": pct(lat, 99),
                "not_started": len(ids) - len(lat),
                "dead_max": max((s[1] for s in samples), default=None),
                "dead_last": samples[-1][1] if samples else None,
                "live_last": samples[-1][2] if samples else None,
                "table_mb": samples[-1][3] / 2**20 if samples else None,
                "indexes_mb": samples[-1][4] / 2**20 if samples else None,
                "autovacuums": (samples[-1][5] - samples[0][5]) if samples else None,
            }
        )
    result["notes"] = pressure.notes
    if producer.error:
        result["error"] = f"producer: {producer.error}"
    return result


def parse_run(argv):
    p = argparse.ArgumentParser(prog="python -m bench.pressure SYSTEM SCENARIO")
    p.add_argument("system")
    p.add_argument("scenario", choices=list(SCENARIOS))
    p.add_argument("--rate", type=float, required=True, help="flow: jobs/s")
    p.add_argument("--drain", type=float, required=True, help="the system's clean drain rate (overload: 1.5x)")
    p.add_argument("--phase-seconds", type=float, required=True)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--reader-pause", type=float, default=0.1)
    p.add_argument("--kept", type=int, default=1_000_000)
    p.add_argument("--logdir", default=tempfile.gettempdir())
    args = p.parse_args(argv)
    os.environ["BENCH_SLOTS"] = str(args.slots)
    os.environ["BENCH_POLL"] = str(args.poll)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.project.settings")
    return args


# -- the orchestrator -------------------------------------------------------------------------


def parse(argv):
    p = argparse.ArgumentParser(prog="scripts/bench --only pressure", description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, among ours,procrastinate,dtdb")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, among {','.join(SCENARIOS)}")
    p.add_argument(
        "--phase-seconds",
        type=float,
        help="length of each phase (baseline, pressure, recovery); default: "
        + ", ".join(f"{k} {v} s" for k, v in SCENARIOS.items()),
    )
    p.add_argument("--rate", type=float, help="flow in jobs/s for every system (default: half its clean drain rate)")
    p.add_argument("--slots", type=int, default=2, help="total job slots of every system (default 2)")
    p.add_argument("--readers", type=int, default=4, help="rr_readers: REPEATABLE READ readers (default 4)")
    p.add_argument("--reader-pause", type=float, default=0.1, help="rr_readers: seconds between scans (default 0.1)")
    p.add_argument("--kept", type=int, default=1_000_000, help="kept_finished: finished jobs kept (default 1,000,000)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"), help="where results go")
    p.add_argument("--keep-cluster", action="store_true", help="leave the PostgreSQL cluster running")
    args = p.parse_args(argv)
    args.systems = [s for s in args.systems.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}")
    for s in args.systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}: pressure runs on {', '.join(SYSTEMS)}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-"):  # SYSTEM SCENARIO ...: one scenario, in this process
        print("RESULT " + json.dumps(run_scenario(parse_run(argv)), default=str), flush=True)
        return
    from . import pressure_table
    from .__main__ import POLL, Runner, git_state, loadavg, machine

    args = parse(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-pressure"
    outdir = os.path.join(args.out, stamp)
    os.makedirs(outdir, exist_ok=True)
    r = Runner(args, outdir)
    info = {"machine": machine(), "load_before": loadavg(), "git": git_state(), "started": stamp, "args": vars(args)}
    print(f"== pressure scenarios {stamp}; results in {outdir}", flush=True)
    print(f"   {info['machine']}; load {info['load_before']}; git {info['git']}", flush=True)
    pg.start(fresh=True)
    try:
        info["postgres"] = pg.settings_summary()
        info["settings"], info["rates"] = {}, {}
        for system in args.systems:
            res = r.template(system)
            info["settings"][system] = res["settings"]
            info["versions"] = res["versions"]
            drain = r.driver(system, "w2", r.env(system, dbname=r.fresh(system)), n=3000, slots=args.slots)
            r.record(drain, f"drain {system}", 1)
            if "rate" not in drain:
                raise SystemExit(f"measuring {system}'s drain rate failed: {drain.get('error')}")
            info["rates"][system] = {"drain": drain["rate"], "flow": args.rate or drain["rate"] / 2}
        for scenario in args.scenarios:
            seconds = args.phase_seconds or SCENARIOS[scenario]
            print(f"== {scenario}: 3 phases of {seconds:.0f} s", flush=True)
            for system in args.systems:
                rates = info["rates"][system]
                env = r.env(system, dbname=r.fresh(system))
                opts = {"rate": rates["flow"], "drain": rates["drain"], "phase_seconds": seconds, "slots": args.slots}
                opts.update(readers=args.readers, reader_pause=args.reader_pause, kept=args.kept)
                res = r.driver(
                    system, scenario, env, timeout=3 * seconds + 900, module="bench.pressure", poll=POLL[system], **opts
                )
                r.record(res, f"{scenario} {system}", 1)
                explains = [
                    f"-- at the end of the {k[len('explain_') :]}\n{v}"
                    for k, v in res.items()
                    if k.startswith("explain_")
                ]
                if explains:
                    with open(os.path.join(outdir, f"explain-{scenario}.txt"), "w") as f:
                        f.write("\n\n".join(explains) + "\n")
                pg.drop(f"run_{system}")
    finally:
        info["load_after"] = loadavg()
        info["finished"] = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        with open(os.path.join(outdir, "info.json"), "w") as f:
            json.dump(info, f, indent=1, default=str)
        table = pressure_table.render(r.results, info)
        with open(os.path.join(outdir, "table.md"), "w") as f:
            f.write(table)
        print()
        print(table)
        if not args.keep_cluster:
            pg.stop()


if __name__ == "__main__":
    main()
