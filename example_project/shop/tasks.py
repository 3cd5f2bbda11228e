"""
The shop's jobs. Each shows one feature of django_jobs:

- send_receipt: a plain Django ``@task``, enqueued by a post_save signal (shop/signals.py).
- notify_warehouse: a concurrency limit; at most one runs at once, across all workers.
- sync_to_accounting: a retry; its first attempt always fails, the second succeeds.
- charge_gift_card: a job that fails for good after its attempts (unknown codes).
- rebuild_search_index: a uniqkey; at most one rebuild per minute, however many orders are saved.
- sales_report: a recurring job (OPTIONS["RECURRING"] in settings.py), kept 10 minutes once done.
"""

import logging
import time
from datetime import timedelta

from django.db.models import Count, Sum
from django.tasks import task  # on Django 5.2 LTS: from django_tasks import task (the backport)
from django.utils import timezone

import django_jobs

from .models import Order

logger = logging.getLogger(__name__)

#: Seconds one call to the (pretend) warehouse API takes.
WAREHOUSE_CALL_SECONDS = 0.5
#: The gift cards that exist.
GIFT_CARDS = {"GIFT-10": 1000}


def one_second(exception, task_result):
    """A backoff: retry one second after a failure (the default is exponential, with jitter)."""
    return 1.0


@task(queue_name="emails")
def send_receipt(order_id):
    """Enqueued by the post_save signal when an order is created, in the order's transaction."""
    order = Order.objects.get(pk=order_id)
    logger.info("Sending receipt to %s", order.email)  # kept with the attempt: see the job's page in the admin
    Order.objects.filter(pk=order_id).update(receipt_sent=True)
    return f"receipt sent to {order.email}"


@django_jobs.job(concurrency_key="warehouse-api", concurrency_limit=1, max_attempts=3)
def notify_warehouse(order_id):
    """
    Enqueued by the order form's view. The warehouse's API takes one call at a
    time: whatever the number of workers and threads, at most one of these runs
    at once (the others wait, without holding up other jobs).
    """
    time.sleep(WAREHOUSE_CALL_SECONDS)
    Order.objects.filter(pk=order_id).update(warehouse_notified=True)
    return {"order": order_id}


@django_jobs.job(max_attempts=3, backoff=one_second, takes_context=True)
def sync_to_accounting(context, order_id):
    """
    Enqueued by the view. The accounting service times out on every first
    attempt: the job is retried a second later, and succeeds. Its two runs,
    with the first one's traceback, are on its page in the admin.
    """
    if context.attempt == 1:
        raise TimeoutError(f"accounting service timed out (order {order_id}, attempt {context.attempt})")
    Order.objects.filter(pk=order_id).update(accounting_synced=True)
    return {"order": order_id, "attempt": context.attempt}


@django_jobs.job(max_attempts=2, backoff=one_second)
def charge_gift_card(order_id):
    """
    Enqueued by the view for an order with a gift card. An unknown code fails
    both attempts: the job ends failed, and the admin's Retry action (or
    ``manage.py jobs retry <id>``) gives it new attempts.
    """
    order = Order.objects.get(pk=order_id)
    if order.gift_card not in GIFT_CARDS:
        raise ValueError(f"gift card {order.gift_card!r} does not exist")
    Order.objects.filter(pk=order_id).update(gift_card_charged=True)
    return {"order": order_id, "charged_cents": GIFT_CARDS[order.gift_card]}


@django_jobs.job(keep_for=timedelta(hours=1))
def rebuild_search_index(minute):
    """Re-index the orders: enqueued by enqueue_search_index_rebuild(), at most once per minute."""
    indexed = Order.objects.count()
    logger.info("Indexed %d orders (changes of %s)", indexed, minute)
    return {"orders_indexed": indexed, "changes_of": minute}


def enqueue_search_index_rebuild():
    """
    Ask for a search index rebuild after an order changed. The uniqkey names
    the current minute and the job runs when that minute is over: all the
    changes of one minute share one job (later enqueues return the waiting
    job, with ``result.created`` False), and the rebuild sees all of them.
    """
    minute = timezone.now().replace(second=0, microsecond=0)
    return rebuild_search_index.using(
        uniqkey=f"search-index:{minute:%Y-%m-%dT%H:%M}", run_after=minute + timedelta(minutes=1)
    ).enqueue(minute.isoformat())


@django_jobs.job(keep_for=timedelta(minutes=10))
def sales_report():
    """Today's orders and takings: a recurring job (settings.TASKS["default"]["OPTIONS"]["RECURRING"])."""
    today = timezone.localdate()
    totals = Order.objects.filter(created_at__date=today).aggregate(orders=Count("id"), cents=Sum("total_cents"))
    return {"date": today.isoformat(), "orders": totals["orders"], "total_cents": totals["cents"] or 0}
