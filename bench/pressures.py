"""
What each pressure scenario of bench/pressure.py does to PostgreSQL, on connections of its own: an
idle transaction holding an XID, REPEATABLE READ readers, finished jobs kept (and purged), or a
producer above the drain rate. Also the EXPLAIN of django_jobs' claim that the run saves.
"""

import threading
import time

#: Finished jobs of each system: the rows ``kept_finished`` clones and then deletes. The warm-up
#: jobs (negative arguments) are the only ones finished before the baseline; their clones keep
#: their values, so the purge deletes them (django_jobs: only the clones, which have no JobRun;
#: the warm-ups' runs keep them).
FINISHED = {
    "ours": "state = 'succeeded' AND finished_at < to_timestamp(%(before)s)",
    "ours_purge": "state = 'succeeded' AND finished_at < to_timestamp(%(before)s) "
    "AND NOT EXISTS (SELECT 1 FROM django_jobs_jobrun r WHERE r.job_id = django_jobs_job.id)",
    "dtdb": "status = 'SUCCESSFUL' AND finished_at < to_timestamp(%(before)s)",
    "procrastinate": "status = 'succeeded' AND (args->>'i')::int < 0",
}


class Pressure:
    """Starts and ends one scenario's pressure, on connections of its own."""

    def __init__(self, scenario, conninfo, system, args):
        self.scenario, self.conninfo, self.system, self.args = scenario, conninfo, system, args
        self.conns, self.threads = [], []
        self.stopping = threading.Event()
        self.scans = [0] * args.readers
        self.notes = {}

    def start(self, producer, drain_rate, t_base):
        import psycopg

        if self.scenario == "idle_xact":
            conn = psycopg.connect(self.conninfo)  # not autocommit: the transaction stays open, idle
            self.notes["xid"] = conn.execute("SELECT txid_current()").fetchone()[0]
            self.conns.append(conn)
        elif self.scenario == "rr_readers":
            for k in range(self.args.readers):
                t = threading.Thread(target=self._reader, args=(k,), daemon=True)
                t.start()
                self.threads.append(t)
        elif self.scenario == "kept_finished":
            t0 = time.time()
            self.notes["kept"] = clone_finished(self.conninfo, self.system, self.args.kept, t_base)
            self.notes["insert_seconds"] = time.time() - t0
        elif self.scenario == "overload":
            producer.rate = drain_rate * 1.5

    def end(self, producer, flow_rate, t_base, purge=True):
        import psycopg

        for conn in self.conns:
            conn.rollback()
            conn.close()
        self.conns = []
        self.stopping.set()
        for t in self.threads:
            t.join()
        if self.threads:
            self.notes["scans"] = sum(self.scans)
        if self.scenario == "kept_finished" and purge:
            t0 = time.time()
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                where = FINISHED.get(f"{self.system.name}_purge", FINISHED[self.system.name])
                sql = f'DELETE FROM "{self.system.table}" WHERE {where}'
                self.notes["purged"] = conn.execute(sql, {"before": t_base}).rowcount
            self.notes["purge_seconds"] = time.time() - t0
        producer.rate = flow_rate

    def _reader(self, k):
        import psycopg

        with psycopg.connect(self.conninfo) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            while not self.stopping.is_set():
                conn.execute(f'SELECT count(*) FROM "{self.system.table}"').fetchone()
                self.scans[k] += 1
                self.stopping.wait(self.args.reader_pause)
            conn.rollback()


def clone_finished(conninfo, system, n, before):
    """``n`` copies of one finished warm-up job (INSERT ... SELECT, one statement): jobs kept after finishing."""
    import psycopg

    table, key = system.table, system.key
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cols = [
            c
            for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            if c != key
        ]
        collist = ", ".join(f'"{c}"' for c in cols)
        where = FINISHED[system.name]
        (source,) = conn.execute(f'SELECT "{key}" FROM "{table}" WHERE {where} LIMIT 1', {"before": before}).fetchone()
        key_expr = system.sql_new_key()
        head = f'"{key}", ' if key_expr else ""
        select = f"{key_expr}, " if key_expr else ""
        return conn.execute(
            f'INSERT INTO "{table}" ({head}{collist}) SELECT {select}{collist} '
            f'FROM "{table}", generate_series(1, %(n)s) WHERE "{key}" = %(source)s',
            {"n": n, "source": source},
        ).rowcount


def explain_claim(conninfo):
    """EXPLAIN (ANALYZE, BUFFERS) of django_jobs' pick (PICK_NEXT, the claim's locking SELECT), rolled back."""
    import psycopg

    from django_jobs.db.postgresql import DUE, PICK_NEXT

    sql = PICK_NEXT.format(
        job="django_jobs_job",
        due=DUE.format(queues="django_jobs_queuestate"),
        filters=" AND queue_name = ANY(%(queues)s)",
    )
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", {"limit": 10, "queues": ["default"]}).fetchall()
        conn.rollback()
    return "\n".join(r[0] for r in rows)
