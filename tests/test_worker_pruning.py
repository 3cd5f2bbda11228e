"""
The worker registry is pruned: rows of workers that stopped or were found gone
longer ago than WORKERS_KEEP_FOR are deleted by the scheduler leader's pruning
pass (``queue.prune_workers``); live workers' rows stay.
"""

import dataclasses
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_jobs import queue
from django_jobs.conf import Options
from django_jobs.models import Worker, WorkerState
from django_jobs.scheduler import Scheduler
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)


def ended(status, days_ago):
    """A worker row that stopped (or was found gone) ``days_ago`` days ago."""
    return WorkerFactory(status=status, stopped_at=timezone.now() - timedelta(days=days_ago))


def kept():
    return set(Worker.objects.values_list("pk", flat=True))


def test_a_worker_stopped_longer_ago_is_deleted():
    old = ended(WorkerState.STOPPED, 8)
    queue.prune_workers(keep_for=WEEK, using="default")
    assert old.pk not in kept()


def test_a_worker_found_gone_longer_ago_is_deleted():
    old = ended(WorkerState.GONE, 8)
    queue.prune_workers(keep_for=WEEK, using="default")
    assert old.pk not in kept()


def test_a_worker_that_ended_lately_is_kept():
    recent = ended(WorkerState.STOPPED, 6)
    queue.prune_workers(keep_for=WEEK, using="default")
    assert recent.pk in kept()


def test_a_live_worker_is_kept_however_old():
    live = WorkerFactory(status=WorkerState.RUNNING, started_at=timezone.now() - timedelta(days=30))
    stopping = WorkerFactory(status=WorkerState.STOPPING, started_at=timezone.now() - timedelta(days=30))
    queue.prune_workers(keep_for=timedelta(0), using="default")
    assert kept() == {live.pk, stopping.pk}


def test_it_returns_how_many_it_deleted():
    ended(WorkerState.STOPPED, 8)
    ended(WorkerState.GONE, 9)
    ended(WorkerState.GONE, 1)
    assert queue.prune_workers(keep_for=WEEK, using="default") == 2


# -- the scheduler's pruning pass -----------------------------------------------------------------


def pruning_pass(backend, **options):
    scheduler = Scheduler(
        using=backend.database, options=dataclasses.replace(backend.job_options, **options), worker_id="leader"
    )
    scheduler.duties(time.monotonic())


def test_the_leaders_pruning_pass_deletes_old_worker_rows(backend):
    old = ended(WorkerState.GONE, 8)
    pruning_pass(backend)
    assert old.pk not in kept()


def test_the_pass_follows_the_setting(backend):
    old = ended(WorkerState.STOPPED, 2)
    pruning_pass(backend, WORKERS_KEEP_FOR=3600)
    assert old.pk not in kept()


def test_none_keeps_them_forever(backend):
    old = ended(WorkerState.STOPPED, 400)
    pruning_pass(backend, WORKERS_KEEP_FOR=None)
    assert old.pk in kept()


def test_the_default_is_seven_days():
    assert Options().workers_keep_for == WEEK


@pytest.mark.parametrize("value", [-1, "week"])
def test_a_bad_setting_is_refused_naming_it(value):
    with pytest.raises(ImproperlyConfigured, match=r"TASKS\['default'\]\['OPTIONS'\]\['WORKERS_KEEP_FOR'\]"):
        Options.from_dict("default", {"WORKERS_KEEP_FOR": value})
