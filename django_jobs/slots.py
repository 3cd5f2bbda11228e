"""
A worker's bookkeeping of the attempts it holds: which are claimed, which
have started on a thread, which were asked to stop, and which overran their
max_work_duration on a thread that cannot be killed (their slot goes to a new
thread). Thread-safe; keyed by (job id, attempt), since one worker may hold
two attempts of one job (the first overran, was rescued, and was claimed again).
"""

import threading
import time

from .db.base import KILL_MARGIN


class Slots:
    def __init__(self):
        self._lock = threading.Lock()
        self.held = {}  # (job id, attempt) -> ClaimedJob: their leases are renewed
        self._cancel_events = {}  # (job id, attempt) -> threading.Event
        self._started = {}  # (job id, attempt) -> monotonic time its thread started it
        self._abandoned = set()  # attempts whose thread overran: its slot was counted free
        #: Claimed attempts not yet returned (waiting for a thread, or running on one), overrunning ones aside.
        self.busy = 0

    @staticmethod
    def key(claimed):
        return (claimed.id, claimed.attempt)

    def claimed(self, batch):
        """A claim's attempts are now this worker's."""
        with self._lock:
            self.busy += len(batch)
            for claimed in batch:
                self.held[self.key(claimed)] = claimed
                self._cancel_events[self.key(claimed)] = threading.Event()

    def forget(self, claimed):
        """The attempt is recorded (or given back): its lease is no longer renewed."""
        with self._lock:
            self.held.pop(self.key(claimed), None)
            self._cancel_events.pop(self.key(claimed), None)

    def cancel_event(self, claimed):
        return self._cancel_events.get(self.key(claimed))

    def start(self, claimed):
        with self._lock:
            self._started[self.key(claimed)] = time.monotonic()

    def end(self, claimed, *, started=True) -> bool:
        """
        The attempt's thread is done with it (``started``: it ran). Returns
        False when the attempt had overrun: its slot belongs to another thread now.
        """
        key = self.key(claimed)
        with self._lock:
            self._started.pop(key, None)
            overran = key in self._abandoned
            self._abandoned.discard(key)
            if not overran:
                self.busy -= 1
        return not overran

    def overrun(self):
        """Attempts started on a thread and now past max_work_duration (+ the kill margin): newly abandoned."""
        now = time.monotonic()
        with self._lock:
            found = [
                key
                for key, started in self._started.items()
                if key not in self._abandoned
                and (claimed := self.held.get(key)) is not None
                and claimed.max_work_duration is not None
                and now - started > (claimed.max_work_duration + KILL_MARGIN).total_seconds()
            ]
            self._abandoned.update(found)
            self.busy -= len(found)
        return found

    def running_now(self):
        """Attempts running on a thread now (not those claimed ahead, nor abandoned ones)."""
        with self._lock:
            return len(self._started) - len(self._abandoned)

    def renewable_ids(self):
        """Ids of the jobs whose leases to renew: held attempts, except abandoned ones."""
        with self._lock:
            return [claimed.id for key, claimed in self.held.items() if key not in self._abandoned]

    def cancelled(self, job_ids):
        """Ask the held attempts of these jobs to stop; returns the ids newly asked."""
        asked = set()
        with self._lock:
            for (job_id, _attempt), event in self._cancel_events.items():
                if job_id in job_ids and not event.is_set():
                    event.set()
                    asked.add(job_id)
        return asked

    def held_job_ids(self):
        with self._lock:
            return {job_id for job_id, _attempt in self.held}

    def all_held(self):
        """The attempts held, except abandoned ones (their lease runs out; the scheduler takes them back)."""
        with self._lock:
            return [claimed for key, claimed in self.held.items() if key not in self._abandoned]
