"""
The benchmark's own PostgreSQL 15 cluster: stock settings (fsync on), a unix
socket in its own directory, a port nobody else uses. As root, every
PostgreSQL binary runs as ``postgres`` (PostgreSQL refuses root).
"""

import os
import shutil
import subprocess
import time

PGBIN = os.environ.get("BENCH_PGBIN", "/usr/lib/postgresql/15/bin")
DIR = os.environ.get("BENCH_PGDIR", "/tmp/django_jobs_bench_pg")
PORT = int(os.environ.get("BENCH_PGPORT", "55491"))
USER = "postgres"
LOG = f"{DIR}/server.log"


def _as_pg(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, **kw)


def env():
    """Environment variables libpq clients (and our settings) read."""
    return {"PGHOST": DIR, "PGPORT": str(PORT), "PGUSER": USER}


def start(fresh=True):
    """initdb (if ``fresh`` or missing) and start; returns the settings that differ from stock."""
    if not os.path.exists(f"{PGBIN}/pg_ctl"):
        raise SystemExit(f"PostgreSQL 15 server binaries not found in {PGBIN} (apt-get install postgresql-15)")
    stop()
    if fresh and os.path.exists(DIR):
        shutil.rmtree(DIR)
    os.makedirs(DIR, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(DIR, "postgres", "postgres")
    if not os.path.exists(f"{DIR}/data/PG_VERSION"):
        _as_pg(
            [f"{PGBIN}/initdb", "-D", f"{DIR}/data", "-A", "trust", "-U", USER, "-E", "UTF8"], stdout=subprocess.DEVNULL
        )
        with open(f"{DIR}/data/postgresql.conf", "a") as f:
            # Only where to listen: everything else (fsync, synchronous_commit,
            # shared_buffers, ...) stays as initdb wrote it.
            f.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{DIR}'\nport = {PORT}\n")
    _as_pg(
        [f"{PGBIN}/pg_ctl", "-D", f"{DIR}/data", "-l", f"{DIR}/server.log", "-w", "-t", "60", "start"],
        stdout=subprocess.DEVNULL,
    )


def stop():
    if os.path.exists(f"{DIR}/data/postmaster.pid"):
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
            + [f"{PGBIN}/pg_ctl", "-D", f"{DIR}/data", "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def psql(sql, db="postgres"):
    out = subprocess.run(
        [f"{PGBIN}/psql", "-h", DIR, "-p", str(PORT), "-U", USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-tAqc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def settings_summary():
    rows = psql(
        "SELECT name || '=' || setting FROM pg_settings WHERE name IN "
        "('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level','max_connections',"
        "'checkpoint_timeout','max_wal_size','server_version') ORDER BY name"
    )
    return rows.replace("\n", ", ")


def recreate(db, template=None, file_copy=False):
    """Drop and create ``db`` (from ``template``), waiting out connections that are closing."""
    for _ in range(50):
        try:
            psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            break
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    clause = f' TEMPLATE "{template}"' if template else ""
    if file_copy:
        clause += " STRATEGY FILE_COPY"
    psql(f'CREATE DATABASE "{db}"{clause}')


def drop(db):
    psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def pgbench(seconds=5):
    """
    PostgreSQL's own ceiling on this cluster: pgbench (C client) simple-update
    (-N) with 1 and 2 clients, and a one-row INSERT + COMMIT script with 1 client.
    Returns {name: tps}.
    """
    recreate("pgbench")
    base = [f"{PGBIN}/pgbench", "-h", DIR, "-p", str(PORT), "-U", USER]
    subprocess.run([*base, "-i", "-q", "-s", "1", "pgbench"], check=True, capture_output=True)
    psql(
        "CREATE TABLE bare_insert (id bigserial PRIMARY KEY, payload jsonb NOT NULL, at timestamptz DEFAULT now())",
        db="pgbench",
    )
    script = os.path.join(DIR, "insert.sql")
    with open(script, "w") as f:
        f.write("INSERT INTO bare_insert (payload) VALUES ('[]');\n")
    results = {}
    runs = {
        "simple-update, 1 client": ["-N", "-c", "1", "-j", "1"],
        "simple-update, 2 clients": ["-N", "-c", "2", "-j", "2"],
        "one-row INSERT + COMMIT, 1 client": ["-n", "-f", script, "-c", "1", "-j", "1"],
    }
    for name, args in runs.items():
        out = subprocess.run(
            [*base, *args, "-T", str(seconds), "pgbench"], check=True, capture_output=True, text=True
        ).stdout
        tps = [line for line in out.splitlines() if line.startswith("tps")]
        results[name] = float(tps[0].split("=")[1].split()[0])
    drop("pgbench")
    return results
