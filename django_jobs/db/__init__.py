"""The SQL that differs per database, behind one small interface (``base.DatabaseOps``)."""

from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from .base import DatabaseOps


def get_ops(using):
    """The DatabaseOps for database alias ``using``."""
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
    return ops_class(using)
