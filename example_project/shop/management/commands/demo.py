"""
The example shop at work: place orders through the order form, run a worker
beside it until their jobs are done, print what happened to each job, and
check each feature did what it claims. Exit status 1 if a check fails.
"""

import html
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import Client
from django.urls import reverse

import django_jobs
from django_jobs.models import Job, RecurringState
from shop import tasks
from shop.models import Order

#: Longest the worker gets to finish everything (the recurring report comes every 10 seconds).
DEADLINE_SECONDS = 60
ORDERS = [
    {"email": "ada@example.com", "total_cents": 4200, "gift_card": ""},
    {"email": "grace@example.com", "total_cents": 1999, "gift_card": "GIFT-10"},
    {"email": "alan@example.com", "total_cents": 500, "gift_card": "EXPIRED-1"},
]


def path_of(task):
    return f"{task.func.__module__}.{task.func.__qualname__}"


def jobs_of(task):
    return Job.objects.filter(func__path=path_of(task)).order_by("id")


class Command(BaseCommand):
    help = "Run the example shop: place orders through the form, run a worker, show and check what happened."

    def handle(self, *args, **options):
        started = time.monotonic()
        client = Client(HTTP_HOST="localhost")

        self.stdout.write(f"Placing {len(ORDERS)} orders through the order form (POST {reverse('order')}) ...")
        for data in ORDERS:
            response = client.post(reverse("order"), data, follow=True)
            if response.status_code != 200:
                raise CommandError(f"The order form answered {response.status_code}.")
            for message in re.findall(r'<li class="message">(.*?)</li>', response.content.decode()):
                self.stdout.write(f"  {html.unescape(message)}")
        try:
            with transaction.atomic():
                Order.objects.create(email="rolled-back@example.com", total_cents=1)
                raise RuntimeError("payment declined")
        except RuntimeError:
            self.stdout.write("  (an order whose transaction rolled back left no job behind)")

        rebuilds = list(jobs_of(tasks.rebuild_search_index))
        self.stdout.write(
            f"{len(ORDERS)} orders saved, {len(rebuilds)} search index rebuild job(s) waiting for the end of "
            "their minute (one uniqkey per minute); making them due now (django_jobs.run_now) ..."
        )
        for job in rebuilds:
            django_jobs.run_now(job.pk)

        self.stdout.write("Starting a worker: manage.py runworker --concurrency 4 ...")
        worker = subprocess.Popen(
            [sys.executable, sys.argv[0], "runworker", "--concurrency", "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self.relay, args=(worker.stdout,), daemon=True).start()
        try:
            self.wait_for_jobs(worker)
        finally:
            worker.send_signal(signal.SIGTERM)  # finishes what runs, then exits
            worker.wait(60)
        elapsed = time.monotonic() - started

        self.stdout.write("\nWhat happened to each job:")
        self.stdout.write(f"{'job':>4}  {'function':<32} {'state':<10} {'attempts':<8} result / last error")
        for job in Job.objects.select_related("func").order_by("id"):
            last_run = job.runs.order_by("-attempt").first()
            if job.state == "succeeded":
                outcome = repr(job.return_value)
            else:
                outcome = f"{last_run.exception_class_path}: {last_run.message}" if last_run else ""
            name = job.func.path.removeprefix("shop.tasks.")
            self.stdout.write(f"{job.pk:>4}  {name:<32} {job.state:<10} {job.attempts}/{job.max_attempts:<6} {outcome}")

        self.stdout.write("\nOrders:")
        for order in Order.objects.order_by("id"):
            self.stdout.write(
                f"  {order}: receipt_sent={order.receipt_sent} warehouse_notified={order.warehouse_notified} "
                f"accounting_synced={order.accounting_synced} gift_card={order.gift_card or '-'} "
                f"charged={order.gift_card_charged}"
            )

        call_command("createdemouser", stdout=self.stdout)
        failures = self.check_results(client)
        self.stdout.write(f"\n{len(failures)} check(s) failed." if failures else "\nAll checks passed.")
        self.stdout.write(f"Done in {elapsed:.1f} s.")
        self.stdout.write(
            "\nTry it in a browser, with the server and a worker side by side (two terminals):\n"
            "  cd example_project && ../.venv/bin/python manage.py runserver\n"
            "  cd example_project && ../.venv/bin/python manage.py runworker\n"
            "then place orders at http://127.0.0.1:8000/ and watch their jobs at\n"
            "http://127.0.0.1:8000/admin/django_jobs/job/ (user admin, password admin)."
        )
        if failures:
            sys.exit(1)

    def relay(self, stream):
        for line in stream:
            self.stdout.write(f"  worker | {line.rstrip()}")

    def wait_for_jobs(self, worker):
        deadline = time.monotonic() + DEADLINE_SECONDS
        reported_wait = False
        while True:
            if worker.poll() is not None:
                raise CommandError(f"The worker exited with status {worker.returncode}.")
            unfinished = Job.objects.filter(state__in=["ready", "running"])
            reports = jobs_of(tasks.sales_report).filter(state="succeeded")
            if not unfinished.exists() and reports.exists():
                return
            if not unfinished.exists() and not reported_wait:
                self.stdout.write("  (waiting for the recurring sales report: it runs every 10 seconds)")
                reported_wait = True
            if time.monotonic() > deadline:
                raise CommandError(f"The jobs did not finish within {DEADLINE_SECONDS} s.")
            time.sleep(0.2)

    def check_results(self, client):
        checks = []

        def check(ok, what):
            checks.append(ok)
            self.stdout.write(f"  [{'ok' if ok else 'FAILED'}] {what}")

        self.stdout.write("\nChecks:")
        orders = list(Order.objects.order_by("id"))
        check(
            len(orders) == len(ORDERS) and all(o.receipt_sent for o in orders),
            "every order's receipt was sent by the job its post_save signal enqueued",
        )
        check(
            Order.objects.filter(email="rolled-back@example.com").count() == 0
            and jobs_of(tasks.send_receipt).count() == len(ORDERS),
            "the rolled-back order left neither a row nor a job",
        )
        check(
            all(o.warehouse_notified and o.accounting_synced for o in orders),
            "the form's view enqueued the warehouse and accounting jobs, and they ran",
        )
        syncs = list(jobs_of(tasks.sync_to_accounting))
        check(
            all(job.state == "succeeded" and job.attempts == 2 for job in syncs),
            "sync_to_accounting failed its first attempt and succeeded on its retry",
        )
        charges = {job.args[0]: job for job in jobs_of(tasks.charge_gift_card)}
        good, bad = orders[1], orders[2]
        check(
            charges[good.pk].state == "succeeded"
            and good.gift_card_charged
            and charges[bad.pk].state == "failed"
            and charges[bad.pk].attempts == 2,
            "charge_gift_card charged GIFT-10, and failed for good after 2 attempts on an unknown card",
        )
        rebuilds = list(jobs_of(tasks.rebuild_search_index))
        check(
            0 < len(rebuilds) < len(ORDERS) and all(job.state == "succeeded" for job in rebuilds),
            f"{len(ORDERS)} order saves made {len(rebuilds)} search index rebuild job(s): one per minute (uniqkey)",
        )
        runs = sorted(
            (run.started_at, run.finished_at)
            for job in jobs_of(tasks.notify_warehouse).prefetch_related("runs")
            for run in job.runs.all()
        )
        overlapping = any(later[0] < earlier[1] for earlier, later in itertools.pairwise(runs))
        check(
            len(runs) == len(ORDERS) and not overlapping,
            f"the {len(runs)} warehouse calls ran one at a time on a worker with 4 threads (concurrency limit 1)",
        )
        report = jobs_of(tasks.sales_report).filter(state="succeeded").first()
        state = RecurringState.objects.filter(name="sales-report").first()
        check(
            report is not None and state is not None and report.uniqkey.startswith("recurring:sales-report:"),
            f"the recurring sales report ran: {report.return_value if report else None} "
            f"(uniqkey {report.uniqkey if report else None})",
        )
        client.login(username="admin", password="admin")  # noqa: S106 (the demo user)
        pages = [
            "/admin/django_jobs/job/",
            "/admin/shop/order/",
            *(f"/admin/django_jobs/job/{job.pk}/change/" for job in syncs[:1]),
        ]
        statuses = [client.get(page).status_code for page in pages]
        check(
            all(status == 200 for status in statuses), f"the admin shows the jobs to the demo user ({', '.join(pages)})"
        )
        return [ok for ok in checks if not ok]
