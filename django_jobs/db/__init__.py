"""The SQL that differs per database, behind one small interface (``base.DatabaseOps``)."""

from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from .base import DatabaseOps
    from .sessions import Sessions


def get_ops(using, sessions: "Sessions | None" = None):
    """
    The DatabaseOps for database alias ``using``. ``sessions``: where its
    workers may keep session state (a backend's POOLED and LISTEN_DATABASE).
    """
    vendor = connections[using].vendor
    ops_class: type[DatabaseOps]
    if vendor == "postgresql":
        from .postgresql import PostgreSQLOps as ops_class
    elif vendor == "sqlite":
        from .sqlite import SQLiteOps as ops_class
    elif vendor == "mysql":
        from .mysql import MySQLOps as ops_class
    else:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"django_jobs supports PostgreSQL, SQLite and MariaDB/MySQL; database {using!r} is {vendor}."
        )
    ops = ops_class(using)
    if sessions is not None:
        ops.sessions = sessions
    return ops
