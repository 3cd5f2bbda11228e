"""
System checks: a bad RECURRING entry stops ``manage.py`` commands (runworker
among them) at start-up; a SQLite database set up for one writer at a time, and
a PostgreSQL one behind a transaction pooler set up inconsistently, are warned
about.
"""

from django.core import checks

#: EntryError.kind -> check id.
IDS = {
    "entry": "django_jobs.E001",  # not a dict, unknown keys, bad name
    "cron": "django_jobs.E002",
    "task": "django_jobs.E003",
    "timezone": "django_jobs.E004",
    "missed": "django_jobs.E005",  # the missed policy or its grace
    "arguments": "django_jobs.E006",  # args/kwargs, queue_name, priority the task refuses
}
DUPLICATE = "django_jobs.E007"  # one name in two backends sharing a database
NOT_A_DICT = "django_jobs.E008"
# django_jobs.E009, django_jobs missing from INSTALLED_APPS, is DatabaseBackend.check()'s (Django's check_tasks).
SQLITE_TIMEOUT = "django_jobs.W001"
SQLITE_TRANSACTION_MODE = "django_jobs.W002"
POOLED_PREPARES = "django_jobs.W003"  # POOLED, and psycopg may prepare statements
LISTEN_ELSEWHERE = "django_jobs.W004"  # LISTEN_DATABASE is another database, or not PostgreSQL
SESSIONS_DISAGREE = "django_jobs.W005"  # backends sharing a database keep session state differently
POOLED_CURSORS = "django_jobs.W006"  # POOLED, and Django may hold a server-side cursor across transactions

#: Seconds a SQLite connection should wait for the write lock, at least.
MIN_SQLITE_TIMEOUT = 5


@checks.register(checks.Tags.compatibility)
def check_recurring(app_configs=None, **kwargs):
    from .recurring import check_entry, database_backends

    errors = []
    seen: dict[tuple[str, str], str] = {}  # (database, name) -> backend alias
    for alias, backend in database_backends().items():
        recurring = backend.job_options.RECURRING
        if not isinstance(recurring, dict):
            errors.append(
                checks.Error(
                    f"TASKS[{alias!r}]['OPTIONS']['RECURRING'] must be a dict of name -> entry, "
                    f"not {type(recurring).__name__}.",
                    id=NOT_A_DICT,
                )
            )
            continue
        for name, spec in recurring.items():
            for problem in check_entry(name, spec, backend):
                errors.append(checks.Error(str(problem), hint="See docs/recurring.md.", obj=name, id=IDS[problem.kind]))
            key = (backend.database, name)
            if key in seen:
                errors.append(
                    checks.Error(
                        f"RECURRING entry {name!r} is declared by TASKS[{seen[key]!r}] and TASKS[{alias!r}], "
                        f"whose jobs share database {backend.database!r}; names must be unique per database.",
                        obj=name,
                        id=DUPLICATE,
                    )
                )
            seen.setdefault(key, alias)
    return errors


@checks.register(checks.Tags.compatibility)
def check_sqlite_options(app_configs=None, **kwargs):
    """
    A worker, the scheduler and the web process all write to the same SQLite
    file, which has one write lock. Without a ``timeout`` a writer that finds
    it taken fails at once with "database is locked"; without
    ``transaction_mode = "IMMEDIATE"`` a transaction that read first cannot
    wait for the lock at all (SQLite refuses to upgrade it), and fails the same
    way whatever the timeout. See docs/production.md.
    """
    from django.db import connections

    from .recurring import database_backends

    warnings = []
    for alias in sorted({alias for backend in database_backends().values() for alias in backend.databases}):
        if connections[alias].vendor != "sqlite":
            continue
        options = connections.databases[alias].get("OPTIONS", {})
        timeout = options.get("timeout")
        if not isinstance(timeout, (int, float)) or timeout < MIN_SQLITE_TIMEOUT:
            warnings.append(
                checks.Warning(
                    f"DATABASES[{alias!r}] is SQLite used by django_jobs, and OPTIONS['timeout'] is {timeout!r}: "
                    "a worker, the scheduler and your web process write to it concurrently, and a writer "
                    "that finds the write lock taken fails with 'database is locked' after that timeout.",
                    hint=f"Set DATABASES[{alias!r}]['OPTIONS']['timeout'] to {MIN_SQLITE_TIMEOUT} seconds "
                    "or more (20 is a good start). See docs/production.md.",
                    obj=alias,
                    id=SQLITE_TIMEOUT,
                )
            )
        if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
            warnings.append(
                checks.Warning(
                    f"DATABASES[{alias!r}] is SQLite used by django_jobs, without "
                    "OPTIONS['transaction_mode'] = 'IMMEDIATE': a transaction that reads before it writes "
                    "(deleting, cancelling, retrying jobs) cannot wait for the write lock held by a worker "
                    "and fails at once with 'database is locked', whatever the timeout.",
                    hint=f"Set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = 'IMMEDIATE' "
                    "(Django 5.1 and later). See docs/production.md.",
                    obj=alias,
                    id=SQLITE_TRANSACTION_MODE,
                )
            )
    return warnings


