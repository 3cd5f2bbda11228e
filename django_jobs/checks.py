"""System checks: a bad RECURRING entry stops ``manage.py`` commands (runworker among them) at start-up."""

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
