"""
The worker loop: wait for work, claim up to the free capacity, run each job
in a thread, renew leases, and stop gracefully.

Batching: an attempt that simply returns is not committed by its job thread.
The loop records all such attempts and claims the next jobs in one
transaction (``queue.complete_and_claim``), so a busy worker commits once per
batch rather than twice per job. While its jobs are short it also claims a
few beyond its free slots (``PREFETCH``), which makes the batches larger. A
worker that dies with successes not yet recorded loses nothing: their leases
expire and the jobs run again (at least once, as after any crash).
"""

import logging
import math
import os
import queue as queue_module
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.crypto import get_random_string

from . import logcapture, queue
from .attempt_log import job_fields, log_outcome
from .attempts import run_and_report
from .db import get_ops
from .exceptions import JobNotClaimed
from .heartbeat import Heartbeat
from .log_flusher import LogFlusher
from .processes import ChildProcess
from .reconnect import Reconnect
from .reporter import PENDING, Reporter, describe
from .runner import Runner
from .scheduler import Scheduler
from .slots import Slots

if TYPE_CHECKING:
    from .db.base import ClaimedJob

logger = logging.getLogger("django_jobs.worker")

#: A job claimed ahead should start within about this many seconds: the
#: prefetch is sized from the attempts' moving-average duration, so short jobs
#: are claimed in batches and slow ones are not held while another worker idles.
PREFETCH_WAIT = 0.05
#: The default PREFETCH: at most this many jobs claimed ahead per slot. Batches of 25-45 jobs per
#: commit drained no-op jobs 1.5-1.8x faster than batches of ~10 (docs/performance.md); PREFETCH_WAIT
#: still bounds it by time.
PREFETCH_PER_SLOT = 32
#: While jobs run, the loop looks for new ones and records finished ones at
#: least this often (seconds); a freed slot wakes it at once.
BUSY_WAIT = 0.02


def new_worker_id():
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{get_random_string(6)}"


