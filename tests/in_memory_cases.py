"""
Django TestCases run by tests/test_in_memory_database.py with ``manage.py test`` and
tests/settings_memory.py, as a project that keeps Django's default SQLite test database runs them.
"""

from django.core.management import CommandError, call_command
from django.test import TransactionTestCase

from django_jobs.models import Job, JobLog
from tests.testapp.jobs import chatty, record
from tests.testapp.models import Execution


class BurstWorkerTests(TransactionTestCase):
    def test_every_job_runs(self):
        for i in range(24):
            record.enqueue(label=f"job {i}")
        call_command("runworker", burst=True, concurrency=4)
        self.assertEqual(Execution.objects.count(), 24)

    def test_every_job_succeeds(self):
        for i in range(24):
            record.enqueue(label=f"job {i}")
        call_command("runworker", burst=True, concurrency=4)
        self.assertEqual(Job.objects.exclude(state="succeeded").count(), 0)

    def test_log_lines_are_stored(self):
        job_id = chatty.enqueue(3).id
        call_command("runworker", burst=True)
        self.assertEqual(JobLog.objects.filter(run__job_id=job_id).count(), 2)

    def test_child_processes_are_refused(self):
        with self.assertRaisesMessage(CommandError, "which child processes cannot open"):
            call_command("runworker", burst=True, processes=True)
