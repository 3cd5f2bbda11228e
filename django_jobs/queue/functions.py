"""
The function map: each task's dotted path stored once (FuncMap), jobs
pointing at it by id. Ids are cached per process.
"""

from django.db import transaction
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from ..models import FuncMap

_func_ids: dict[tuple[str, str], int] = {}  # (alias, path) -> id
_func_paths: dict[tuple[str, int], str] = {}  # (alias, id) -> path


def func_id(path, using):
    """The FuncMap id of ``path``, created in the caller's transaction if new."""
    key = (using, path)
    try:
        return _func_ids[key]
    except KeyError:
        pass
    func, _created = FuncMap.objects.using(using).get_or_create(path=path)
    # Cache only once committed: a rolled-back transaction takes the row with it.
    transaction.on_commit(lambda: _func_ids.__setitem__(key, func.id), using=using)
    return func.id


def func_paths(ids, using):
    """{id: path} for FuncMap ids (ids never change meaning, so they are cached)."""
    missing = [i for i in ids if (using, i) not in _func_paths]
    if missing:
        for pk, path in FuncMap.objects.using(using).filter(pk__in=missing).values_list("pk", "path"):
            _func_paths[using, pk] = path
    return {i: _func_paths.get((using, i)) for i in ids}


@receiver(post_migrate)
def clear_caches(**kwargs):
    """Forget cached FuncMap ids (a flushed or re-created database renumbers them)."""
    _func_ids.clear()
    _func_paths.clear()
