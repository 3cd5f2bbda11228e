"""
MariaDB/MySQL only: what the partial indexes and the partial unique
constraint of ``Job`` give PostgreSQL and SQLite, which Django leaves out on
these databases (they have no ``WHERE`` on an index).

- One live job per (function, uniqkey): a generated column holds the uniqkey
  while the job is live (NULL otherwise), under a UNIQUE index; NULLs never
  conflict, so finished jobs keep their uniqkey freely.
- The claim, lease, limit, fairness, pruning and listing look-ups get plain
  indexes led by ``state`` in place of the partial ones.

Every key fits InnoDB's 3072 bytes with utf8mb4 (255 characters: 1020 bytes).
PostgreSQL and SQLite are untouched.
"""

from django.db import migrations

#: states.LIVE_STATES when this migration was written (a migration never follows the code).
LIVE = "'ready', 'running', 'waiting'"

FORWARD = [
    f"""ALTER TABLE django_jobs_job ADD COLUMN live_uniqkey varchar(255)
        GENERATED ALWAYS AS (CASE WHEN state IN ({LIVE}) THEN uniqkey END) STORED""",
    "CREATE UNIQUE INDEX django_jobs_live_uniqkey ON django_jobs_job (func_id, live_uniqkey)",
    "CREATE INDEX django_jobs_my_claim_idx ON django_jobs_job (state, priority DESC, fair_round, run_after, id)",
    "CREATE INDEX django_jobs_my_claim_queue_idx"
    " ON django_jobs_job (state, queue_name, priority DESC, fair_round, run_after, id)",
    "CREATE INDEX django_jobs_my_limited_idx ON django_jobs_job (state, concurrency_key)",
    "CREATE INDEX django_jobs_my_rate_idx ON django_jobs_job (state, rate_key)",
    "CREATE INDEX django_jobs_my_fair_idx ON django_jobs_job (state, queue_name, fairness_key, fair_round)",
    "CREATE INDEX django_jobs_my_coalesce_idx ON django_jobs_job (state, func_id, coalesce_key)",
    "CREATE INDEX django_jobs_my_lease_idx ON django_jobs_job (state, grabbed_until)",
    "CREATE INDEX django_jobs_my_expire_idx ON django_jobs_job (state, expires_at)",
    "CREATE INDEX django_jobs_my_finished_idx ON django_jobs_job (state, finished_at)",
    "CREATE INDEX django_jobs_my_prune_idx ON django_jobs_job (keep_until)",
]
BACKWARD = [
    "DROP INDEX django_jobs_my_prune_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_finished_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_expire_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_lease_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_coalesce_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_fair_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_rate_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_limited_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_claim_queue_idx ON django_jobs_job",
    "DROP INDEX django_jobs_my_claim_idx ON django_jobs_job",
    "DROP INDEX django_jobs_live_uniqkey ON django_jobs_job",
    "ALTER TABLE django_jobs_job DROP COLUMN live_uniqkey",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("django_jobs", "0013_waiting_index")]
    # DDL on MySQL commits at once: no transaction around it.
    operations = [migrations.RunPython(forward, backward, elidable=False, atomic=False)]
