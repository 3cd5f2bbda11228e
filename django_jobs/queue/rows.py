"""
Writing new Job rows: ``save(force_insert=True)`` and ``bulk_create``
without their per-job cost.

An enqueue's own time was mostly the ORM compiling the same INSERT again
for every job and preparing each of a job's ~30 values through the generic
field machinery. Here plain values (None, str, int, bool in a field that
stores them as they are) go straight to the driver, every other value is
prepared by its field exactly as save() would, and the database's ops write
the rows (``DatabaseOps.insert_jobs``: a cached INSERT … RETURNING, or COPY
for a batch on PostgreSQL).

Like bulk_create, this sends no pre_save/post_save signals: ``task_enqueued``
is the signal of an enqueue. A job holding an expression (``expires_in``'s
``Now() + …``) goes through the ORM's bulk_create.
"""

from functools import cache

from django.db import connections
from django.db.models.expressions import DatabaseDefault

from ..db import get_ops
from ..models import Job

#: Internal types whose Python values (None, str, int, bool) are stored unchanged.
PLAIN_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "BooleanField",
    "CharField",
    "TextField",
    "IntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "BigIntegerField",
}
PLAIN_VALUES = (str, int, bool)


def insert_new(jobs, using):
    """Insert unsaved ``jobs`` (a list), setting each one's pk, enqueued_at and run_after."""
    connection = connections[using]
    by_columns: dict = {}
    through_orm = []
    models: dict = {}  # id(model Job) -> its values, for the jobs copied from it (see backend.building)
    for job in jobs:
        model = getattr(job, "alike_of", None)
        if model is None:
            values = _values(job, connection)
        else:
            if id(model) not in models:
                models[id(model)] = _values(model, connection)
            values = _values_alike(job, models[id(model)], connection)
        if values is None:
            through_orm.append(job)
        else:
            columns, params = values
            by_columns.setdefault(columns, []).append((job, params))
    ops = get_ops(using)
    for columns, rows in by_columns.items():
        inserted = ops.insert_jobs(columns, [params for _job, params in rows])
        for (job, _params), (pk, enqueued_at, run_after) in zip(rows, inserted, strict=True):
            job.pk, job.enqueued_at, job.run_after = pk, enqueued_at, run_after
            job._state.adding, job._state.db = False, using
    if through_orm:
        Job.objects.using(using).bulk_create(through_orm)


@cache
def _insertable_fields():
    """
    Job's fields an INSERT sets, each with whether its plain values go to the
    driver unchanged and whether its value comes from ``pre_save`` (only
    auto_now/auto_now_add change a value there) rather than the attribute.
    """
    return [
        (
            field,
            getattr(field, "target_field", field).get_internal_type() in PLAIN_TYPES,  # a foreign key: its target's
            getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False),
        )
        for field in Job._meta.concrete_fields
        if not field.primary_key
    ]


#: The fields a job copied from another may hold other values in (backend.building._alike; fair rounds).
PER_JOB = {"args", "kwargs", "func_id", "fair_round", "trace_context"}


def _values_alike(job, model_values, connection):
    """``_values`` of a job copied from a model Job whose values are ``model_values``: only PER_JOB recomputed."""
    if model_values is None:
        return None
    columns, model_params = model_values
    params = list(model_params)
    for position, (field, plain) in _per_job_positions(columns):
        params[position] = _prepared(field, plain, getattr(job, field.attname), connection)
    return columns, params


@cache
def _per_job_positions(columns):
    fields = {field.column: (field, plain) for field, plain, _pre_save in _insertable_fields()}
    return [(at, fields[column]) for at, column in enumerate(columns) if fields[column][0].attname in PER_JOB]


def _prepared(field, plain, value, connection):
    """``value`` as the driver takes it: plain values as they are, others prepared by their field."""
    if value is None or (plain and type(value) in PLAIN_VALUES):
        return value
    return field.get_db_prep_save(value, connection)


def _values(job, connection):
    """(columns, parameters) of ``job``'s INSERT, or None when a value is an expression."""
    columns, params = [], []
    for field, plain, pre_save in _insertable_fields():
        value = field.pre_save(job, True) if pre_save else getattr(job, field.attname)
        if isinstance(value, DatabaseDefault):
            continue
        if hasattr(value, "resolve_expression"):
            return None
        params.append(_prepared(field, plain, value, connection))
        columns.append(field.column)
    return tuple(columns), params