def _reach(settings_dict):
    """What identifies the PostgreSQL database an alias reaches, whichever way (pooler or not)."""
    return settings_dict.get("NAME")


@checks.register(checks.Tags.compatibility)
def check_pooled_options(app_configs=None, **kwargs):
    """
    Behind a transaction pooler (``OPTIONS['POOLED']``): psycopg must not
    prepare statements (PgBouncer 1.18 cannot keep them in transaction mode),
    nor Django hold server-side cursors across transactions;
    ``LISTEN_DATABASE`` must be PostgreSQL and the same database, or workers
    hear no NOTIFY and see no one's liveness lock; and every backend whose jobs
    share a database must agree, or one worker leads by a lock and another by a
    lease, both at once. See docs/production.md, "Behind PgBouncer".
    """
    from django.db import connections

    from .recurring import database_backends

    warnings = []
    seen: dict[str, tuple[str, bool]] = {}  # database -> (backend alias, whether its leader holds a lease)
    for alias, backend in sorted(database_backends().items()):
        options, database = backend.job_options, backend.database
        settings_dict = connections.databases.get(database, {})
        name = f"TASKS[{alias!r}]['OPTIONS']"
        db_options = settings_dict.get("OPTIONS", {})
        if options.POOLED and (
            db_options.get("server_side_binding") is True or db_options.get("prepare_threshold") is not None
        ):
            warnings.append(
                checks.Warning(
                    f"{name}['POOLED'] is True, and DATABASES[{database!r}]['OPTIONS'] lets psycopg prepare "
                    "statements (server_side_binding or prepare_threshold): PgBouncer in transaction mode "
                    "cannot keep a prepared statement from one transaction to the next.",
                    hint=f"Remove server_side_binding and prepare_threshold from DATABASES[{database!r}]['OPTIONS'] "
                    "(Django then never prepares). See docs/production.md.",
                    obj=alias,
                    id=POOLED_PREPARES,
                )
            )
        if options.POOLED and not settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
            warnings.append(
                checks.Warning(
                    f"{name}['POOLED'] is True, and DATABASES[{database!r}] lets Django open server-side "
                    "cursors (QuerySet.iterator()) that outlive a transaction: through PgBouncer in "
                    "transaction mode their next fetch may reach another server connection.",
                    hint=f"Set DATABASES[{database!r}]['DISABLE_SERVER_SIDE_CURSORS'] = True. See docs/production.md.",
                    obj=alias,
                    id=POOLED_CURSORS,
                )
            )
        listen = options.LISTEN_DATABASE
        if listen is not None:
            listen_dict = connections.databases.get(listen, {})
            if "postgresql" not in listen_dict.get("ENGINE", "") or _reach(listen_dict) != _reach(settings_dict):
                warnings.append(
                    checks.Warning(
                        f"{name}['LISTEN_DATABASE'] is {listen!r}, which is not the PostgreSQL database "
                        f"{_reach(settings_dict)!r} the jobs live in: its workers would hear no NOTIFY, and "
                        "the scheduler would see no worker's liveness lock.",
                        hint=f"Point DATABASES[{listen!r}] at the same database as DATABASES[{database!r}], "
                        "connected directly (not through the transaction pooler).",
                        obj=alias,
                        id=LISTEN_ELSEWHERE,
                    )
                )
        leases = options.sessions.database(database) is None  # leadership by a lease row, not a lock
        if database in seen and seen[database][1] != leases:
            warnings.append(
                checks.Warning(
                    f"TASKS[{seen[database][0]!r}] and TASKS[{alias!r}] share database {database!r}, and one "
                    "keeps session state while the other does not (POOLED without LISTEN_DATABASE): their "
                    "workers would elect two scheduler leaders, one by a session lock and one by a lease.",
                    hint="Give both backends the same POOLED and LISTEN_DATABASE.",
                    obj=alias,
                    id=SESSIONS_DISAGREE,
                )
            )
        seen.setdefault(database, (alias, leases))
    return warnings
