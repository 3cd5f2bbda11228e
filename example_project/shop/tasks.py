"""The example's jobs: plain Django tasks, and django_jobs jobs with retries."""

import logging
import random

from django.tasks import task

import django_jobs

from .models import Order

logger = logging.getLogger(__name__)


@task(queue_name="emails")
def send_receipt(order_id):
    """Enqueued by the post_save signal when an order is created."""
    order = Order.objects.get(pk=order_id)
    logger.info("Sending receipt to %s", order.email)
    Order.objects.filter(pk=order_id).update(receipt_sent=True)
    return f"receipt sent to {order.email}"


@task
def add(a, b):
    return a + b


@django_jobs.job(max_attempts=3, backoff=lambda exc, result: 0.2, takes_context=True)
def flaky_report(context, name):
    """Fails on its first attempt, succeeds on the second: shows a retry."""
    if context.attempt < 2:
        raise ConnectionError(f"report service unavailable (attempt {context.attempt})")
    return {"report": name, "attempt": context.attempt}


@task
def broken(reason):
    """Always fails: shows a failed job with its traceback."""
    raise ValueError(reason)


@task
async def fetch_rate(currency):
    """An async task."""
    return {"currency": currency, "rate": round(random.uniform(0.9, 1.1), 4)}
