"""
Leader-only duties, run from every worker's loop at SCHEDULER_INTERVAL: only
the process holding leadership (see ``db``) performs them.
"""

import logging
import time

from django.db import connections

from . import queue
from .db import get_ops
from .recurring import Recurring
from .schedules import DatabaseSchedules

logger = logging.getLogger("django_jobs.scheduler")


class Scheduler:
    def __init__(self, *, using, options, worker_id):
        self.using = using
        self.options = options
        self.worker_id = worker_id
        self.leadership = get_ops(using, options.sessions).leadership(worker_id)
        self.next_tick = 0.0
        self.next_prune = 0.0
        self.leading = False
        #: When this process took leadership (monotonic): a new leader, or one back after an outage, waits
        #: WORKER_DEAD_AFTER before declaring workers dead, so live ones have had time to beat again.
        self.leading_since = 0.0
        #: Recurring jobs (OPTIONS['RECURRING']) of every backend in this database.
        self.recurring = Recurring(using)
        #: Schedules stored in the database (the Schedule table), read again at every tick.
        self.schedules = DatabaseSchedules(using)

    def tick(self):
        now = time.monotonic()
        if now < self.next_tick:
            return
        self.next_tick = now + self.options.SCHEDULER_INTERVAL
        leading = self.leadership.acquire()
        if leading != self.leading:
            logger.info("Worker %s %s scheduler leadership.", self.worker_id, "took" if leading else "lost")
            self.leading = leading
            self.leading_since = now
        if not leading:
            return
        try:
            self.duties(now)
        except Exception as e:
            logger.warning("Scheduler duties failed (%s); will retry.", e)
            connections[self.using].close()

    def duties(self, now):
        options = self.options
        if now - self.leading_since >= options.WORKER_DEAD_AFTER:
            workers, attempts = queue.rescue_dead_workers(
                dead_after=options.WORKER_DEAD_AFTER, max_lost=options.MAX_LOST_ATTEMPTS, using=self.using
            )
            if workers:
                logger.warning("%d worker(s) died; took back the %d job(s) they were running.", workers, attempts)
        rescued = queue.rescue_expired(max_lost=options.MAX_LOST_ATTEMPTS, using=self.using)
        if rescued:
            logger.warning("Took back %d job(s) whose lease expired.", rescued)
        self.recurring.run()
        self.schedules.run()
        expired = queue.expire_overdue(using=self.using)
        if expired:
            logger.info("%d job(s) expired before anyone started them.", expired)
        if now >= self.next_prune:
            self.next_prune = now + self.options.PRUNE_INTERVAL
            pruned = queue.prune(using=self.using)
            if pruned:
                logger.info("Pruned %d finished job(s) past their keep time.", pruned)
            queue.prune_rate_buckets(using=self.using)
            keep_for = options.workers_keep_for
            if keep_for is not None:
                ended = queue.prune_workers(keep_for=keep_for, using=self.using)
                if ended:
                    logger.info("Pruned %d stopped or gone worker(s) from the registry.", ended)

    def close(self):
        self.leadership.release()
