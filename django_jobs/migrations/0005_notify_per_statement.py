"""
PostgreSQL only: new jobs NOTIFY once per statement, not once per row.

0002's row trigger ran a PL/pgSQL function for every inserted row; a batch
of 1,000 jobs (``enqueue_many``'s COPY) spent about as long in it as in
writing the rows. This statement trigger reads the statement's new rows
(a transition table) and notifies each queue that got a due job once. Jobs
becoming ready by UPDATE (retries, run_now) keep 0002's row trigger:
PostgreSQL allows no transition table on a trigger limited to some columns.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION django_jobs_notify_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('django_jobs', due.queue_name)
    FROM (SELECT DISTINCT queue_name FROM django_jobs_new
          WHERE state = 'ready' AND run_after <= statement_timestamp()) AS due;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS django_jobs_notify_insert ON django_jobs_job;

CREATE TRIGGER django_jobs_notify_insert
    AFTER INSERT ON django_jobs_job
    REFERENCING NEW TABLE AS django_jobs_new
    FOR EACH STATEMENT
    EXECUTE FUNCTION django_jobs_notify_inserted();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS django_jobs_notify_insert ON django_jobs_job;
DROP FUNCTION IF EXISTS django_jobs_notify_inserted();

CREATE TRIGGER django_jobs_notify_insert
    AFTER INSERT ON django_jobs_job
    FOR EACH ROW WHEN (NEW.state = 'ready' AND NEW.run_after <= statement_timestamp())
    EXECUTE FUNCTION django_jobs_notify();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("django_jobs", "0004_claim_any_index")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
