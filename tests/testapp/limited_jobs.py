"""Jobs under concurrency limits and with argument schemas (kept apart from jobs.py, which others append to)."""

import time

import django_jobs

from .models import Span


def _span(label, seconds):
    start = time.time()
    time.sleep(seconds)
    Span.objects.create(label=label, start=start, end=time.time())


@django_jobs.job(concurrency_key="api", concurrency_limit=2)
def call_api(seconds=0.1):
    _span("api", seconds)


@django_jobs.job(concurrency_key=lambda account, seconds=0.1: f"account:{account}", concurrency_limit=1)
def sync_account(account, seconds=0.1):
    _span(f"account:{account}", seconds)


@django_jobs.job(queue_name="reports")
def report(seconds=0.1):
    _span("reports", seconds)


@django_jobs.job
def unlimited(seconds=0.05):
    _span("unlimited", seconds)


@django_jobs.job(
    schema={
        "type": "object",
        "properties": {
            "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
            "count": {"type": "integer", "minimum": 1},
        },
        "required": ["email"],
    }
)
def invite(email, count=1):
    return email


@django_jobs.job(redact_args=True)
def charge_card(card_number, amount):
    return f"charged {amount}"


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")


@django_jobs.job
def raises_unprintable():
    raise Unprintable()
