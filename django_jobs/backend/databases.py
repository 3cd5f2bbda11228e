"""
Where a backend's jobs go when it spreads them over several databases
(``OPTIONS['DATABASES']``), and how a TaskResult id says which one holds a job.

A job with a key that needs one place (its uniqkey, concurrency key, rate key
or coalesce key) always goes to the database its key hashes to, so that the
key's uniqueness or limit holds. Other jobs take the databases in turn; one
that cannot be reached is skipped for a while (backed off) and the next one
takes the job. A batch (``enqueue_many``, a workflow) goes to one database:
dependencies cannot cross databases.
"""

import itertools
import logging
import threading
import time
import zlib

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from ..exceptions import DatabaseUnavailable, InvalidJobArguments, JobNotFound
from ..models import Job

logger = logging.getLogger("django_jobs.enqueue")

#: Seconds an unreachable database is skipped after its first failure; doubled at each
#: failure up to LONGEST_BACKOFF, and forgotten once it answers again.
FIRST_BACKOFF = 1.0
LONGEST_BACKOFF = 30.0

#: The job columns, in order, whose value places a job: the first one set decides.
PLACING_KEYS = ("uniqkey", "concurrency_key", "rate_key", "coalesce")


def placing_key(job):
    """The key that must place ``job`` in one given database, or None when any database will do."""
    for column in PLACING_KEYS:
        value = getattr(job, column, None)
        if value is not None:
            return f"{column}:{value}"
    return None


class Databases:
    """The databases of one backend: which one takes a job, which are down, what a result id means."""

    def __init__(self, backend_alias, aliases):
        self.backend_alias = backend_alias
        self.aliases = list(aliases)
        self.several = len(self.aliases) > 1
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._down: dict[str, tuple[float, float]] = {}  # alias -> (retry at (monotonic), back-off)
        self._with_tables: set[str] = set()

    # -- result ids ----------------------------------------------------------------
    def locate(self, result_id):
        """
        ``(alias, job id)`` of a result id: ``"alias:id"`` when the jobs are spread
        over several databases, else the job id in the one database.
        """
        if not self.several:
            return self.aliases[0], result_id
        alias, sep, job_id = str(result_id).rpartition(":")
        if not sep or alias not in self.aliases:
            raise JobNotFound(
                f"No job with id {result_id!r}: backend {self.backend_alias!r} spreads its jobs over databases "
                f"{self.aliases}, and its result ids are 'database:job id'."
            )
        return alias, job_id

    # -- placing jobs --------------------------------------------------------------
    def home_of(self, key):
        """The database a placing key always goes to (a stable hash: the same in every process)."""
        return self.aliases[zlib.crc32(key.encode()) % len(self.aliases)]

    def place(self, jobs, required=()):
        """
        The one database a batch of ``jobs`` must go to (their placing keys, and
        ``required``: the databases of their dependencies), or None when any will do.
        Jobs that must go to different databases raise InvalidJobArguments.
        """
        homes = dict.fromkeys(required)
        for job in jobs:
            key = placing_key(job)
            if key is not None:
                homes.setdefault(self.home_of(key), key)
        if len(homes) > 1:
            raise InvalidJobArguments(
                f"These jobs must go to different databases of backend {self.backend_alias!r} "
                f"({sorted(homes)}: their keys and dependencies place them), but a batch or workflow is "
                "written to one database. Enqueue them separately."
            )
        return next(iter(homes), None)

    def write(self, action, home=None):
        """
        ``action(alias)`` in ``home``, or, when None, in the databases in turn: one
        that cannot be reached is skipped (logged, backed off) and the next one tried.
        Returns what ``action`` returns. Raises DatabaseUnavailable when ``home`` (or
        every database) cannot be reached.
        """
        if home is not None:
            try:
                return self._try(action, home)
            except _Unreachable as e:
                raise DatabaseUnavailable(
                    f"Database {home!r} of backend {self.backend_alias!r} cannot be reached ({e.__cause__}): its "
                    "key or its dependencies place it there, and it cannot go elsewhere without breaking the key's "
                    "uniqueness or limit, or the dependencies. Try again later."
                ) from e.__cause__
        errors = []
        for alias in self._order():
            try:
                return self._try(action, alias)
            except _Unreachable as e:
                errors.append(f"{alias}: {e.__cause__}")
        raise DatabaseUnavailable(f"No database of backend {self.backend_alias!r} can be reached: {'; '.join(errors)}.")

    def _order(self):
        """
        The databases to try: one in a transaction of the caller first (so that the job
        commits with it), then those up, taking turns, then those backed off (soonest due first).
        """
        now = time.monotonic()
        with self._lock:
            start = next(self._turn)
            down = dict(self._down)
        turn = [self.aliases[(start + i) % len(self.aliases)] for i in range(len(self.aliases))]
        turn.sort(key=lambda alias: not connections[alias].in_atomic_block)  # stable: the turn order otherwise
        up = [alias for alias in turn if alias not in down or down[alias][0] <= now]
        return up + sorted((alias for alias in turn if alias not in up), key=lambda alias: down[alias][0])

    def _try(self, action, alias):
        connection = connections[alias]
        try:
            connection.ensure_connection()
            self._check_tables(alias)
            result = action(alias)
        except (OperationalError, InterfaceError) as error:
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost with it: not ours to try again
            if not self._answers(alias):
                self._failed(alias, error)
                raise _Unreachable() from error
            # It answers again: the connection had been dropped (a restart, an idle timeout). Once more.
            result = action(alias)
        self._succeeded(alias)
        return result

    @staticmethod
    def _answers(alias):
        """Whether ``alias`` can be connected to again (after closing the connection that failed)."""
        connection = connections[alias]
        connection.close()
        try:
            connection.ensure_connection()
        except DatabaseError:
            return False
        return True

    def _failed(self, alias, error):
        with self._lock:
            _retry_at, backoff = self._down.get(alias, (0.0, FIRST_BACKOFF / 2))
            backoff = min(backoff * 2, LONGEST_BACKOFF)
            self._down[alias] = (time.monotonic() + backoff, backoff)
        logger.warning(
            "Database %r of backend %r cannot be reached (%s); its jobs go to the others for %.0fs.",
            alias,
            self.backend_alias,
            error,
            backoff,
        )

    def _succeeded(self, alias):
        if alias in self._down:
            with self._lock:
                was = self._down.pop(alias, None)
            if was is not None:
                logger.warning("Database %r of backend %r takes jobs again.", alias, self.backend_alias)

    def check_reachable_tables(self):
        """Each database that answers must have django_jobs' tables (one that does not is checked when it does)."""
        for alias in self.aliases:
            try:
                connections[alias].ensure_connection()
            except DatabaseError:
                continue
            self._check_tables(alias)

    def _check_tables(self, alias):
        """At the first use of a database: it must have django_jobs' tables (else a clear error, not SQL's)."""
        if alias in self._with_tables:
            return
        if Job._meta.db_table not in connections[alias].introspection.table_names():
            raise ImproperlyConfigured(
                f"Database {alias!r} of TASKS[{self.backend_alias!r}]['OPTIONS']['DATABASES'] has no django_jobs "
                f"tables: run 'manage.py migrate --database {alias}'."
            )
        self._with_tables.add(alias)


class _Unreachable(Exception):
    """The database could not be reached; the cause is the driver's error."""