class Worker:
    def __init__(
        self,
        *,
        using,
        options,
        queues=None,
        concurrency=None,
        burst=False,
        grace_period=None,
        worker_id=None,
        processes=False,
        backend="default",
    ):
        self.using = using
        self.options = options
        self.queues = sorted(queues) if queues else None
        #: Run each job on this thread, one at a time, with no other thread writing meanwhile: on a
        #: database that fails a second writer instead of letting it wait (SQLite in memory).
        self.inline = get_ops(using).single_threaded
        if self.inline and processes:
            raise ImproperlyConfigured(
                f"Database {using!r} is an in-memory SQLite database, which child processes cannot open: "
                "run this worker without processes."
            )
        self.concurrency = 1 if self.inline else concurrency or options.CONCURRENCY
        self.burst = burst
        self.grace_period = options.GRACE_PERIOD if grace_period is None else grace_period
        self.worker_id = worker_id or new_worker_id()
        #: Run attempts in child processes (killable) instead of threads.
        self.processes = processes
        self.backend = backend
        self.children = {}  # (job id, attempt) -> ChildProcess running it
        self.runner = Runner(using=using, options=options)
        #: Records reports; keeps plain successes for the next complete_and_claim (threads only: a
        #: child process records its own).
        self.reporter = Reporter(using=using, batch=not (processes or self.inline), patience=options.LEASE_SECONDS / 2)
        self.prefetch = (
            0
            if processes or self.inline
            else (PREFETCH_PER_SLOT * self.concurrency if options.PREFETCH is None else options.PREFETCH)
        )
        self.recent_duration = None  # moving average of attempt durations (seconds)
        self.stopping = threading.Event()
        #: Set once the worker has finished stopping: its heartbeat ends.
        self.stopped = threading.Event()
        self.slot_freed = threading.Event()
        self.slots = Slots()
        self.claims = Reconnect("Claiming jobs")
        self.next_cancel_check = 0.0
        self.next_limited_check = 0.0
        self.rate_wake = None  # when a rate key full at the last claim frees one (monotonic)
        self.work: queue_module.SimpleQueue[ClaimedJob | None] = queue_module.SimpleQueue()
        self.threads = []
        self.scheduler = Scheduler(using=using, options=options, worker_id=self.worker_id)

    # -- signals -------------------------------------------------------------------
    def install_signal_handlers(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        if self.stopping.is_set():
            logger.warning("Second %s: stopping now.", signal.Signals(signum).name)
        logger.info(
            "Received %s: no new jobs; waiting up to %ss for %d running.",
            signal.Signals(signum).name,
            self.grace_period,
            len(self.slots.held),
        )
        self.stop()

    def stop(self):
        self.stopping.set()
        self.slot_freed.set()

    # -- the loop --------------------------------------------------------------------
    def run(self):
        """Run until stopped (or, with burst, until nothing is due). Returns an exit code."""
        logger.info(
            "Worker %s started: queues=%s concurrency=%d%s",
            self.worker_id,
            ",".join(self.queues) if self.queues else "all",
            self.concurrency,
            " burst" if self.burst else "",
        )
        if self.inline:
            logger.info("Database %r is in memory (SQLite): jobs run one at a time on this thread.", self.using)
        logcapture.install()
        logcapture.capture_print()
        self.register(wait=True)
        listener = get_ops(self.using, self.options.sessions).listener(self.stopping, worker_pk=self.registry_pk)
        heartbeat = Heartbeat(self)
        flusher = None
        if not self.inline:
            heartbeat.start()
            flusher = None if self.processes else LogFlusher(self.runner, using=self.using).start()  # children flush
            self._start_threads(self.concurrency)
        empty_claims = 0
        try:
            while not self.stopping.is_set():
                self.scheduler.tick()
                self._check_cancelled()
                self._check_overruns()
                free = self.concurrency + self._prefetch() - self.slots.busy
                claimed = self._report_and_claim(max(free, 0))
                if self.inline:
                    self._run_claimed_here()
                    heartbeat.tick()
                idle = not claimed and not self.slots.busy and not self.reporter.has_pending()
                if self.burst and idle and self.rate_wake is None:  # rate-limited jobs waiting are due work too
                    # A claim skips due jobs another transaction holds locked for a moment (SKIP
                    # LOCKED): look once more before deciding that nothing is left.
                    empty_claims += 1
                    if empty_claims > 1:
                        break
                    self.stopping.wait(BUSY_WAIT)
                    continue
                empty_claims = 0
                if free > 0 and len(claimed) == free:
                    continue  # there may be more: fill the freed slots first
                if self.slots.busy:
                    # Wake when a slot frees; meanwhile hear of new jobs and cancels.
                    self.slot_freed.wait(self.options.POLL_INTERVAL if free <= 0 else BUSY_WAIT)
                    self.slot_freed.clear()
                    self._check_cancelled(listener.wait(0))
                elif not claimed and not self.reporter.has_pending():
                    self._check_cancelled(listener.wait(self._idle_wait()))
        finally:
            self._shutdown()
            if flusher is not None:
                flusher.stop()
            listener.close()
            self.scheduler.close()
            self._sign_off()
            heartbeat.join()  # its connection is closed when run() returns, not a moment later
        logger.info("Worker %s stopped.", self.worker_id)
        return 0

    # -- the worker registry ------------------------------------------------------------
    registry_pk = None

    def register(self, *, wait=False):
        """
        Add this worker to the registry. ``wait``: until the database answers
        (backed off, logged), or the worker is stopped meanwhile.
        """
        attempts = Reconnect("Registering the worker")
        while True:
            try:
                self.registry_pk = queue.register(
                    worker_id=self.worker_id,
                    backend=self.backend,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    queues=self.queues,
                    concurrency=self.concurrency,
                    using=self.using,
                )
                attempts.succeeded()
                return
            except Exception as e:
                connections[self.using].close()
                if not wait:
                    raise
                if self.stopping.wait(attempts.failed(e)):
                    return

    def _sign_off(self):
        try:
            queue.sign_off(self.worker_id, using=self.using)
        except Exception as e:
            logger.warning("Could not mark worker %s stopped in the registry (%s).", self.worker_id, e)

    def started_count(self):
        """Attempts running now (not those claimed ahead and waiting for a thread)."""
        return self.slots.running_now()

    def held_job_ids(self):
        """Ids of the jobs whose leases this worker renews: attempts held, and coalesced siblings."""
        return self.slots.renewable_ids() + [sibling.id for sibling in self.runner.held_siblings()]

    def _prefetch(self):
        """How many jobs to claim beyond the free slots: as many as start within PREFETCH_WAIT."""
        if self.recent_duration is None:
            return 0
        fits = self.concurrency * PREFETCH_WAIT / max(self.recent_duration, 1e-4)
        return min(self.prefetch, int(fits))

    def _report_and_claim(self, free):
        """Record the attempts that returned and claim up to ``free`` jobs, in one transaction."""
        succeeded = self.reporter.take_pending()
        if not succeeded and free <= 0:
            return []
        # Limited jobs need a costlier claim: look for them at every claim while
        # there are some, else once per POLL_INTERVAL.
        now = time.monotonic()
        limited = bool(self.options.QUEUE_CONCURRENCY) or now >= self.next_limited_check
        try:
            recorded, claimed = queue.complete_and_claim(
                [(report.claimed, report.return_value) for report in succeeded],
                worker_id=self.worker_id,
                queues=self.queues,
                limit=free,
                lease=self.options.lease,
                using=self.using,
                queue_limits=self.options.QUEUE_CONCURRENCY,
                limited=limited and free > 0,
                backend=self.backend,
            )
            if limited and free > 0:
                # A full rate key's jobs are looked for again when it frees a claim, not before.
                self.rate_wake = None if claimed.rate_wait is None else now + claimed.rate_wait
                if not claimed.limited_candidates:
                    self.next_limited_check = min(now + self.options.POLL_INTERVAL, self.rate_wake or math.inf)
        except Exception as e:
            connections[self.using].close()
            self.reporter.give_back(succeeded)  # still held by their leases: recorded at the next try
            self.stopping.wait(self.claims.failed(e))
            return []
        self.claims.succeeded()
        self.reporter.recorded(succeeded, recorded)
        for report in succeeded:
            self.slots.forget(report.claimed)
        self.slots.claimed(claimed)
        for job in claimed:
            self.work.put(job)
        return claimed

    def _idle_wait(self):
        """POLL_INTERVAL, or less when a full rate key frees a claim sooner: sleep until then, not longer."""
        if self.rate_wake is None:
            return self.options.POLL_INTERVAL
        return min(self.options.POLL_INTERVAL, max(self.rate_wake - time.monotonic(), 0.001))

    def _start_threads(self, count):
        for _ in range(count):
            thread = threading.Thread(target=self._job_thread, name=f"django_jobs-{len(self.threads)}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run_claimed_here(self):
        """The inline worker's job thread: run what was just claimed, on this thread."""
        while True:
            try:
                claimed = self.work.get_nowait()
            except queue_module.Empty:
                return
            self._run_one(claimed)

    def _job_thread(self):
        """Runs claimed jobs one after another on this thread's own database connection (and child)."""
        child = None
        if self.processes:
            child = ChildProcess(backend=self.backend, using=self.using, kill_grace=self.options.KILL_GRACE)
        try:
            while (claimed := self.work.get()) is not None:
                if not self._run_one(claimed, child):
                    return  # its slot went to a new thread while this one overran
        finally:
            if child is not None:
                child.kill()
            connections.close_all()

    def _run_one(self, claimed, child=None):
        """Run one claimed attempt; False when its slot went to another thread meanwhile (it overran)."""
        # No close_old_connections() here: with CONN_MAX_AGE = 0 it would
        # reconnect for every job. A connection that fails is closed below.
        event = self.slots.cancel_event(claimed)
        if self.stopping.is_set() or (event is not None and event.is_set()):
            # Claimed ahead (prefetch) and not started: given back at shutdown,
            # or cancelled while it waited (and so finished already).
            self._give_back(claimed, release=self.stopping.is_set())
            return True
        started = time.monotonic()
        self.slots.start(claimed)
        pending = False
        try:
            if child is None:
                report, transition = run_and_report(self.runner, self.reporter, claimed, event)
                pending = transition == PENDING
                log_outcome(report, transition, describe(report, transition), time.monotonic() - started)
            else:
                self.children[Slots.key(claimed)] = child
                child.run(claimed, event, max_work_duration=claimed.max_work_duration)
        except Exception:
            logger.exception(
                "Reporting job %s failed; its lease will expire and it will be retried.",
                claimed.id,
                extra=job_fields(claimed),
            )
            connections[self.using].close()
        finally:
            took = time.monotonic() - started
            self.recent_duration = took if self.recent_duration is None else 0.8 * self.recent_duration + 0.2 * took
            self.children.pop(Slots.key(claimed), None)
            kept_slot = self.slots.end(claimed)
            if not pending:  # else its lease is renewed until it is recorded
                self.slots.forget(claimed)
            self.slot_freed.set()
        return kept_slot

    def _check_overruns(self):
        """
        Threads cannot be killed: an attempt running past its max_work_duration
        (plus the kill margin) keeps its thread, but not its slot. Its lease is
        no longer renewed (the scheduler rescues the job; its late report is
        refused), and a new thread takes the slot, so that jobs claimed for this
        worker keep starting. ``--processes`` kills such attempts instead.
        """
        if self.processes:
            return
        overrun = self.slots.overrun()
        for job_id, attempt in overrun:
            logger.warning(
                "Job %s attempt %s overran its max_work_duration; its thread cannot be killed and is left to end "
                "on its own (its result will be refused). A new thread takes its slot. Use --processes to kill "
                "such jobs.",
                job_id,
                attempt,
            )
        if overrun:
            self._start_threads(len(overrun))

    def _check_cancelled(self, announced=()):
        """
        Tell running jobs they were cancelled: those announced (NOTIFY), and,
        every POLL_INTERVAL, those found cancelled in the database.
        """
        now = time.monotonic()
        held = self.slots.held_job_ids()
        if not held:
            return
        found = {i for i in announced if i in held}
        if now >= self.next_cancel_check:
            self.next_cancel_check = now + self.options.POLL_INTERVAL
            try:
                found |= queue.cancelled_among(sorted(held), using=self.using)
            except Exception as e:
                logger.warning("Checking for cancelled jobs failed (%s).", e)
                connections[self.using].close()
        for job_id in self.slots.cancelled(found):
            logger.info("Job %s was cancelled: asking it to stop.", job_id)

    def _give_back(self, claimed, *, release):
        """A claimed job this worker will not start: released (attempt not spent), or just forgotten."""
        if release:
            try:
                queue.release(claimed, using=self.using)
            except JobNotClaimed:
                pass
            except Exception:
                logger.exception("Releasing job %s failed; its lease will expire.", claimed.id)
        self.slots.forget(claimed)
        self.slots.end(claimed, started=False)
        self.slot_freed.set()

    def _shutdown(self):
        """Give back jobs not started; let running ones finish within the grace period; release the rest."""
        while True:
            try:
                claimed = self.work.get_nowait()
            except queue_module.Empty:
                break
            self._give_back(claimed, release=True)
        deadline = time.monotonic() + self.grace_period
        while self.slots.all_held() and time.monotonic() < deadline:
            self._report_and_claim(0)
            self.slot_freed.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            self.slot_freed.clear()
        self._report_and_claim(0)
        self.stopping.set()
        left = self.slots.all_held()
        for claimed in left:
            try:
                queue.release(claimed, using=self.using)
                logger.warning("Job %s attempt %s released unfinished; it will run again.", claimed.id, claimed.attempt)
            except JobNotClaimed:
                pass
            if child := self.children.get(Slots.key(claimed)):
                child.kill()
        # Job threads are daemons: one still running a released job does not
        # hold the process, and its late report is refused (JobNotClaimed).
        for _thread in self.threads:
            self.work.put(None)
        if not left:
            for thread in self.threads:
                thread.join(timeout=self.grace_period + 5)
        self.stopped.set()
        connections.close_all()
