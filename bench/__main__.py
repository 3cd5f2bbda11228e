"""
The benchmark's orchestrator: ``python -m bench`` (``scripts/bench`` sets up bench/.venv and runs it).

Starts the private PostgreSQL cluster (bench/pg.py), migrates one template database per system,
then runs every workload against every system, each run in a fresh database (copied from the
template) and in a process of its own (bench/driver.py). Repetitions are interleaved (rep 1 of
every system, then rep 2, ...) so that noise from the shared machine spreads over all systems.
Prints one table of medians and ours/peer ratios; writes results.jsonl, table.md and the
workers' logs under bench/results/<time>/.
"""

import argparse
import collections
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import pg

TIMES = "\u00d7"  # the multiplication sign of ratios
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ["dtdb", "procrastinate", "djq"]
ALL_SYSTEMS = ["ours", *PEERS]
LABELS = {
    "ours": "django_jobs",
    "ours2p": "django_jobs (2 processes)",
    "dtdb": "django-tasks-db",
    "procrastinate": "procrastinate",
    "djq": "django-q2",
    "bare": "bare INSERT+COMMIT",
}
SHALLOW = 10_000  # W4's reference depth
WORKLOADS = ["w1", "w1b", "w2", "w2r", "fair", "w3", "w4", "w5a", "w5b", "sqlite", "pgbench"]
# "--only pressure" (alone) runs bench/pressure.py's scenarios instead, with options of their own.

# Polling interval per system. django_jobs and procrastinate wake on LISTEN/NOTIFY (their poll
# is only a fallback); django-tasks-db and django-q2 poll, at 0.1 s here (defaults 1 s and 0.2 s).
POLL = {"ours": 1.0, "ours2p": 1.0, "bare": 1.0, "dtdb": 0.1, "procrastinate": 1.0, "djq": 0.1}


def parse():
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repetition, smaller workloads (W4 keeps its depth)")
    p.add_argument("--only", default="", help=f"comma-separated workloads among {','.join(WORKLOADS)}")
    p.add_argument(
        "--systems", default=",".join(ALL_SYSTEMS), help="comma-separated: ours,ours2p,dtdb,procrastinate,djq"
    )
    p.add_argument("--reps", type=int, help="repetitions per cell (default 3; --quick 1)")
    p.add_argument("--w4-reps", type=int, help="repetitions of the W4 drain at depth (default: --reps)")
    p.add_argument("--slots", type=int, default=2, help="total job slots of every system (W2, W4, W5a; default 2)")
    p.add_argument("--io-slots", type=int, default=10, help="total job slots for W5b's 50 ms jobs (default 10)")
    p.add_argument("--depth", type=int, default=1_000_000, help="W4: waiting jobs (default 1,000,000)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"), help="where results go")
    p.add_argument("--keep-cluster", action="store_true", help="leave the PostgreSQL cluster running")
    p.add_argument("--profile", action="store_true", help="also profile our worker (W2) and enqueue (W1) with py-spy")
    p.add_argument(
        "--render",
        nargs="+",
        metavar="DIR",
        help="only print the table of earlier runs' result directories; a later one's cells replace an earlier's",
    )
    args = p.parse_args()
    args.systems = [s for s in args.systems.split(",") if s]
    args.only = [w for w in args.only.split(",") if w] or list(WORKLOADS)
    for w in args.only:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.w4_reps is None:
        args.w4_reps = args.reps
    q = args.quick
    args.n = {
        "w1": 500 if q else 2000,
        "w1b": 5000 if q else 20000,
        "w2": 2000 if q else 10000,
        "fair": 100_000,  # 1,000 tenants x 100 jobs (bench.systems.FAIR_KEYS)
        "w3": 50 if q else 200,
        "w5a": 1000 if q else 5000,
        "w5b": 200 if q else 1000,
        "sqlite_w2": 2000 if q else 10000,
    }
    args.w4_seconds = 15 if q else 25
    return args


