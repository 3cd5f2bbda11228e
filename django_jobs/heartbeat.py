"""
A worker's heartbeat thread: it renews the leases of the attempts the worker
holds (every third of LEASE_SECONDS) and beats the worker registry (every
WORKER_HEARTBEAT seconds), which is how the scheduler leader tells a live
worker from a dead one within seconds.
"""

import logging
import threading
import time

from django.db import connections

from . import queue

logger = logging.getLogger("django_jobs.worker")


class Heartbeat:
    def __init__(self, worker):
        self.worker = worker
        self.options = worker.options
        self.using = worker.using
        self.thread = threading.Thread(target=self._loop, name="django_jobs-heartbeat", daemon=True)
        self.interval = min(self.options.WORKER_HEARTBEAT, self.options.LEASE_SECONDS / 3)
        self.next_beat = 0.0
        self.next_renewal = time.monotonic() + self.options.LEASE_SECONDS / 3

    def start(self):
        self.thread.start()

    def join(self, timeout=10.0):
        """Wait for the thread (once the worker has stopped) to end and close its connection."""
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _loop(self):
        try:
            while not self.worker.stopped.wait(self.interval):
                self.beat_and_renew()
        finally:
            # This thread's own connection: left open, a worker run inside a longer-lived process
            # (tests, enqueue_and_run's callers, an embedded worker) would keep a session per run.
            connections[self.using].close()

    def tick(self):
        """For a worker without this thread (on a single-threaded database), between its jobs: beat when due."""
        if time.monotonic() >= self.next_beat:
            self.next_beat = time.monotonic() + self.interval
            self.beat_and_renew()

    def beat_and_renew(self):
        """Beat, and renew the leases when due: what the thread does every interval."""
        now = time.monotonic()
        try:
            self.beat()
            if now >= self.next_renewal:
                self.next_renewal = now + self.options.LEASE_SECONDS / 3
                self.renew()
        except Exception as e:
            logger.warning("Heartbeat failed (%s); will retry.", e)
            connections[self.using].close()

    def beat(self):
        """Tell the registry this worker lives; stop if an operator asked; re-register if found dead."""
        worker = self.worker
        answer = queue.beat(
            worker.worker_id, running=worker.started_count(), stopping=worker.stopping.is_set(), using=self.using
        )
        if answer is None:
            logger.error(
                "Worker %s was found dead by the scheduler (no heartbeat for %ss) and its jobs were rescued; "
                "their results from here will be refused. Registering again.",
                worker.worker_id,
                self.options.WORKER_DEAD_AFTER,
            )
            worker.register()
        elif answer and not worker.stopping.is_set():
            logger.warning("Worker %s was asked to stop (registry): stopping gracefully.", worker.worker_id)
            worker.stop()

    def renew(self):
        ids = self.worker.held_job_ids()
        if ids:
            queue.heartbeat(worker_id=self.worker.worker_id, job_ids=ids, lease=self.options.lease, using=self.using)
