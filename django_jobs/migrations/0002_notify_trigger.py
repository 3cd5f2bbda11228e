"""
PostgreSQL only: NOTIFY 'django_jobs' (payload: the queue name) whenever a due
job becomes ready, from inside the transaction that made it ready, so that
workers hear of it exactly when it commits. See ``django_jobs/db/postgresql.py``.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION django_jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('django_jobs', NEW.queue_name);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER django_jobs_notify_insert
    AFTER INSERT ON django_jobs_job
    FOR EACH ROW WHEN (NEW.state = 'ready' AND NEW.run_after <= statement_timestamp())
    EXECUTE FUNCTION django_jobs_notify();

CREATE TRIGGER django_jobs_notify_ready
    AFTER UPDATE OF state, run_after ON django_jobs_job
    FOR EACH ROW WHEN (NEW.state = 'ready' AND NEW.run_after <= statement_timestamp())
    EXECUTE FUNCTION django_jobs_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS django_jobs_notify_ready ON django_jobs_job;
DROP TRIGGER IF EXISTS django_jobs_notify_insert ON django_jobs_job;
DROP FUNCTION IF EXISTS django_jobs_notify();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("django_jobs", "0001_initial")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
