"""
Calls that must NOT type-check, each silenced by a ``# type: ignore[code]``.

Checked with ``--warn-unused-ignores`` (part of ``--strict``): should the API
fall back to ``Any``, a call here stops being an error, its ignore becomes
unused, and mypy fails. Never run.
"""

import django_jobs
from django_jobs import Decline, PermanentFailure

from .user_code import add, export, sync_account


def misuse() -> None:
    add.enqueue("one", 2)  # type: ignore[arg-type]
    add.enqueue(1)  # type: ignore[call-arg]
    export.enqueue("report")  # type: ignore[arg-type]
    sync_account.using(max_attempts="5")  # type: ignore[arg-type]
    sync_account.using(max_attemps=5)  # type: ignore[call-arg]
    django_jobs.enqueue(f"{__name__}.add", args=[1, 2], priorty=1)  # type: ignore[call-arg]
    django_jobs.cancel([1])  # type: ignore[arg-type]
    django_jobs.pause(1)  # type: ignore[arg-type]
    raise Decline(run_after="soon")  # type: ignore[arg-type]


def wrong_returns() -> str:
    return add.get_result("1").return_value  # type: ignore[return-value]


def wrong_exit_status() -> None:
    raise PermanentFailure("no", exit_status="2")  # type: ignore[arg-type]