class Runner:
    def __init__(self, args, outdir):
        self.args = args
        self.outdir = outdir
        self.results = []
        self.jsonl = open(os.path.join(outdir, "results.jsonl"), "a")

    def env(self, system, db="pg", dbname=None, sqlite=None):
        env = dict(os.environ)
        env.update(pg.env())
        env.update(
            BENCH_ROOT=ROOT,
            BENCH_SYSTEM="ours" if system in ("bare", "ours2p") else system,
            BENCH_DB=db,
            DJANGO_SETTINGS_MODULE="bench.project.settings",
            PYTHONPATH=ROOT,
        )
        if dbname:
            env["BENCH_DBNAME"] = dbname
        if sqlite:
            env["BENCH_SQLITE"] = sqlite
        return env

    def driver(self, system, workload, env, timeout=900, wrap=(), module="bench.driver", **opts):
        cmd = [*wrap, sys.executable, "-m", module, system, workload, "--logdir", self.outdir]
        opts.setdefault("poll", POLL.get(system, 1.0))
        for k, v in opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, code = f"timed out after {timeout} s", -1
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if lines:
            result = json.loads(lines[-1][len("RESULT ") :])
        else:
            result = {"system": system, "workload": workload, "error": f"exit {code}: {err.strip()[-2000:]}"}
        result["elapsed"] = time.time() - t0
        return result

    def record(self, result, cell, rep):
        result.update(cell=cell, rep=rep)
        self.results.append(result)
        self.jsonl.write(json.dumps(result, default=str) + "\n")
        self.jsonl.flush()
        shown = {k: v for k, v in result.items() if k in ("rate", "p50", "p99", "rss_peak_mb", "error", "unsupported")}
        if "error" in shown:
            shown["error"] = shown["error"][-300:]
        print(f"  {cell:<22} rep {rep}: {json.dumps(shown, default=lambda v: v)}", flush=True)

    # -- databases --------------------------------------------------------------------
    def template(self, system):
        name = f"tmpl_{system}"
        pg.recreate(name)
        res = self.driver(system, "setup", self.env(system, dbname=name), timeout=300)
        if "error" in res:
            raise SystemExit(f"setting up {system} failed: {res['error']}")
        return res

    def fresh(self, system, template=None, file_copy=False):
        db = f"run_{system}"
        pg.recreate(db, template=template or f"tmpl_{system}", file_copy=file_copy)
        return db

    def deep_template(self, system, depth, prefix="deep"):
        name = f"{prefix}_{system}"
        pg.recreate(name, template=f"tmpl_{system}")
        t0 = time.time()
        res = self.driver(system, "fill_sql", self.env(system, dbname=name), timeout=1800, n=depth)
        if "error" in res:
            return res
        pg.psql("VACUUM ANALYZE", db=name)
        pg.psql("CHECKPOINT")
        res["fill_seconds_total"] = time.time() - t0
        return res


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine():
    def cpuinfo():
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor()

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpu": cpuinfo(),
        "cores": os.cpu_count(),
        "ram_gb": round(mem, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_state():
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", "django_jobs"], cwd=ROOT, capture_output=True).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "django_jobs"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split()
        for path in untracked:
            with open(os.path.join(ROOT, path), "rb") as f:
                diff += path.encode() + f.read()
        dirty = f" + uncommitted changes to django_jobs/ (sha1 {hashlib.sha1(diff).hexdigest()[:10]})" if diff else ""
        return head[:90] + dirty
    except OSError:
        return "?"


def render_dirs(dirs):
    """The table of several runs: the first gives machine and settings, later runs replace the cells they measured."""
    with open(os.path.join(dirs[0], "info.json")) as f:
        info = json.load(f)
    args = argparse.Namespace(**info["args"])
    by_cell = {}
    notes = []
    for d in dirs:
        with open(os.path.join(d, "results.jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        cells = {}
        for row in rows:
            cells.setdefault(row["cell"], []).append(row)
        by_cell.update(cells)
        if d != dirs[0]:
            with open(os.path.join(d, "info.json")) as f:
                later = json.load(f)
            for s in later["args"]["systems"]:
                if s not in args.systems:
                    args.systems.append(s)
            info["settings"].update(later.get("settings", {}))
            notes.append(
                f"Cells re-measured in run {later['started']} (git {later['git']}; load before {later['load_before']}, "
                f"after {later.get('load_after')}): {', '.join(sorted(cells))}"
            )
    results = [row for rows in by_cell.values() for row in rows]
    return render(results, info, args) + "".join(f"\n{n}\n" for n in notes)


def main():
    only = argparse.ArgumentParser(add_help=False)
    only.add_argument("--only", default="")
    known, rest = only.parse_known_args()
    if known.only == "pressure":  # its own options and table: bench/pressure.py
        from . import pressure

        return pressure.main(rest)
    args = parse()
    if args.render:
        print(render_dirs(args.render))
        return
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(args.out, stamp)
    os.makedirs(outdir, exist_ok=True)
    r = Runner(args, outdir)
    info = {"machine": machine(), "load_before": loadavg(), "git": git_state(), "started": stamp, "args": vars(args)}
    print(f"== django_jobs benchmark {stamp}; results in {outdir}", flush=True)
    print(f"   {info['machine']}; load {info['load_before']}; git {info['git']}", flush=True)

    pg.start(fresh=True)
    try:
        info["postgres"] = pg.settings_summary()
        info["settings"] = {}
        systems = list(args.systems)
        need_bare = "w1" in args.only
        for system in [*systems, *(["bare"] if need_bare else [])]:
            if system == "bare":
                if "ours" not in systems:
                    r.template("ours")
                pg.recreate("tmpl_bare", template="tmpl_ours")
                res = r.driver("bare", "setup", r.env("bare", dbname="tmpl_bare"), timeout=300)
                if "error" in res:
                    raise SystemExit(f"setting up bare failed: {res['error']}")
            else:
                res = r.template(system)
            info["settings"][system] = res["settings"]
            info.setdefault("bulk", {})[system] = res.get("bulk_note", "")
            info["versions"] = res["versions"]
        run_all(r, args, systems, info)
    finally:
        info["load_after"] = loadavg()
        info["finished"] = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        with open(os.path.join(outdir, "info.json"), "w") as f:
            json.dump(info, f, indent=1, default=str)
        table = render(r.results, info, args)
        with open(os.path.join(outdir, "table.md"), "w") as f:
            f.write(table)
        print()
        print(table)
        if not args.keep_cluster:
            pg.stop()


def run_all(r, args, systems, info):
    only = args.only
    t_start = time.time()

    if "pgbench" in only:
        print("== pgbench (PostgreSQL's own ceiling, C client)", flush=True)
        for rep in range(1, args.reps + 1):
            try:
                res = pg.pgbench(seconds=5 if args.quick else 10)
            except subprocess.CalledProcessError as e:
                res = {"error": str(e)}
            for name, tps in res.items():
                r.record({"system": "pgbench", "workload": "pgbench", "rate": tps}, f"pgbench {name}", rep)

    if "w4" in only:
        print(f"== W4: filling {args.depth:,} waiting jobs per system (INSERT ... SELECT, once)", flush=True)
        info["w4_fill"] = {}
        for system in systems:
            res = r.deep_template(system, args.depth)
            info["w4_fill"][system] = res.get("fill_seconds_total", res.get("error"))
            print(f"  {system}: {info['w4_fill'][system]}", flush=True)
            # The same fill, drain and window at W2's depth: the reference of the depth ratio.
            r.deep_template(system, SHALLOW, prefix="shallow")

    for rep in range(1, args.reps + 1):
        print(f"== repetition {rep}/{args.reps} ({(time.time() - t_start) / 60:.1f} min so far)", flush=True)
        for system in systems:
            env = lambda db, s=system: r.env(s, dbname=db)  # noqa: E731
            if "w1" in only:
                r.record(r.driver(system, "w1", env(r.fresh(system)), n=args.n["w1"]), f"w1 {system}", rep)
                if system == systems[0]:
                    db = r.fresh("bare", template="tmpl_bare")
                    r.record(r.driver("bare", "w1", r.env("bare", dbname=db), n=args.n["w1"]), "w1 bare", rep)
            if "w1b" in only:
                r.record(
                    r.driver(system, "w1b", env(r.fresh(system)), n=args.n["w1b"], batch=1000), f"w1b {system}", rep
                )
            if "w2" in only:
                r.record(
                    r.driver(system, "w2", env(r.fresh(system)), n=args.n["w2"], slots=args.slots), f"w2 {system}", rep
                )
            if "w2r" in only and system == "ours":  # rate limits: django_jobs' own
                r.record(
                    r.driver(system, "w2r", env(r.fresh(system)), n=args.n["w2"], slots=args.slots),
                    f"w2r {system}",
                    rep,
                )
            if "fair" in only and system == "ours":  # fair queuing, and the same drain without keys
                for workload in ("fair", "fair0"):
                    res = r.driver(system, workload, env(r.fresh(system)), n=args.n["fair"], slots=args.slots)
                    r.record(res, f"{workload} {system}", rep)
            if "w3" in only:
                r.record(
                    r.driver(system, "w3", env(r.fresh(system)), n=args.n["w3"], gap=0.02, slots=args.slots),
                    f"w3 {system}",
                    rep,
                )
            if "w4" in only and rep <= args.w4_reps:
                if not isinstance(info["w4_fill"].get(system), float):
                    continue
                for prefix, cell in (("deep", "w4"), ("shallow", "w4s")):
                    db = r.fresh(system, template=f"{prefix}_{system}", file_copy=True)
                    res = r.driver(system, "w4", env(db), slots=args.slots, seconds=args.w4_seconds, timeout=900)
                    r.record(res, f"{cell} {system}", rep)
                    pg.drop(db)
            if "w5a" in only:
                r.record(
                    r.driver(system, "w5a", env(r.fresh(system)), n=args.n["w5a"], slots=args.slots),
                    f"w5a {system}",
                    rep,
                )
            if "w5b" in only:
                r.record(
                    r.driver(system, "w5b", env(r.fresh(system)), n=args.n["w5b"], slots=args.io_slots),
                    f"w5b {system}",
                    rep,
                )
        if "sqlite" in only and "ours" in systems:
            run_sqlite(r, args, rep)

    if "w4" in only:
        for system in systems:
            pg.drop(f"deep_{system}")
            pg.drop(f"shallow_{system}")

    if args.profile and "ours" in systems:
        profile_ours(r, args, info)


def run_sqlite(r, args, rep):
    """django_jobs on SQLite (a temp file, WAL): enqueue one by one, bulk, and the drain."""
    tmp = tempfile.mkdtemp(prefix="bench-sqlite-")
    try:
        template = os.path.join(tmp, "template.sqlite3")
        env = r.env("ours", db="sqlite", sqlite=template)
        res = r.driver("ours", "setup", env, timeout=300)
        if "error" in res:
            r.record(res, "sqlite setup", rep)
            return

        def fresh():
            path = os.path.join(tmp, "run.sqlite3")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)
            shutil.copy(template, path)
            return r.env("ours", db="sqlite", sqlite=path)

        r.record(r.driver("ours", "w1", fresh(), n=args.n["w1"]), "sqlite w1", rep)
        r.record(r.driver("ours", "w1b", fresh(), n=args.n["w1b"], batch=1000), "sqlite w1b", rep)
        r.record(r.driver("ours", "w2", fresh(), n=args.n["sqlite_w2"], slots=args.slots), "sqlite w2", rep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile_ours(r, args, info):
    """
    Where our time goes: py-spy profiles of our worker draining (W2) and of the enqueue loop (W1),
    speedscope files in the results directory, summarised into profile.txt; and the SQL statements
    per job, counted from PostgreSQL's own log (log_statement = all for one role only).
    """
    from . import profsummary
    from .driver import SPY_OPTS

    report = []
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.exists(spy):
        print("== profiles (py-spy) of django_jobs", flush=True)
        out = os.path.join(r.outdir, "profile-w2-worker")
        n2 = args.n["w2"]
        res = r.driver("ours", "w2", r.env("ours", dbname=r.fresh("ours")), n=n2, slots=args.slots, profile_out=out)
        r.record(res, "profile w2 ours", 1)
        if os.path.exists(out + ".0.json"):
            report.append(f"W2 under py-spy: {fmt(res.get('rate'))} jobs/s (sampling slows it)")
            report.append(profsummary.summarize(out + ".0.json", jobs=n2, top=30, within=["Worker."]))
            report.append(
                profsummary.summarize(out + ".0.json", jobs=n2, top=40, match="django_jobs", within=["Worker."])
            )
        out1 = os.path.join(r.outdir, "profile-w1-enqueue.json")
        wrap = [spy, "record", "-o", out1, "-f", "speedscope", *SPY_OPTS, "--"]
        n1 = args.n["w1"]
        res = r.driver("ours", "w1", r.env("ours", dbname=r.fresh("ours")), n=n1, wrap=wrap)
        r.record(res, "profile w1 ours", 1)
        if os.path.exists(out1):
            report.append(f"W1 under py-spy: {fmt(res.get('rate'))} jobs/s")
            report.append(profsummary.summarize(out1, jobs=n1 + 20, top=40, within=["w1"]))
        out1b = os.path.join(r.outdir, "profile-w1b-bulk.json")
        wrap = [spy, "record", "-o", out1b, "-f", "speedscope", *SPY_OPTS, "--"]
        n1b = args.n["w1b"]
        res = r.driver("ours", "w1b", r.env("ours", dbname=r.fresh("ours")), n=n1b, batch=1000, wrap=wrap)
        r.record(res, "profile w1b ours", 1)
        if os.path.exists(out1b):
            report.append(f"W1b under py-spy: {fmt(res.get('rate'))} jobs/s")
            report.append(profsummary.summarize(out1b, jobs=n1b, top=40, within=["enqueue_bulk"]))
    else:
        print("py-spy is not installed in this environment: no profile", flush=True)

    print("== SQL statements per job (PostgreSQL log)", flush=True)
    role = "bench_sql"
    pg.psql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} SUPERUSER LOGIN")
    pg.psql(f"ALTER ROLE {role} SET log_statement = 'all'")
    n = 2000
    offset = os.path.getsize(pg.LOG)
    res = r.driver("ours", "w2", r.env("ours", dbname=r.fresh("ours")), n=n, slots=args.slots, worker_user=role)
    report.append(
        f"SQL statements of our workers per job, W2 drain of {n:,} ({fmt(res.get('rate'))} jobs/s while logging):"
    )
    report.append(sql_counts(pg.LOG, offset, n))
    offset = os.path.getsize(pg.LOG)
    env = r.env("ours", dbname=r.fresh("ours"))
    env["PGUSER"] = role
    res = r.driver("ours", "w1", env, n=n)
    report.append(f"SQL statements per enqueue, W1 ({n:,} + 21 warm-up enqueues):")
    report.append(sql_counts(pg.LOG, offset, n + 21))
    pg.psql(f"DROP ROLE IF EXISTS {role}")
    text = "\n\n".join(report) + "\n"
    with open(os.path.join(r.outdir, "profile.txt"), "w") as f:
        f.write(text)
    print(text, flush=True)
    info["profile"] = os.path.join(r.outdir, "profile.txt")


def sql_counts(logfile, offset, jobs):
    """Statements (and transactions) in the server log since ``offset``, grouped by shape, per job."""
    import re

    counts = collections.Counter()
    entries, current = [], None
    with open(logfile, errors="replace") as f:
        f.seek(offset)
        for line in f:
            if line.startswith("\t") and current is not None:
                current.append(line)  # a statement's next lines
                continue
            m = re.search(r"LOG:  (?:statement|execute [^:]*): (.*)", line)
            current = [m.group(1)] if m else None
            if current is not None:
                entries.append(current)
    for parts in entries:
        sql = " ".join(" ".join(parts).split())
        sql = re.sub(r"'[^']*'", "'…'", sql)
        sql = re.sub(r"\b\d+\b", "N", sql)
        counts[sql[:110]] += 1
    total = sum(counts.values())
    lines = [f"  {total / jobs:.2f} statements per job in all ({total:,} statements)"]
    for sql, c in counts.most_common(20):
        lines.append(f"  {c / jobs:6.3f}/job  {c:>7,}  {sql}")
    return "\n".join(lines)


# -- the table ----------------------------------------------------------------------------


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if unit == "ms":
        return f"{v:.1f}" if v < 100 else f"{v:,.0f}"
    if unit == "MB":
        return f"{v:,.0f}"
    if unit == "x":
        return f"{v:.2f}{TIMES}"
    return f"{v:,.0f}"


def render(results, info, args):
    by = {}
    for res in results:
        by.setdefault(res["cell"], []).append(res)
    systems = list(args.systems)
    peers = [s for s in systems if s not in ("ours", "ours2p")]

    def cell(name, key="rate"):
        rows = by.get(name, [])
        if rows and all("unsupported" in x for x in rows):
            return "none"
        return median([x.get(key) for x in rows if "error" not in x])

    def errors(name):
        return [x["error"][-200:] for x in by.get(name, []) if "error" in x]

    lines = []
    m = info["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Linux {m['kernel']}")
    lines.append(f"PostgreSQL: {info.get('postgres', '?')}")
    v = info.get("versions", {})
    lines.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    lines.append(f"django_jobs at: {info.get('git')}")
    lines.append(
        f"Load average (1/5/15 min) before: {info.get('load_before')}, after: {info.get('load_after', '?')}; "
        f"run {info.get('started')} → {info.get('finished', '?')}"
    )
    lines.append(
        f"Medians of {args.reps} repetition(s) per cell (W4 at depth: {min(args.w4_reps, args.reps)}); "
        f"{args.slots} job slots in total per system (W2, W3, W4, W5a), {args.io_slots} for W5b."
    )
    lines.append("")
    head = ["workload", *[LABELS.get(s, s) for s in systems], *[f"ours/{LABELS.get(p, p)}" for p in peers]]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")

    def row(title, key_cells, unit="", ratio=True):
        vals = [key_cells(s) for s in systems]
        ours = vals[systems.index("ours")] if "ours" in systems else None
        ratios = []
        for p in peers:
            pv = vals[systems.index(p)]
            if ratio and isinstance(ours, (int, float)) and isinstance(pv, (int, float)) and pv:
                ratios.append(fmt(ours / pv, "x"))
            else:
                ratios.append("—")
        lines.append("| " + " | ".join([title, *[fmt(x, unit) for x in vals], *ratios]) + " |")

    n = args.n
    only = args.only
    if "w1" in only:
        row(f"W1 enqueue one by one, own transaction ({n['w1']:,} jobs; jobs/s)", lambda s: cell(f"w1 {s}"))
    if "w1b" in only:
        row(f"W1b bulk enqueue ({n['w1b']:,} jobs, 1,000 per call; jobs/s)", lambda s: cell(f"w1b {s}"))
    if "w2" in only:
        row(f"W2 drain {n['w2']:,} waiting no-op jobs (jobs/s)", lambda s: cell(f"w2 {s}"))
        row("W2 worker peak RSS, all processes (MB) ↓", lambda s: cell(f"w2 {s}", "rss_peak_mb"), "MB")
    if "w2r" in only:
        row(f"W2R: W2 under a rate limit that never binds ({n['w2']:,} jobs; jobs/s)", lambda s: cell(f"w2r {s}"))
    if "fair" in only:
        row(f"FAIR drain {n['fair']:,} no-ops of 1,000 fairness keys (jobs/s)", lambda s: cell(f"fair {s}"))
        row(f"FAIR0 the same {n['fair']:,} without keys (jobs/s)", lambda s: cell(f"fair0 {s}"))
    if "w3" in only:
        row(
            f"W3 pick-up p50, commit → start ({n['w3']} jobs, 20 ms apart; ms) ↓",
            lambda s: cell(f"w3 {s}", "p50"),
            "ms",
        )
        row("W3 pick-up p99 (ms) ↓", lambda s: cell(f"w3 {s}", "p99"), "ms")
    if "w4" in only:
        row(f"W4 drain with {args.depth:,} waiting (jobs/s)", lambda s: cell(f"w4 {s}"))
        # The reference: the same fill and window at 10,000 (w4s), or in older runs W2's drain.
        ref = "w4s" if any(k.startswith("w4s ") for k in by) else "w2"
        if ref == "w4s":
            row(f"W4 drain with {SHALLOW:,} waiting, same fill and window (jobs/s)", lambda s: cell(f"w4s {s}"))

        def depth_ratio(s):
            a, b = cell(f"w4 {s}"), cell(f"{ref} {s}")
            return a / b if isinstance(a, float) and isinstance(b, float) and b else None

        lines.append(
            f"| W4 drain rate at {args.depth:,} / at {SHALLOW if ref == 'w4s' else n['w2']:,}"
            + ("" if ref == "w4s" else " (W2)")
            + " | "
            + " | ".join(fmt(depth_ratio(s), "x") for s in systems)
            + " |"
            + " — |" * len(peers)
        )
        row(
            f"W4 worker peak RSS, {args.w4_seconds} s drain at {args.depth:,} (MB) ↓",
            lambda s: cell(f"w4 {s}", "rss_peak_mb"),
            "MB",
        )
        if ref == "w4s":
            row(
                f"W4 worker peak RSS, drain at {SHALLOW:,} (MB) ↓",
                lambda s: cell(f"w4s {s}", "rss_peak_mb"),
                "MB",
            )
    if "w5a" in only:
        row(f"W5a {n['w5a']:,} jobs, 20% fail once and are retried (jobs/s)", lambda s: cell(f"w5a {s}"))
    if "w5b" in only:
        row(
            f"W5b {n['w5b']:,} jobs sleeping 50 ms, {args.io_slots} slots (jobs/s; ceiling {args.io_slots * 20})",
            lambda s: cell(f"w5b {s}"),
        )
    lines.append("")
    lines.append("↓: lower is better (a ratio below 1 favours django_jobs).")
    if "w1" in only:
        bare = cell("w1 bare")
        ours = cell("w1 ours")
        lines.append("")
        lines.append(
            f"W1 baseline, bare INSERT + COMMIT of the same job row through the same Django connection: "
            f"{fmt(bare)} rows/s"
            + (
                f" (django_jobs W1 = {ours / bare:.2f}{TIMES} of it)"
                if isinstance(bare, float) and isinstance(ours, float)
                else ""
            )
        )
    if "pgbench" in only:
        lines.append("")
        lines.append("PostgreSQL ceiling, pgbench on the same cluster (transactions/s):")
        for name in sorted(k for k in by if k.startswith("pgbench ")):
            lines.append(f"- {name[len('pgbench ') :]}: {fmt(cell(name))}")
    if "sqlite" in only and "ours" in systems:
        lines.append("")
        lines.append("django_jobs on SQLite (temp file, WAL, synchronous=NORMAL; one writer at a time):")
        lines.append(f"- W1 enqueue one by one: {fmt(cell('sqlite w1'))} jobs/s")
        lines.append(f"- W1b bulk enqueue: {fmt(cell('sqlite w1b'))} jobs/s")
        lines.append(f"- W2 drain {n['sqlite_w2']:,}, {args.slots} slots: {fmt(cell('sqlite w2'))} jobs/s")
    lines.append("")
    lines.append("Settings of each system:")
    for s, text in info.get("settings", {}).items():
        bulk = info.get("bulk", {}).get(s)
        lines.append(f"- {LABELS.get(s, s)}: {text}" + (f"; bulk: {bulk}" if bulk and s != "bare" else ""))
    if info.get("w4_fill"):
        lines.append(
            "- W4 fill seconds (INSERT ... SELECT of one enqueued job, VACUUM ANALYZE): "
            + ", ".join(f"{s} {fmt(v) if isinstance(v, float) else v}" for s, v in info["w4_fill"].items())
        )
    errs = [(c, e) for c in sorted(by) for e in errors(c)]
    if errs:
        lines.append("")
        lines.append("Errors:")
        for c, e in errs:
            lines.append(f"- {c}: {e}")
    incomplete = [res["cell"] for res in results if res.get("complete") is False]
    if incomplete:
        lines.append(f"Incomplete drains (timed out or worker died): {', '.join(sorted(set(incomplete)))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
