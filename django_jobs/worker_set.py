"""
``runworker`` for a backend whose jobs live in several databases
(``OPTIONS['DATABASES']``): one Worker per database, each on a thread of
this process.

A Worker already is everything one database needs: it claims from it,
records into it, backs off and reconnects when it stops answering, and runs
its scheduler duties (rescues, pruning, recurring jobs) when it leads there.
Running one per database keeps each database's work independent: a database
that goes down stalls only its own worker while the others keep running,
and nothing new is needed to route a claim, a report or a lease renewal to
the right database. Each worker runs up to the concurrency, as separate
``runworker`` processes would; a worker process serving N databases may run
N times as many jobs at once.
"""

import logging
import signal
import threading

from django.db import connections

from .worker import Worker, new_worker_id

logger = logging.getLogger("django_jobs.worker")


def worker_id_for(worker_id, alias, longest):
    """The id of the worker of database ``alias``: ``worker_id`` (or a new one) and ``@alias``, at most ``longest``."""
    suffix = f"@{alias}"
    return (worker_id or new_worker_id())[: longest - len(suffix)] + suffix


class WorkerSet:
    """One Worker per database, run together; stopping the set stops them all."""

    def __init__(self, *, databases, worker_id=None, longest_id=100, **options):
        self.workers = [
            Worker(using=alias, worker_id=worker_id_for(worker_id, alias, longest_id), **options) for alias in databases
        ]
        self.crashed = threading.Event()

    def install_signal_handlers(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        logger.info(
            "Received %s: stopping the workers of %d databases.", signal.Signals(signum).name, len(self.workers)
        )
        self.stop()

    def stop(self):
        for worker in self.workers:
            worker.stop()

    def run(self):
        """Run every worker until stopped (with burst: until each database has nothing due). Returns an exit code."""
        codes: dict[str, int] = {}
        threads = [
            threading.Thread(target=self._run_one, args=(worker, codes), name=f"django_jobs-worker-{worker.using}")
            for worker in self.workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # in short waits: the main thread must stay free to take signals
        return max(codes.values(), default=0)

    def _run_one(self, worker, codes):
        try:
            codes[worker.using] = worker.run()
        except BaseException:
            logger.exception("The worker of database %r crashed; stopping the others.", worker.using)
            codes[worker.using] = 1
            self.stop()
        finally:
            connections.close_all()  # this thread's: it ends here (a worker's sign-off reconnects after its shutdown)
