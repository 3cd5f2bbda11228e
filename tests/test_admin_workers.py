"""The workers page (the worker registry) and its "stop gracefully" action, through Django's test client."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_jobs import queue
from django_jobs.models import Worker, WorkerState
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_jobs_worker_changelist")


def staff_client(*codenames):
    user = User.objects.create_user("staff-" + "-".join(codenames or ("none",)), password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_jobs", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def stop(client, *workers):
    return client.post(
        CHANGELIST, {"action": "stop_gracefully", "_selected_action": [w.pk for w in workers]}, follow=True
    )


def stop_requested(worker):
    return Worker.objects.get(pk=worker.pk).stop_requested


def test_the_page_lists_live_idle_stopping_stopped_and_gone_workers():
    now = timezone.now()
    WorkerFactory(worker_id="busy", host="host-b", pid=42, queues=["emails"], concurrency=8, running=3)
    WorkerFactory(worker_id="idle", running=0)
    WorkerFactory(worker_id="leaving", status=WorkerState.STOPPING)
    WorkerFactory(worker_id="done", status=WorkerState.STOPPED, stopped_at=now - timedelta(minutes=3))
    WorkerFactory(worker_id="dead", status=WorkerState.GONE, stopped_at=now - timedelta(minutes=7))
    content = staff_client("view_worker").get(CHANGELIST).content.decode()
    for worker_id in ("busy", "idle", "leaving", "done", "dead"):
        assert f">{worker_id}<" in content
    for label in ("Running", "Stopping", "Stopped", "Gone"):
        assert f">{label}</span>" in content
    assert ">host-b<" in content and ">42<" in content and ">emails<" in content
    assert re.search(r">7m0\ds ago<", content)  # when it was found gone


def test_running_now_is_the_registrys_count_not_the_jobs_claimed_ahead():
    WorkerFactory(worker_id="busy", concurrency=8, running=3)
    response = staff_client("view_worker").get(CHANGELIST)
    assert '<td class="field-running_display">3</td>' in response.content.decode()


def test_stop_gracefully_asks_the_selected_live_workers_only():
    live = WorkerFactory()
    other = WorkerFactory()
    stopped = WorkerFactory(status=WorkerState.STOPPED, stopped_at=timezone.now())
    response = stop(staff_client("view_worker", "stop_worker"), live, stopped)
    assert stop_requested(live)
    assert not stop_requested(other)
    assert not stop_requested(stopped)
    assert [str(m) for m in response.context["messages"]] == [
        "Asked 1 worker to stop: it stops at its next heartbeat. 1 already stopped or gone."
    ]


def test_a_worker_asked_to_stop_hears_it_at_its_next_heartbeat():
    worker = WorkerFactory()
    stop(staff_client("view_worker", "stop_worker"), worker)
    assert queue.beat(worker.worker_id, running=0, using="default") is True


def test_stopping_workers_needs_its_own_permission():
    worker = WorkerFactory()
    viewer = staff_client("view_worker")
    assert "stop_gracefully" not in viewer.get(CHANGELIST).content.decode()
    stop(viewer, worker)
    assert not stop_requested(worker)


def test_the_page_needs_the_view_permission():
    assert staff_client("view_job").get(CHANGELIST).status_code == 403


def test_the_registry_is_read_only():
    worker = WorkerFactory()
    client = staff_client("view_worker", "stop_worker", "change_worker", "delete_worker")
    client.post(reverse("admin:django_jobs_worker_change", args=[worker.pk]), {"host": "elsewhere"})
    assert Worker.objects.get(pk=worker.pk).host == "host-a"
    assert client.get(reverse("admin:django_jobs_worker_delete", args=[worker.pk])).status_code == 403


def test_the_list_refuses_filters_it_does_not_declare():
    WorkerFactory()
    assert staff_client("view_worker").get(CHANGELIST, {"host__startswith": "h"}).status_code == 400


def test_the_dashboard_lists_idle_live_workers_and_shows_stopped_ones_as_stopped(admin_client):
    WorkerFactory(worker_id="idle-one", running=0)
    WorkerFactory(worker_id="stopped-one", status=WorkerState.STOPPED, stopped_at=timezone.now())
    response = admin_client.get(reverse("admin:django_jobs_dashboard"))
    statuses = {row["worker"].worker_id: row["worker"].status for row in response.context["workers"]}
    assert statuses == {"idle-one": WorkerState.RUNNING, "stopped-one": WorkerState.STOPPED}
