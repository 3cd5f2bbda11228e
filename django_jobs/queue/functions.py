"""
The function map: each task's dotted path stored once (FuncMap), jobs
pointing at it by id.

Ids are cached per process, each for at most CACHE_SECONDS: rows can vanish
under a running process (a restored backup, a TRUNCATE, a test database
flushed by raw SQL), and a stale id would make every enqueue of its function
fail, or a renumbered one name another function.
"""

import time

from django.db import transaction
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from ..models import FuncMap

#: How long a looked-up id (or path) is trusted without asking the database again.
CACHE_SECONDS = 10.0

_func_ids: dict[tuple[str, str], tuple[int, float]] = {}  # (alias, path) -> (id, trusted until)
_func_paths: dict[tuple[str, int], tuple[str, float]] = {}  # (alias, id) -> (path, trusted until)


def func_id(path, using):
    """The FuncMap id of ``path``, created in the caller's transaction if new."""
    key = (using, path)
    cached = _func_ids.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    func, _created = FuncMap.objects.using(using).get_or_create(path=path)
    # Cache only once committed: a rolled-back transaction takes the row with it.
    transaction.on_commit(lambda: _func_ids.__setitem__(key, (func.id, time.monotonic() + CACHE_SECONDS)), using=using)
    return func.id


def func_paths(ids, using):
    """{id: path} for FuncMap ids (None for an id that no longer exists)."""
    now = time.monotonic()
    missing = [i for i in ids if (cached := _func_paths.get((using, i))) is None or cached[1] <= now]
    if missing:
        for pk, path in FuncMap.objects.using(using).filter(pk__in=missing).values_list("pk", "path"):
            _func_paths[using, pk] = (path, now + CACHE_SECONDS)
    return {i: cached[0] if (cached := _func_paths.get((using, i))) else None for i in ids}


@receiver(post_migrate)
def clear_caches(**kwargs):
    """Forget cached FuncMap ids (a flushed or re-created database renumbers them)."""
    _func_ids.clear()
    _func_paths.clear()
