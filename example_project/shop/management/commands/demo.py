"""
Enqueue a mix of jobs, run a worker until they are all finished, and print
what happened to each.
"""

import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from django_jobs.models import Job
from shop import tasks
from shop.models import Order


class Command(BaseCommand):
    help = "Run the django_jobs demo: enqueue jobs, run the worker, show the results."

    def handle(self, *args, **options):
        self.stdout.write("Enqueueing jobs...")
        results = []
        with transaction.atomic():
            order = Order.objects.create(email="ada@example.com", total_cents=4200)  # signal enqueues a receipt
        results.append(
            ("receipt via post_save signal", Job.objects.filter(func__path__endswith="send_receipt").latest("id").pk)
        )
        results.append(("add(2, 40)", tasks.add.enqueue(2, 40).id))
        results.append(("add(1, 1) with priority 50", tasks.add.using(priority=50).enqueue(1, 1).id))
        results.append(("flaky_report: fails once, then retried", tasks.flaky_report.enqueue("monthly").id))
        results.append(("broken: always fails", tasks.broken.enqueue("no such customer").id))
        results.append(("fetch_rate: an async task", tasks.fetch_rate.enqueue("EUR").id))
        try:
            with transaction.atomic():
                tasks.add.enqueue(5, 5)
                raise RuntimeError("rolled back")
        except RuntimeError:
            self.stdout.write("(an enqueue inside a rolled-back transaction left no job behind)")

        self.stdout.write("Running the worker: manage.py runworker --burst ...")
        deadline = time.monotonic() + 60
        while Job.objects.filter(pk__in=[pk for _, pk in results], state__in=["ready", "running"]).exists():
            if time.monotonic() > deadline:
                self.stderr.write("Jobs did not finish within 60 s.")
                sys.exit(1)
            subprocess.run([sys.executable, sys.argv[0], "runworker", "--burst", "--concurrency", "2"], check=True)
            time.sleep(0.3)  # let a retry's backoff pass

        self.stdout.write("\nWhat happened to each job:")
        self.stdout.write(f"{'job':>5}  {'what':<42} {'state':<10} {'attempts':<8} result / error")
        for label, pk in results:
            job = Job.objects.get(pk=pk)
            last_run = job.runs.order_by("-attempt").first()
            outcome = (
                repr(job.return_value)
                if job.state == "succeeded"
                else (f"{last_run.exception_class_path}: {last_run.message}" if last_run else "")
            )
            self.stdout.write(
                f"{job.pk:>5}  {label:<42} {job.state:<10} {job.attempts}/{job.max_attempts:<6} {outcome}"
            )
        order.refresh_from_db()
        self.stdout.write(f"\nOrder #{order.pk} receipt_sent={order.receipt_sent}")
        call_command("createdemouser")
        self.stdout.write(
            "\nSee every job, its runs, errors and logs in the admin:\n"
            "  cd example_project && ../.venv/bin/python manage.py runserver\n"
            "  open http://127.0.0.1:8000/admin/django_jobs/job/  (user admin, password admin)\n"
            "and run a worker beside it: ../.venv/bin/python manage.py runworker"
        )
